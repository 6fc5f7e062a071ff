// One attach: a running CPython process gets the agent (gdb on 3.8–3.13,
// sys.remote_exec on 3.14+), its hooks are proven active by a probe event,
// and everything it does from then on is recorded until the inspector
// detaches, the target exits, or the inspector dies (the agent then sees
// EOF and goes pass-through). Shared by `hookscope attach` and the desktop
// app's Attach.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import {
  AgentServer,
  type AgentProcess,
  type AgentSink,
  type PolicyDelivery,
} from './agent-server.js';
import { writePolicyBlock, type RunPolicy } from './capture-run.js';
import { IntentBroker } from './intent-broker.js';
import { inspectProcess, type AttachReason, type ProcessInfo } from './discovery.js';
import { findOnPath } from './attacher-context.js';
import {
  ATTACH_RESULTS,
  InjectError,
  injectWithDebugger,
  type DebuggerKind,
} from './debugger-inject.js';
import { isSelfOrDescendant } from './process-tree.js';
import { decodeRecords } from './protocol/records.js';
import type { Bye } from './protocol/hello.js';
import { policyReplacedNotice } from './policy-edit.js';
import { SessionRecorder } from './recorder.js';
import { describeTarget, remoteExec } from './remote-exec.js';
import { agentLibraryPath, makePrivateSocketDir } from './runtime-paths.js';
import { SessionWriter, type AttachInfo } from './session-file.js';
import { TargetDir } from './target-files.js';

/** The agent raises this audit event once its hooks are in place. */
export const PROBE_EVENT = 'hookscope.attached';
/** How long the hooks may take to prove themselves after the injection returned. */
const PROBE_TIMEOUT_MS = 15_000;
/** How long a detaching agent has to ship what it holds and say BYE. */
const DETACH_TIMEOUT_MS = 5_000;

/** The preflight said no: nothing was done to the process. */
export class AttachRefusedError extends Error {
  constructor(
    readonly pid: number,
    readonly reasons: AttachReason[],
  ) {
    super(
      `cannot attach to process ${pid}: ` +
        reasons.map((r) => `${r.message} (fix: ${r.fix})`).join('; '),
    );
    this.name = 'AttachRefusedError';
  }
}

/** The attach was tried and did not take; the process was left running. */
export class AttachFailedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'AttachFailedError';
  }
}

export interface AttachOptions {
  pid: number;
  outPath: string;
  hookscopeVersion: string;
  /** Inject with this debugger instead of the method the preflight chose. */
  debugger?: DebuggerKind;
  onNotice?: (level: string, message: string) => void;
  /** A policy the agent enforces from the attach on (sent over the socket). */
  policy?: RunPolicy;
}

export type AttachEnd = 'detached' | 'target-exited' | 'agent-gone';

const AGENT_FILE = 'hookscope-agent.so';

/** The agent library already mapped in the target, if its file is still there (re-attach). */
function mappedAgentPath(target: ProcessInfo): string | null {
  let maps: string;
  try {
    maps = fs.readFileSync(`/proc/${target.pid}/maps`, 'utf8');
  } catch {
    return null;
  }
  const root = target.root ?? '/';
  for (const line of maps.split('\n')) {
    const m = /^\S+ \S+ \S+ \S+ (\d+)\s+(\/.*\/hookscope-agent\.so)$/.exec(line);
    if (!m) continue;
    // The kernel writes paths as we see them; the target sees them below its root.
    let p = m[2]!;
    if (root !== '/' && p.startsWith(`${root}/`)) p = p.slice(root.length);
    if (TargetDir.sameFile(target.pid, p, Number(m[1]))) return p;
  }
  return null;
}

/**
 * Where this attach's files live. `control` is our own private 0700
 * directory (the debugger's command file; the socket, when the target can
 * share it). When the target is another user's process, or lives in another
 * root or mount namespace, nothing the target can write is ever trusted:
 * the socket moves to the abstract namespace (no file), and what the target
 * must read goes in a TargetDir we create through openat2(RESOLVE_IN_ROOT).
 */
