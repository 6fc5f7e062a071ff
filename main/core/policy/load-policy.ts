// Reads a policy file (docs/policy.md) into a typed Policy, or refuses it
// with every problem found, each at its line and column.
//
// jsonc-parser gives a syntax tree with offsets (JSON.parse gives none, and
// silently keeps the last of two equal keys). Comments and trailing commas
// are refused: the file is plain JSON, so any tool can read it. Structure is
// checked only once the JSON is well formed, because after a syntax error
// the recovered tree is a guess and its complaints would mislead.

import { readFileSync } from 'node:fs';

import type * as JsoncParser from 'jsonc-parser';
import type { Node, ParseError } from 'jsonc-parser';

import { compileGlob, type GlobFlavour } from './glob.js';

let jsonc: typeof JsoncParser | undefined;
/**
 * The parser, loaded when a policy is first parsed: most commands that
 * load this module (every report, through the decision texts) parse none,
 * and loading it was about 5 ms of each.
 */
function jsoncParser(): typeof JsoncParser {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  jsonc ??= require('jsonc-parser') as typeof JsoncParser;
  return jsonc;
}
import { PolicyError, type PolicyIssue, type PolicyIssueCode } from './policy-error.js';
import {
  ACTIONS,
  ANSWERS,
  ANY_INTENT,
  DEFAULT_ASK,
  DEFAULT_OFFLINE,
  INTENT_CLASSES,
  MAX_ASK_TIMEOUT_MS,
  POLICY_VERSION,
  RULE_KEYS,
  SCOPES,
  markChecked,
  type Action,
  type Answer,
  type ArgMatcher,
  type ArgScalar,
  type AskSettings,
  type IntentPattern,
  type Policy,
  type Rule,
  type Scope,
} from './policy.js';

/** Reads and parses a policy file; throws PolicyError listing every problem. */
export function loadPolicy(file: string): Policy {
  return readPolicyFile(file).policy;
}

/** A policy file as read: the policy, and exactly the bytes it came from. */
export interface PolicyFile {
  policy: Policy;
  /** The file's bytes, read once: what a record of the run can hash. */
  bytes: Buffer;
  text: string;
}

/**
 * loadPolicy, also returning the bytes and text it parsed, so a run can
 * record exactly what it enforces (a second read could see another file).
 */
export function readPolicyFile(file: string): PolicyFile {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new PolicyError(file, [
      {
        file,
        line: 1,
        column: 1,
        offset: 0,
        code: 'unreadable',
        where: '',
        message: `cannot read the file: ${reason}`,
      },
    ]);
  }
  const text = bytes.toString('utf8');
  return { policy: parsePolicy(text, file), bytes, text };
}

/** Parses policy text; `file` names it in messages. Throws PolicyError. */
export function parsePolicy(text: string, file: string): Policy {
  return new PolicyChecker(text, file).check();
}

const TOP_KEYS = ['$schema', 'version', 'comment', 'default', 'ask', 'offline', 'rules'] as const;
const ASK_KEYS = ['timeoutMs', 'timeoutAction'] as const;
const ARG_MATCHER_KEYS = ['exact', 'glob', 'prefix'] as const;
/** Rule keys that describe a file about to run: only for intent rules. */
const INTENT_ONLY_KEYS = ['path', 'pathPrefix', 'realpath', 'realpathPrefix', 'sha256'] as const;
const SHA256 = /^[0-9a-f]{64}$/;
/** A Python identifier (the top-level package of a module). */
const PACKAGE_NAME = /^[\p{L}\p{Nl}_][\p{L}\p{Nl}\p{Mn}\p{Mc}\p{Nd}\p{Pc}]*$/u;
/** "0", "2", "1.0": argument position, then positions inside tuples / lists. */
const ARG_POSITION = /^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$/;
/** The agent keeps 64 items of a container and nests 3 levels (docs/protocol.md). */
const MAX_ARG_INDEX = 63;
const MAX_ARG_DEPTH = 3;
const MAX_PID = 2_147_483_647;

