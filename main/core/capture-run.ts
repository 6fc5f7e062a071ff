// One recorded run: a private socket, an agent server, a session file, and
// the command started with the agent preloaded. Shared by `hookscope run`
// and (later) the desktop app's Launch.
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { AgentServer, type PolicyDelivery } from './agent-server.js';
import { resolveCommand } from './command-path.js';
import { IntentBroker } from './intent-broker.js';
import { policyReplacedNotice } from './policy-edit.js';
import { isSelfOrDescendant } from './process-tree.js';
import { SessionRecorder } from './recorder.js';
import { agentLibraryPath, makePrivateSocketDir } from './runtime-paths.js';
import { SessionWriter } from './session-file.js';

/** How long to wait after the target exits for its agents' last batches. */
const DRAIN_GRACE_MS = 3000;
/** The compiled policy's file name in the private directory (docs/protocol.md). */
export const COMPILED_POLICY_FILE = 'policy.bin';

/** A policy the agent enforces in the target, from its first event. */
export interface RunPolicy {
  /** The policy file as given, for the session's record. */
  file: string;
  /** compilePolicy's output: what the agent reads. */
  compiled: Buffer;
  /** The file's text. */
  text: string;
  /** SHA-256 (hex) of the file's bytes; of `text` as UTF-8 when not given. */
  sha256?: string;
  /**
   * What `ask` rules became (already inside `compiled`; recorded for
   * people): a fixed headless answer, or `interactive`: the agent asks the
   * run's intent broker (CaptureRun.intents).
   */
  askAnswer: 'allow' | 'deny' | 'interactive';
}

export interface CaptureRunOptions {
  command: string;
  args: string[];
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  outPath: string;
  stdio?: StdioOptions;
  hookscopeVersion: string;
  onNotice?: (level: string, message: string) => void;
  /** Enforce this policy (headless): the agent judges every event and intent. */
  policy?: RunPolicy;
  /**
   * Start the target in a session of its own (setsid), for runs started
   * from the UI, which have no terminal to share. The kernel's scheduler
   * groups tasks by session (autogroup), so a target that starts many busy
   * processes competes with the inspector as one group instead of each
   * process taking a share of the CPU the inspector needs to stay
   * responsive. The CLI keeps the target in its terminal's session (Ctrl-C
   * reaches it, as the user expects).
   */
  ownSession?: boolean;
}

export interface TargetExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

export class CaptureRun {
  readonly exited: Promise<TargetExit>;

  private constructor(
    readonly child: ChildProcess,
    readonly server: AgentServer,
    readonly recorder: SessionRecorder,
    readonly writer: SessionWriter,
    private readonly socketDir: string,
    /** Pending intents of an interactive policy; null for other runs. */
    readonly intents: IntentBroker | null,
    /** The compiled policy file agents read at start (HOOKSCOPE_POLICY); null without a policy. */
    private readonly policyPath: string | null,
  ) {
    this.exited = new Promise<TargetExit>((resolve) => {
      child.once('exit', (code, signal) => {
        if (child.pid) recorder.processExited(child.pid, signal);
        resolve({ code, signal });
      });
    });
  }

