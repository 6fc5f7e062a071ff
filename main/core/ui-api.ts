// The UI's API (main/common/ipc-contract.ts) implemented against the real
// core: discovery, session files, the session index and capture runs.
// Plain Node; the web host and the Electron adapter both call `call()`,
// the one entry point that validates every request before it runs.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import {
  ApiError,
  INTENT_HOLD_MS,
  type IntentMatch,
  SESSION_CHANGE_MIN_MS,
  validateRequest,
  type ApiMethod,
  type ApiReply,
  type ApiRequest,
  type ApiResponse,
  type ChangeMessage,
  type FileDialogPurpose,
  type SaveDialogPurpose,
  type PendingIntentRow,
  type PolicyLiveUpdate,
  type PolicyWriteResult,
  type ProcessRow,
  type RunStatus,
  type SessionOverview,
} from '../common/ipc-contract.js';
import type { PolicyDelivery } from './agent-server.js';
import { AttachFailedError, AttachRefusedError, AttachRun } from './attach-run.js';
import { CaptureRun, type RunPolicy } from './capture-run.js';
import { CommandError } from './command-path.js';
import { ExportJobs } from './export-jobs.js';
import {
  IntentError,
  type IntentBroker,
  type LastingAnswer,
  type PendingIntent,
} from './intent-broker.js';
import { compilePolicy, PolicyCompileError } from './policy/compile.js';
import { lastingRule } from './policy/lasting-rule.js';
import {
  checkPolicyDocument,
  parsePolicyForEdit,
  PolicyWriteRefused,
  readPolicyForEdit,
  samePolicyFile,
  writePolicyFile,
} from './policy-edit.js';
import { formatPolicy, readPolicyFile } from './policy/index.js';
import type { Policy } from './policy/policy.js';
import { PolicyError } from './policy/policy-error.js';
import { listProcessesYielding, type ProcessInfo } from './discovery.js';
import { defaultSessionDir, newSessionFilePath } from './runtime-paths.js';
import { SessionFileError } from './session-file.js';
import { SessionIndex } from './session-index.js';
import type { SessionSummary } from './summary.js';
import { HOOKSCOPE_VERSION } from './version.js';

export interface UiApiOptions {
  /** Where sessions are listed, opened from and recorded to. */
  sessionDir?: string;
  /** Where refusals and failures are logged (one line each). */
  log?: (line: string) => void;
  /** Native file dialogs: only the desktop app has them (`dialog.openFile`). */
  dialogs?: NativeDialogs;
  /** How long `session.open` reads a new file before answering (the rest follows). */
  openFirstReadMs?: number;
}

/** What the desktop adapter provides for `dialog.openFile`. */
export interface NativeDialogs {
  /** Shows an open dialog starting in `defaultDir`; the chosen absolute path, or null. */
  openFile(options: {
    purpose: FileDialogPurpose;
    defaultDir: string | null;
  }): Promise<string | null>;
  /** Shows a save dialog proposing `defaultName`; the chosen absolute path, or null. */
  saveFile(options: { purpose: SaveDialogPurpose; defaultName: string }): Promise<string | null>;
}

type Handlers = { [M in ApiMethod]: (request: ApiRequest<M>) => Promise<ApiResponse<M>> };

interface Run {
  status: RunStatus;
  /** Pending intents of an interactive policy; null otherwise. */
  intents: IntentBroker | null;
  /** Ends it: SIGTERM to a launched command, a detach from an attached process. */
  stop: () => void;
  /** Attach runs: detach and wait until the session is closed. */
  detach: (() => Promise<void>) | null;
  finished: Promise<void>;
  /** The enforced policy, when the run has one: `always` answers are written into its file. */
  policy: {
    file: string;
    current: Policy;
    /** Sends a new policy to the run's live agents (`policy.write`). */
    replace: (policy: RunPolicy) => Promise<PolicyDelivery[]>;
  } | null;
}

/** Session indexes kept open; the least recently used is dropped beyond this. */
const OPEN_INDEXES = 4;
/** How long session.open reads a new file before answering with what it has. */
const OPEN_FIRST_READ_MS = 700;