/** Wrong keys people are likely to write, and what they mean instead. */
const KEY_HINTS: Readonly<Record<string, string>> = {
  class: 'the intent class is the value of "intent", e.g. "intent": "nativecode"',
  intents: 'write "intent" (a class or a list of classes)',
  events: 'write "event" (a name, a glob, or a list of them)',
  name: 'write "event" for the audit event name',
  arguments: 'write "args"',
  hash: 'write "sha256"',
  digest: 'write "sha256"',
  exe: 'write "executable"',
  timeout: 'write "timeoutMs" (milliseconds)',
  defaultAction: 'write "default"',
};

interface Member {
  key: string;
  keyNode: Node;
  value: Node;
}

class PolicyChecker {
  private readonly source: string;
  private readonly file: string;
  private readonly issues: PolicyIssue[] = [];
  private lineStarts: number[] | null = null;

  constructor(text: string, file: string) {
    // A byte-order mark is not JSON, but editors write one; a space keeps
    // every offset where it was.
    this.source = text.startsWith('\uFEFF') ? ` ${text.slice(1)}` : text;
    this.file = file;
  }

  check(): Policy {
    const syntax: ParseError[] = [];
    const root = jsoncParser().parseTree(this.source, syntax, {
      disallowComments: true,
      allowTrailingComma: false,
      allowEmptyContent: false,
    });
    if (syntax.length > 0 || root === undefined) {
      this.syntaxIssues(syntax);
      return this.fail();
    }
    const policy = this.policy(root);
    if (this.issues.length > 0 || policy === null) return this.fail();
    markChecked(policy);
    return deepFreeze(policy);
  }

  private fail(): never {
    const sorted = [...this.issues].sort(
      (a, b) =>
        a.offset - b.offset ||
        (a.code < b.code ? -1 : a.code > b.code ? 1 : 0) ||
        (a.message < b.message ? -1 : a.message > b.message ? 1 : 0),
    );
    throw new PolicyError(this.file, sorted);
  }

  // ------------------------------------------------------------ reporting

  private report(offset: number, code: PolicyIssueCode, where: string, message: string): void {
    const { line, column } = this.position(offset);
    this.issues.push({ file: this.file, line, column, offset, code, where, message });
  }

  private position(offset: number): { line: number; column: number } {
    if (this.lineStarts === null) {
      const starts = [0];
      const s = this.source;
      for (let i = 0; i < s.length; i++) {
        const c = s.charCodeAt(i);
        if (c === 0x0a) starts.push(i + 1);
        else if (c === 0x0d && s.charCodeAt(i + 1) !== 0x0a) starts.push(i + 1);
      }
      this.lineStarts = starts;
    }
    const starts = this.lineStarts;
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((starts[mid] as number) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, column: offset - (starts[lo] as number) + 1 };
  }

  private syntaxIssues(errors: ParseError[]): void {
    if (errors.length === 0) {
      this.report(0, 'invalid-json', '', 'invalid JSON: the file is empty');
      return;
    }
    // The parser recovers and may complain twice at one place; the first
    // complaint there is the cause.
    const seen = new Set<number>();
    for (const e of errors) {
      if (seen.has(e.offset)) continue;
      seen.add(e.offset);
      this.report(e.offset, 'invalid-json', '', `invalid JSON: ${this.syntaxMessage(e)}`);
    }
  }

  private syntaxMessage(e: ParseError): string {
    const at = this.source.slice(e.offset, e.offset + Math.max(1, Math.min(e.length, 20)));
    const found = at === '' ? 'the end of the file' : JSON.stringify(at);
    switch (jsoncParser().printParseErrorCode(e.error)) {
      case 'InvalidSymbol':
        return `unexpected ${found} (strings need double quotes; NaN, Infinity and bare words are not JSON)`;
      case 'InvalidNumberFormat':
        return `malformed number ${found}`;
      case 'PropertyNameExpected':
        return at.startsWith('}')
          ? 'trailing comma before "}"'
          : `expected a key in double quotes, found ${found}`;
      case 'ValueExpected':
        return at.startsWith(']')
          ? 'trailing comma before "]"'
          : `expected a value, found ${found}`;
      case 'ColonExpected':
        return `expected ":" after the key, found ${found}`;
      case 'CommaExpected':
        return `expected "," between items, found ${found}`;
      case 'CloseBraceExpected':
        return `expected "}" to close the object, found ${found}`;
      case 'CloseBracketExpected':
        return `expected "]" to close the array, found ${found}`;
      case 'EndOfFileExpected':
        return `unexpected ${found} after the end of the document`;
      case 'InvalidCommentToken':
      case 'UnexpectedEndOfComment':
        return 'comments are not JSON; use a "comment" key';
      case 'UnexpectedEndOfString':
        return 'string not closed before the end of the line';
      case 'UnexpectedEndOfNumber':
        return `number cut short at ${found}`;
      case 'InvalidUnicode':
        return `malformed \\u escape ${found}`;
      case 'InvalidEscapeCharacter':
        return `unknown escape in string ${found}`;
      case 'InvalidCharacter':
        return 'control character in a string (write it as an escape, e.g. \\n)';
      default:
        return `unexpected ${found}`;
    }
  }

