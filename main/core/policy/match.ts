// Deciding what a policy says about one audit event or one intent
// (docs/policy.md, "Evaluation").
//
// A policy is compiled once (globs to matchers, pids to sets, rules grouped
// by intent class and, lazily, by event name) and kept beside the Policy
// object in a WeakMap, so the Policy stays plain data that can be written
// back to a file or sent to the agent. `evaluate` then builds no regular
// expression and, for a rule that surely matches, allocates nothing.

import { compileGlob, type Glob, type GlobFlavour } from './glob.js';
import { parsePolicy } from './load-policy.js';
import {
  ANY_INTENT,
  INTENT_CLASSES,
  formatPolicy,
  isChecked,
  type Action,
  type ArgMatcher,
  type IntentClass,
  type Policy,
  type Rule,
  type Scope,
} from './policy.js';
import {
  decodeSurrogateEscape,
  toJsonValue,
  type AuditRecord,
  type OpenCodeRecord,
  type SequenceValue,
  type Value,
} from '../protocol/records.js';

// ------------------------------------------------------------- subjects

/** Who raised it: all optional, because the agent may not know. */
export interface SubjectOrigin {
  pid?: number;
  /** Absolute path of the process's executable. */
  executable?: string;
  /** Dotted name of the module whose code raised the event or loads the file. */
  module?: string;
  /** Its top-level package; taken from `module` when absent. */
  package?: string;
}

export interface AuditSubject extends SubjectOrigin {
  kind: 'audit';
  event: string;
  /** The decoded argument tuple; a plain array means nothing was cut. */
  args: SequenceValue | readonly Value[];
}

export interface IntentSubject extends SubjectOrigin {
  kind: 'intent';
  intent: IntentClass;
  /** The path as CPython passed it (may be relative). */
  path: string;
  /** The real path, named from the opened descriptor. */
  realpath: string;
  /** Lowercase hex; null when the file could not be read. */
  sha256: string | null;
  size?: number;
}

export type Subject = AuditSubject | IntentSubject;

export interface Decision {
  action: Action;
  /** Index into policy.rules of the rule that decided; null for the default. */
  ruleIndex: number | null;
  /** One line for people: which rule, or the default, and why. */
  reason: string;
  /** For `ask`: how long the answer is remembered. */
  scope?: Scope;
}

/**
 * A subject for a decoded agent record of a process (pid, executable).
 * Decision records are about a subject, not one themselves.
 */
export function subjectFromRecord(
  record: AuditRecord | OpenCodeRecord,
  process: { pid?: number; executable?: string } = {},
): Subject {
  const origin: SubjectOrigin = {};
  if (process.pid !== undefined) origin.pid = process.pid;
  if (process.executable !== undefined) origin.executable = process.executable;
  if (record.kind === 'audit') {
    return { kind: 'audit', event: record.event, args: record.args, ...origin };
  }
  return {
    kind: 'intent',
    intent: record.intent,
    path: record.path.text,
    realpath: record.realPath,
    sha256: record.sha256,
    size: record.size,
    ...origin,
  };
}

/**
 * What a remembered answer (scope process / session / always) is keyed by:
 * an intent by class, real path and SHA-256, so a changed file is asked
 * about again; an audit event by name and every argument as recorded.
 */
export function answerKey(subject: Subject): string {
  if (subject.kind === 'intent') {
    return `intent\0${subject.intent}\0${subject.realpath}\0${subject.sha256 ?? ''}`;
  }
  const args = Array.isArray(subject.args)
    ? (subject.args as readonly Value[]).map(toJsonValue)
    : toJsonValue(subject.args as SequenceValue);
  return `event\0${subject.event}\0${JSON.stringify(args)}`;
}

// ------------------------------------------------------------ evaluation

/** Decides `subject` by the first matching rule, else the policy's default. */
export function evaluate(policy: Policy, subject: Subject): Decision {
  const compiled = compiledPolicy(policy);
  const candidates =
    subject.kind === 'audit'
      ? compiled.rulesForEvent(subject.event)
      : (compiled.intentRules.get(subject.intent) ?? EMPTY);
  for (const rule of candidates) {
    let result: Match = YES;
    for (const check of rule.checks) {
      const r = check(subject);
      if (r === NO) {
        result = NO;
        break;
      }
      if (r === MAYBE) result = MAYBE;
    }
    if (result === YES) return rule.decision;
    // Some of what the rule looks at was cut short by the agent. Deny and
    // ask fail closed (apply when the rule could match); allow must be sure.
    if (result === MAYBE && rule.decision.action !== 'allow') {
      return {
        ...rule.decision,
        reason: `${rule.decision.reason} (matched as far as the recorded arguments go; some were cut short)`,
      };
    }
  }
  return compiled.defaultDecision;
}

