// The one contract between the UI and the inspector core: method names,
// request and response payloads, the allowlist, and a runtime validator for
// every request. Both transports use it unchanged: the loopback web host
// (`POST /api/<method>`) and the Electron preload (channel
// `hookscope:<method>`). Pure TypeScript, shared with the renderer: no Node
// and no Electron imports (enforced by eslint.config.mjs).

import { EVENT_CATEGORIES, type EventCategory } from './event-taxonomy.js';

// ------------------------------------------------------------ wire types
//
// Everything here is JSON: 64-bit counters and nanosecond clocks travel as
// decimal strings (they exceed 2^53); times meant for display are numbers
// with their unit in the name.

/** A JSON rendering of one recorded argument (see records.ts toJsonValue). */
export type ArgValue = null | boolean | number | string | ArgValue[] | { [key: string]: ArgValue };

export interface AttachReasonRow {
  code: string;
  message: string;
  fix: string;
}

/** One process of the discovery list (`hookscope ps`). */
export interface ProcessRow {
  pid: number;
  ppid: number;
  uid: number;
  user: string;
  exe: string | null;
  cmdline: string[];
  startTime: string;
  python: { version: string; freeThreaded: boolean } | null;
  agentLoaded: boolean;
  attach: {
    ok: boolean;
    method: 'remote_exec' | 'gdb' | 'lldb' | null;
    reasons: AttachReasonRow[];
  };
}

/** A session file in the sessions directory. */
export interface SessionFileRow {
  name: string;
  path: string;
  sizeBytes: number;
  modifiedAtMs: number;
}

export type ProcessEndReasonRow = 'exited' | 'killed' | 'disconnected' | 'detached';

/** One traced process of a session. */
export interface SessionProcessRow {
  session: number;
  pid: number;
  ppid: number;
  parentSession: number | null;
  exe: string;
  argv: string[];
  cwd: string;
  pythonVersion: string;
  startedAtMs: number;
  end: {
    reason: ProcessEndReasonRow;
    endTimeMs: number;
    exitCode: number | null;
    signal: string | null;
  } | null;
  /** Events present in the file for this process. */
  events: number;
  /** Events the agent lost because its buffer was full (decimal string). */
  dropped: string;
}

export interface SessionOverview {
  /**
   * A large file is answered after its first stretch is read; the rest is
   * read in the background: how far (open it again for more), null once
   * the whole file is in.
   */
  indexing: { readBytes: number; totalBytes: number } | null;
  path: string;
  command: string[] | null;
  cwd: string | null;
  startedAtMs: number | null;
  endedAtMs: number | null;
  exitCode: number | null;
  signal: string | null;
  processes: SessionProcessRow[];
  totalEvents: number;
  byCategory: { category: EventCategory; label: string; count: number }[];
  /** Most frequent first, at most 200. */
  topEvents: { event: string; category: EventCategory; count: number }[];
  droppedTotal: string;
  notices: { timeMs: number; level: 'info' | 'warning' | 'error'; message: string }[];
  /** Set when the file's tail could not be read (a torn or growing file). */
  truncated: { offset: number; bytesCut: number; reason: string } | null;
  /** Attach sessions: how the attach went; nothing before hooksActiveAtMs was seen. */
  attach: {
    method: string;
    hooksActiveAtMs: number;
    attachWallMs: number;
    longestPauseMs: number;
    reattached: boolean;
  } | null;
  /** The policy the session enforced, if any. */
  policy: { file: string; askAnswer: string } | null;
}

export type OpenCodeIntentName =
  'unknown' | 'pythoncode' | 'bytecode' | 'zipimport' | 'nativecode' | 'ctypes';

/** The file identity the open-code hook recorded. */
export interface FileIdentity {
  path: string;
  realPath: string;
  sizeBytes: number;
  sha256: string | null;
  intent: OpenCodeIntentName;
  error: { errno: number; message: string } | null;
}