class Placement {
  private constructor(
    readonly control: string,
    readonly remote: TargetDir | null,
    readonly abstractName: string | null,
  ) {}

  static create(target: ProcessInfo): Placement {
    const control = makePrivateSocketDir();
    const shared =
      target.uid === process.getuid?.() &&
      (target.root ?? '/') === '/' &&
      !target.separateMountNamespace;
    if (shared) return new Placement(control, null, null);
    try {
      return new Placement(
        control,
        TargetDir.create(target.pid, target.uid),
        `hookscope-${crypto.randomBytes(12).toString('hex')}`,
      );
    } catch (err) {
      fs.rmSync(control, { recursive: true, force: true });
      throw new AttachFailedError(
        `cannot prepare the attach inside process ${target.pid}'s /tmp: ${(err as Error).message}`,
      );
    }
  }

  /** The agent library by a path the target can open. */
  agentPath(target: ProcessInfo, agent: string): string {
    if (!this.remote) return agent;
    // Re-attach: the library the target already has, not another copy.
    const mapped = mappedAgentPath(target);
    if (mapped) return mapped;
    return this.remote.writeFile(AGENT_FILE, fs.readFileSync(agent), 0o755);
  }

  /** Writes the 3.14 bootstrap; returns its path and where its result will appear. */
  bootstrap(make: (resultPath: string) => string): {
    script: string;
    readResult: () => string | null;
  } {
    if (!this.remote) {
      const result = path.join(this.control, 'result');
      const script = path.join(this.control, 'bootstrap.py');
      fs.writeFileSync(script, make(result), { mode: 0o600, flag: 'wx' });
      return { script, readResult: () => readIfPresent(result) };
    }
    const out = this.remote.makeTargetOwnedDir('out');
    const script = this.remote.writeFile('bootstrap.py', make(`${out}/result`), 0o600, true);
    const remote = this.remote;
    return { script, readResult: () => remote.readRegularFile('out/result') };
  }

  cleanup(): void {
    fs.rmSync(this.control, { recursive: true, force: true });
    // The agent library stays: the target has it mapped, and a later
    // attach loads the same file instead of another copy.
    this.remote?.remove([AGENT_FILE], { out: ['result', 'result.part'] });
  }
}

function readIfPresent(file: string): string | null {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
}

/** `socket=…\ntoken=…\nserver_uid=…\n`, the agent's attach configuration. */
function attachConfig(socketPathInTarget: string, token: Buffer): string {
  if (/[\n\0]/.test(socketPathInTarget)) {
    throw new AttachFailedError(`unusable socket path ${JSON.stringify(socketPathInTarget)}`);
  }
  return `socket=${socketPathInTarget}\ntoken=${token.toString('hex')}\nserver_uid=${process.getuid?.() ?? 0}\n`;
}

/** Python source literal for a str (ASCII-only output). */
function pyString(text: string): string {
  return JSON.stringify(text).replace(/[\u007f-\uffff]/g, (c) => {
    const code = c.charCodeAt(0).toString(16).padStart(4, '0');
    return `\\u${code}`;
  });
}

/**
 * The script `sys.remote_exec` runs on the target's main thread. It loads
 * the agent, calls its attach entry point, and leaves its result (code,
 * milliseconds the main thread spent here) in a file only we and the
 * target can read. It defines one function and deletes it again, so the
 * namespace it runs in is left as it was found.
 */
function bootstrapScript(agentPath: string, config: string, resultPath: string): string {
  return [
    'def _hookscope_attach():',
    '    import os, time',
    '    started = time.perf_counter()',
    '    code, error = -1, ""',
    '    try:',
    '        import ctypes',
    `        lib = ctypes.CDLL(${pyString(agentPath)}, mode=os.RTLD_NOW | os.RTLD_GLOBAL)`,
    '        entry = lib.hookscope_agent_attach',
    '        entry.argtypes = [ctypes.c_char_p]',
    '        entry.restype = ctypes.c_int',
    `        code = entry(${pyString(config)}.encode())`,
    '    except Exception as e:',
    '        error = type(e).__name__ + ": " + str(e)',
    '    spent_ms = (time.perf_counter() - started) * 1000.0',
    `    part = ${pyString(resultPath)} + ".part"`,
    '    fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)',
    '    try:',
    '        os.write(fd, ("%d %.3f %s" % (code, spent_ms, error)).encode("utf-8", "replace"))',
    '    finally:',
    '        os.close(fd)',
    `    os.rename(part, ${pyString(resultPath)})`,
    '_hookscope_attach()',
    'del _hookscope_attach',
    '',
  ].join('\n');
}

