// The policy compiled for the agent (docs/protocol.md, "Compiled policy").
//
// The agent judges every audit event and every file about to run inside
// the target, before the interpreter has even started, so it reads a small
// binary form instead of JSON: no allocation-heavy parsing in the target,
// and globs arrive as the token lists glob.ts already built, so the agent
// matches exactly as the inspector does. That document is the contract:
// this file writes it byte for byte and the decoder in compile.test.ts
// reads it back from the document, not from this code.

import { compileGlob, type Glob, type GlobFlavour } from './glob.js';
import { parsePolicy } from './load-policy.js';
import {
  ANY_INTENT,
  INTENT_CLASSES,
  formatPolicy,
  isChecked,
  type Action,
  type Answer,
  type ArgMatcher,
  type ArgScalar,
  type IntentClass,
  type Policy,
  type Rule,
  type Scope,
} from './policy.js';

export const COMPILED_POLICY_MAGIC = 'HSP1';
/** Largest compiled policy the agent reads (docs/protocol.md). */
export const MAX_COMPILED_POLICY_BYTES = 64 * 1024;
/** Counts on the wire are u16. */
const MAX_U16 = 0xffff;
/** Argument positions are u8 on the wire. */
const MAX_ARG_INDEX = 0xff;

const ACTION_CODES: Readonly<Record<Action, number>> = { allow: 0, deny: 1, ask: 2 };
const ANSWER_CODES: Readonly<Record<Answer, number>> = { allow: 0, deny: 1 };
const SCOPE_CODES: Readonly<Record<Scope, number>> = {
  once: 0,
  process: 1,
  session: 2,
  always: 3,
};
/** Bit of each intent class in a rule's class mask. */
const INTENT_BITS: Readonly<Record<IntentClass, number>> = {
  pythoncode: 1 << 0,
  bytecode: 1 << 1,
  zipimport: 1 << 2,
  nativecode: 1 << 3,
  ctypes: 1 << 4,
  unknown: 1 << 5,
};

/** Argument matcher operations. */
export const enum ArgOp {
  EXACT_STRING = 0,
  GLOB = 1,
  PREFIX = 2,
  EXACT_INT = 3,
  EXACT_FLOAT = 4,
  TRUE = 5,
  FALSE = 6,
  NONE = 7,
}

/** Bits of a rule's "fields present" byte, in the order their bodies follow. */
export const enum RuleField {
  PATH_GLOB = 1 << 0,
  PATH_PREFIX = 1 << 1,
  REALPATH_GLOB = 1 << 2,
  REALPATH_PREFIX = 1 << 3,
  SHA256 = 1 << 4,
  EXECUTABLE_GLOB = 1 << 5,
  PID_LIST = 1 << 6,
  /** `module` / `package`: the raising module (the agent finds it on the Python stack). */
  ATTRIBUTION = 1 << 7,
}

export interface CompileOptions {
  /**
   * What `ask` rules and an `ask` default become: a fixed answer when
   * nobody can be asked (headless runs), or `interactive`: the agent asks
   * the inspector over its socket (docs/protocol.md, "Asks").
   */
  askAnswer: Answer | 'interactive';
}

/** The compiled form's "answer to ask rules" byte for `interactive`. */
const ASK_INTERACTIVE = 2;

/** A policy the agent format cannot carry; the message names the rule and why. */
export class PolicyCompileError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'PolicyCompileError';
  }
}

/**
 * The policy in the agent's binary form. Throws PolicyCompileError when the
 * agent format cannot carry it, and PolicyError for a policy built in code
 * that does not check.
 */
export function compilePolicy(policy: Policy, options: CompileOptions): Buffer {
  // The same check evaluate() makes: a policy built in code fails here
  // with the messages a file would get.
  if (!isChecked(policy)) policy = parsePolicy(formatPolicy(policy), '<policy>');
  const out = new ByteWriter();
  out.bytes(Buffer.from(COMPILED_POLICY_MAGIC, 'latin1'));
  out.u8(ACTION_CODES[policy.default]);
  out.u8(ANSWER_CODES[policy.offline]);
  out.u8(ANSWER_CODES[policy.ask.timeoutAction]);
  out.u8(options.askAnswer === 'interactive' ? ASK_INTERACTIVE : ANSWER_CODES[options.askAnswer]);
  out.u32(policy.ask.timeoutMs);
  // A disabled rule is not sent at all; the others keep their file index.
  const enabled = policy.rules.filter((rule) => rule.disabled !== true).length;
  out.u32(enabled);
  policy.rules.forEach((rule, index) => {
    if (rule.disabled !== true) writeRule(out, rule, index);
  });
  const compiled = out.finish();
  if (compiled.length > MAX_COMPILED_POLICY_BYTES) {
    throw new PolicyCompileError(
      `the compiled policy is ${compiled.length} bytes; the agent reads at most ` +
        `${MAX_COMPILED_POLICY_BYTES} (${policy.rules.length} rules: merge or shorten some)`,
    );
  }
  return compiled;
}

