// The socket the injected agents connect to. Every connection must prove
// itself before a single event is accepted: the kernel's peer credentials
// (uid, and a pid that belongs to what we launched), then the run's token,
// compared in constant time. Frames are size-limited and validated before
// anything reaches the recorder or the UI.
import crypto from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';

import {
  FrameDecoder,
  FrameType,
  MAX_AGENT_PAYLOAD,
  ProtocolError,
  encodeFrame,
} from './protocol/frame.js';
import {
  encodeWelcome,
  parseBye,
  parseDrops,
  parseHello,
  type Bye,
  type Hello,
} from './protocol/hello.js';
import {
  encodeAnswer,
  encodeHold,
  parseAsk,
  type AnswerFrame,
  type AskFrame,
} from './protocol/ask.js';
import { checkEventsPayload } from './protocol/native-check.js';
import { parsePolicyAck, type PolicyAckStatus } from './protocol/policy-ack.js';
import { getPeerCredentials, type PeerCredentials } from './peer-credentials.js';

/**
 * How long a new connection has to send HELLO. An agent that a debugger
 * armed may connect while the debugger still holds the process stopped
 * (up to its 30 s limit, debugger-inject.ts): the clock runs on here, and
 * at 5 s an agent frozen between connect and HELLO was refused, and its
 * attach failed for no reason of its own. Connections come only from the
 * run's own processes (checked above), so a long wait costs nothing.
 */
const HELLO_TIMEOUT_MS = 40_000;
/** How long replacePolicy waits for each agent's POLICY_ACK. */
const POLICY_ACK_TIMEOUT_MS = 3000;

/** What became of a replacement policy in one agent (AgentServer.replacePolicy). */
export interface PolicyDelivery {
  sessionId: number;
  pid: number;
  /**
   * The agent's answer; `not-enforcing` without asking it when its process
   * enforces no policy (it never gets one), `gone` when the connection
   * closed first, `timeout` when no answer came in time.
   */
  status: PolicyAckStatus | 'gone' | 'timeout';
}

export interface AgentProcess {
  sessionId: number;
  hello: Hello;
  peer: PeerCredentials;
}

/** Where accepted traffic goes (the recorder, the UI bridge). */
export interface AgentSink {
  processStarted(process: AgentProcess): void;
  events(sessionId: number, payload: Buffer, recordCount: number): void;
  drops(sessionId: number, droppedTotal: bigint): void;
  processEnded(sessionId: number, bye: Bye | null): void;
  notice(level: 'info' | 'warning' | 'error', message: string): void;
  /** A connection was refused (also said as a warning notice); `pid` when the kernel told it. */
  refused?(pid: number | null, why: string): void;
}

/** Where ASK frames go (the intent broker); without one, an ASK is a protocol error. */
export interface AskSink {
  asked(process: AgentProcess, ask: AskFrame): void;
  /** True while the session has asks waiting: its EVENTS then go to `records`. */
  hasWaiting(sessionId: number): boolean;
  /** An EVENTS payload (validated) of a session with asks waiting: it may hold their decisions. */
  records(sessionId: number, payload: Buffer): void;
  /** The connection closed: the agent answered its waiting asks itself (offline). */
  processGone(sessionId: number): void;
}

export interface AgentServerOptions {
  /** Directory for `agent.sock`; ignored when `abstractName` is given. */
  socketDir: string;
  /**
   * Listen in the abstract namespace instead (no file): for attaching to a
   * process in another root or mount namespace, which shares no directory
   * with us. Anyone on the machine may connect to such a socket, so the
   * peer-credential and token checks below are what keep it private.
   */
  abstractName?: string;
  token: Buffer;
  /** Whether a peer pid may connect (the launched process and its descendants). */
  acceptsPid(pid: number): boolean;
  /**
   * The uid agents must run as: ours by default. Attaching (as root) to
   * another user's process expects that user.
   */
  peerUid?: number;
  sink: AgentSink;
  /** Receives interactive asks (runs whose compiled policy asks the inspector). */
  asks?: AskSink;
  /**
   * Attach mode: the compiled policy each attached agent enforces from its
   * first judged event (sent right after WELCOME; every attached agent
   * waits for this frame, so one is always sent, empty when there is none).
   */
  attachPolicy?: Buffer;
  /** How long a new connection has to send HELLO (HELLO_TIMEOUT_MS by default). */
  helloTimeoutMs?: number;
}