async function waitForResult(read: () => string | null, timeoutMs: number): Promise<string | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const text = read();
    if (text !== null) return text;
    if (Date.now() >= deadline) return null;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Passes everything to the recorder and watches for two things: the probe
 * event from the target (hooks active) and the end of the target's
 * connection.
 */
export class AttachSink implements AgentSink {
  private targetSession = 0;
  private probeSeen = false;
  private resolveProbe!: (atMs: number) => void;
  private resolveEnd!: (bye: Bye | null) => void;
  readonly probe = new Promise<number>((r) => (this.resolveProbe = r));
  readonly targetEnded = new Promise<Bye | null>((r) => (this.resolveEnd = r));
  private resolveRefused!: (why: string) => void;
  /** Why the target's connection was refused before its probe (the agent does not retry). */
  readonly refusedBeforeProbe = new Promise<string>((r) => (this.resolveRefused = r));

  constructor(
    private readonly recorder: SessionRecorder,
    private readonly targetPid: number,
  ) {}

  processStarted(process: AgentProcess): void {
    if (process.hello.pid === this.targetPid && !this.targetSession)
      this.targetSession = process.sessionId;
    this.recorder.processStarted(process);
  }

  events(sessionId: number, payload: Buffer, recordCount: number): void {
    this.recorder.events(sessionId, payload, recordCount);
    // Decoding stops as soon as the probe is found: it is the first
    // record the arm thread produces.
    if (!this.probeSeen && sessionId === this.targetSession) {
      if (decodeRecords(payload).some((r) => r.kind === 'audit' && r.event === PROBE_EVENT)) {
        this.probeSeen = true;
        this.resolveProbe(Date.now());
      }
    }
  }

  drops(sessionId: number, droppedTotal: bigint): void {
    this.recorder.drops(sessionId, droppedTotal);
  }

  processEnded(sessionId: number, bye: Bye | null): void {
    this.recorder.processEnded(sessionId, bye);
    if (sessionId === this.targetSession) this.resolveEnd(bye);
  }

  notice(level: 'info' | 'warning' | 'error', message: string): void {
    this.recorder.notice(level, message);
  }

  refused(pid: number | null, why: string): void {
    if (pid === this.targetPid && !this.probeSeen) this.resolveRefused(why);
  }
}

export class AttachRun {
  /** Resolves when recording of the target stopped, and why. */
  readonly ended: Promise<AttachEnd>;
  private detaching = false;
  private finished = false;

  private constructor(
    readonly target: ProcessInfo,
    readonly attach: AttachInfo,
    readonly recorder: SessionRecorder,
    private readonly server: AgentServer,
    private readonly writer: SessionWriter,
    private readonly placement: Placement,
    sink: AttachSink,
    /** Pending intents of an interactive policy; null otherwise. */
    readonly intents: IntentBroker | null,
  ) {
    this.ended = sink.targetEnded.then((bye) =>
      bye?.reason === 'detach' || this.detaching
        ? 'detached'
        : bye
          ? 'target-exited'
          : fs.existsSync(`/proc/${target.pid}`)
            ? 'agent-gone'
            : 'target-exited',
    );
  }