export class UiApi {
  readonly sessionDir: string;
  private readonly log: (line: string) => void;
  private readonly indexes = new Map<string, Promise<SessionIndex>>();
  /** Indexes being read for the first time, for `session.progress`. */
  private readonly opening = new Map<string, SessionIndex>();
  private readonly runs = new Map<string, Run>();
  private runCount = 0;
  private readonly dialogs: NativeDialogs | null;
  private readonly changeListeners = new Set<(message: ChangeMessage) => void>();
  /** Watches live session files for growth while anyone listens. */
  private growthTimer: NodeJS.Timeout | null = null;
  private readonly sessionSizes = new Map<string, number>();
  private readonly exports: ExportJobs;
  private readonly openFirstReadMs: number;

  constructor(options: UiApiOptions = {}) {
    this.sessionDir = path.resolve(options.sessionDir ?? defaultSessionDir());
    this.log = options.log ?? ((line) => process.stderr.write(`${line}\n`));
    this.dialogs = options.dialogs ?? null;
    this.exports = new ExportJobs(this.log);
    this.openFirstReadMs = options.openFirstReadMs ?? OPEN_FIRST_READ_MS;
  }

  /**
   * The one handler wrapper: checks the method against the allowlist and
   * the payload against its validator, logs why it refused, runs the
   * handler, and turns every failure into a reply (never a throw), so a
   * transport only has to carry the reply. `from` names the caller in logs.
   */
  async call(method: string, payload: unknown, from: string): Promise<ApiReply<unknown>> {
    const checked = validateRequest(method, payload);
    if (!checked.ok) {
      this.log(`hookscope: refused ${JSON.stringify(method)} from ${from}: ${checked.message}`);
      return { ok: false, error: { code: 'bad-request', message: checked.message } };
    }
    try {
      const handler = this.handlers[checked.method] as (request: unknown) => Promise<unknown>;
      return { ok: true, result: await handler(checked.request) };
    } catch (error) {
      const reply = errorReply(error);
      this.log(`hookscope: ${method} from ${from} failed: ${reply.error.message}`);
      return reply;
    }
  }