  // --------------------------------------------------------------- shapes

  /** Members of an object node; reports duplicates and unknown keys. */
  private members(node: Node, where: string, allowed: readonly string[]): Map<string, Member> {
    const out = new Map<string, Member>();
    for (const property of node.children ?? []) {
      const keyNode = property.children?.[0];
      const value = property.children?.[1];
      if (keyNode === undefined || value === undefined) continue;
      const key = String(keyNode.value);
      const path = join(where, key);
      const first = out.get(key);
      if (first !== undefined) {
        const { line, column } = this.position(first.keyNode.offset);
        this.report(
          keyNode.offset,
          'duplicate-key',
          path,
          `duplicate key "${key}" (first at ${line}:${column}); JSON readers disagree on which one counts`,
        );
        continue;
      }
      if (!allowed.includes(key)) {
        this.report(keyNode.offset, 'unknown-key', path, unknownKeyMessage(key, allowed));
        continue;
      }
      out.set(key, { key, keyNode, value });
    }
    return out;
  }

  private expect(node: Node, type: Node['type'], where: string, what: string): boolean {
    if (node.type === type) return true;
    this.report(node.offset, 'wrong-type', where, `expected ${what}, found ${describe(node)}`);
    return false;
  }

  private string(node: Node, where: string): string | null {
    return this.expect(node, 'string', where, 'a string') ? (node.value as string) : null;
  }

  private oneOf<T extends string>(
    node: Node,
    where: string,
    allowed: readonly T[],
    what: string,
    extra = '',
  ): T | null {
    const value = this.string(node, where);
    if (value === null) return null;
    if ((allowed as readonly string[]).includes(value)) return value as T;
    this.report(
      node.offset,
      'bad-value',
      where,
      `unknown ${what} "${value}"; one of ${allowed.join(', ')}${extra}`,
    );
    return null;
  }

  private integer(node: Node, where: string, min: number, max: number): number | null {
    if (!this.expect(node, 'number', where, 'an integer')) return null;
    const value = node.value as number;
    if (!Number.isInteger(value) || value < min || value > max) {
      this.report(
        node.offset,
        'bad-value',
        where,
        `expected an integer from ${min} to ${max}, found ${this.raw(node)}`,
      );
      return null;
    }
    return value;
  }

  /** A glob; a bad one is reported at the offending character. */
  private glob(node: Node, where: string, flavour: GlobFlavour): string | null {
    const pattern = this.string(node, where);
    if (pattern === null) return null;
    const compiled = compileGlob(pattern, flavour);
    if ('message' in compiled) {
      this.report(
        // An empty pattern has no character to point at: point at its quotes.
        pattern === '' ? node.offset : this.charOffset(node, compiled.index),
        'bad-glob',
        where,
        `bad glob ${JSON.stringify(pattern)}: ${compiled.message}`,
      );
      return null;
    }
    return pattern;
  }

  /** `T` or a non-empty array of `T`, each checked by `item`. */
  private oneOrMany<T>(
    node: Node,
    where: string,
    what: string,
    item: (n: Node, w: string) => T | null,
  ): T | T[] | null {
    if (node.type !== 'array') return item(node, where);
    const items = node.children ?? [];
    if (items.length === 0) {
      this.report(node.offset, 'bad-value', where, `an empty list matches nothing; give ${what}`);
      return null;
    }
    const out: T[] = [];
    let ok = true;
    items.forEach((child, i) => {
      const value = item(child, `${where}[${i}]`);
      if (value === null) ok = false;
      else out.push(value);
    });
    return ok ? out : null;
  }