const enum Match {
  NO,
  YES,
  MAYBE,
}
const { NO, YES, MAYBE } = { NO: Match.NO, YES: Match.YES, MAYBE: Match.MAYBE };

type Check = (subject: Subject) => Match;

interface CompiledRule {
  events: Glob[] | null;
  checks: Check[];
  decision: Decision;
}

const EMPTY: readonly CompiledRule[] = [];
/** Event names are the target's choice: past this many, no more caching. */
const EVENT_CACHE_LIMIT = 10_000;

class CompiledPolicy {
  readonly intentRules = new Map<IntentClass, CompiledRule[]>();
  readonly defaultDecision: Decision;
  private readonly eventRules: CompiledRule[] = [];
  private readonly byEvent = new Map<string, readonly CompiledRule[]>();

  constructor(policy: Policy) {
    for (const cls of INTENT_CLASSES) this.intentRules.set(cls, []);
    policy.rules.forEach((rule, index) => {
      if (rule.disabled === true) return; // kept in the file, matches nothing
      const compiled = compileRule(rule, index);
      if (rule.event !== undefined) {
        this.eventRules.push(compiled);
        return;
      }
      const classes = list(rule.intent ?? []);
      for (const cls of INTENT_CLASSES) {
        if (classes.includes(ANY_INTENT) || classes.includes(cls)) {
          this.intentRules.get(cls)?.push(compiled);
        }
      }
    });
    this.defaultDecision = Object.freeze({
      action: policy.default,
      ruleIndex: null,
      reason: `no rule matched; the default is ${policy.default}`,
      ...(policy.default === 'ask' ? { scope: 'once' as Scope } : {}),
    });
  }

  /** Rules whose event pattern matches `event`, in policy order. */
  rulesForEvent(event: string): readonly CompiledRule[] {
    const cached = this.byEvent.get(event);
    if (cached !== undefined) return cached;
    const rules = this.eventRules.filter((r) => r.events?.some((g) => g.matches(event)));
    if (this.byEvent.size < EVENT_CACHE_LIMIT) this.byEvent.set(event, rules);
    return rules;
  }
}

const COMPILED = new WeakMap<Policy, CompiledPolicy>();

/**
 * The compiled form of a policy. A policy from parsePolicy / loadPolicy is
 * already checked; one built in code is checked here the same way (through
 * its file form), so a bad glob throws the same PolicyError. Policies are
 * treated as immutable once evaluated.
 */
function compiledPolicy(policy: Policy): CompiledPolicy {
  let compiled = COMPILED.get(policy);
  if (compiled === undefined) {
    if (!isChecked(policy)) parsePolicy(formatPolicy(policy), '<policy built in code>');
    compiled = new CompiledPolicy(policy);
    COMPILED.set(policy, compiled);
  }
  return compiled;
}

function compileRule(rule: Rule, index: number): CompiledRule {
  const checks: Check[] = [];
  const events = rule.event === undefined ? null : list(rule.event).map((p) => glob(p, 'name'));

  if (rule.args !== undefined) {
    for (const [position, matcher] of Object.entries(rule.args)) {
      checks.push(argCheck(position.split('.').map(Number), matcher));
    }
  }
  if (rule.path !== undefined) {
    const g = glob(rule.path, 'path');
    checks.push((s) => (s.kind === 'intent' && g.matches(s.path) ? YES : NO));
  }
  if (rule.pathPrefix !== undefined) {
    const prefix = rule.pathPrefix;
    checks.push((s) => (s.kind === 'intent' && s.path.startsWith(prefix) ? YES : NO));
  }
  if (rule.realpath !== undefined) {
    const g = glob(rule.realpath, 'path');
    checks.push((s) => (s.kind === 'intent' && g.matches(s.realpath) ? YES : NO));
  }
  if (rule.realpathPrefix !== undefined) {
    const prefix = rule.realpathPrefix;
    checks.push((s) => (s.kind === 'intent' && s.realpath.startsWith(prefix) ? YES : NO));
  }
  if (rule.sha256 !== undefined) {
    const digest = rule.sha256;
    checks.push((s) => (s.kind === 'intent' && s.sha256 === digest ? YES : NO));
  }
  if (rule.module !== undefined) {
    const g = glob(rule.module, 'name');
    checks.push((s) => (s.module !== undefined && g.matches(s.module) ? YES : NO));
  }
  if (rule.package !== undefined) {
    const name = rule.package;
    checks.push((s) => (packageOf(s) === name ? YES : NO));
  }
  if (rule.executable !== undefined) {
    const g = glob(rule.executable, 'path');
    checks.push((s) => (s.executable !== undefined && g.matches(s.executable) ? YES : NO));
  }
  if (rule.pid !== undefined) {
    const pids = new Set(list(rule.pid));
    checks.push((s) => (s.pid !== undefined && pids.has(s.pid) ? YES : NO));
  }

  const target =
    rule.event !== undefined
      ? `event ${list(rule.event).join(', ')}`
      : `intent ${list(rule.intent ?? []).join(', ')}`;
  const comment = rule.comment ? `: ${rule.comment}` : '';
  const decision: Decision = Object.freeze({
    action: rule.action,
    ruleIndex: index,
    reason: `rules[${index}] (${rule.action} ${target})${comment}`,
    ...(rule.action === 'ask' ? { scope: rule.scope ?? 'once' } : {}),
  });
  return { events, checks, decision };
}