  private readonly handlers: Handlers = {
    'processes.list': async () => ({
      processes: (await listProcessesYielding()).map(processRow),
    }),
    'sessions.list': async () => ({
      directory: this.sessionDir,
      sessions: this.listSessionFiles(),
    }),
    'session.open': async ({ path: file }) => {
      const resolved = this.sessionFile(file);
      // The index already open for this file goes on from where it stopped
      // (a live run's file only grows: its summary grows with it); a file
      // replaced or cut since is read afresh, index and summary in one read.
      const open = this.indexes.get(resolved);
      const known = open === undefined ? null : await open.catch(() => null);
      if (known !== null && known.summary() !== null && (await known.stillReads())) {
        this.remember(resolved, open as Promise<SessionIndex>);
        await known.catchUp();
        return overview(known.summary() as SessionSummary, known);
      }
      // A large file: its first second of reading is shown at once, and the
      // rest is read in the background (`indexing` says how far; the view
      // opens it again until it is done).
      const index = SessionIndex.withSummary(resolved);
      this.opening.set(resolved, index);
      const ready = index.refreshFor(this.openFirstReadMs).then(() => index);
      this.remember(resolved, ready);
      try {
        await ready;
      } finally {
        if (this.opening.get(resolved) === index) this.opening.delete(resolved);
      }
      if (index.reading) {
        index.refresh().catch((error: unknown) => {
          this.log(`hookscope: reading ${resolved} failed: ${(error as Error).message}`);
          if (this.indexes.get(resolved) === ready) this.indexes.delete(resolved);
        });
      }
      return overview(index.summary() as SessionSummary, index);
    },
    'session.progress': async ({ path: file }) => {
      const index = this.opening.get(this.sessionFile(file));
      return index === undefined
        ? { opening: false, readBytes: 0, totalBytes: 0 }
        : {
            opening: true,
            ...index.progress,
          };
    },
    'session.events': async ({ path: file, offset, limit, filter, sort, highlight }) => {
      const index = await this.index(this.sessionFile(file));
      await index.catchUp();
      let page;
      try {
        page = await index.page(filter ?? {}, offset, limit, { sort, highlight });
      } catch (error) {
        throw new ApiError('bad-request', `invalid filter: ${(error as Error).message}`);
      }
      return { totalEvents: index.totalEvents, offset, ...page };
    },
    'session.timeline': async ({ path: file, fromNs, toNs, buckets, filter }) => {
      if (fromNs !== undefined && toNs !== undefined && toNs <= fromNs) {
        throw new ApiError('bad-request', 'request.toNs must be after request.fromNs');
      }
      const index = await this.index(this.sessionFile(file));
      await index.catchUp();
      try {
        return index.timeline(filter ?? {}, { fromNs, toNs, buckets });
      } catch (error) {
        throw new ApiError('bad-request', `invalid filter: ${(error as Error).message}`);
      }
    },
    'run.start': async (request) => this.startRun(request),
    'attach.start': async (request) => this.startAttach(request),
    'attach.detach': async ({ runId }) => {
      const run = this.runs.get(runId);
      if (run === undefined) throw new ApiError('not-found', `no run with id ${runId}`);
      if (run.detach === null) {
        throw new ApiError(
          'bad-request',
          `run ${runId} launched its process; only attach runs detach`,
        );
      }
      if (run.status.state === 'running') await run.detach();
      return { ...run.status };
    },
    'run.status': async ({ runId }) => {
      const run = this.runs.get(runId);
      if (run === undefined) throw new ApiError('not-found', `no run with id ${runId}`);
      return { ...run.status };
    },
    'intents.list': async () => ({ intents: this.pendingIntents() }),
    'export.start': async (request) => {
      const file = this.sessionFile(request.path);
      let keep: Uint8Array | null = null;
      if (request.filter !== undefined && Object.keys(request.filter).length > 0) {
        // The events the table shows: the same index, the same filter.
        const index = await this.index(file);
        await index.refresh();
        try {
          keep = index.eventMask(request.filter);
        } catch (error) {
          throw new ApiError('bad-request', `invalid filter: ${(error as Error).message}`);
        }
      }
      return this.exports.start(file, request, keep);
    },
    'export.status': async ({ jobId }) => this.exports.status(jobId),
    'export.cancel': async ({ jobId }) => this.exports.cancel(jobId),
    'intents.hold': async ({ id }) => {
      const { broker, brokerId } = this.brokerOf(id);
      try {
        return { id, deadlineAtMs: broker.hold(brokerId, INTENT_HOLD_MS) };
      } catch (error) {
        // Answered, timed out or gone while the reader looked: nothing to hold.
        if (error instanceof IntentError) return { id, deadlineAtMs: null };
        throw error;
      }
    },
    'intents.answer': async ({ id, outcome, scope, match }) => {
      const slash = id.indexOf('/');
      const run = slash > 0 ? this.runs.get(id.slice(0, slash)) : undefined;
      const broker = run?.intents;
      if (run === undefined || broker == null) {
        throw new ApiError('not-found', `no pending intent ${id}`);
      }
      const brokerId = id.slice(slash + 1);
      if (match !== undefined && match !== 'exact' && scope !== 'always') {
        throw new ApiError('bad-request', 'request.match applies only to scope "always"');
      }
      if (scope === 'always') {
        const pending = broker.list().find((p) => p.id === brokerId);
        if (pending !== undefined) this.checkLastingRule(run, brokerId, match ?? 'exact');
      }
      try {
        broker.answer(brokerId, {
          outcome,
          ...(scope !== undefined ? { scope } : {}),
          ...(match !== undefined ? { match } : {}),
        });
      } catch (error) {
        if (error instanceof IntentError) throw new ApiError('not-found', error.message);
        throw error;
      }
      return { id };
    },
    'app.capabilities': async () => ({ nativeDialogs: this.dialogs !== null }),
    'dialog.openFile': async ({ purpose }) => {
      if (this.dialogs === null) {
        throw new ApiError(
          'refused',
          'file dialogs exist only in the desktop app: type the absolute path instead',
        );
      }
      const chosen = await this.dialogs.openFile({
        purpose,
        defaultDir: purpose === 'session' ? this.sessionDir : null,
      });
      if (chosen !== null && !path.isAbsolute(chosen)) {
        throw new ApiError('failed', `the dialog returned a relative path ${chosen}`);
      }
      return { path: chosen };
    },
    'dialog.saveFile': async ({ purpose, defaultName }) => {
      if (this.dialogs === null) {
        throw new ApiError(
          'refused',
          'file dialogs exist only in the desktop app: type the absolute path instead',
        );
      }
      const chosen = await this.dialogs.saveFile({ purpose, defaultName });
      if (chosen !== null && !path.isAbsolute(chosen)) {
        throw new ApiError('failed', `the dialog returned a relative path ${chosen}`);
      }
      return { path: chosen };
    },
    'policy.read': async ({ path: file }) => {
      checkPolicyPath(file);
      let read;
      try {
        read = readPolicyForEdit(file);
      } catch (error) {
        throw policyFileError(file, error);
      }
      return { ...read, liveRuns: this.runsEnforcing(file).length };
    },
    'policy.parse': async ({ text }) => ({ ...parsePolicyForEdit(text, '<pasted>'), liveRuns: 0 }),
    'policy.write': async (request) => this.writePolicy(request),
  };