  /** Offset in the file of character `index` of a string node's value. */
  private charOffset(node: Node, index: number): number {
    const start = node.offset + 1;
    const end = node.offset + node.length - 1;
    let decoded = 0;
    let p = start;
    while (p < end && decoded < index) {
      if (this.source[p] === '\\') p += this.source[p + 1] === 'u' ? 6 : 2;
      else p += 1;
      decoded += 1;
    }
    return p;
  }

  private raw(node: Node): string {
    return this.source.slice(node.offset, node.offset + node.length);
  }

  // ------------------------------------------------------------- document

  private policy(root: Node): Policy | null {
    if (!this.expect(root, 'object', '', 'a JSON object (the policy)')) return null;
    const m = this.members(root, '', TOP_KEYS);

    const version = m.get('version');
    if (version === undefined) {
      this.report(
        root.offset,
        'missing-key',
        '',
        `missing "version" (this Hookscope reads ${POLICY_VERSION})`,
      );
    } else if (this.expect(version.value, 'number', 'version', 'a number')) {
      if (version.value.value !== POLICY_VERSION) {
        // A newer format may mean other things by the same keys: checking
        // the rest against version 1 would only mislead.
        this.report(
          version.value.offset,
          'unsupported-version',
          'version',
          `version ${this.raw(version.value)} is not supported; this Hookscope reads version ${POLICY_VERSION}`,
        );
        return null;
      }
    }

    const schema = m.get('$schema');
    if (schema) this.string(schema.value, '$schema');
    const comment = m.get('comment');
    const commentText = comment ? this.string(comment.value, 'comment') : undefined;

    const defaultMember = m.get('default');
    let defaultAction: Action | null = null;
    if (defaultMember === undefined) {
      this.report(
        root.offset,
        'missing-key',
        '',
        'missing "default" (allow, deny or ask when no rule matches)',
      );
    } else {
      defaultAction = this.oneOf(defaultMember.value, 'default', ACTIONS, 'action');
    }

    const askMember = m.get('ask');
    const ask = askMember ? this.askSettings(askMember.value) : { ...DEFAULT_ASK };

    const offlineMember = m.get('offline');
    const offline = offlineMember
      ? this.oneOf(
          offlineMember.value,
          'offline',
          ANSWERS,
          'offline action',
          ' (nobody is there to ask)',
        )
      : DEFAULT_OFFLINE;

    const rulesMember = m.get('rules');
    const rules: Rule[] = [];
    if (rulesMember && this.expect(rulesMember.value, 'array', 'rules', 'an array of rules')) {
      (rulesMember.value.children ?? []).forEach((node, i) => {
        const rule = this.rule(node, `rules[${i}]`);
        if (rule) rules.push(rule);
      });
    }

    if (defaultAction === null || ask === null || offline === null) return null;
    return {
      version: POLICY_VERSION,
      ...(typeof commentText === 'string' ? { comment: commentText } : {}),
      default: defaultAction,
      ask,
      offline,
      rules,
    };
  }

  private askSettings(node: Node): AskSettings | null {
    if (!this.expect(node, 'object', 'ask', 'an object with timeoutMs and timeoutAction')) {
      return null;
    }
    const m = this.members(node, 'ask', ASK_KEYS);
    const timeout = m.get('timeoutMs');
    const action = m.get('timeoutAction');
    const timeoutMs = timeout
      ? this.integer(timeout.value, 'ask.timeoutMs', 1, MAX_ASK_TIMEOUT_MS)
      : DEFAULT_ASK.timeoutMs;
    const timeoutAction: Answer | null = action
      ? this.oneOf(
          action.value,
          'ask.timeoutAction',
          ANSWERS,
          'timeout action',
          ' (a timeout must end the wait)',
        )
      : DEFAULT_ASK.timeoutAction;
    if (timeoutMs === null || timeoutAction === null) return null;
    return { timeoutMs, timeoutAction };
  }

  // ---------------------------------------------------------------- rules