  /**
   * Checks the process (discovery's preflight), creates the session file,
   * injects the agent and waits for its probe. Throws AttachRefusedError
   * (nothing touched), AttachFailedError (tried; the process runs on), or a
   * SessionFileError for the output file.
   */
  static async start(options: AttachOptions): Promise<AttachRun> {
    const target = inspectProcess(options.pid);
    if (!target.attach.ok) throw new AttachRefusedError(target.pid, target.attach.reasons);
    let method = target.attach.method;
    let debuggerPath = target.attach.debugger;
    if (options.debugger) {
      debuggerPath = findOnPath(options.debugger, process.env.PATH ?? '');
      if (!debuggerPath) {
        throw new AttachRefusedError(target.pid, [
          {
            code: 'no-debugger',
            message: `${options.debugger} was asked for but is not on PATH.`,
            fix: `Install ${options.debugger} (for example \`apt-get install ${options.debugger}\`), or leave out --debugger.`,
          },
        ]);
      }
      method = options.debugger;
    }
    if (method === null) throw new AttachRefusedError(target.pid, target.attach.reasons);
    const agent = agentLibraryPath();
    const writer = SessionWriter.create(options.outPath);
    let placement: Placement | null = null;
    let server: AgentServer | null = null;
    try {
      placement = Placement.create(target);
      const agentInTarget = placement.agentPath(target, agent);
      const token = crypto.randomBytes(32);
      const recorder = new SessionRecorder(writer, options.onNotice);
      const sink = new AttachSink(recorder, target.pid);
      const intents = options.policy?.askAnswer === 'interactive' ? new IntentBroker() : null;
      server = new AgentServer({
        socketDir: placement.control,
        ...(placement.abstractName ? { abstractName: placement.abstractName } : {}),
        token,
        // The target and the children it forks later (each a session).
        acceptsPid: (pid) => isSelfOrDescendant(pid, target.pid),
        peerUid: target.uid,
        sink,
        ...(options.policy ? { attachPolicy: options.policy.compiled } : {}),
        ...(intents ? { asks: intents } : {}),
      });
      const boundServer = server;
      intents?.bind({
        answer: (session, answer) => boundServer.answer(session, answer),
        hold: (session, askId, ms) => boundServer.hold(session, askId, ms),
      });
      await server.listen();
      const config = attachConfig(server.agentAddress, token);
      let cwd = '';
      try {
        cwd = fs.readlinkSync(`/proc/${target.pid}/cwd`);
      } catch {
        // another user's process without the capability: left empty
      }
      writer.writeRun({
        hookscopeVersion: options.hookscopeVersion,
        command: target.cmdline,
        cwd,
        startedAtMs: Date.now(),
        socketDir: placement.control,
        mode: 'attach',
        targetPid: target.pid,
      });
      if (options.policy) {
        writer.writePolicy({
          file: options.policy.file,
          sha256:
            options.policy.sha256 ??
            crypto.createHash('sha256').update(options.policy.text, 'utf8').digest('hex'),
          text: options.policy.text,
          askAnswer: options.policy.askAnswer,
        });
      }

      const requestedAtMs = Date.now();
      let longestPauseMs: number;
      let pauseMeasuredBy: string;
      let code: number;
      if (method === 'gdb' || method === 'lldb') {
        if (!debuggerPath) throw new AttachFailedError('no debugger path from the preflight');
        try {
          const result = await injectWithDebugger({
            pid: target.pid,
            kind: method,
            debugger: debuggerPath,
            agentPathInTarget: agentInTarget,
            config,
            workDir: placement.control,
          });
          code = result.code;
          longestPauseMs = result.longestPauseMs;
          pauseMeasuredBy = `process state sampled every 2 ms while ${method} held it`;
        } catch (err) {
          if (err instanceof InjectError) throw new AttachFailedError(err.message);
          throw err;
        }
      } else {
        const boot = placement.bootstrap((resultPath) =>
          bootstrapScript(agentInTarget, config, resultPath),
        );
        try {
          await remoteExec(describeTarget(target.pid), boot.script);
        } catch (err) {
          throw new AttachFailedError((err as Error).message);
        }
        const result = await waitForResult(boot.readResult, PROBE_TIMEOUT_MS);
        if (result === null) {
          throw new AttachFailedError(
            `process ${target.pid} accepted the request but its main thread has not run Python ` +
              `code for ${PROBE_TIMEOUT_MS / 1000} s (asleep or blocked in C code?); ` +
              'sys.remote_exec runs the bootstrap only when the main thread next executes bytecode',
          );
        }
        const m = /^(-?\d+) ([\d.]+) ?(.*)$/s.exec(result);
        if (!m)
          throw new AttachFailedError(`unreadable bootstrap result ${JSON.stringify(result)}`);
        if (m[3]) throw new AttachFailedError(`the bootstrap script failed in the target: ${m[3]}`);
        code = Number(m[1]);
        longestPauseMs = Number(m[2]);
        pauseMeasuredBy = "bootstrap script's run time on the target's main thread";
      }
      if (code !== 0) {
        throw new AttachFailedError(
          `process ${target.pid} refused the attach: ${ATTACH_RESULTS[code] ?? `agent result ${code}`}`,
        );
      }
      // The probe, a refusal of the target's connection (its agent does not
      // try again: waiting on would only blame the wrong thing), or time.
      let probeTimeout: NodeJS.Timeout | undefined;
      const waited = await Promise.race([
        sink.probe.then((atMs) => ({ atMs })),
        sink.refusedBeforeProbe.then((why) => ({ refused: why })),
        new Promise<{ timedOut: true }>((r) => {
          probeTimeout = setTimeout(() => r({ timedOut: true }), PROBE_TIMEOUT_MS);
        }),
      ]).finally(() => clearTimeout(probeTimeout));
      if ('refused' in waited) {
        throw new AttachFailedError(
          `the agent loaded into process ${target.pid} and connected, but its connection was refused: ${waited.refused}`,
        );
      }
      const hooksActiveAtMs = 'atMs' in waited ? waited.atMs : null;
      if (hooksActiveAtMs === null) {
        throw new AttachFailedError(
          `the agent loaded into process ${target.pid} but its hooks did not report within ` +
            `${PROBE_TIMEOUT_MS / 1000} s: a thread may hold the GIL without releasing it, or an ` +
            'audit hook already in the process refused sys.addaudithook',
        );
      }
      const attach: AttachInfo = {
        pid: target.pid,
        method,
        requestedAtMs,
        hooksActiveAtMs,
        attachWallMs: hooksActiveAtMs - requestedAtMs,
        longestPauseMs: Math.round(longestPauseMs * 1000) / 1000,
        pauseMeasuredBy,
        reattached: target.agentLoaded,
      };
      writer.writeAttach(attach);
      return new AttachRun(target, attach, recorder, server, writer, placement, sink, intents);
    } catch (err) {
      // Whatever was connected goes pass-through when the socket closes.
      await server?.close().catch(() => {});
      placement?.cleanup();
      writer.close();
      throw err;
    }
  }