  /** Running runs that enforce the policy file `file`. */
  private runsEnforcing(
    file: string,
  ): Array<[string, Run & { policy: NonNullable<Run['policy']> }]> {
    const out: Array<[string, Run & { policy: NonNullable<Run['policy']> }]> = [];
    for (const [runId, run] of this.runs) {
      if (run.status.state !== 'running' || run.policy === null) continue;
      if (samePolicyFile(run.policy.file, file)) {
        out.push([runId, run as Run & { policy: NonNullable<Run['policy']> }]);
      }
    }
    return out;
  }

  /**
   * `policy.write`: check and compile, write in one step, then hand the
   * new policy to every running run that enforces that file, which sends
   * it to each of its live agents (docs/protocol.md, "Replacing the
   * policy"). A run's own `always` answers and remembered answers start
   * from the new policy.
   */
  private async writePolicy(request: ApiRequest<'policy.write'>): Promise<PolicyWriteResult> {
    const file = request.path;
    checkPolicyPath(file);
    const checked = checkPolicyDocument(request.policy, file);
    if (!checked.ok) {
      return { saved: false, path: file, sha256: null, problems: checked.problems, live: null };
    }
    let sha256: string;
    try {
      sha256 = writePolicyFile(file, checked.checked.text, {
        overwrite: request.overwrite ?? false,
        ...(request.baseSha256 !== undefined ? { baseSha256: request.baseSha256 } : {}),
      });
    } catch (error) {
      throw policyFileError(file, error);
    }
    this.log(`hookscope: wrote the policy ${file}`);
    const live: PolicyLiveUpdate = { runs: 0, processesUpdated: 0, notUpdated: [] };
    const next: RunPolicy = {
      file,
      compiled: compilePolicy(checked.checked.policy, { askAnswer: 'interactive' }),
      text: checked.checked.text,
      sha256,
      askAnswer: 'interactive',
    };
    for (const [runId, run] of this.runsEnforcing(file)) {
      live.runs++;
      run.policy.current = checked.checked.policy;
      run.intents?.policyReplaced();
      try {
        for (const delivery of await run.policy.replace({ ...next, file: run.policy.file })) {
          if (delivery.status === 'applied') live.processesUpdated++;
          else live.notUpdated.push({ runId, pid: delivery.pid, status: delivery.status });
        }
      } catch (error) {
        live.notUpdated.push({
          runId,
          pid: run.status.pid ?? 0,
          status: `failed: ${(error as Error).message}`,
        });
      }
    }
    return { saved: true, path: file, sha256, problems: [], live };
  }

  /** The broker holding intent `<runId>/<brokerId>`; ApiError not-found when none. */
  private brokerOf(id: string): { broker: IntentBroker; brokerId: string } {
    const slash = id.indexOf('/');
    const broker = slash > 0 ? this.runs.get(id.slice(0, slash))?.intents : undefined;
    if (broker == null) throw new ApiError('not-found', `no pending intent ${id}`);
    return { broker, brokerId: id.slice(slash + 1) };
  }

  /** Every run's pending intents, oldest first. */
  private pendingIntents(): PendingIntentRow[] {
    const rows: PendingIntentRow[] = [];
    for (const [runId, run] of this.runs) {
      const broker = run.intents;
      if (broker == null) continue;
      for (const p of broker.list()) rows.push(intentRow(runId, run, p));
    }
    return rows.sort((a, b) => a.askedAtMs - b.askedAtMs);
  }

  /**
   * An `always` answer must be expressible as an exact rule; refused
   * before anything is answered when it is not, so the user can pick
   * another scope.
   */
  private checkLastingRule(run: Run, brokerId: string, match: IntentMatch): void {
    if (run.policy === null) throw new ApiError('bad-request', 'this run has no policy file');
    const subject = run.intents?.subjectOf(brokerId);
    if (subject === undefined) return; // answered meanwhile: answer() reports it
    const made = lastingRule(subject, 'allow', '', match);
    if (!made.ok) {
      throw new ApiError(
        'bad-request',
        `cannot answer "always" (match ${match}): ${made.reason}; choose another match, or answer for the session or the process instead`,
      );
    }
  }