export class AgentServer {
  readonly socketPath: string;
  private readonly server: net.Server;
  private readonly connections = new Set<net.Socket>();
  /** Accepted (post-HELLO) connections by session id. */
  private readonly sessions = new Map<number, net.Socket>();
  private readonly sessionPids = new Map<number, number>();
  private nextSessionId = 1;
  private closedWaiters: Array<() => void> = [];
  /** Accepted sessions whose agent enforces a policy: only these get a replacement. */
  private readonly enforcing = new Map<number, number>();
  /** Per session, the POLICY frames sent after the handshake that await their ack, in order. */
  private readonly policyAcks = new Map<
    number,
    Array<(status: PolicyDelivery['status']) => void>
  >();
  /** The compiled policy agents get after WELCOME (attach mode); replacePolicy updates it. */
  private policy: Buffer | undefined;
  /** Set once replacePolicy ran: enforcing agents that connect later get the new policy too. */
  private policyReplaced = false;

  constructor(private readonly options: AgentServerOptions) {
    this.policy = options.attachPolicy;
    this.socketPath = options.abstractName
      ? `\0${options.abstractName}`
      : path.join(options.socketDir, 'agent.sock');
    this.server = net.createServer((socket) => this.accept(socket));
  }

  /** Starts listening; the socket is 0600 inside the 0700 directory. */
  async listen(): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(this.socketPath, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
    if (!this.options.abstractName) fs.chmodSync(this.socketPath, 0o600);
  }

  /** The socket as the agent's configuration names it: a path, or "@name". */
  get agentAddress(): string {
    return this.options.abstractName ? `@${this.options.abstractName}` : this.socketPath;
  }

  /** Number of agent connections still open. */
  get openConnections(): number {
    return this.connections.size;
  }