/** One decoded event. */
export interface EventRow {
  /** Position of the event in the session file (0-based, stable). */
  index: number;
  session: number;
  pid: number;
  tid: number;
  seq: number;
  /** CLOCK_MONOTONIC of the target, ns, decimal string. */
  timeNs: string;
  /** Milliseconds since the process's agent started (µs resolution). */
  sinceStartMs: number;
  /** On the session's axis: ns since its first process started (all processes share it). */
  offsetNs: number;
  event: string;
  category: EventCategory;
  /** One line, cut short, for the table. */
  argsSummary: string;
  args: ArgValue[];
  argsTruncated: boolean;
  fileIdentity: FileIdentity | null;
  /** The policy decision about this event, if one was made. */
  decision: EventDecisionRow | null;
  /** Matches the request's highlight filter (shown, not hidden). */
  highlighted: boolean;
}

export const DECISION_FILTERS = ['any', 'none', 'allowed', 'denied', 'asked'] as const;
/**
 * Which events by their policy decision: `any` decided, `none` not
 * decided, `allowed`/`denied` by outcome, `asked` decided through an ask.
 */
export type DecisionFilter = (typeof DECISION_FILTERS)[number];

export interface EventFilter {
  /** Glob over event names ("socket.*", "{open,os.*}"). */
  event?: string;
  pid?: number;
  tid?: number;
  /** Case-insensitive text in the event name or its arguments. */
  text?: string;
  /** Only these categories (none listed: all). */
  categories?: EventCategory[];
  decision?: DecisionFilter;
  /** Time range on the session's axis (`EventRow.offsetNs`), both ends included. */
  fromNs?: number;
  toNs?: number;
}

export const EVENT_SORT_COLUMNS = ['time', 'pid', 'tid', 'event', 'category', 'decision'] as const;
export type EventSortColumn = (typeof EVENT_SORT_COLUMNS)[number];
/** Table order; without one, events are in file order. */
export interface EventSort {
  column: EventSortColumn;
  descending: boolean;
}

/** The policy decision made about one event. */
export interface EventDecisionRow {
  outcome: 'allowed' | 'denied';
  /** Decided through an `ask` (by a person, a timeout, an offline or remembered answer). */
  asked: boolean;
  /** Who decided, the rule (index in the policy file; null: the default), and the
   *  deciding thread's stack, innermost first: known when the agent recorded a
   *  stack with the decision (denials and asks), else null. */
  detail: {
    by: string;
    ruleIndex: number | null;
    waitedNs: string;
    stack: StackFrameRow[] | null;
    /** The module outside the standard library the stack came from. */
    module: string | null;
  } | null;
}

/** Events per category over equal slices of a time range. */
export interface TimelineLane {
  category: EventCategory;
  label: string;
  /** Events in each bucket. */
  counts: number[];
}

export interface TimelineView {
  /** Where the session's axis starts and ends (first and last event), ns on that axis. */
  extentFromNs: number;
  extentToNs: number;
  /** The range the buckets cover, and each bucket's width (ns). */
  fromNs: number;
  toNs: number;
  bucketNs: number;
  lanes: TimelineLane[];
  /** Decided events in the range, at most MAX_TIMELINE_MARKS (the denials first). */
  decisions: { offsetNs: number; index: number; outcome: 'allowed' | 'denied'; asked: boolean }[];
  /** More decisions than were listed. */
  decisionsCut: boolean;
  totalEvents: number;
}

export interface EventPage {
  /** Events in the file when this page was read (it grows while live). */
  totalEvents: number;
  /** Events that pass the filter. */
  matchingEvents: number;
  offset: number;
  rows: EventRow[];
}

export type RunState = 'running' | 'exited' | 'detached' | 'failed';

export interface RunStatus {
  runId: string;
  /** `launch`: a command started with the agent; `attach`: a running process. */
  mode: 'launch' | 'attach';
  sessionPath: string;
  pid: number | null;
  command: string[];
  state: RunState;
  exitCode: number | null;
  signal: string | null;
  /** Set when the run failed after starting (e.g. the session file). */
  error: string | null;
}

/** How long an answer to an `ask` holds (docs/policy.md, "Scope"). */
export const INTENT_SCOPES = ['once', 'process', 'session', 'always'] as const;
export type IntentScope = (typeof INTENT_SCOPES)[number];
/**
 * What an `always` answer's rule matches: `exact` what was asked (code:
 * class, real path and SHA-256; an event: its name and every argument);
 * code by `prefix` (its folder) or `hash` (these bytes wherever they are);
 * an event by `name` (any arguments).
 */