  /** Writes an `always` answer into the run's policy file, above the rule that asked. */
  private writeLastingRule(run: Run, answer: LastingAnswer): void {
    if (run.policy === null) return;
    const made = lastingRule(
      answer.subject,
      answer.outcome,
      `${answer.outcome === 'allow' ? 'allowed' : 'denied'} in the inspector on ${new Date().toISOString()}`,
      answer.match,
    );
    if (!made.ok) return;
    const rules = [...run.policy.current.rules];
    rules.splice(answer.ruleIndex ?? rules.length, 0, made.rule);
    const next: Policy = { ...run.policy.current, rules };
    const text = formatPolicy(next);
    // Replace the file in one step: a reader never sees half a policy.
    const temp = `${run.policy.file}.hookscope-${process.pid}.tmp`;
    try {
      fs.writeFileSync(temp, text, { mode: 0o600, flag: 'wx' });
      fs.renameSync(temp, run.policy.file);
      run.policy.current = next;
      this.log(`hookscope: wrote an "always" rule into ${run.policy.file}`);
      // The run's agents judge by the new file from now on: a rule wider
      // than the question (a folder, a digest, a name) answers its next
      // asks in the target, and rule numbers in decisions match the file.
      void this.pushPolicy(run, next, text);
    } catch (error) {
      fs.rmSync(temp, { force: true });
      this.log(
        `hookscope: could not write the "always" rule into ${run.policy.file}: ${(error as Error).message}`,
      );
    }
  }

  /** Sends `policy` (just written to the run's policy file) to the run's live agents. */
  private async pushPolicy(run: Run, policy: Policy, text: string): Promise<void> {
    if (run.policy === null) return;
    try {
      run.intents?.policyReplaced();
      const deliveries = await run.policy.replace({
        file: run.policy.file,
        compiled: compilePolicy(policy, { askAnswer: 'interactive' }),
        text,
        sha256: crypto.createHash('sha256').update(text).digest('hex'),
        askAnswer: 'interactive',
      });
      const missed = deliveries.filter((d) => d.status !== 'applied');
      if (missed.length > 0) {
        this.log(
          `hookscope: the "always" rule did not reach ${missed.map((d) => `pid ${d.pid} (${d.status})`).join(', ')}`,
        );
      }
    } catch (error) {
      this.log(`hookscope: could not send the new policy to the run: ${(error as Error).message}`);
    }
  }

  /**
   * The change feed: calls `listener` with what changed (intents waiting,
   * a run's state, a live session file that grew, at most every
   * SESSION_CHANGE_MIN_MS per file). The web host's WebSocket and the
   * desktop shell forward it to the UI, which re-reads what changed.
   */
  subscribe(listener: (message: ChangeMessage) => void): () => void {
    this.changeListeners.add(listener);
    if (this.growthTimer === null) {
      this.growthTimer = setInterval(() => this.checkSessionGrowth(), SESSION_CHANGE_MIN_MS);
      this.growthTimer.unref();
    }
    return () => {
      this.changeListeners.delete(listener);
      if (this.changeListeners.size === 0) this.stopGrowthTimer();
    };
  }

  /**
   * Calls `listener` with the number of intents waiting (all runs) each
   * time the queue changes: how the desktop shell asks for attention.
   */
  onPendingIntents(listener: (pending: number) => void): () => void {
    return this.subscribe((message) => {
      if (message.topic === 'intents') listener(message.pending);
    });
  }

  private emit(message: ChangeMessage): void {
    for (const listener of [...this.changeListeners]) {
      try {
        listener(message);
      } catch (error) {
        this.log(`hookscope: a change listener failed: ${(error as Error).message}`);
      }
    }
  }

  private pendingChanged(): void {
    this.emit({ topic: 'intents', pending: this.pendingIntents().length });
  }

  private runChanged(status: RunStatus): void {
    this.sessionSizes.delete(status.sessionPath);
    this.emit({
      topic: 'run',
      runId: status.runId,
      sessionPath: status.sessionPath,
      state: status.state,
    });
  }

  /**
   * Polls the size of live runs' session files (a stat each, a few times a
   * second, only while someone listens): the recorder writes from many
   * places, and a timer also caps the rate of messages per file.
   */
  private checkSessionGrowth(): void {
    for (const run of this.runs.values()) {
      if (run.status.state !== 'running') continue;
      const file = run.status.sessionPath;
      let size: number;
      try {
        size = fs.statSync(file).size;
      } catch {
        continue; // not created yet
      }
      if (this.sessionSizes.get(file) === size) continue;
      this.sessionSizes.set(file, size);
      this.emit({ topic: 'session', path: file });
    }
  }