function writeRule(out: ByteWriter, rule: Rule, index: number): void {
  const where = `rules[${index}]`;
  out.u8(ACTION_CODES[rule.action]);
  out.u8(SCOPE_CODES[rule.scope ?? 'once']);
  out.u16(intentMask(rule), `${where}.intent`);
  out.u32(index);

  const events = rule.event === undefined ? [] : asList(rule.event);
  out.u16(events.length, `${where}.event`);
  events.forEach((pattern, i) => writeGlob(out, pattern, 'name', `${where}.event[${i}]`));

  const args = Object.entries(rule.args ?? {});
  out.u16(args.length, `${where}.args`);
  for (const [position, matcher] of args) {
    writeArgMatcher(out, position, matcher, `${where}.args["${position}"]`);
  }

  let present = 0;
  if (rule.path !== undefined) present |= RuleField.PATH_GLOB;
  if (rule.pathPrefix !== undefined) present |= RuleField.PATH_PREFIX;
  if (rule.realpath !== undefined) present |= RuleField.REALPATH_GLOB;
  if (rule.realpathPrefix !== undefined) present |= RuleField.REALPATH_PREFIX;
  if (rule.sha256 !== undefined) present |= RuleField.SHA256;
  if (rule.executable !== undefined) present |= RuleField.EXECUTABLE_GLOB;
  if (rule.pid !== undefined) present |= RuleField.PID_LIST;
  if (rule.module !== undefined || rule.package !== undefined) present |= RuleField.ATTRIBUTION;
  out.u8(present);
  if (rule.path !== undefined) writeGlob(out, rule.path, 'path', `${where}.path`);
  if (rule.pathPrefix !== undefined) out.lstr(rule.pathPrefix, `${where}.pathPrefix`);
  if (rule.realpath !== undefined) writeGlob(out, rule.realpath, 'path', `${where}.realpath`);
  if (rule.realpathPrefix !== undefined) {
    out.lstr(rule.realpathPrefix, `${where}.realpathPrefix`);
  }
  if (rule.sha256 !== undefined) out.bytes(sha256Bytes(rule.sha256, `${where}.sha256`));
  if (rule.executable !== undefined) {
    writeGlob(out, rule.executable, 'path', `${where}.executable`);
  }
  if (rule.pid !== undefined) {
    const pids = asList(rule.pid);
    out.u16(pids.length, `${where}.pid`);
    for (const pid of pids) out.u32(pid);
  }
  if (rule.module !== undefined || rule.package !== undefined) {
    out.u8((rule.module !== undefined ? 1 : 0) | (rule.package !== undefined ? 2 : 0));
    if (rule.module !== undefined) writeGlob(out, rule.module, 'name', `${where}.module`);
    if (rule.package !== undefined) out.lstr(rule.package, `${where}.package`);
  }
}

function asList<T>(value: T | T[]): T[] {
  return Array.isArray(value) ? value : [value];
}

function intentMask(rule: Rule): number {
  if (rule.intent === undefined) return 0;
  let mask = 0;
  for (const pattern of asList(rule.intent)) {
    if (pattern === ANY_INTENT) {
      for (const c of INTENT_CLASSES) mask |= INTENT_BITS[c];
    } else {
      mask |= INTENT_BITS[pattern];
    }
  }
  return mask;
}

function writeGlob(out: ByteWriter, pattern: string, flavour: GlobFlavour, where: string): void {
  const glob: Glob | { message: string } = compileGlob(pattern, flavour);
  if (!('tokens' in glob)) {
    // parsePolicy refuses these already; a Policy built in code may not have been through it.
    throw new PolicyCompileError(`${where}: bad glob ${JSON.stringify(pattern)}: ${glob.message}`);
  }
  // Even a pattern without wildcards goes as tokens: the agent has one matcher.
  const { separator, kinds, points } = glob.tokens();
  out.u8(separator);
  out.u16(kinds.length, `${where} (glob tokens)`);
  kinds.forEach((kind, i) => {
    out.u8(kind);
    out.u32(points[i] as number);
  });
}