  private rule(node: Node, where: string): Rule | null {
    if (!this.expect(node, 'object', where, 'a rule (an object)')) return null;
    const m = this.members(node, where, RULE_KEYS);
    const before = this.issues.length;
    const at = (key: string): string => join(where, key);
    const rule: Partial<Rule> = {};

    const action = m.get('action');
    if (action === undefined) {
      this.report(node.offset, 'missing-key', where, 'missing "action" (allow, deny or ask)');
    } else {
      const value = this.oneOf(action.value, at('action'), ACTIONS, 'action');
      if (value) rule.action = value;
    }

    const event = m.get('event');
    const intent = m.get('intent');
    if (event && intent) {
      const later = event.keyNode.offset > intent.keyNode.offset ? event : intent;
      this.report(
        later.keyNode.offset,
        'conflict',
        at(later.key),
        'a rule has "event" (audit events) or "intent" (code about to run), not both',
      );
    } else if (!event && !intent) {
      this.report(
        node.offset,
        'missing-key',
        where,
        'missing "event" or "intent": say what the rule is about ("event": "**" for every audit event, "intent": "*" for all code)',
      );
    }
    if (event) {
      const value = this.oneOrMany(event.value, at('event'), 'event names', (n, w) =>
        this.glob(n, w, 'name'),
      );
      if (value !== null) rule.event = value;
    }
    if (intent) {
      const classes: readonly IntentPattern[] = [...INTENT_CLASSES, ANY_INTENT];
      const value = this.oneOrMany(intent.value, at('intent'), 'intent classes', (n, w) =>
        this.oneOf(n, w, classes, 'intent class'),
      );
      if (value !== null) rule.intent = value;
    }

    // Which kind of subject the rule is for decides which matchers make sense.
    if (event && !intent) {
      for (const key of INTENT_ONLY_KEYS) {
        const member = m.get(key);
        if (member) {
          this.report(
            member.keyNode.offset,
            'conflict',
            at(key),
            `"${key}" describes a file about to run; this rule matches audit events ("event"), so it would never match`,
          );
        }
      }
    }
    if (intent && !event) {
      const args = m.get('args');
      if (args) {
        this.report(
          args.keyNode.offset,
          'conflict',
          at('args'),
          '"args" matches audit event arguments; this rule matches intents ("intent")',
        );
      }
    }
    for (const [glob, prefix] of [
      ['path', 'pathPrefix'],
      ['realpath', 'realpathPrefix'],
    ] as const) {
      const a = m.get(glob);
      const b = m.get(prefix);
      if (a && b) {
        const later = a.keyNode.offset > b.keyNode.offset ? a : b;
        this.report(
          later.keyNode.offset,
          'conflict',
          at(later.key),
          `"${glob}" and "${prefix}" both constrain the same path; use one ("${glob}": "/dir/**" covers a prefix)`,
        );
      }
    }

    const args = m.get('args');
    if (args && event && !intent) {
      const value = this.args(args.value, at('args'));
      if (value) rule.args = value;
    }
    for (const key of ['path', 'realpath'] as const) {
      const member = m.get(key);
      if (member && intent && !event) {
        const value = this.glob(member.value, at(key), 'path');
        if (value !== null) rule[key] = value;
      }
    }
    for (const key of ['pathPrefix', 'realpathPrefix'] as const) {
      const member = m.get(key);
      if (member && intent && !event) {
        const value = this.directoryPrefix(member.value, at(key));
        if (value !== null) rule[key] = value;
      }
    }
    const sha = m.get('sha256');
    if (sha && intent && !event) {
      const value = this.sha256(sha.value, at('sha256'));
      if (value !== null) rule.sha256 = value;
    }
    const moduleMember = m.get('module');
    if (moduleMember) {
      const value = this.glob(moduleMember.value, at('module'), 'name');
      if (value !== null) rule.module = value;
    }
    const packageMember = m.get('package');
    if (packageMember) {
      const value = this.packageName(packageMember.value, at('package'));
      if (value !== null) rule.package = value;
    }
    const executable = m.get('executable');
    if (executable) {
      const value = this.glob(executable.value, at('executable'), 'path');
      if (value !== null) rule.executable = value;
    }
    const pid = m.get('pid');
    if (pid) {
      const value = this.oneOrMany(pid.value, at('pid'), 'process ids', (n, w) =>
        this.integer(n, w, 1, MAX_PID),
      );
      if (value !== null) rule.pid = value;
    }
    const scope = m.get('scope');
    if (scope) {
      const value = this.oneOf<Scope>(scope.value, at('scope'), SCOPES, 'scope');
      if (value) {
        if (rule.action !== undefined && rule.action !== 'ask') {
          this.report(
            scope.keyNode.offset,
            'conflict',
            at('scope'),
            `"scope" says how long an answer to "ask" is remembered; this rule's action is "${rule.action}"`,
          );
        } else {
          rule.scope = value;
        }
      }
    }
    const comment = m.get('comment');
    if (comment) {
      const value = this.string(comment.value, at('comment'));
      if (value !== null) rule.comment = value;
    }
    const disabled = m.get('disabled');
    if (disabled && this.expect(disabled.value, 'boolean', at('disabled'), 'true or false')) {
      // `false` is the same as leaving it out, so the policy keeps one form.
      if (disabled.value.value === true) rule.disabled = true;
    }

    if (this.issues.length > before) return null;
    // Keys in the documented order, whatever order the file used.
    const ordered: Record<string, unknown> = {};
    for (const key of RULE_KEYS) if (rule[key] !== undefined) ordered[key] = rule[key];
    return ordered as unknown as Rule;
  }