  private stopGrowthTimer(): void {
    if (this.growthTimer !== null) clearInterval(this.growthTimer);
    this.growthTimer = null;
  }

  /** Stops the runs this API started and waits for their files to close. */
  async close(): Promise<void> {
    this.stopGrowthTimer();
    const exportsEnded = this.exports.cancelAll();
    for (const run of this.runs.values()) {
      if (run.status.state === 'running') run.stop();
    }
    await Promise.all([exportsEnded, ...[...this.runs.values()].map((run) => run.finished)]);
  }

  private listSessionFiles(): ApiResponse<'sessions.list'>['sessions'] {
    let names: string[];
    try {
      names = fs.readdirSync(this.sessionDir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw error;
    }
    const rows = [];
    for (const name of names) {
      if (!name.endsWith('.hks')) continue;
      const file = path.join(this.sessionDir, name);
      try {
        const st = fs.statSync(file);
        if (st.isFile())
          rows.push({ name, path: file, sizeBytes: st.size, modifiedAtMs: st.mtimeMs });
      } catch {
        // Deleted while listing.
      }
    }
    return rows.sort((a, b) => b.modifiedAtMs - a.modifiedAtMs || (a.name < b.name ? -1 : 1));
  }

  /**
   * Only session files directly inside the sessions directory can be read
   * through the API, checked on the real path: a caller cannot use it to
   * read other files, through `..` or a symbolic link.
   */
  private sessionFile(file: string): string {
    if (!file.endsWith('.hks')) {
      throw new ApiError('refused', `${file} is not a session file (.hks)`);
    }
    let real: string;
    let realDir: string;
    try {
      real = fs.realpathSync(file);
      realDir = fs.realpathSync(this.sessionDir);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
        throw new ApiError('not-found', `no session file at ${file}`);
      }
      throw error;
    }
    if (path.dirname(real) !== realDir) {
      throw new ApiError('refused', `${file} is not in the sessions directory ${this.sessionDir}`);
    }
    return real;
  }

  private index(file: string): Promise<SessionIndex> {
    return this.remember(file, this.indexes.get(file) ?? SessionIndex.open(file));
  }

  /** Keeps `index` as the most recently used one for `file`. */
  private remember(file: string, index: Promise<SessionIndex>): Promise<SessionIndex> {
    this.indexes.delete(file);
    this.indexes.set(file, index);
    index.catch(() => {
      if (this.indexes.get(file) === index) this.indexes.delete(file);
    });
    while (this.indexes.size > OPEN_INDEXES) {
      this.indexes.delete(this.indexes.keys().next().value as string);
    }
    return index;
  }

  private async startRun(request: ApiRequest<'run.start'>): Promise<RunStatus> {
    if (request.cwd !== undefined && !isDirectory(request.cwd)) {
      throw new ApiError('bad-request', `the working directory ${request.cwd} does not exist`);
    }
    const policy = request.policyPath !== undefined ? loadRunPolicy(request.policyPath) : null;
    fs.mkdirSync(this.sessionDir, { recursive: true, mode: 0o700 });
    const outPath = newSessionFilePath(this.sessionDir, request.command, ++this.runCount);
    const capture = await CaptureRun.start({
      command: request.command,
      args: request.args,
      ...(request.cwd !== undefined ? { cwd: request.cwd } : {}),
      outPath,
      // The UI shows what the agent records, not the target's terminal output.
      stdio: 'ignore',
      // No terminal to share: its own session, so its busy processes share
      // the CPU as one group against the inspector (CaptureRunOptions).
      ownSession: true,
      hookscopeVersion: HOOKSCOPE_VERSION,
      ...(policy !== null ? { policy: policy.run } : {}),
    });
    const runId = crypto.randomBytes(8).toString('hex');
    const status: RunStatus = {
      runId,
      mode: 'launch',
      sessionPath: outPath,
      pid: capture.child.pid ?? null,
      command: [request.command, ...request.args],
      state: 'running',
      exitCode: null,
      signal: null,
      error: null,
    };
    const finished = capture.finish().then(
      (exit) => {
        status.state = 'exited';
        status.exitCode = exit.code;
        status.signal = exit.signal;
        if (capture.recorder.error) status.error = capture.recorder.error.message;
        this.runChanged(status);
      },
      (error: unknown) => {
        status.state = 'failed';
        status.error = (error as Error).message;
        this.runChanged(status);
      },
    );
    const run: Run = {
      status,
      intents: capture.intents,
      // The target leads its own process group (ownSession): Stop ends the
      // whole tree it started, not just its first process.
      stop: () => {
        const pid = capture.child.pid;
        try {
          if (pid === undefined) throw new Error('no pid');
          process.kill(-pid, 'SIGTERM');
        } catch {
          capture.child.kill('SIGTERM');
        }
      },
      detach: null,
      finished,
      policy:
        policy !== null
          ? {
              file: policy.run.file,
              current: policy.policy,
              replace: (next) => capture.replacePolicy(next),
            }
          : null,
    };
    return this.addRun(runId, run);
  }