  /**
   * Replaces the policy the attached agent enforces (the run must have
   * been started with one; the session file records it); resolves with
   * the agent's answer.
   */
  async replacePolicy(policy: RunPolicy): Promise<PolicyDelivery[]> {
    writePolicyBlock(this.writer, policy);
    const deliveries = await this.server.replacePolicy(policy.compiled);
    this.recorder.notice('info', policyReplacedNotice(deliveries));
    return deliveries;
  }

  /** Switches the agent to pass-through and waits for its last records. */
  async detach(): Promise<boolean> {
    if (this.detaching || this.finished) return true;
    this.detaching = true;
    return this.server.detachAll(DETACH_TIMEOUT_MS);
  }

  /** Closes the server, the private directory and the session file. */
  async finish(end: AttachEnd): Promise<void> {
    if (this.finished) return;
    this.finished = true;
    for (const p of this.recorder.processes.values()) {
      if (!p.ended)
        this.recorder.notice(
          'warning',
          `process ${p.pid} was still connected when recording ended`,
        );
    }
    await this.server.close();
    this.placement.cleanup();
    this.recorder.notice(
      'info',
      end === 'detached'
        ? `detached from process ${this.target.pid}; it keeps running with the agent in pass-through`
        : end === 'target-exited'
          ? `process ${this.target.pid} exited`
          : `the agent in process ${this.target.pid} stopped reporting`,
    );
    try {
      this.writer.writeRunEnd({ endedAtMs: Date.now(), exitCode: null, signal: null });
    } catch {
      // Reported through recorder.error already when the disk is the problem.
    }
    this.writer.close();
  }
}