export const INTENT_MATCHES = ['exact', 'prefix', 'hash', 'name'] as const;
export type IntentMatch = (typeof INTENT_MATCHES)[number];
export const INTENT_OUTCOMES = ['allow', 'deny'] as const;
export type IntentOutcome = (typeof INTENT_OUTCOMES)[number];

/** What a pending intent is about. */
export type PendingSubjectRow =
  | { kind: 'audit'; event: string; args: ArgValue; argsText: string; argsTruncated: boolean }
  | {
      kind: 'intent';
      intent: string;
      path: string;
      realPath: string;
      sha256: string | null;
      sizeBytes: number;
    };

/** One Python frame, innermost first. */
export interface StackFrameRow {
  file: string;
  function: string;
  line: number;
  module: string | null;
}

/** A thread in a target waiting for someone to allow or deny what it is about to do. */
export interface PendingIntentRow {
  /** `<runId>/<session>.<ask>`: what `intents.answer` takes. */
  id: string;
  runId: string;
  sessionPath: string;
  pid: number;
  tid: number;
  executable: string;
  subject: PendingSubjectRow;
  /** The waiting thread's Python stack, innermost first; null when not known. */
  stack: StackFrameRow[] | null;
  /** The module outside the standard library that asked, and its top-level package. */
  module: string | null;
  package: string | null;
  /** The asking rule (index in the policy file), null for the policy's default. */
  ruleIndex: number | null;
  ruleComment: string | null;
  /** The asking rule's scope: what an answer without a scope holds for. */
  scope: IntentScope;
  /** What the target does by itself at the deadline. */
  timeoutAction: IntentOutcome;
  askedAtMs: number;
  deadlineAtMs: number;
}

// ------------------------------------------------------------ policy editing
//
// A policy file as the rules editor sees it (docs/policy.md). The shapes
// mirror main/core/policy/policy.ts; they are repeated here because this
// file imports nothing from the core. The core checks everything again:
// these types only say what a well-formed policy looks like.

export type PolicyActionName = 'allow' | 'deny' | 'ask';
export type PolicyArgScalar = string | number | boolean | null;
export type PolicyArgMatcherRow =
  PolicyArgScalar | { exact: PolicyArgScalar } | { glob: string } | { prefix: string };

/** One rule; its index in the file is its position in `rules`. */
export interface PolicyRuleRow {
  action: PolicyActionName;
  event?: string | string[];
  intent?: string | string[];
  args?: Record<string, PolicyArgMatcherRow>;
  path?: string;
  pathPrefix?: string;
  realpath?: string;
  realpathPrefix?: string;
  sha256?: string;
  module?: string;
  package?: string;
  executable?: string;
  pid?: number | number[];
  scope?: IntentScope;
  comment?: string;
  /** Kept in the file, matches nothing. */
  disabled?: true;
}

/**
 * Keys of a rule, in the order a policy file is written with (policy.ts's
 * formatPolicy and the checker use it; so does the rules editor, for which
 * fields it shows next to an input).
 */
export const POLICY_RULE_KEYS = [
  'action',
  'event',
  'intent',
  'args',
  'path',
  'pathPrefix',
  'realpath',
  'realpathPrefix',
  'sha256',
  'module',
  'package',
  'executable',
  'pid',
  'scope',
  'comment',
  'disabled',
] as const satisfies readonly (keyof PolicyRuleRow)[];

export interface PolicyDocument {
  /** Kept as it was: lets editors find the JSON Schema. */
  $schema?: string;
  version: 1;
  comment?: string;
  default: PolicyActionName;
  ask: { timeoutMs: number; timeoutAction: IntentOutcome };
  offline: IntentOutcome;
  rules: PolicyRuleRow[];
}

/** One problem of a policy, as the checker reports it (`file:line:col: where: message`). */
export interface PolicyProblemRow {
  /** The whole line, as the CLI prints it. */
  text: string;
  line: number;
  column: number;
  code: string;
  /** `rules[2].sha256`, `ask.timeoutMs`, or "" for the document. */
  where: string;
  message: string;
  /** The rule it is about, when it is about one. */
  ruleIndex: number | null;
  /** The key it is about (`sha256`, `timeoutMs`), when there is one. */
  field: string | null;
}