  /** Resolves when no connection is open, or after `timeoutMs`. */
  async waitForIdle(timeoutMs: number): Promise<boolean> {
    if (this.connections.size === 0) return true;
    return new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => {
        this.closedWaiters = this.closedWaiters.filter((w) => w !== done);
        resolve(false);
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        resolve(true);
      };
      this.closedWaiters.push(done);
    });
  }

  /**
   * Asks every connected agent to detach: it stops capturing (hooks stay,
   * as pass-through), ships what it holds, says BYE and closes. Resolves
   * when all have closed, or false after `timeoutMs` (the stragglers are
   * then cut off; their agents see EOF and go pass-through too).
   */
  async detachAll(timeoutMs: number): Promise<boolean> {
    const detach = encodeFrame(FrameType.DETACH, Buffer.alloc(0));
    for (const socket of this.sessions.values()) socket.write(detach);
    return this.waitForIdle(timeoutMs);
  }

  /**
   * Sends the answer to an ask. False when the session's connection is
   * gone (its agent has given the offline answer already).
   */
  answer(sessionId: number, answer: AnswerFrame): boolean {
    const socket = this.sessions.get(sessionId);
    if (socket === undefined || socket.destroyed) return false;
    socket.write(encodeFrame(FrameType.ANSWER, encodeAnswer(answer)));
    return true;
  }

  /** Keeps an ask waiting at least `ms` longer; false when the session is gone. */
  hold(sessionId: number, askId: number, ms: number): boolean {
    const socket = this.sessions.get(sessionId);
    if (socket === undefined || socket.destroyed) return false;
    socket.write(encodeFrame(FrameType.HOLD, encodeHold(askId, ms)));
    return true;
  }

  /**
   * Sends `compiled` to every connected agent that enforces a policy, and
   * resolves with each agent's answer (docs/protocol.md, "Replacing the
   * policy"). Agents of processes without a policy are not sent it: a
   * capture-only process stays capture only. Agents that connect later
   * get it too (attach: in place of the original; launch: right after
   * WELCOME, in case they read an older policy file).
   */
  async replacePolicy(compiled: Buffer): Promise<PolicyDelivery[]> {
    this.policy = compiled;
    this.policyReplaced = true;
    const deliveries: Promise<PolicyDelivery>[] = [];
    for (const [sessionId, socket] of this.sessions) {
      const pid = this.enforcing.get(sessionId);
      if (pid === undefined) {
        const peerPid = this.sessionPids.get(sessionId) ?? 0;
        deliveries.push(Promise.resolve({ sessionId, pid: peerPid, status: 'not-enforcing' }));
        continue;
      }
      deliveries.push(
        this.sendPolicy(sessionId, socket, compiled).then((status) => ({ sessionId, pid, status })),
      );
    }
    return Promise.all(deliveries);
  }

  private sendPolicy(
    sessionId: number,
    socket: net.Socket,
    compiled: Buffer,
  ): Promise<PolicyDelivery['status']> {
    if (socket.destroyed) return Promise.resolve('gone');
    return new Promise((resolve) => {
      const waiters = this.policyAcks.get(sessionId) ?? [];
      this.policyAcks.set(sessionId, waiters);
      let done = false;
      const settle = (status: PolicyDelivery['status']): void => {
        if (done) return;
        done = true;
        clearTimeout(timer);
        resolve(status);
      };
      // A late ack still pops this waiter (acks come in order), so the
      // entry stays until then; only the promise settles early.
      const timer = setTimeout(() => settle('timeout'), POLICY_ACK_TIMEOUT_MS);
      waiters.push(settle);
      socket.write(encodeFrame(FrameType.POLICY, compiled));
    });
  }

  async close(): Promise<void> {
    for (const socket of this.connections) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    if (!this.options.abstractName) fs.rmSync(this.socketPath, { force: true });
  }

  private refuse(socket: net.Socket, why: string, pid: number | null): void {
    this.options.sink.notice('warning', `refused an agent connection: ${why}`);
    this.options.sink.refused?.(pid, why);
    socket.destroy();
  }

  private accept(socket: net.Socket): void {
    this.connections.add(socket);
    socket.on('close', () => {
      this.connections.delete(socket);
      if (this.connections.size === 0) {
        const waiters = this.closedWaiters;
        this.closedWaiters = [];
        for (const w of waiters) w();
      }
    });
    socket.on('error', () => socket.destroy());

    let peer: PeerCredentials;
    try {
      // net.Socket has no public fd accessor; the handle's fd is stable on Unix.
      const fd = (socket as unknown as { _handle?: { fd?: number } })._handle?.fd;
      if (typeof fd !== 'number' || fd < 0) throw new Error('no descriptor for the connection');
      peer = getPeerCredentials(fd);
    } catch (err) {
      this.refuse(socket, `peer credentials unavailable (${(err as Error).message})`, null);
      return;
    }
    const expectedUid = this.options.peerUid ?? process.getuid?.();
    if (peer.uid !== expectedUid) {
      this.refuse(
        socket,
        `peer uid ${peer.uid} is not the expected ${expectedUid}, pid ${peer.pid}`,
        peer.pid,
      );
      return;
    }
    if (!this.options.acceptsPid(peer.pid)) {
      this.refuse(socket, `pid ${peer.pid} was not launched or attached by this run`, peer.pid);
      return;
    }

    const decoder = new FrameDecoder(MAX_AGENT_PAYLOAD);
    let sessionId = 0;
    let agent: AgentProcess | null = null;
    let bye: Bye | null = null;
    let refused = false;
    const refuse = (why: string): void => {
      refused = true;
      this.refuse(socket, why, peer.pid);
    };
    const helloTimer = setTimeout(
      () => refuse(`pid ${peer.pid} sent no HELLO in time`),
      this.options.helloTimeoutMs ?? HELLO_TIMEOUT_MS,
    );
    const queue = new IngestQueue(socket, (chunk) => {
      if (!refused) handleChunk(chunk);
    });

    socket.on('close', () => {
      // What still waited for a slice arrived before the close: its BYE
      // may be in there. (waitForIdle's waiters resume only after this.)
      queue.flush();
      clearTimeout(helloTimer);
      if (sessionId) {
        this.sessions.delete(sessionId);
        this.sessionPids.delete(sessionId);
        this.enforcing.delete(sessionId);
        for (const settle of this.policyAcks.get(sessionId) ?? []) settle('gone');
        this.policyAcks.delete(sessionId);
        this.options.asks?.processGone(sessionId);
        this.options.sink.processEnded(sessionId, bye);
      }
    });

    socket.on('data', (chunk: Buffer) => queue.push(chunk));
    const handleChunk = (chunk: Buffer): void => {
      try {
        for (const frame of decoder.push(chunk)) {
          if (!sessionId) {
            if (frame.type !== FrameType.HELLO)
              throw new ProtocolError(`expected HELLO, got frame type ${frame.type}`);
            const hello = parseHello(frame.payload);
            if (!tokensMatch(hello.token, this.options.token)) {
              clearTimeout(helloTimer);
              refuse(`wrong token from pid ${peer.pid}`);
              return;
            }
            if (hello.pid !== peer.pid) {
              clearTimeout(helloTimer);
              refuse(`HELLO claims pid ${hello.pid} but the kernel says ${peer.pid}`);
              return;
            }
            clearTimeout(helloTimer);
            sessionId = this.nextSessionId++;
            this.sessions.set(sessionId, socket);
            this.sessionPids.set(sessionId, peer.pid);
            socket.write(encodeFrame(FrameType.WELCOME, encodeWelcome(0, sessionId)));
            if (hello.flags.attached) {
              const policy = this.policy ?? Buffer.alloc(0);
              socket.write(encodeFrame(FrameType.POLICY, policy));
              // That frame is the attach's own (no ack); it makes the agent enforce.
              if (hello.flags.policy || policy.length > 0) this.enforcing.set(sessionId, peer.pid);
            } else if (hello.flags.policy) {
              this.enforcing.set(sessionId, peer.pid);
              if (this.policyReplaced && this.policy !== undefined) {
                // It may have read the policy file before it was replaced.
                void this.sendPolicy(sessionId, socket, this.policy).then((status) => {
                  if (status !== 'applied' && status !== 'gone') {
                    this.options.sink.notice(
                      'warning',
                      `process ${peer.pid} did not take the replaced policy: ${status}`,
                    );
                  }
                });
              }
            }
            agent = { sessionId, hello, peer };
            this.options.sink.processStarted(agent);
            continue;
          }
          switch (frame.type) {
            case FrameType.EVENTS: {
              const count = checkEventsPayload(frame.payload);
              this.options.sink.events(sessionId, frame.payload, count);
              if (this.options.asks?.hasWaiting(sessionId)) {
                this.options.asks.records(sessionId, frame.payload);
              }
              break;
            }
            case FrameType.DROPS:
              this.options.sink.drops(sessionId, parseDrops(frame.payload));
              break;
            case FrameType.BYE:
              bye = parseBye(frame.payload);
              break;
            case FrameType.POLICY_ACK: {
              const status = parsePolicyAck(frame.payload);
              const settle = this.policyAcks.get(sessionId)?.shift();
              if (settle === undefined) {
                throw new ProtocolError('POLICY_ACK without a POLICY frame waiting for it');
              }
              settle(status);
              if (status !== 'applied') {
                this.options.sink.notice(
                  'warning',
                  `process ${peer.pid} refused a replacement policy: ${status}`,
                );
              }
              break;
            }
            case FrameType.ASK: {
              if (this.options.asks === undefined || agent === null) {
                throw new ProtocolError('ASK from an agent that was given no interactive policy');
              }
              this.options.asks.asked(agent, parseAsk(frame.payload));
              break;
            }
            default:
              throw new ProtocolError(`unexpected frame type ${frame.type} from an agent`);
          }
        }
      } catch (err) {
        clearTimeout(helloTimer);
        const what = err instanceof ProtocolError ? 'protocol error' : 'error';
        refuse(`${what} from pid ${peer.pid}: ${(err as Error).message}`);
      }
    };
  }
}