  private addRun(runId: string, run: Run): RunStatus {
    run.intents?.onLastingAnswer((answer) => this.writeLastingRule(run, answer));
    run.intents?.subscribe(() => this.pendingChanged());
    this.runs.set(runId, run);
    this.runChanged(run.status);
    return { ...run.status };
  }

  private async startAttach(request: ApiRequest<'attach.start'>): Promise<RunStatus> {
    const policy = request.policyPath !== undefined ? loadRunPolicy(request.policyPath) : null;
    fs.mkdirSync(this.sessionDir, { recursive: true, mode: 0o700 });
    const outPath = newSessionFilePath(this.sessionDir, `attach-${request.pid}`, ++this.runCount);
    let attached: AttachRun;
    try {
      attached = await AttachRun.start({
        pid: request.pid,
        outPath,
        hookscopeVersion: HOOKSCOPE_VERSION,
        ...(policy !== null ? { policy: policy.run } : {}),
        onNotice: (level, message) =>
          this.log(`hookscope: attach ${request.pid}: ${level}: ${message}`),
      });
    } catch (error) {
      if (error instanceof AttachRefusedError) throw new ApiError('refused', error.message);
      if (error instanceof AttachFailedError) {
        throw new ApiError(
          'failed',
          `attaching to process ${request.pid} failed: ${error.message}`,
        );
      }
      throw error;
    }
    const runId = crypto.randomBytes(8).toString('hex');
    const status: RunStatus = {
      runId,
      mode: 'attach',
      sessionPath: outPath,
      pid: request.pid,
      command: attached.target.cmdline,
      state: 'running',
      exitCode: null,
      signal: null,
      error: null,
    };
    let detachRequested = false;
    const finished = attached.ended
      .then(async (end) => {
        await attached.finish(end);
        status.state = end === 'detached' || detachRequested ? 'detached' : 'exited';
        if (end === 'agent-gone')
          status.error = `the agent in process ${request.pid} stopped reporting`;
        if (attached.recorder.error) status.error = attached.recorder.error.message;
        this.runChanged(status);
      })
      .catch((error: unknown) => {
        status.state = 'failed';
        status.error = (error as Error).message;
        this.runChanged(status);
      });
    const detach = async (): Promise<void> => {
      detachRequested = true;
      await attached.detach();
      // The agent says BYE; if it does not in time the socket is closed anyway.
      await Promise.race([finished, new Promise((r) => setTimeout(r, 5000))]);
    };
    return this.addRun(runId, {
      status,
      intents: attached.intents,
      stop: () => void detach(),
      detach,
      finished,
      policy:
        policy !== null
          ? {
              file: policy.run.file,
              current: policy.policy,
              replace: (next) => attached.replacePolicy(next),
            }
          : null,
    });
  }
}

/**
 * The editor reads and writes `.json` files only: the API must not become
 * a way to read any file (a key, a token) or to replace one (a shell's
 * start-up file) through a mistyped or malicious path.
 */
function checkPolicyPath(file: string): void {
  if (!file.endsWith('.json')) {
    throw new ApiError('refused', `${file} is not a policy file (.json)`);
  }
}

/** A policy file that cannot be read or written, as an API error. */
function policyFileError(file: string, error: unknown): unknown {
  if (error instanceof PolicyWriteRefused) return new ApiError('refused', error.message);
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') return new ApiError('not-found', `no file or directory at ${file}`);
  if (code === 'EACCES' || code === 'EPERM' || code === 'EROFS') {
    return new ApiError('refused', `${file}: permission denied`);
  }
  if (code === 'EISDIR' || code === 'ENOTDIR') {
    return new ApiError('bad-request', `${file} is not a file`);
  }
  return error;
}

