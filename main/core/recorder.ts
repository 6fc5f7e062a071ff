// Writes everything the agents send into the session file as it arrives.
// Event batches are stored as the raw, already validated records: no
// re-encoding on the ingest path, and the file reads back with the same
// decoder as the wire.
import type { AgentProcess, AgentSink } from './agent-server.js';
import type { Bye } from './protocol/hello.js';
import { processInfoFromHello, type SessionWriter } from './session-file.js';

export interface RecordedProcess {
  sessionId: number;
  pid: number;
  ppid: number;
  parentSession: number | null;
  records: number;
  droppedTotal: bigint;
  ended: boolean;
}

export class SessionRecorder implements AgentSink {
  readonly processes = new Map<number, RecordedProcess>();
  /** Latest session of each pid (a pid is reused only after its process ended). */
  private readonly sessionByPid = new Map<number, number>();
  private writeError: Error | null = null;

  constructor(
    private readonly writer: SessionWriter,
    private readonly onNotice: (level: string, message: string) => void = () => {},
  ) {}

  /** Signals of processes known to have been killed, by pid. */
  private readonly killedBy = new Map<number, string>();

  /**
   * The launcher saw `pid` die of `signal`. If its connection has not closed
   * yet, its session ends as "killed" rather than "disconnected".
   */
  processKilled(pid: number, signal: string): void {
    this.killedBy.set(pid, signal);
  }

  /**
   * Launched pids whose exit the launcher will report (processExited).
   * The kernel closes a killed process's socket and sends SIGCHLD at the
   * same moment, and Node may see either first: when the connection's end
   * comes first, its session end is held until the exit is known, or a
   * SIGKILLed target would be recorded as a mere "disconnected" (seen in
   * about 1 run in 6 in main/cli/faults.test.ts).
   */
  private readonly exitAwaited = new Set<number>();
  /** Sessions held for that, by pid. */
  private readonly heldEnds = new Map<number, number[]>();

  /** The launcher will call processExited(pid) when `pid` ends. */
  awaitExit(pid: number): void {
    this.exitAwaited.add(pid);
  }

  /** The launcher saw `pid` end (`signal`: what killed it); writes any held session end. */
  processExited(pid: number, signal: string | null): void {
    if (signal) this.killedBy.set(pid, signal);
    this.exitAwaited.delete(pid);
    const held = this.heldEnds.get(pid) ?? [];
    this.heldEnds.delete(pid);
    for (const sessionId of held) this.writeProcessEnd(sessionId, null);
  }

  /** The first write failure (disk full, ...): capture stops writing after it. */
  get error(): Error | null {
    return this.writeError;
  }

  private write(fn: () => void): void {
    if (this.writeError) return;
    try {
      fn();
    } catch (err) {
      this.writeError = err as Error;
      this.onNotice('error', `recording stopped: ${(err as Error).message}`);
    }
  }

  processStarted({ sessionId, hello }: AgentProcess): void {
    const parentSession = this.sessionByPid.get(hello.ppid) ?? null;
    this.processes.set(sessionId, {
      sessionId,
      pid: hello.pid,
      ppid: hello.ppid,
      parentSession,
      records: 0,
      droppedTotal: 0n,
      ended: false,
    });
    this.sessionByPid.set(hello.pid, sessionId);
    this.write(() =>
      this.writer.writeProcess(processInfoFromHello(sessionId, hello, parentSession)),
    );
  }

  events(sessionId: number, payload: Buffer, recordCount: number): void {
    const p = this.processes.get(sessionId);
    if (p) p.records += recordCount;
    this.write(() => this.writer.writeEvents(sessionId, payload));
  }

  drops(sessionId: number, droppedTotal: bigint): void {
    const p = this.processes.get(sessionId);
    if (p) p.droppedTotal = droppedTotal;
    this.write(() => this.writer.writeDrops(sessionId, droppedTotal));
  }

  processEnded(sessionId: number, bye: Bye | null): void {
    const p = this.processes.get(sessionId);
    if (!p || p.ended) return;
    p.ended = true;
    if (!bye && this.exitAwaited.has(p.pid) && !this.killedBy.has(p.pid)) {
      // Its exit is on its way (see exitAwaited): killed or not, it says.
      this.heldEnds.set(p.pid, [...(this.heldEnds.get(p.pid) ?? []), sessionId]);
      return;
    }
    this.writeProcessEnd(sessionId, bye);
  }

  private writeProcessEnd(sessionId: number, bye: Bye | null): void {
    const p = this.processes.get(sessionId);
    if (!p) return;
    if (bye) p.droppedTotal = bye.droppedTotal;
    const signal = this.killedBy.get(p.pid);
    this.write(() =>
      this.writer.writeProcessEnd({
        session: sessionId,
        endTimeMs: Date.now(),
        reason: bye
          ? bye.reason === 'detach'
            ? 'detached'
            : 'exited'
          : signal
            ? 'killed'
            : 'disconnected',
        ...(signal && !bye ? { signal } : {}),
        recordsTotal: bye ? Number(bye.recordsTotal) : p.records,
        droppedTotal: Number(p.droppedTotal),
      }),
    );
  }

  notice(level: 'info' | 'warning' | 'error', message: string): void {
    this.onNotice(level, message);
    this.write(() => this.writer.writeNotice({ timeMs: Date.now(), level, message }));
  }

  /** Session id of the first process with this pid, if it connected. */
  sessionOf(pid: number): number | undefined {
    return this.sessionByPid.get(pid);
  }

  get droppedTotal(): bigint {
    let total = 0n;
    for (const p of this.processes.values()) total += p.droppedTotal;
    return total;
  }
}
