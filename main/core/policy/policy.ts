// The policy model (docs/policy.md): what a policy file says, as types.
// The typed Policy has exactly the file's shape, with the optional top-level
// settings filled in, so `formatPolicy(policy)` writes a file that parses
// back to an equal Policy.

import { POLICY_RULE_KEYS } from '../../common/ipc-contract.js';

export const POLICY_VERSION = 1;

export const ACTIONS = ['allow', 'deny', 'ask'] as const;
/** What a rule, or the default, decides. */
export type Action = (typeof ACTIONS)[number];

export const ANSWERS = ['allow', 'deny'] as const;
/** What the agent finally does: an `ask` always ends as one of these. */
export type Answer = (typeof ANSWERS)[number];

export const SCOPES = ['once', 'process', 'session', 'always'] as const;
/** How long an answer to `ask` is remembered (docs/policy.md, "Scope"). */
export type Scope = (typeof SCOPES)[number];

/**
 * How a file is about to be used. The first three come from CPython's
 * open-code hook, `nativecode` and `ctypes` from the agent's `dlopen`
 * interposition, `unknown` from `io.open_code` calls that gave no hint.
 */
export const INTENT_CLASSES = [
  'pythoncode',
  'bytecode',
  'zipimport',
  'nativecode',
  'ctypes',
  'unknown',
] as const;
export type IntentClass = (typeof INTENT_CLASSES)[number];

/** `"*"` in a rule's `intent`: every intent class. */
export const ANY_INTENT = '*';
export type IntentPattern = IntentClass | typeof ANY_INTENT;

/** A JSON scalar in `args` means `{ "exact": scalar }`. */
export type ArgScalar = string | number | boolean | null;
export type ArgMatcher = ArgScalar | { exact: ArgScalar } | { glob: string } | { prefix: string };

export interface Rule {
  action: Action;
  /** Audit event names or name globs; a rule has `event` or `intent`, never both. */
  event?: string | string[];
  /** Intent classes, or `"*"` for all. */
  intent?: IntentPattern | IntentPattern[];
  /** Argument matchers keyed by position: "0", "1", or "1.0" inside a tuple. */
  args?: Record<string, ArgMatcher>;
  /** Glob on the path as CPython passed it. */
  path?: string;
  /** Directory prefix (ends with "/") of the path as CPython passed it. */
  pathPrefix?: string;
  /** Glob on the real path, named from the opened descriptor. */
  realpath?: string;
  /** Directory prefix (ends with "/") of the real path. */
  realpathPrefix?: string;
  /** SHA-256 of the bytes handed to the interpreter, 64 lowercase hex digits. */
  sha256?: string;
  /** Glob on the dotted name of the module whose code raised it. */
  module?: string;
  /** Top-level package of that module. */
  package?: string;
  /** Glob on the process's executable (absolute path). */
  executable?: string;
  pid?: number | number[];
  /** Only on `ask` rules; `once` when absent. */
  scope?: Scope;
  comment?: string;
  /**
   * Kept in the file, but matches nothing: a rule switched off without
   * losing it (or the other rules' indexes). Only `true` is written.
   */
  disabled?: true;
}

export interface AskSettings {
  /** How long the target waits for an answer. */
  timeoutMs: number;
  /** What a timed-out `ask` becomes, for that one intent only. */
  timeoutAction: Answer;
}

export interface Policy {
  version: typeof POLICY_VERSION;
  comment?: string;
  /** What applies when no rule matches. */
  default: Action;
  ask: AskSettings;
  /** What the agent does once the inspector is gone. */
  offline: Answer;
  /** Ordered; the first rule that matches decides. */
  rules: Rule[];
}

export const DEFAULT_ASK: Readonly<AskSettings> = Object.freeze({
  timeoutMs: 30_000,
  timeoutAction: 'deny',
});
export const DEFAULT_OFFLINE: Answer = 'allow';
/** Upper bound for `ask.timeoutMs`: one hour. */
export const MAX_ASK_TIMEOUT_MS = 3_600_000;

// Policies that parsePolicy returned (deep-frozen, fully checked): evaluate
// need not check them again.
const CHECKED = new WeakSet<Policy>();

export function markChecked(policy: Policy): void {
  CHECKED.add(policy);
}

export function isChecked(policy: Policy): boolean {
  return CHECKED.has(policy);
}

/** Keys of a rule in the order formatPolicy writes them (shared with the renderer). */
export const RULE_KEYS = POLICY_RULE_KEYS satisfies readonly (keyof Rule)[];

/** The policy as file text: two-space JSON, keys in a fixed order, final newline. */
export function formatPolicy(policy: Policy): string {
  const ordered = {
    version: policy.version,
    ...(policy.comment !== undefined ? { comment: policy.comment } : {}),
    default: policy.default,
    ask: { timeoutMs: policy.ask.timeoutMs, timeoutAction: policy.ask.timeoutAction },
    offline: policy.offline,
    rules: policy.rules.map((rule) => {
      const out: Record<string, unknown> = {};
      for (const key of RULE_KEYS) if (rule[key] !== undefined) out[key] = rule[key];
      return out;
    }),
  };
  return `${JSON.stringify(ordered, null, 2)}\n`;
}