/**
 * Milliseconds of agent traffic one turn of the event loop may handle, so
 * that the rest of the inspector (the UI's API, answers to asks) gets the
 * loop between turns however many busy agents send at once. Node reads
 * each readable socket up to 32 times (64 KiB each) per turn and hands
 * every chunk to 'data' at once: twenty agents with a backlog can give one
 * turn tens of MB to validate and write (~130-200 MB/s here). The first
 * budget, 4 MB per turn, still let turns run long: every readable socket
 * delivered a chunk before it could be paused (20 x 64 KiB more), and a
 * turn took longer whenever the machine was busy; a budget in time adapts
 * to both. The chunk that crosses the line is finished (an agent batch is
 * at most 256 KiB: 1-2 ms of work).
 *
 * Measured with main/web/load-faults.test.ts's load (20 x 100k events,
 * 130 MB) on this shared 2-core machine, load average 0.3-8. With 4 MB per
 * turn, an event-loop monitor in the server saw single turns of up to
 * 146 ms, and run.status's longest call in five runs was 23-328 ms. With
 * 2 ms (the tail was no different with 1 or 4 ms), the run took as long
 * (1.7-2.4 s, nothing dropped) and the longest calls were 31-189 ms in six
 * runs. What is left is the server waiting for a CPU: runnable but not
 * running for up to 380 ms at a time (/proc/PID/task/TID/schedstat; no
 * CPU-profile samples meanwhile), and as long with every EVENTS frame
 * dropped unread, so no finer split of our own work removes it.
 */
