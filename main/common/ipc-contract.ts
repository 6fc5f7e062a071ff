// The one contract between the UI and the inspector core: method names,
// request and response payloads, the allowlist, and a runtime validator for
// every request. Both transports use it unchanged: the loopback web host
// (`POST /api/<method>`) and the Electron preload (channel
// `hookscope:<method>`). Pure TypeScript, shared with the renderer: no Node
// and no Electron imports (enforced by eslint.config.mjs).

import type { EventCategory } from './event-taxonomy.js';

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
  event: string;
  category: EventCategory;
  /** One line, cut short, for the table. */
  argsSummary: string;
  args: ArgValue[];
  argsTruncated: boolean;
  fileIdentity: FileIdentity | null;
}

export interface EventFilter {
  /** Glob over event names ("socket.*", "{open,os.*}"). */
  event?: string;
  pid?: number;
  /** Case-insensitive text in the event name or its arguments. */
  text?: string;
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

// ------------------------------------------------------------ the methods

/** Largest page of events one request may ask for. */
export const MAX_EVENT_PAGE = 1000;

export interface ApiMethods {
  'processes.list': { request: Record<string, never>; response: { processes: ProcessRow[] } };
  'sessions.list': {
    request: Record<string, never>;
    response: { directory: string; sessions: SessionFileRow[] };
  };
  'session.open': { request: { path: string }; response: SessionOverview };
  'session.events': {
    request: { path: string; offset: number; limit: number; filter?: EventFilter };
    response: EventPage;
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
    request: { id: string; outcome: IntentOutcome; scope?: IntentScope };
    response: { id: string };
  };
  /**
   * Someone is reading it: its thread waits at least INTENT_HOLD_MS more.
   * A UI calls it about every second while the prompt is hovered or
   * focused, so the countdown stands still and resumes when they look away.
   */
  'intents.hold': { request: { id: string }; response: { id: string; deadlineAtMs: number } };
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
  'session.events': 'sessionEvents',
  'run.start': 'startRun',
  'run.status': 'runStatus',
  'attach.start': 'startAttach',
  'attach.detach': 'detachRun',
  'intents.list': 'listIntents',
  'intents.answer': 'answerIntent',
  'intents.hold': 'holdIntent',
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
};

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

const REQUEST_CHECKS: Record<ApiMethod, Check> = {
  'processes.list': obj({}),
  'sessions.list': obj({}),
  'session.open': obj({ path: sessionPath }),
  'session.events': obj(
    { path: sessionPath, offset: int(0, 2 ** 32), limit: int(1, MAX_EVENT_PAGE) },
    {
      filter: obj({}, { event: str({ max: 512 }), pid: int(0, 2 ** 31), text: str({ max: 512 }) }),
    },
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
    { scope: oneOf(INTENT_SCOPES) },
  ),
  'intents.hold': obj({ id: str({ min: 1, max: 128 }) }),
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