/** Reads, checks and compiles a policy for an interactive run; ApiError with every problem. */
function loadRunPolicy(file: string): { run: RunPolicy; policy: Policy } {
  try {
    const read = readPolicyFile(file);
    return {
      policy: read.policy,
      run: {
        file,
        compiled: compilePolicy(read.policy, { askAnswer: 'interactive' }),
        text: read.text,
        sha256: crypto.createHash('sha256').update(read.bytes).digest('hex'),
        askAnswer: 'interactive',
      },
    };
  } catch (error) {
    if (error instanceof PolicyError || error instanceof PolicyCompileError) {
      throw new ApiError('bad-request', error.message);
    }
    throw error;
  }
}

function intentRow(runId: string, run: Run, p: PendingIntent): PendingIntentRow {
  const rule = p.ruleIndex === null ? undefined : run.policy?.current.rules[p.ruleIndex];
  return {
    id: `${runId}/${p.id}`,
    runId,
    sessionPath: run.status.sessionPath,
    pid: p.pid,
    tid: p.tid,
    executable: p.executable,
    subject: p.subject,
    stack: p.stack,
    module: p.module,
    package: p.package,
    ruleIndex: p.ruleIndex,
    ruleComment: rule?.comment ?? null,
    scope: p.scope,
    timeoutAction: run.policy?.current.ask.timeoutAction ?? 'deny',
    askedAtMs: p.askedAtMs,
    deadlineAtMs: p.deadlineAtMs,
  };
}

function isDirectory(dir: string): boolean {
  try {
    return fs.statSync(dir).isDirectory();
  } catch {
    return false;
  }
}

function errorReply(error: unknown): Extract<ApiReply<unknown>, { ok: false }> {
  if (error instanceof ApiError) {
    return { ok: false, error: { code: error.code, message: error.message } };
  }
  if (error instanceof CommandError || error instanceof SessionFileError) {
    return { ok: false, error: { code: 'bad-request', message: error.message } };
  }
  return { ok: false, error: { code: 'failed', message: (error as Error).message } };
}

function processRow(p: ProcessInfo): ProcessRow {
  return {
    pid: p.pid,
    ppid: p.ppid,
    uid: p.uid,
    user: p.user,
    exe: p.exe,
    cmdline: p.cmdline,
    startTime: p.startTime,
    python: p.python ? { version: p.python.version, freeThreaded: p.python.freeThreaded } : null,
    agentLoaded: p.agentLoaded,
    attach: {
      ok: p.attach.ok,
      method: p.attach.method,
      reasons: p.attach.reasons.map((r) => ({ code: r.code, message: r.message, fix: r.fix })),
    },
  };
}

function overview(s: SessionSummary, index: SessionIndex): SessionOverview {
  return {
    indexing: index.reading ? index.progress : null,
    path: s.path,
    command: s.run?.command ?? null,
    cwd: s.run?.cwd ?? null,
    startedAtMs: s.run?.startedAtMs ?? null,
    endedAtMs: s.runEnd?.endedAtMs ?? null,
    exitCode: s.runEnd?.exitCode ?? null,
    signal: s.runEnd?.signal ?? null,
    processes: s.processes.map((p) => ({
      session: p.session,
      pid: p.pid,
      ppid: p.ppid,
      parentSession: p.parentSession,
      exe: p.exe,
      argv: p.argv,
      cwd: p.cwd,
      pythonVersion: p.pythonVersion,
      startedAtMs: p.startedAtMs,
      end: p.end,
      events: p.records,
      dropped: p.dropped.toString(),
    })),
    totalEvents: s.totalEvents,
    byCategory: s.byCategory,
    topEvents: s.byEvent.slice(0, 200),
    droppedTotal: s.droppedTotal.toString(),
    notices: s.notices.slice(0, 200),
    truncated: s.truncated,
    attach: s.attach
      ? {
          method: s.attach.method,
          hooksActiveAtMs: s.attach.hooksActiveAtMs,
          attachWallMs: s.attach.attachWallMs,
          longestPauseMs: s.attach.longestPauseMs,
          reattached: s.attach.reattached,
        }
      : null,
    policy: s.policy ? { file: s.policy.file, askAnswer: s.policy.askAnswer } : null,
  };
}