const INGEST_MS_PER_TURN = 2;

/** Queues with chunks waiting, in the order they are served. */
const ingestRound: IngestQueue[] = [];
let sliceOpen = false;
let sliceEnd = 0;

/** Whether the current slice has time left; opens one (ending at the next check phase) if none is. */
function sliceHasTime(): boolean {
  if (!sliceOpen) {
    sliceOpen = true;
    sliceEnd = performance.now() + INGEST_MS_PER_TURN;
    setImmediate(endSlice);
  }
  return performance.now() < sliceEnd;
}

/**
 * Runs in the check phase, after the poll phase in which API requests and
 * new data were taken: opens a new slice for the waiting queues, one chunk
 * each in turn. That slice lasts into the next poll phase, where chunks
 * that arrive find it spent and queue behind these.
 */
function endSlice(): void {
  sliceOpen = false;
  while (ingestRound.length > 0 && sliceHasTime()) {
    const queue = ingestRound.shift() as IngestQueue;
    queue.handleOne();
    if (queue.waiting) ingestRound.push(queue);
  }
}

/**
 * One agent connection's chunks, in arrival order. A chunk that arrives
 * when the slice is spent (or behind others) waits here with the socket
 * paused: the agent's sends wait in the socket buffer, then in its ring.
 */
class IngestQueue {
  private readonly chunks: Buffer[] = [];
  private inRound = false;

  constructor(
    private readonly socket: net.Socket,
    private readonly handle: (chunk: Buffer) => void,
  ) {}

  get waiting(): boolean {
    return this.chunks.length > 0;
  }

  /** A chunk from 'data': handled now when the slice allows and none waits before it. */
  push(chunk: Buffer): void {
    if (sliceHasTime() && !this.waiting) {
      this.handle(chunk);
      return;
    }
    this.chunks.push(chunk);
    if (!this.socket.isPaused()) this.socket.pause();
    if (!this.inRound) {
      this.inRound = true;
      ingestRound.push(this);
    }
  }

  /** Handles the oldest waiting chunk; the socket resumes once none is left. */
  handleOne(): void {
    const chunk = this.chunks.shift();
    if (chunk === undefined) return;
    if (!this.waiting) {
      this.inRound = false;
      // Its next data comes in a later tick, after this chunk.
      if (!this.socket.destroyed) this.socket.resume();
    }
    this.handle(chunk);
  }

  /** Handles every waiting chunk now: the connection closed, and its BYE may be among them. */
  flush(): void {
    while (this.waiting) this.handleOne();
    const at = ingestRound.indexOf(this);
    if (at >= 0) ingestRound.splice(at, 1);
  }
}

/** Constant-time comparison: a wrong token learns nothing from timing. */
function tokensMatch(a: Buffer, b: Buffer): boolean {
  return a.length === b.length && crypto.timingSafeEqual(a, b);
}