/** A policy file read (or pasted text parsed) for editing. */
export interface PolicyReadResult {
  /** The file read; null for pasted text. */
  path: string | null;
  /** SHA-256 of the bytes read: `policy.write` can refuse if the file changed since. */
  sha256: string;
  text: string;
  /**
   * The document, also when it has problems (so they can be fixed in the
   * editor); null when the text is not a JSON object at all.
   */
  policy: PolicyDocument | null;
  problems: PolicyProblemRow[];
  /** Runs of this inspector that enforce this file now (a save updates them). */
  liveRuns: number;
}

/** What a save did to live runs. */
export interface PolicyLiveUpdate {
  /** Running runs that enforce the written file. */
  runs: number;
  /** Processes now enforcing the new policy. */
  processesUpdated: number;
  /** Processes that did not take it, and why (`malformed`, `not-enforcing`, `timeout`, …). */
  notUpdated: { runId: string; pid: number; status: string }[];
}

export type PolicyWriteResult =
  | { saved: true; path: string; sha256: string; problems: []; live: PolicyLiveUpdate }
  | { saved: false; path: string; sha256: null; problems: PolicyProblemRow[]; live: null };

// ------------------------------------------------------------ exports

/** The report formats (main/core/report.ts REPORT_FORMATS; a test keeps them equal). */
export const EXPORT_FORMATS = ['json', 'html', 'csv', 'perfetto', 'sarif', 'policy'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export interface ExportRequest {
  /** The session file. */
  path: string;
  format: ExportFormat;
  /** Where the report goes: an absolute path that does not exist yet. */
  out: string;
  /** Only these events (the table's filter); missing: the whole session. */
  filter?: EventFilter;
}

export type ExportState = 'running' | 'done' | 'failed' | 'cancelled';

export interface ExportJob {
  jobId: string;
  path: string;
  format: ExportFormat;
  out: string;
  state: ExportState;
  /** Bytes of the session read so far, of its size: the progress. */
  readBytes: number;
  totalBytes: number;
  /** Size of the written report once done. */
  outBytes: number | null;
  /** Why it failed (a bad filter, an unwritable or existing `out`, …). */
  error: string | null;
  startedAtMs: number;
  endedAtMs: number | null;
}

// ------------------------------------------------------------ the methods

/** Largest page of events one request may ask for. */
export const MAX_EVENT_PAGE = 1000;
/** Most buckets one timeline request may ask for (about a wide screen's pixels). */
export const MAX_TIMELINE_BUCKETS = 4000;
/** Most decision marks one timeline view lists. */
export const MAX_TIMELINE_MARKS = 2000;

export interface ApiMethods {
  'processes.list': { request: Record<string, never>; response: { processes: ProcessRow[] } };
  'sessions.list': {
    request: Record<string, never>;
    response: { directory: string; sessions: SessionFileRow[] };
  };
  'session.open': { request: { path: string }; response: SessionOverview };
  /** How far a `session.open` still reading the file has come (for a progress bar). */
  'session.progress': {
    request: { path: string };
    response: { opening: boolean; readBytes: number; totalBytes: number };
  };
  'session.events': {
    request: {
      path: string;
      offset: number;
      limit: number;
      filter?: EventFilter;
      sort?: EventSort;
      /** Rows matching this are marked `highlighted`; nothing is hidden by it. */
      highlight?: EventFilter;
    };
    response: EventPage;
  };
  'session.timeline': {
    request: {
      path: string;
      /** The range to cover; missing: the whole session. */
      fromNs?: number;
      toNs?: number;
      buckets: number;
      /** Counted events; the filter's own time range is ignored (the view is the range). */
      filter?: EventFilter;
    };
    response: TimelineView;
  };
  'run.start': {
    /**
     * `policyPath`: a policy file (absolute path) the agent enforces from
     * the first event; its `ask` rules come to `intents.list`.
     */
    request: { command: string; args: string[]; cwd?: string; policyPath?: string };
    response: RunStatus;
  };
  'run.status': { request: { runId: string }; response: RunStatus };
  /**
   * Attaches to a running CPython process and records it into the sessions
   * directory (`policyPath`: a policy it enforces from the attach on).
   * Refused (`refused`) with every reason and fix when attach cannot work.
   */
  'attach.start': { request: { pid: number; policyPath?: string }; response: RunStatus };
  /** Detaches an attach run: the process runs on, its agent pass-through. */
  'attach.detach': { request: { runId: string }; response: RunStatus };
  /** Intents waiting for an answer, in every run, oldest first. */
  'intents.list': { request: Record<string, never>; response: { intents: PendingIntentRow[] } };
  /**
   * Answers one. `scope` defaults to the asking rule's; `always` also
   * writes a rule into the run's policy file, just above the asking rule.
   */
  'intents.answer': {
    /** `match` (default `exact`) only with scope `always`: what the written rule matches. */
    request: { id: string; outcome: IntentOutcome; scope?: IntentScope; match?: IntentMatch };
    response: { id: string };
  };
  /**
   * Someone is reading it: its thread waits at least INTENT_HOLD_MS more.
   * A UI calls it about every second while the prompt is hovered or
   * focused, so the countdown stands still and resumes when they look away.
   * `deadlineAtMs` is null when the intent no longer waits (answered, timed
   * out, its process gone): a hold racing an answer is normal, not an error.
   */
  'intents.hold': {
    request: { id: string };
    response: { id: string; deadlineAtMs: number | null };
  };
  /** Starts writing a report of a session (docs/reports.md) in the background. */
  'export.start': { request: ExportRequest; response: ExportJob };
  'export.status': { request: { jobId: string }; response: ExportJob };
  /** Stops a running export; nothing is left at `out`. */
  'export.cancel': { request: { jobId: string }; response: ExportJob };
  /** What this transport can do beyond the common methods (the renderer adapts to it). */
  'app.capabilities': { request: Record<string, never>; response: AppCapabilities };
  /**
   * A native "open file" dialog (desktop only; `refused` elsewhere): the
   * chosen absolute path, or null when cancelled. Sessions start in the
   * sessions directory, the only place `session.open` reads from.
   */
  'dialog.openFile': {
    request: { purpose: FileDialogPurpose };
    response: { path: string | null };
  };
  /**
   * A native "save file" dialog (desktop only; `refused` elsewhere),
   * proposing `defaultName` (a file name, no directory): the chosen
   * absolute path, or null when cancelled.
   */
  'dialog.saveFile': {
    request: { purpose: SaveDialogPurpose; defaultName: string };
    response: { path: string | null };
  };
  /** A policy file for the rules editor, with every problem it has. */
  'policy.read': { request: { path: string }; response: PolicyReadResult };
  /** Pasted policy text (an import without a file), checked the same way. */
  'policy.parse': { request: { text: string }; response: PolicyReadResult };
  /**
   * Checks `policy` with the policy checker and compiler and, only when it
   * has no problem, writes it to `path` in one step (temporary file and
   * rename); running runs that enforce that file get it at once. An
   * existing file is replaced only with `overwrite`; with `baseSha256`, only
   * when it still has those bytes (an `always` answer may have changed it).
   * Problems come back in the result (`saved: false`), not as an error.
   */
  'policy.write': {
    request: { path: string; policy: PolicyDocument; overwrite?: boolean; baseSha256?: string };
    response: PolicyWriteResult;
  };
}

export const SAVE_DIALOG_PURPOSES = ['export', 'policy'] as const;
/** What a file is saved as: decides the dialog's title and filters. */
export type SaveDialogPurpose = (typeof SAVE_DIALOG_PURPOSES)[number];

export const FILE_DIALOG_PURPOSES = ['session', 'policy'] as const;
/** What a file is chosen for: decides the dialog's title, filters and start folder. */
export type FileDialogPurpose = (typeof FILE_DIALOG_PURPOSES)[number];

export interface AppCapabilities {
  /** Native open and save dialogs (`dialog.openFile`, `dialog.saveFile`): the desktop app only. */
  nativeDialogs: boolean;
}

/** How much longer one `intents.hold` keeps a thread waiting. */
export const INTENT_HOLD_MS = 2500;

export type ApiMethod = keyof ApiMethods;
export type ApiRequest<M extends ApiMethod> = ApiMethods[M]['request'];
export type ApiResponse<M extends ApiMethod> = ApiMethods[M]['response'];

/**
 * The allowlist, and the name of each method's function on the typed API
 * object (window.hookscope in Electron, the fetch client in a browser).
 */
export const API_FUNCTIONS = {
  'processes.list': 'listProcesses',
  'sessions.list': 'listSessions',
  'session.open': 'openSession',
  'session.progress': 'sessionProgress',
  'session.events': 'sessionEvents',
  'session.timeline': 'sessionTimeline',
  'run.start': 'startRun',
  'run.status': 'runStatus',
  'attach.start': 'startAttach',
  'attach.detach': 'detachRun',
  'intents.list': 'listIntents',
  'intents.answer': 'answerIntent',
  'intents.hold': 'holdIntent',
  'export.start': 'startExport',
  'export.status': 'exportStatus',
  'export.cancel': 'cancelExport',
  'app.capabilities': 'capabilities',
  'dialog.openFile': 'openFileDialog',
  'dialog.saveFile': 'saveFileDialog',
  'policy.read': 'readPolicy',
  'policy.parse': 'parsePolicy',
  'policy.write': 'writePolicy',
} as const satisfies Record<ApiMethod, string>;

export const API_METHOD_NAMES = Object.keys(API_FUNCTIONS) as ApiMethod[];

export function isApiMethod(name: string): name is ApiMethod {
  return Object.prototype.hasOwnProperty.call(API_FUNCTIONS, name);
}

/** What the renderer calls; both transports implement exactly this. */
export type HookscopeApi = {
  [M in ApiMethod as (typeof API_FUNCTIONS)[M]]: (
    request: ApiRequest<M>,
  ) => Promise<ApiResponse<M>>;
} & ChangeFeed;

// ------------------------------------------------------------ the change feed
//
// The core tells the UI what changed instead of the UI asking every few
// hundred milliseconds: a message says *what* changed, never the data
// itself, and the UI re-reads it through the methods above (one path for
// data, validated as ever; a lost message costs a refresh, not a wrong
// state). Web host: a WebSocket at CHANGE_FEED_PATH; desktop: main sends
// on CHANGE_CHANNEL and the preload hands the message on.

/** Commands of the desktop app's menu, for the renderer to carry out. */
export const MENU_COMMANDS = ['open-session', 'launch', 'open-policy', 'export'] as const;
export type MenuCommand = (typeof MENU_COMMANDS)[number];

/** What the core says changed. */
export type ChangeMessage =
  /** The intents waiting for an answer changed (one asked, answered or timed out). */
  | { topic: 'intents'; pending: number }
  /** A run started or changed state. */
  | { topic: 'run'; runId: string; sessionPath: string; state: RunState }
  /** The session file of a live run grew (at most SESSION_CHANGE_MIN_MS apart per file). */
  | { topic: 'session'; path: string }
  /** Desktop only: a menu item the renderer carries out. */
  | { topic: 'command'; command: MenuCommand };

/**
 * What a transport adds: whether the feed is up. On every (re)connect the
 * renderer re-reads what it shows (messages sent while it was down are
 * lost); while it is down it falls back to slow polling.
 */
export type FeedMessage = ChangeMessage | { topic: 'feed'; connected: boolean };

export interface ChangeFeed {
  /** Calls `listener` with every message; returns the function that stops it. */
  onChange(listener: (message: FeedMessage) => void): () => void;
}

/** Session growth is announced at most this often per file (≤ 5 a second). */
export const SESSION_CHANGE_MIN_MS = 200;

/** The web host's WebSocket endpoint. */
export const CHANGE_FEED_PATH = '/api/events';
/**
 * WebSocket subprotocols. A browser cannot set headers on a WebSocket, so
 * the token travels as a second offered subprotocol
 * (`hookscope.token.<token>`); the server answers with CHANGE_FEED_PROTOCOL
 * only. Not the query string: URLs end up in logs and history.
 */
export const CHANGE_FEED_PROTOCOL = 'hookscope.v1';
export const CHANGE_FEED_TOKEN_PREFIX = 'hookscope.token.';

/** Electron channel main → renderer carrying ChangeMessages. */
export const CHANGE_CHANNEL = 'hookscope:changes';

/** Electron IPC channel of a method. Only these channels are handled. */
export const IPC_CHANNEL_PREFIX = 'hookscope:';
export function ipcChannel(method: ApiMethod): string {
  return `${IPC_CHANNEL_PREFIX}${method}`;
}

// ------------------------------------------------------------ errors

export type ApiErrorCode = 'bad-request' | 'not-found' | 'refused' | 'failed';

/** The reply envelope on both transports. */
export type ApiReply<T> =
  { ok: true; result: T } | { ok: false; error: { code: ApiErrorCode; message: string } };

export class ApiError extends Error {
  constructor(
    readonly code: ApiErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

// ------------------------------------------------------------ validation
//
// Small hand-written checkers: each returns an error message naming the
// field, or null. Objects must have exactly the known keys, so a typo or an
// extra field is refused rather than silently ignored.

type Check = (value: unknown, at: string) => string | null;

const MAX_TEXT = 4096;

function str(options: { min?: number; max?: number; absolute?: boolean } = {}): Check {
  const min = options.min ?? 0;
  const max = options.max ?? MAX_TEXT;
  return (value, at) => {
    if (typeof value !== 'string') return `${at} must be a string`;
    if (value.length < min) return min === 1 ? `${at} must not be empty` : `${at} is too short`;
    if (value.length > max) return `${at} is longer than ${max} characters`;
    if (value.includes('\0')) return `${at} must not contain NUL characters`;
    if (options.absolute && !value.startsWith('/')) return `${at} must be an absolute path`;
    return null;
  };
}

function int(min: number, max: number): Check {
  return (value, at) =>
    typeof value === 'number' && Number.isInteger(value) && value >= min && value <= max
      ? null
      : `${at} must be an integer from ${min} to ${max}`;
}

function list(item: Check, maxItems: number): Check {
  return (value, at) => {
    if (!Array.isArray(value)) return `${at} must be an array`;
    if (value.length > maxItems) return `${at} has more than ${maxItems} items`;
    for (let i = 0; i < value.length; i++) {
      const problem = item(value[i], `${at}[${i}]`);
      if (problem !== null) return problem;
    }
    return null;
  };
}

function obj(required: Record<string, Check>, optional: Record<string, Check> = {}): Check {
  return (value, at) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return `${at} must be an object`;
    }
    const record = value as Record<string, unknown>;
    for (const key of Object.keys(record)) {
      if (!(key in required) && !(key in optional)) return `${at} has an unknown field "${key}"`;
    }
    for (const [key, check] of Object.entries(required)) {
      if (!(key in record)) return `${at}.${key} is required`;
      const problem = check(record[key], `${at}.${key}`);
      if (problem !== null) return problem;
    }
    for (const [key, check] of Object.entries(optional)) {
      if (record[key] === undefined) continue;
      const problem = check(record[key], `${at}.${key}`);
      if (problem !== null) return problem;
    }
    return null;
  };
}

function oneOf(values: readonly string[]): Check {
  return (value, at) =>
    typeof value === 'string' && values.includes(value)
      ? null
      : `${at} must be one of ${values.join(', ')}`;
}

const sessionPath = str({ min: 1, absolute: true });

/** A file name without a directory (what a save dialog proposes). */
const fileName: Check = (value, at) => {
  const problem = str({ min: 1, max: 255 })(value, at);
  if (problem !== null) return problem;
  return (value as string).includes('/') || value === '.' || value === '..'
    ? `${at} must be a file name without a directory`
    : null;
};

const bool: Check = (value, at) =>
  typeof value === 'boolean' ? null : `${at} must be true or false`;

/** A point on a session's time axis: whole nanoseconds a double holds exactly. */
const ns = int(-Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);

/** Largest policy text (or document, as JSON) the editor methods take: the agent's file limit. */
const MAX_POLICY_TEXT = 1024 * 1024;

/**
 * Any JSON object of at most `maxChars` characters as JSON, nested at most
 * 32 deep: its contents are the policy checker's to judge (which names
 * every problem with its place), this only bounds the work.
 */
function jsonObject(maxChars: number): Check {
  return (value, at) => {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      return `${at} must be an object`;
    }
    const tooDeep = (v: unknown, depth: number): boolean => {
      if (typeof v !== 'object' || v === null) return false;
      if (depth > 32) return true;
      return Object.values(v).some((child) => tooDeep(child, depth + 1));
    };
    if (tooDeep(value, 0)) return `${at} is nested more than 32 levels deep`;
    let text: string;
    try {
      text = JSON.stringify(value);
    } catch {
      return `${at} must be plain JSON`;
    }
    if (text.length > maxChars) return `${at} is longer than ${maxChars} characters as JSON`;
    return null;
  };
}