function writeArgMatcher(
  out: ByteWriter,
  position: string,
  matcher: ArgMatcher,
  where: string,
): void {
  const parts = position.split('.').map(Number);
  if (parts.length > 2) {
    throw new PolicyCompileError(
      `${where}: the agent matches arguments at most two levels deep ("1" or "1.0"), ` +
        `not "${position}"`,
    );
  }
  if (parts.some((p) => !Number.isInteger(p) || p < 0 || p > MAX_ARG_INDEX)) {
    throw new PolicyCompileError(
      `${where}: argument positions must be integers from 0 to ${MAX_ARG_INDEX}`,
    );
  }
  out.u8(parts.length);
  out.u8(parts[0] as number);
  out.u8(parts[1] ?? 0);
  if (matcher !== null && typeof matcher === 'object') {
    if ('glob' in matcher) {
      out.u8(ArgOp.GLOB);
      writeGlob(out, matcher.glob, 'argument', where);
      return;
    }
    if ('prefix' in matcher) {
      out.u8(ArgOp.PREFIX);
      out.lstr(matcher.prefix, where);
      return;
    }
    writeExact(out, matcher.exact, where);
    return;
  }
  writeExact(out, matcher, where);
}

function writeExact(out: ByteWriter, value: ArgScalar, where: string): void {
  if (value === null) {
    out.u8(ArgOp.NONE);
  } else if (value === true) {
    out.u8(ArgOp.TRUE);
  } else if (value === false) {
    out.u8(ArgOp.FALSE);
  } else if (typeof value === 'string') {
    out.u8(ArgOp.EXACT_STRING);
    out.lstr(value, where);
  } else if (Number.isInteger(value)) {
    // parsePolicy keeps integers within ±(2^53 - 1), so they fit an i64.
    out.u8(ArgOp.EXACT_INT);
    out.i64(BigInt(value));
  } else {
    out.u8(ArgOp.EXACT_FLOAT);
    out.f64(value);
  }
}

function sha256Bytes(hex: string, where: string): Buffer {
  if (!/^[0-9a-f]{64}$/.test(hex)) {
    throw new PolicyCompileError(`${where}: not a SHA-256 digest (64 lowercase hex digits)`);
  }
  return Buffer.from(hex, 'hex');
}

/** A lone surrogate has no UTF-8 form; Buffer.from would quietly turn it into U+FFFD. */
const LONE_SURROGATE = /\p{Surrogate}/u;

/** Little-endian writer that grows as needed. */
class ByteWriter {
  private buf = Buffer.alloc(4096);
  private length = 0;

  /**
   * Makes room for `n` bytes and returns where they go. Callers take the
   * offset first and only then touch `this.buf`, which this may replace.
   */
  private reserve(n: number): number {
    if (this.length + n > this.buf.length) {
      const next = Buffer.alloc(Math.max(this.buf.length * 2, this.length + n));
      this.buf.copy(next, 0, 0, this.length);
      this.buf = next;
    }
    const at = this.length;
    this.length += n;
    return at;
  }

  u8(n: number): void {
    const at = this.reserve(1);
    this.buf[at] = n;
  }

  /** A count: refused beyond 65535 rather than wrapped. */
  u16(n: number, where: string): void {
    if (n > MAX_U16) {
      throw new PolicyCompileError(`${where}: ${n} entries; the agent format allows ${MAX_U16}`);
    }
    const at = this.reserve(2);
    this.buf.writeUInt16LE(n, at);
  }

  u32(n: number): void {
    const at = this.reserve(4);
    this.buf.writeUInt32LE(n >>> 0, at);
  }

  i64(n: bigint): void {
    const at = this.reserve(8);
    this.buf.writeBigInt64LE(n, at);
  }

  f64(n: number): void {
    const at = this.reserve(8);
    this.buf.writeDoubleLE(n, at);
  }

  bytes(b: Buffer): void {
    const at = this.reserve(b.length);
    b.copy(this.buf, at);
  }

  /** `u32 length`, then the UTF-8 bytes. */
  lstr(text: string, where: string): void {
    if (LONE_SURROGATE.test(text)) {
      throw new PolicyCompileError(
        `${where}: ${JSON.stringify(text)} holds a lone surrogate, which has no UTF-8 form ` +
          'to compare in the agent',
      );
    }
    const bytes = Buffer.from(text, 'utf8');
    this.u32(bytes.length);
    this.bytes(bytes);
  }

  finish(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.length));
  }
}