function packageOf(subject: Subject): string | undefined {
  if (subject.package !== undefined) return subject.package;
  if (subject.module === undefined) return undefined;
  const dot = subject.module.indexOf('.');
  return dot === -1 ? subject.module : subject.module.slice(0, dot);
}

function glob(pattern: string, flavour: GlobFlavour): Glob {
  const compiled = compileGlob(pattern, flavour);
  // Unreachable for a checked policy; kept so a broken invariant is loud.
  if ('message' in compiled) throw new Error(`bad glob ${pattern}: ${compiled.message}`);
  return compiled;
}

function list<T>(value: T | readonly T[]): readonly T[] {
  return Array.isArray(value) ? (value as readonly T[]) : [value as T];
}

// -------------------------------------------------------------- arguments

/** Compares one argument (found by `position`) with `matcher`. */
function argCheck(position: readonly number[], matcher: ArgMatcher): Check {
  const compare = valueComparer(matcher);
  return (subject) => {
    if (subject.kind !== 'audit') return NO;
    let value: Value | undefined;
    let items: readonly Value[] = Array.isArray(subject.args)
      ? (subject.args as readonly Value[])
      : (subject.args as SequenceValue).items;
    let fullCount = Array.isArray(subject.args)
      ? items.length
      : (subject.args as SequenceValue).fullCount;
    for (let depth = 0; depth < position.length; depth++) {
      const index = position[depth] as number;
      if (index >= items.length) return index < fullCount ? MAYBE : NO;
      value = items[index] as Value;
      if (depth < position.length - 1) {
        if (value.type !== 'tuple' && value.type !== 'list') return NO;
        items = value.items;
        fullCount = value.fullCount;
      }
    }
    return value === undefined ? NO : compare(value);
  };
}

type Comparer = (value: Value) => Match;

function valueComparer(matcher: ArgMatcher): Comparer {
  if (matcher === null || typeof matcher !== 'object') return exactComparer(matcher);
  if ('exact' in matcher) return exactComparer(matcher.exact);
  if ('prefix' in matcher) {
    const prefix = matcher.prefix;
    return (value) => {
      const text = textOf(value);
      if (text === null) return NO;
      if (text.value.startsWith(prefix)) return YES;
      return text.truncated && prefix.startsWith(text.value) ? MAYBE : NO;
    };
  }
  const g = glob(matcher.glob, 'argument');
  return (value) => {
    const text = textOf(value);
    if (text === null) return NO;
    if (text.truncated) return MAYBE;
    return g.matches(text.value) ? YES : NO;
  };
}

function exactComparer(expected: string | number | boolean | null): Comparer {
  if (expected === null) return (value) => (value.type === 'none' ? YES : NO);
  if (typeof expected === 'boolean') {
    return (value) => (value.type === 'bool' && value.value === expected ? YES : NO);
  }
  if (typeof expected === 'number') {
    const asInt = Number.isInteger(expected) ? BigInt(expected) : null;
    return (value) => {
      if (value.type === 'int') return asInt !== null && value.value === asInt ? YES : NO;
      if (value.type === 'float') return value.value === expected ? YES : NO;
      return NO;
    };
  }
  return (value) => {
    const text = textOf(value);
    if (text === null) return NO;
    if (!text.truncated) return text.value === expected ? YES : NO;
    return expected.startsWith(text.value) ? MAYBE : NO;
  };
}

/** Text of a str / bytes argument (bytes as Python's surrogateescape would). */
function textOf(value: Value): { value: string; truncated: boolean } | null {
  switch (value.type) {
    case 'str':
    case 'str_fs':
      return { value: value.text, truncated: value.truncated };
    case 'bytes':
    case 'bytearray':
      return { value: decodeSurrogateEscape(value.data), truncated: value.truncated };
    default:
      return null;
  }
}