  private directoryPrefix(node: Node, where: string): string | null {
    const value = this.string(node, where);
    if (value === null) return null;
    let problem: string | null = null;
    if (!value.startsWith('/')) problem = 'must be an absolute path (start with "/")';
    else if (!value.endsWith('/')) {
      problem = `must end with "/" so it names a directory ("${value}" would also match "${value}-other/…")`;
    } else if (value !== '/' && /\/\/|\/\.\.?\//.test(value)) {
      problem = 'has an empty, "." or ".." segment; real paths never do';
    }
    if (problem) {
      this.report(node.offset, 'bad-value', where, `bad directory prefix: ${problem}`);
      return null;
    }
    return value;
  }

  private sha256(node: Node, where: string): string | null {
    const value = this.string(node, where);
    if (value === null) return null;
    if (SHA256.test(value)) return value;
    let problem: string;
    const badIndex = value.search(/[^0-9a-f]/);
    if (badIndex !== -1 && /^[0-9a-fA-F]+$/.test(value) && value.length === 64) {
      problem = 'uppercase hex digits; write the digest in lowercase';
    } else if (badIndex !== -1) {
      problem = `${JSON.stringify(value[badIndex])} is not a lowercase hex digit`;
    } else {
      problem = `has ${value.length} hex digits, needs 64`;
    }
    this.report(
      badIndex === -1 ? node.offset : this.charOffset(node, badIndex),
      'bad-sha256',
      where,
      `not a SHA-256 digest: ${problem}`,
    );
    return null;
  }

  private packageName(node: Node, where: string): string | null {
    const value = this.string(node, where);
    if (value === null) return null;
    if (PACKAGE_NAME.test(value)) return value;
    const message = value.includes('.')
      ? `"${value}" has a dot; "package" is the top-level name (use "module" for a dotted name)`
      : `"${value}" is not a Python package name`;
    this.report(node.offset, 'bad-value', where, message);
    return null;
  }

  private args(node: Node, where: string): Record<string, ArgMatcher> | null {
    if (!this.expect(node, 'object', where, 'an object of argument matchers keyed by position')) {
      return null;
    }
    const out: Record<string, ArgMatcher> = {};
    let ok = true;
    const seen = new Map<string, Node>();
    for (const property of node.children ?? []) {
      const keyNode = property.children?.[0];
      const value = property.children?.[1];
      if (keyNode === undefined || value === undefined) continue;
      const key = String(keyNode.value);
      const path = `${where}["${key}"]`;
      const first = seen.get(key);
      if (first) {
        const { line, column } = this.position(first.offset);
        this.report(
          keyNode.offset,
          'duplicate-key',
          path,
          `duplicate key "${key}" (first at ${line}:${column})`,
        );
        ok = false;
        continue;
      }
      seen.set(key, keyNode);
      const positionProblem = argPositionProblem(key);
      if (positionProblem) {
        this.report(keyNode.offset, 'bad-value', path, positionProblem);
        ok = false;
        continue;
      }
      const matcher = this.argMatcher(value, path);
      if (matcher === undefined) ok = false;
      else out[key] = matcher;
    }
    return ok ? out : null;
  }

