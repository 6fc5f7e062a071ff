// One attach: a running CPython process gets the agent (gdb on 3.8–3.13,
// sys.remote_exec on 3.14+), its hooks are proven active by a probe event,
// and everything it does from then on is recorded until the inspector
// detaches, the target exits, or the inspector dies (the agent then sees
// EOF and goes pass-through). Shared by `hookscope attach` and the desktop
// app's Attach.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { AgentServer, type AgentProcess, type AgentSink } from './agent-server.js';
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
import { SessionRecorder } from './recorder.js';
import { describeTarget, remoteExec } from './remote-exec.js';
import { agentLibraryPath, makePrivateSocketDir } from './runtime-paths.js';
import { SessionWriter, type AttachInfo } from './session-file.js';

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
}

export type AttachEnd = 'detached' | 'target-exited' | 'agent-gone';

/** Where the attach's private files live, from our side and from the target's. */
interface PrivateDir {
  /** Path we use (through /proc/PID/root for a chrooted target). */
  host: string;
  /** The same directory as the target sees it. */
  target: string;
}

/**
 * A private 0700 directory both sides can reach. Same user, same root: the
 * usual per-user socket directory. Another user (we are root): a fresh
 * directory in /tmp handed to that user, so the target can connect and
 * read its bootstrap, and nobody else can. A chrooted target: the directory
 * is made inside its root, reached from here through /proc/PID/root.
 */
function makePrivateDir(target: ProcessInfo): PrivateDir {
  const root = target.root ?? '/';
  const sameUser = target.uid === process.getuid?.();
  const ownView = root !== '/' || target.separateMountNamespace;
  if (!ownView && sameUser) {
    const dir = makePrivateSocketDir();
    return { host: dir, target: dir };
  }
  // /proc/PID/root is the target's own view of its files: its chroot, its
  // private /tmp. What we make there is where the target will look.
  const procRoot = `/proc/${target.pid}/root`;
  const base = ownView ? path.join(procRoot, 'tmp') : os.tmpdir();
  const dir = fs.mkdtempSync(path.join(base, 'hookscope-attach-'));
  fs.chmodSync(dir, 0o700);
  if (!sameUser) fs.chownSync(dir, target.uid, -1);
  return { host: dir, target: ownView ? dir.slice(procRoot.length) : dir };
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

async function waitForFile(file: string, timeoutMs: number): Promise<string | null> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return fs.readFileSync(file, 'utf8');
    } catch {
      if (Date.now() >= deadline) return null;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}

/**
 * Passes everything to the recorder and watches for two things: the probe
 * event from the target (hooks active) and the end of the target's
 * connection.
 */
class AttachSink implements AgentSink {
  private targetSession = 0;
  private probeSeen = false;
  private resolveProbe!: (atMs: number) => void;
  private resolveEnd!: (bye: Bye | null) => void;
  readonly probe = new Promise<number>((r) => (this.resolveProbe = r));
  readonly targetEnded = new Promise<Bye | null>((r) => (this.resolveEnd = r));

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
    private readonly dir: PrivateDir,
    sink: AttachSink,
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
    let dir: PrivateDir | null = null;
    let server: AgentServer | null = null;
    try {
      dir = makePrivateDir(target);
      const sameUser = target.uid === process.getuid?.();
      // The target loads the agent by a path it can see and read.
      let agentInTarget = agent;
      if (dir.host !== dir.target || !sameUser) {
        const copy = path.join(dir.host, 'hookscope-agent.so');
        fs.copyFileSync(agent, copy);
        fs.chmodSync(copy, 0o755);
        agentInTarget = path.join(dir.target, 'hookscope-agent.so');
      }
      const token = crypto.randomBytes(32);
      const recorder = new SessionRecorder(writer, options.onNotice);
      const sink = new AttachSink(recorder, target.pid);
      server = new AgentServer({
        socketDir: dir.host,
        token,
        // The target and the children it forks later (each a session).
        acceptsPid: (pid) => isSelfOrDescendant(pid, target.pid),
        peerUid: target.uid,
        sink,
      });
      await server.listen();
      if (!sameUser) fs.chownSync(server.socketPath, target.uid, -1);
      const socketInTarget = path.join(dir.target, path.basename(server.socketPath));
      const config = attachConfig(socketInTarget, token);
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
        socketDir: dir.host,
        mode: 'attach',
        targetPid: target.pid,
      });

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
            workDir: dir.host,
          });
          code = result.code;
          longestPauseMs = result.longestPauseMs;
          pauseMeasuredBy = `process state sampled every 2 ms while ${method} held it`;
        } catch (err) {
          if (err instanceof InjectError) throw new AttachFailedError(err.message);
          throw err;
        }
      } else {
        const scriptHost = path.join(dir.host, 'bootstrap.py');
        const resultHost = path.join(dir.host, 'result');
        const resultTarget = path.join(dir.target, 'result');
        fs.writeFileSync(scriptHost, bootstrapScript(agentInTarget, config, resultTarget), {
          mode: 0o600,
          flag: 'wx',
        });
        if (!sameUser) fs.chownSync(scriptHost, target.uid, -1);
        try {
          await remoteExec(describeTarget(target.pid), path.join(dir.target, 'bootstrap.py'));
        } catch (err) {
          throw new AttachFailedError((err as Error).message);
        }
        const result = await waitForFile(resultHost, PROBE_TIMEOUT_MS);
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
      const probeTimer = new Promise<null>((r) => setTimeout(() => r(null), PROBE_TIMEOUT_MS));
      const hooksActiveAtMs = await Promise.race([sink.probe, probeTimer]);
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
      return new AttachRun(target, attach, recorder, server, writer, dir, sink);
    } catch (err) {
      // Whatever was connected goes pass-through when the socket closes.
      await server?.close().catch(() => {});
      if (dir) fs.rmSync(dir.host, { recursive: true, force: true });
      writer.close();
      throw err;
    }
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
    fs.rmSync(this.dir.host, { recursive: true, force: true });
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