const eventFilter = obj(
  {},
  {
    event: str({ max: 512 }),
    pid: int(0, 2 ** 31),
    tid: int(0, 2 ** 32),
    text: str({ max: 512 }),
    categories: list(oneOf(EVENT_CATEGORIES.map((c) => c.id)), EVENT_CATEGORIES.length),
    decision: oneOf(DECISION_FILTERS),
    fromNs: ns,
    toNs: ns,
  },
);

const REQUEST_CHECKS: Record<ApiMethod, Check> = {
  'processes.list': obj({}),
  'sessions.list': obj({}),
  'session.open': obj({ path: sessionPath }),
  'session.progress': obj({ path: sessionPath }),
  'session.events': obj(
    { path: sessionPath, offset: int(0, 2 ** 32), limit: int(1, MAX_EVENT_PAGE) },
    {
      filter: eventFilter,
      sort: obj({ column: oneOf(EVENT_SORT_COLUMNS), descending: bool }),
      highlight: eventFilter,
    },
  ),
  'session.timeline': obj(
    { path: sessionPath, buckets: int(1, MAX_TIMELINE_BUCKETS) },
    { fromNs: ns, toNs: ns, filter: eventFilter },
  ),
  'run.start': obj(
    { command: str({ min: 1 }), args: list(str(), 256) },
    { cwd: str({ min: 1, absolute: true }), policyPath: str({ min: 1, absolute: true }) },
  ),
  'run.status': obj({ runId: str({ min: 1, max: 64 }) }),
  'attach.start': obj(
    { pid: int(1, 2 ** 31 - 1) },
    { policyPath: str({ min: 1, absolute: true }) },
  ),
  'attach.detach': obj({ runId: str({ min: 1, max: 64 }) }),
  'intents.list': obj({}),
  'intents.answer': obj(
    { id: str({ min: 1, max: 128 }), outcome: oneOf(INTENT_OUTCOMES) },
    { scope: oneOf(INTENT_SCOPES), match: oneOf(INTENT_MATCHES) },
  ),
  'intents.hold': obj({ id: str({ min: 1, max: 128 }) }),
  'export.start': obj(
    { path: sessionPath, format: oneOf(EXPORT_FORMATS), out: str({ min: 1, absolute: true }) },
    { filter: eventFilter },
  ),
  'export.status': obj({ jobId: str({ min: 1, max: 64 }) }),
  'export.cancel': obj({ jobId: str({ min: 1, max: 64 }) }),
  'app.capabilities': obj({}),
  'dialog.openFile': obj({ purpose: oneOf(FILE_DIALOG_PURPOSES) }),
  'dialog.saveFile': obj({
    purpose: oneOf(SAVE_DIALOG_PURPOSES),
    defaultName: fileName,
  }),
  'policy.read': obj({ path: str({ min: 1, absolute: true }) }),
  'policy.parse': obj({ text: str({ min: 1, max: MAX_POLICY_TEXT }) }),
  'policy.write': obj(
    { path: str({ min: 1, absolute: true }), policy: jsonObject(MAX_POLICY_TEXT) },
    { overwrite: bool, baseSha256: str({ min: 64, max: 64 }) },
  ),
};

export type Validated<M extends ApiMethod> =
  { ok: true; method: M; request: ApiRequest<M> } | { ok: false; message: string };

/**
 * Checks that `method` is on the allowlist and `payload` is a well-formed
 * request for it. Both transports call this before anything else runs.
 */
export function validateRequest(method: string, payload: unknown): Validated<ApiMethod> {
  if (!isApiMethod(method)) return { ok: false, message: `unknown method "${method}"` };
  const problem = REQUEST_CHECKS[method](payload, 'request');
  if (problem !== null) return { ok: false, message: problem };
  return { ok: true, method, request: payload as ApiRequest<ApiMethod> };
}