  /** undefined when invalid (null is a valid matcher: Python None). */
  private argMatcher(node: Node, where: string): ArgMatcher | undefined {
    if (node.type !== 'object') return this.scalar(node, where);
    const m = this.members(node, where, ARG_MATCHER_KEYS);
    const given = [...m.values()];
    if (given.length === 0) {
      this.report(
        node.offset,
        'missing-key',
        where,
        'an argument matcher needs "exact", "glob" or "prefix"',
      );
      return undefined;
    }
    if (given.length > 1) {
      const second = given[1] as Member;
      this.report(
        second.keyNode.offset,
        'conflict',
        join(where, second.key),
        'an argument matcher has one of "exact", "glob" or "prefix"',
      );
      return undefined;
    }
    const only = given[0] as Member;
    const at = join(where, only.key);
    if (only.key === 'exact') {
      const value = this.scalar(only.value, at);
      return value === undefined ? undefined : { exact: value };
    }
    if (only.key === 'glob') {
      const value = this.glob(only.value, at, 'argument');
      return value === null ? undefined : { glob: value };
    }
    const prefix = this.string(only.value, at);
    if (prefix === null) return undefined;
    if (prefix === '') {
      this.report(
        only.value.offset,
        'bad-value',
        at,
        'an empty prefix matches everything; leave the argument out',
      );
      return undefined;
    }
    return { prefix };
  }

  private scalar(node: Node, where: string): ArgScalar | undefined {
    switch (node.type) {
      case 'string':
      case 'boolean':
        return node.value as string | boolean;
      case 'null':
        return null;
      case 'number': {
        const value = node.value as number;
        if (Number.isFinite(value) && (!Number.isInteger(value) || Number.isSafeInteger(value))) {
          return value;
        }
        this.report(
          node.offset,
          'bad-value',
          where,
          `${this.raw(node)} cannot be compared exactly (integers must be within ±(2^53 - 1))`,
        );
        return undefined;
      }
      default:
        this.report(
          node.offset,
          'wrong-type',
          where,
          `expected a string, number, boolean, null or a matcher object, found ${describe(node)}`,
        );
        return undefined;
    }
  }
}

function argPositionProblem(key: string): string | null {
  if (!ARG_POSITION.test(key)) {
    return `"${key}" is not an argument position; use "0", "1", … or "1.0" for an item inside argument 1`;
  }
  const parts = key.split('.').map(Number);
  if (parts.length > MAX_ARG_DEPTH) {
    return `"${key}" is nested ${parts.length} deep; the agent records ${MAX_ARG_DEPTH} levels`;
  }
  if (parts.some((p) => p > MAX_ARG_INDEX)) {
    return `"${key}" has a position above ${MAX_ARG_INDEX}; the agent keeps ${MAX_ARG_INDEX + 1} items of a tuple or list`;
  }
  return null;
}

function unknownKeyMessage(key: string, allowed: readonly string[]): string {
  const hint = Object.prototype.hasOwnProperty.call(KEY_HINTS, key) ? KEY_HINTS[key] : undefined;
  if (hint && allowed.includes(hint.match(/"([^"]+)"/)?.[1] ?? '')) {
    return `unknown key "${key}"; ${hint}`;
  }
  const near = allowed.find(
    (k) => k.toLowerCase() === key.toLowerCase() || editDistance(k, key) <= 2,
  );
  if (near) return `unknown key "${key}"; did you mean "${near}"?`;
  return `unknown key "${key}"; allowed here: ${allowed.join(', ')}`;
}

/** Levenshtein distance, for "did you mean" on short keys. */
function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current[j] = Math.min(
        (previous[j] as number) + 1,
        (current[j - 1] as number) + 1,
        (previous[j - 1] as number) + cost,
      );
    }
    previous = current;
  }
  return previous[b.length] as number;
}

function describe(node: Node): string {
  switch (node.type) {
    case 'object':
      return 'an object';
    case 'array':
      return 'an array';
    case 'string':
      return `the string ${JSON.stringify(node.value)}`;
    case 'number':
      return `the number ${String(node.value)}`;
    case 'boolean':
      return String(node.value);
    case 'null':
      return 'null';
    default:
      return node.type;
  }
}

function join(where: string, key: string): string {
  if (where === '') return key;
  return /^[A-Za-z_$][\w$]*$/.test(key) ? `${where}.${key}` : `${where}["${key}"]`;
}

/** Policies are shared by reference and compiled once: nobody may change one. */
function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    for (const item of Object.values(value)) deepFreeze(item);
    Object.freeze(value);
  }
  return value;
}