  /**
   * Validates everything that can be checked before starting (the command,
   * the output file, the agent library), then starts the target. Throws
   * CommandError / SessionFileError with a one-line message; nothing is
   * started or left behind on failure.
   */
  static async start(options: CaptureRunOptions): Promise<CaptureRun> {
    const cwd = options.cwd ?? process.cwd();
    const baseEnv = options.env ?? process.env;
    const executable = resolveCommand(options.command, cwd, baseEnv.PATH);
    const agent = agentLibraryPath();
    const writer = SessionWriter.create(options.outPath);
    let socketDir: string | null = null;
    let server: AgentServer | null = null;
    try {
      socketDir = makePrivateSocketDir();
      const token = crypto.randomBytes(32);
      let rootPid = -1;
      const recorder = new SessionRecorder(writer, options.onNotice);
      const intents = options.policy?.askAnswer === 'interactive' ? new IntentBroker() : null;
      server = new AgentServer({
        socketDir,
        token,
        acceptsPid: (pid) => rootPid > 0 && isSelfOrDescendant(pid, rootPid),
        sink: recorder,
        ...(intents ? { asks: intents } : {}),
      });
      const boundServer = server;
      intents?.bind({
        answer: (session, answer) => boundServer.answer(session, answer),
        hold: (session, askId, ms) => boundServer.hold(session, askId, ms),
      });
      await server.listen();
      writer.writeRun({
        hookscopeVersion: options.hookscopeVersion,
        command: [options.command, ...options.args],
        cwd,
        startedAtMs: Date.now(),
        socketDir,
      });
      let policyPath: string | null = null;
      if (options.policy) {
        // Beside the socket, in the 0700 directory nobody else can enter;
        // exclusive create, so nothing placed there first is ever read.
        policyPath = path.join(socketDir, COMPILED_POLICY_FILE);
        fs.writeFileSync(policyPath, options.policy.compiled, { mode: 0o600, flag: 'wx' });
        writePolicyBlock(writer, options.policy);
      }
      const env: NodeJS.ProcessEnv = {
        ...baseEnv,
        // Prepend: a target's own preloads keep working after ours.
        LD_PRELOAD: baseEnv.LD_PRELOAD ? `${agent}:${baseEnv.LD_PRELOAD}` : agent,
        HOOKSCOPE_SOCKET: server.socketPath,
        HOOKSCOPE_TOKEN: token.toString('hex'),
        HOOKSCOPE_SERVER_UID: String(process.getuid?.() ?? 0),
      };
      // Only the policy of this run: one inherited from an outer run must
      // not be enforced under a recording that did not ask for it.
      if (policyPath !== null) env.HOOKSCOPE_POLICY = policyPath;
      else delete env.HOOKSCOPE_POLICY;
      const child = spawn(executable, options.args, {
        cwd,
        env,
        stdio: options.stdio ?? 'inherit',
        argv0: options.command,
        detached: options.ownSession ?? false,
      });
      // Known synchronously, before any agent can connect.
      rootPid = child.pid ?? -1;
      if (rootPid > 0) recorder.awaitExit(rootPid);
      await new Promise<void>((resolve, reject) => {
        child.once('spawn', resolve);
        child.once('error', reject);
      });
      return new CaptureRun(child, server, recorder, writer, socketDir, intents, policyPath);
    } catch (err) {
      await server?.close().catch(() => {});
      if (socketDir) fs.rmSync(socketDir, { recursive: true, force: true });
      writer.close();
      throw err;
    }
  }

  /**
   * Replaces the enforced policy while the run goes on: the compiled file
   * that Python processes started from now on read (replaced in one
   * rename, so none reads half of it), and every live agent that enforces
   * a policy (docs/protocol.md, "Replacing the policy"). The session file
   * records the new policy (later decisions refer to its rules) and how
   * the replacement went. Resolves with each agent's answer. Throws when
   * the run was started without a policy: it stays capture only.
   */
  async replacePolicy(policy: RunPolicy): Promise<PolicyDelivery[]> {
    if (this.policyPath === null) throw new Error('this run was started without a policy');
    const compiled = policy.compiled;
    const temp = `${this.policyPath}.${crypto.randomBytes(6).toString('hex')}.tmp`;
    try {
      fs.writeFileSync(temp, compiled, { mode: 0o600, flag: 'wx' });
      fs.renameSync(temp, this.policyPath);
    } catch (error) {
      fs.rmSync(temp, { force: true });
      throw error;
    }
    writePolicyBlock(this.writer, policy);
    const deliveries = await this.server.replacePolicy(compiled);
    this.recorder.notice('info', policyReplacedNotice(deliveries));
    return deliveries;
  }

  /** Waits for the target, lets the agents flush, closes the file. */
  async finish(): Promise<TargetExit> {
    const exit = await this.exited;
    await this.server.waitForIdle(DRAIN_GRACE_MS);
    for (const p of this.recorder.processes.values()) {
      if (!p.ended)
        this.recorder.notice('warning', `process ${p.pid} was still connected when the run ended`);
    }
    this.intents?.close();
    await this.server.close();
    fs.rmSync(this.socketDir, { recursive: true, force: true });
    try {
      this.writer.writeRunEnd({ endedAtMs: Date.now(), exitCode: exit.code, signal: exit.signal });
    } catch {
      // Reported through recorder.error already when the disk is the problem.
    }
    this.writer.close();
    return exit;
  }
}

/** The session file's record of the policy in force from here on. */
export function writePolicyBlock(writer: SessionWriter, policy: RunPolicy): void {
  writer.writePolicy({
    file: policy.file,
    sha256: policy.sha256 ?? crypto.createHash('sha256').update(policy.text, 'utf8').digest('hex'),
    text: policy.text,
    askAnswer: policy.askAnswer,
  });
}
