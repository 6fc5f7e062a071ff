// Records carried by EVENTS frames and stored in session `events` blocks
// (docs/protocol.md, "Records" and "Values").
//
// Validation and decoding are split: validateEventsPayload walks the bytes
// without allocating (the server runs it on every frame before storing the
// raw bytes), and decodeRecords runs that same walk before building objects,
// so exactly one piece of code decides what is well formed and the object
// builder only ever sees bytes that passed it.

import { ProtocolError } from './frame.js';

export const RECORD_HEADER_SIZE = 28;
export const MAX_RECORD_SIZE = 16 * 1024;
/** Bytes kept of a str / str_fs value. */
export const MAX_STR_BYTES = 4096;
/** Bytes kept of a bytes / bytearray value. */
export const MAX_BYTES_BYTES = 256;
/** Items kept of a tuple / list. */
export const MAX_CONTAINER_ITEMS = 64;
/**
 * Containers nest at most this deep, counting the audit argument tuple as
 * level 1: args → container → container. Deeper ones arrive as tag 13.
 */
export const MAX_NESTING = 3;

export const RECORD_FLAG_ARGS_TRUNCATED = 1;
/** Decision records: the thread's Python stack follows the fixed fields. */
export const RECORD_FLAG_STACK = 2;
export const OPEN_CODE_EVENT = 'io.open_code';
const OPEN_CODE_NAME = Buffer.from(OPEN_CODE_EVENT, 'latin1');
/** The name of a code-about-to-run record for a native library (the agent's dlopen). */
export const NATIVE_LOAD_EVENT = 'dlopen';
const NATIVE_LOAD_NAME = Buffer.from(NATIVE_LOAD_EVENT, 'latin1');
/** Code-about-to-run records: CPython's open-code hook, or a native library load. */
export function isCodeLoadEvent(event: string): boolean {
  return event === OPEN_CODE_EVENT || event === NATIVE_LOAD_EVENT;
}
/** intent … sha256: the fixed part of an open-code record after its name. */
const OPEN_CODE_FIXED_SIZE = 72;
/** event seq … waited ns: a decision record after its name. */
const DECISION_SIZE = 24;
/** Rule index of a decision the policy's default made. */
export const DECISION_BY_DEFAULT_INDEX = 0xffff_ffff;

export enum RecordKind {
  AUDIT = 1,
  OPEN_CODE = 2,
  DECISION = 3,
}

export enum ValueTag {
  NONE = 0,
  FALSE = 1,
  TRUE = 2,
  INT = 3,
  INT_APPROX = 4,
  FLOAT = 5,
  STR = 6,
  STR_FS = 7,
  BYTES = 8,
  BYTEARRAY = 9,
  TUPLE = 10,
  LIST = 11,
  CODE = 12,
  OTHER = 13,
}

// ---------------------------------------------------------------- values

export interface NoneValue {
  type: 'none';
}
export interface BoolValue {
  type: 'bool';
  value: boolean;
}
/** A Python int that fits in 64 bits, exact. */
export interface IntValue {
  type: 'int';
  value: bigint;
}
/** A Python int beyond 64 bits: only a float approximation is known. */
export interface IntApproxValue {
  type: 'int_approx';
  approx: number;
}
export interface FloatValue {
  type: 'float';
  value: number;
}
/**
 * A str that was valid UTF-8. `fullLength` is the UTF-8 length of the whole
 * string in bytes; `truncated` says the agent kept fewer bytes than that.
 */
export interface StrValue {
  type: 'str';
  text: string;
  fullLength: number;
  truncated: boolean;
}
/**
 * A str that is not valid UTF-8 (it holds lone surrogates, usually
 * undecodable file name bytes). `raw` are the filesystem-encoded bytes;
 * `text` is the Python string they stand for, undecodable bytes as
 * U+DC80..U+DCFF exactly as surrogateescape does.
 */
export interface StrFsValue {
  type: 'str_fs';
  text: string;
  raw: Buffer;
  fullLength: number;
  truncated: boolean;
}
export interface BytesValue {
  type: 'bytes' | 'bytearray';
  data: Buffer;
  fullLength: number;
  truncated: boolean;
}
export interface SequenceValue {
  type: 'tuple' | 'list';
  items: Value[];
  fullCount: number;
  truncated: boolean;
}
export type TextValue = StrValue | StrFsValue;
export interface CodeValue {
  type: 'code';
  filename: TextValue;
  name: TextValue;
  firstLine: number;
}
/** Any other object: the agent records only its type name and address. */
export interface OtherValue {
  type: 'other';
  typeName: string;
  id: bigint;
}

export type Value =
  | NoneValue
  | BoolValue
  | IntValue
  | IntApproxValue
  | FloatValue
  | StrValue
  | StrFsValue
  | BytesValue
  | SequenceValue
  | CodeValue
  | OtherValue;

// --------------------------------------------------------------- records

interface RecordBase {
  /** Per-process sequence number; gaps are exactly the dropped records. */
  seq: number;
  /** CLOCK_MONOTONIC, ns; compare with the process's startMonotonicNs. */
  timeNs: bigint;
  /** Native thread id (gettid). */
  tid: number;
  /** The event name as raised, decoded as UTF-8 with U+FFFD replacement. */
  event: string;
  /** The agent cut the arguments short to fit the record size limit. */
  argsTruncated: boolean;
}

export interface AuditRecord extends RecordBase {
  kind: 'audit';
  args: SequenceValue;
}

export type OpenCodeIntent =
  'unknown' | 'pythoncode' | 'bytecode' | 'zipimport' | 'nativecode' | 'ctypes';
/** Open-code intents by their code on the wire. */
export const OPEN_CODE_INTENTS: readonly OpenCodeIntent[] = [
  'unknown',
  'pythoncode',
  'bytecode',
  'zipimport',
  'nativecode',
  'ctypes',
];
/** Intents codes below this come from `io.open_code`; from it on, from `dlopen`. */
const FIRST_NATIVE_INTENT = 4;

export interface OpenCodeRecord extends RecordBase {
  kind: 'open-code';
  intent: OpenCodeIntent;
  status: 'ok' | 'error';
  /** errno of the failed open or read; 0 when status is 'ok'. */
  errno: number;
  size: number;
  dev: bigint;
  ino: bigint;
  /** Signed: a file may carry a time before 1970. */
  mtimeNs: bigint;
  /** Lowercase hex SHA-256 of the bytes handed to the interpreter; null on error. */
  sha256: string | null;
  /** The path as CPython passed it. */
  path: TextValue;
  /** readlink of the opened descriptor (lossy UTF-8); may be empty on error. */
  realPath: string;
}

export type DecisionOutcome = 'allowed' | 'denied';
export const DECISION_OUTCOMES: readonly DecisionOutcome[] = ['allowed', 'denied'];
export type DecisionAction = 'allow' | 'deny' | 'ask';
export const DECISION_ACTIONS: readonly DecisionAction[] = ['allow', 'deny', 'ask'];
/**
 * Who decided: a rule or the default by itself; for an `ask`, the user,
 * the ask timeout, the offline answer (no inspector), the headless `--ask`
 * answer, or an earlier answer remembered for the asking rule's scope.
 */
export type DecidedBy =
  'rule' | 'default' | 'user' | 'timeout' | 'offline' | 'headless' | 'remembered';
export const DECIDED_BY: readonly DecidedBy[] = [
  'rule',
  'default',
  'user',
  'timeout',
  'offline',
  'headless',
  'remembered',
];

/**
 * What the agent decided about the record with sequence number `eventSeq`
 * (same process and thread, just before it). `event` names the event or
 * intent decided on. The agent writes one for every denial and every ask;
 * plain allows get none.
 */
export interface DecisionRecord extends RecordBase {
  kind: 'decision';
  eventSeq: bigint;
  outcome: DecisionOutcome;
  /** The action of the rule (or default) that applied. */
  action: DecisionAction;
  by: DecidedBy;
  /** Index of the rule in the policy file; null when the default applied. */
  ruleIndex: number | null;
  /** How long the calling thread waited for the decision. */
  waitedNs: bigint;
  /** The deciding thread's Python stack, innermost first (null when not taken). */
  stack: StackFrame[] | null;
}

export type AgentRecord = AuditRecord | OpenCodeRecord | DecisionRecord;

// ------------------------------------------------------------ validation

const TWO_POW_32 = 0x1_0000_0000;
/** High word limit of a u64 that is still a safe JS integer (< 2^53). */
const SAFE_HIGH_WORD = 0x1f_ffff;

/**
 * Little-endian reads without Buffer's range checks: callers have checked
 * the bounds already. Bitwise only, so even a read past the end would give
 * a number (0 bytes), never NaN that slips through comparisons.
 */
export function u32(buf: Buffer, p: number): number {
  return (
    ((buf[p] as number) |
      ((buf[p + 1] as number) << 8) |
      ((buf[p + 2] as number) << 16) |
      ((buf[p + 3] as number) << 24)) >>>
    0
  );
}

export function u16(buf: Buffer, p: number): number {
  return (buf[p] as number) | ((buf[p + 1] as number) << 8);
}

function fail(message: string, offset: number): never {
  throw new ProtocolError(`malformed record data: ${message}`, offset);
}

function needBytes(p: number, n: number, end: number, what: string): void {
  if (end - p < n) {
    fail(`${what} needs ${n} bytes but only ${Math.max(0, end - p)} remain in the record`, p);
  }
}

/** Skips one value at `p` (ending by `end`); returns the offset after it. */
function skipValue(buf: Buffer, p: number, end: number, depth: number): number {
  needBytes(p, 1, end, 'value tag');
  const tag = buf[p] as number;
  const q = p + 1;
  switch (tag) {
    case ValueTag.NONE:
    case ValueTag.FALSE:
    case ValueTag.TRUE:
      return q;
    case ValueTag.INT:
    case ValueTag.INT_APPROX:
    case ValueTag.FLOAT:
      needBytes(q, 8, end, 'number value');
      return q + 8;
    case ValueTag.STR:
    case ValueTag.STR_FS:
      return skipSized(buf, q, end, MAX_STR_BYTES, 'str');
    case ValueTag.BYTES:
    case ValueTag.BYTEARRAY:
      return skipSized(buf, q, end, MAX_BYTES_BYTES, 'bytes');
    case ValueTag.TUPLE:
    case ValueTag.LIST: {
      if (depth >= MAX_NESTING) {
        fail(`containers nested deeper than ${MAX_NESTING} levels`, p);
      }
      needBytes(q, 8, end, 'container header');
      const full = u32(buf, q);
      const n = u32(buf, q + 4);
      if (n > full) fail(`container keeps ${n} items but says it has only ${full}`, q);
      if (n > MAX_CONTAINER_ITEMS) {
        fail(`container keeps ${n} items, more than the limit of ${MAX_CONTAINER_ITEMS}`, q);
      }
      let r = q + 8;
      for (let i = 0; i < n; i++) r = skipValue(buf, r, end, depth + 1);
      return r;
    }
    case ValueTag.CODE: {
      needBytes(q, 4, end, 'code first line');
      const r = skipText(buf, q + 4, end, 'code filename');
      return skipText(buf, r, end, 'code name');
    }
    case ValueTag.OTHER: {
      needBytes(q, 10, end, 'object id and type name length');
      const n = u16(buf, q + 8);
      needBytes(q + 10, n, end, 'type name');
      return q + 10 + n;
    }
    default:
      return fail(`unknown value tag ${tag}`, p);
  }
}

/** `u32 full_length, u32 n, n bytes` with n ≤ full_length and n ≤ limit. */
function skipSized(buf: Buffer, q: number, end: number, limit: number, what: string): number {
  needBytes(q, 8, end, `${what} header`);
  const full = u32(buf, q);
  const n = u32(buf, q + 4);
  if (n > full) fail(`${what} keeps ${n} bytes but says it has only ${full}`, q);
  if (n > limit) fail(`${what} keeps ${n} bytes, more than the limit of ${limit}`, q);
  needBytes(q + 8, n, end, `${what} bytes`);
  return q + 8 + n;
}

/** A value that must be a str or str_fs (code fields, open-code path). */
function skipText(buf: Buffer, p: number, end: number, what: string): number {
  needBytes(p, 1, end, `${what} tag`);
  const tag = buf[p] as number;
  if (tag !== ValueTag.STR && tag !== ValueTag.STR_FS) {
    fail(`${what} must be a str value, found tag ${tag}`, p);
  }
  return skipSized(buf, p + 1, end, MAX_STR_BYTES, what);
}

/** Returns the offset just after the record that starts at `p`. */
function skipRecord(buf: Buffer, p: number): number {
  const total = buf.length;
  if (total - p < 4) fail(`record length field cut short (${total - p} bytes left)`, p);
  const length = u32(buf, p);
  if (length < RECORD_HEADER_SIZE) {
    fail(`record length ${length} is shorter than the ${RECORD_HEADER_SIZE}-byte header`, p);
  }
  if (length > MAX_RECORD_SIZE) {
    fail(`record length ${length} exceeds the ${MAX_RECORD_SIZE}-byte limit`, p);
  }
  if (length > total - p) {
    fail(`record length ${length} runs past the end of the payload (${total - p} bytes left)`, p);
  }
  const end = p + length;
  const kind = buf[p + 4] as number;
  const nameLength = u16(buf, p + 6);
  if (u32(buf, p + 16) > SAFE_HIGH_WORD) {
    fail('sequence number exceeds 2^53', p + 12);
  }
  const nameStart = p + RECORD_HEADER_SIZE;
  needBytes(nameStart, nameLength, end, 'event name');
  let q = nameStart + nameLength;
  if (kind === RecordKind.AUDIT) {
    needBytes(q, 1, end, 'argument tuple');
    if (buf[q] !== ValueTag.TUPLE) {
      fail(`audit arguments must be a tuple value, found tag ${buf[q] as number}`, q);
    }
    q = skipValue(buf, q, end, 0);
  } else if (kind === RecordKind.OPEN_CODE) {
    const named = (name: Buffer): boolean =>
      nameLength === name.length &&
      buf.compare(name, 0, nameLength, nameStart, nameStart + nameLength) === 0;
    const native = named(NATIVE_LOAD_NAME);
    if (!native && !named(OPEN_CODE_NAME)) {
      fail(
        `open-code record must be named "${OPEN_CODE_EVENT}" or "${NATIVE_LOAD_EVENT}"`,
        nameStart,
      );
    }
    needBytes(q, OPEN_CODE_FIXED_SIZE, end, 'open-code fields');
    const intent = buf[q] as number;
    if (intent >= OPEN_CODE_INTENTS.length) fail(`unknown open-code intent ${intent}`, q);
    if (native !== intent >= FIRST_NATIVE_INTENT) {
      fail(
        `intent ${OPEN_CODE_INTENTS[intent] as string} does not belong in a "${native ? NATIVE_LOAD_EVENT : OPEN_CODE_EVENT}" record`,
        q,
      );
    }
    const status = buf[q + 1] as number;
    if (status > 1) fail(`unknown open-code status ${status}`, q + 1);
    if (u32(buf, q + 12) > SAFE_HIGH_WORD) fail('file size exceeds 2^53', q + 8);
    q = skipText(buf, q + OPEN_CODE_FIXED_SIZE, end, 'open-code path');
    needBytes(q, 4, end, 'real path length');
    const realLength = u32(buf, q);
    needBytes(q + 4, realLength, end, 'real path');
    q += 4 + realLength;
  } else if (kind === RecordKind.DECISION) {
    q = skipDecision(buf, q, end);
    if (((buf[p + 5] as number) & RECORD_FLAG_STACK) !== 0) q = skipStack(buf, q, end);
  } else {
    fail(`unknown record kind ${kind}`, p + 4);
  }
  if (q !== end) fail(`${end - q} unexpected bytes at the end of the record`, q);
  return end;
}

/**
 * A stack value (docs/protocol.md, "Stacks"): a tuple of frames, each a
 * 4-tuple (file, function, line, module or None). Returns the offset after it.
 */
export function skipStack(buf: Buffer, q: number, end: number): number {
  needBytes(q, 9, end, 'stack');
  if (buf[q] !== ValueTag.TUPLE) fail(`stack must be a tuple, found tag ${buf[q] as number}`, q);
  const full = u32(buf, q + 1);
  const n = u32(buf, q + 5);
  if (n > full) fail(`stack keeps ${n} frames but says it has only ${full}`, q);
  if (n > MAX_CONTAINER_ITEMS) fail(`stack keeps ${n} frames, more than ${MAX_CONTAINER_ITEMS}`, q);
  let p = q + 9;
  for (let i = 0; i < n; i++) {
    needBytes(p, 9, end, 'stack frame');
    if (buf[p] !== ValueTag.TUPLE || u32(buf, p + 1) !== 4 || u32(buf, p + 5) !== 4) {
      fail('a stack frame must be a tuple of 4 values', p);
    }
    p = skipText(buf, p + 9, end, 'frame file');
    p = skipText(buf, p, end, 'frame function');
    needBytes(p, 9, end, 'frame line');
    if (buf[p] !== ValueTag.INT)
      fail(`frame line must be an int, found tag ${buf[p] as number}`, p);
    p += 9;
    needBytes(p, 1, end, 'frame module');
    p = buf[p] === ValueTag.NONE ? p + 1 : skipText(buf, p, end, 'frame module');
  }
  return p;
}

/** One frame of a Python stack, innermost first. */
export interface StackFrame {
  file: string;
  function: string;
  line: number;
  /** `__name__` of the frame's module; null when it could not be read. */
  module: string | null;
}

/** Decodes a stack value that skipStack accepted. */
export function decodeStack(
  buf: Buffer,
  q: number,
): { frames: StackFrame[]; total: number; end: number } {
  const total = u32(buf, q + 1);
  const n = u32(buf, q + 5);
  const frames: StackFrame[] = [];
  let p = q + 9;
  const text = (): string => {
    const len = u32(buf, p + 5);
    const raw = buf.subarray(p + 9, p + 9 + len);
    const value = buf[p] === ValueTag.STR ? raw.toString('utf8') : decodeSurrogateEscape(raw);
    p += 9 + len;
    return value;
  };
  for (let i = 0; i < n; i++) {
    p += 9;
    const file = text();
    const fn = text();
    const line = Number(buf.readBigInt64LE(p + 1));
    p += 9;
    const module = buf[p] === ValueTag.NONE ? ((p += 1), null) : text();
    frames.push({ file, function: fn, line, module });
  }
  return { frames, total, end: p };
}

/** The body of a decision record at `q`; returns the offset after it. */
function skipDecision(buf: Buffer, q: number, end: number): number {
  needBytes(q, DECISION_SIZE, end, 'decision fields');
  const outcome = buf[q + 8] as number;
  if (outcome >= DECISION_OUTCOMES.length) fail(`unknown decision outcome ${outcome}`, q + 8);
  const action = buf[q + 9] as number;
  if (action >= DECISION_ACTIONS.length) fail(`unknown decision action ${action}`, q + 9);
  const by = buf[q + 10] as number;
  if (by >= DECIDED_BY.length) fail(`unknown decision maker ${by}`, q + 10);
  if (buf[q + 11] !== 0) {
    fail(`decision reserved byte is ${buf[q + 11] as number}, must be 0`, q + 11);
  }
  // The index and who decided must agree, or the record names the wrong
  // reason. Outcome and action may differ (a deny is not enforced while
  // the interpreter initialises or finalises), so they are not compared.
  const byDefault = u32(buf, q + 12) === DECISION_BY_DEFAULT_INDEX;
  if (by === 0 && byDefault) fail('decision by a rule names no rule', q + 12);
  if (by === 1 && !byDefault) fail('decision by the default names a rule', q + 12);
  return q + DECISION_SIZE;
}

/**
 * Checks a whole EVENTS payload (one or more records back to back) and
 * returns the number of records. Allocates nothing on the success path.
 * Throws ProtocolError, with the payload offset, on anything malformed.
 */
export function validateEventsPayload(payload: Buffer): number {
  if (payload.length === 0) throw new ProtocolError('EVENTS payload is empty');
  let p = 0;
  let count = 0;
  while (p < payload.length) {
    p = skipRecord(payload, p);
    count++;
  }
  return count;
}

// -------------------------------------------------------------- decoding

/**
 * Decodes an EVENTS payload into records. Validates first, so every read
 * below is within bounds and every length within its limits.
 */
export function decodeRecords(payload: Buffer): AgentRecord[] {
  return decodeCheckedRecords(payload, validateEventsPayload(payload));
}

/**
 * decodeRecords of a payload already checked, whose `count` records
 * validateEventsPayload (or its native twin) accepted.
 */
export function decodeCheckedRecords(payload: Buffer, count: number): AgentRecord[] {
  const reader = new ValueReader(payload);
  const records: AgentRecord[] = new Array<AgentRecord>(count);
  for (let i = 0; i < count; i++) records[i] = reader.record();
  return records;
}

/**
 * Decodes the one record at offset `p` of a payload that
 * validateEventsPayload accepted (the byte-level report writers hand the
 * records they do not write themselves to the ordinary path this way).
 */
export function decodeRecordAt(payload: Buffer, p: number): AgentRecord {
  const reader = new ValueReader(payload, p);
  return reader.record();
}

/** Decodes the value at offset `p` of a validated payload, and where it ends. */
export function decodeValueAt(payload: Buffer, p: number): { value: Value; end: number } {
  const reader = new ValueReader(payload, p);
  const value = reader.valueHere();
  return { value, end: reader.position };
}

/** The event name of the record at offset `p` of a validated payload (interned). */
export function recordEventAt(payload: Buffer, p: number): string {
  return eventName(payload, p + RECORD_HEADER_SIZE, u16(payload, p + 6));
}

/** Builds objects from bytes that validateEventsPayload accepted. */
class ValueReader {
  constructor(
    private readonly buf: Buffer,
    private pos = 0,
  ) {}

  get position(): number {
    return this.pos;
  }

  valueHere(): Value {
    return this.value();
  }

  record(): AgentRecord {
    const buf = this.buf;
    const p = this.pos;
    const length = u32(buf, p);
    const kind = buf[p + 4] as number;
    const flags = buf[p + 5] as number;
    const nameLength = u16(buf, p + 6);
    const seq = u32(buf, p + 12) + u32(buf, p + 16) * TWO_POW_32;
    const timeNs = buf.readBigUInt64LE(p + 20);
    const tid = u32(buf, p + 8);
    const event = eventName(buf, p + RECORD_HEADER_SIZE, nameLength);
    const argsTruncated = (flags & RECORD_FLAG_ARGS_TRUNCATED) !== 0;
    this.pos = p + RECORD_HEADER_SIZE + nameLength;
    // Object literals with a fixed key order (no spread) keep one hidden
    // class per record kind, which matters at hundreds of thousands a second.
    let record: AgentRecord;
    if (kind === RecordKind.AUDIT) {
      const args = this.value() as SequenceValue;
      record = { kind: 'audit', seq, timeNs, tid, event, argsTruncated, args };
    } else if (kind === RecordKind.DECISION) {
      const q = this.pos;
      const ruleIndex = u32(buf, q + 12);
      record = {
        kind: 'decision',
        seq,
        timeNs,
        tid,
        event,
        argsTruncated,
        eventSeq: buf.readBigUInt64LE(q),
        outcome: DECISION_OUTCOMES[buf[q + 8] as number] as DecisionOutcome,
        action: DECISION_ACTIONS[buf[q + 9] as number] as DecisionAction,
        by: DECIDED_BY[buf[q + 10] as number] as DecidedBy,
        ruleIndex: ruleIndex === DECISION_BY_DEFAULT_INDEX ? null : ruleIndex,
        waitedNs: buf.readBigUInt64LE(q + 16),
        stack:
          (flags & RECORD_FLAG_STACK) !== 0 ? decodeStack(buf, q + DECISION_SIZE).frames : null,
      };
    } else {
      const q = this.pos;
      const ok = buf[q + 1] === 0;
      this.pos = q + OPEN_CODE_FIXED_SIZE;
      const path = this.value() as TextValue;
      const realLength = u32(buf, this.pos);
      const realPath = buf.toString('utf8', this.pos + 4, this.pos + 4 + realLength);
      record = {
        kind: 'open-code',
        seq,
        timeNs,
        tid,
        event,
        argsTruncated,
        intent: OPEN_CODE_INTENTS[buf[q] as number] as OpenCodeIntent,
        status: ok ? 'ok' : 'error',
        errno: ok ? 0 : u32(buf, q + 4),
        size: u32(buf, q + 8) + u32(buf, q + 12) * TWO_POW_32,
        dev: buf.readBigUInt64LE(q + 16),
        ino: buf.readBigUInt64LE(q + 24),
        mtimeNs: buf.readBigInt64LE(q + 32),
        sha256: ok ? buf.toString('hex', q + 40, q + 72) : null,
        path,
        realPath,
      };
    }
    this.pos = p + length;
    return record;
  }

  private value(): Value {
    const buf = this.buf;
    const tag = buf[this.pos] as number;
    const q = this.pos + 1;
    switch (tag) {
      case ValueTag.NONE:
        this.pos = q;
        return NONE;
      case ValueTag.FALSE:
        this.pos = q;
        return FALSE;
      case ValueTag.TRUE:
        this.pos = q;
        return TRUE;
      case ValueTag.INT:
        this.pos = q + 8;
        return { type: 'int', value: buf.readBigInt64LE(q) };
      case ValueTag.INT_APPROX:
        this.pos = q + 8;
        return { type: 'int_approx', approx: buf.readDoubleLE(q) };
      case ValueTag.FLOAT:
        this.pos = q + 8;
        return { type: 'float', value: buf.readDoubleLE(q) };
      case ValueTag.STR:
      case ValueTag.STR_FS:
        return this.text(tag);
      case ValueTag.BYTES:
      case ValueTag.BYTEARRAY: {
        const full = u32(buf, q);
        const n = u32(buf, q + 4);
        this.pos = q + 8 + n;
        return {
          type: tag === ValueTag.BYTES ? 'bytes' : 'bytearray',
          // Copied: a view would keep the whole (up to 1 MiB) payload alive.
          data: Buffer.from(buf.subarray(q + 8, q + 8 + n)),
          fullLength: full,
          truncated: n < full,
        };
      }
      case ValueTag.TUPLE:
      case ValueTag.LIST: {
        const full = u32(buf, q);
        const n = u32(buf, q + 4);
        this.pos = q + 8;
        const items = new Array<Value>(n);
        for (let i = 0; i < n; i++) items[i] = this.value();
        return {
          type: tag === ValueTag.TUPLE ? 'tuple' : 'list',
          items,
          fullCount: full,
          truncated: n < full,
        };
      }
      case ValueTag.CODE: {
        const firstLine = buf.readInt32LE(q);
        this.pos = q + 4;
        const filename = this.value() as TextValue;
        const name = this.value() as TextValue;
        return { type: 'code', filename, name, firstLine };
      }
      default: {
        // ValueTag.OTHER: validation admits no other tag.
        const n = u16(buf, q + 8);
        this.pos = q + 10 + n;
        return {
          type: 'other',
          id: buf.readBigUInt64LE(q),
          typeName: buf.toString('utf8', q + 10, q + 10 + n),
        };
      }
    }
  }

  private text(tag: ValueTag.STR | ValueTag.STR_FS): TextValue {
    const buf = this.buf;
    const q = this.pos + 1;
    const full = u32(buf, q);
    const n = u32(buf, q + 4);
    const start = q + 8;
    this.pos = start + n;
    if (tag === ValueTag.STR) {
      return {
        type: 'str',
        text: buf.toString('utf8', start, start + n),
        fullLength: full,
        truncated: n < full,
      };
    }
    const raw = Buffer.from(buf.subarray(start, start + n));
    return {
      type: 'str_fs',
      text: decodeSurrogateEscape(raw),
      raw,
      fullLength: full,
      truncated: n < full,
    };
  }
}

/**
 * Event names repeat endlessly ('open', 'import', …): decoding each one
 * anew is a large share of decode time, so they are interned by their bytes.
 * Bounded, because names are whatever the target chose to raise.
 */
const NAME_CACHE = new Map<number, { bytes: Buffer; name: string }>();
const NAME_CACHE_LIMIT = 4096;
const NAME_CACHE_MAX_LENGTH = 64;

function eventName(buf: Buffer, start: number, length: number): string {
  if (length > NAME_CACHE_MAX_LENGTH) return buf.toString('utf8', start, start + length);
  let hash = length;
  for (let i = start; i < start + length; i++)
    hash = (Math.imul(hash, 31) + (buf[i] as number)) | 0;
  const hit = NAME_CACHE.get(hash);
  if (hit !== undefined && hit.bytes.length === length) {
    let same = true;
    for (let i = 0; i < length; i++) {
      if (hit.bytes[i] !== buf[start + i]) {
        same = false;
        break;
      }
    }
    if (same) return hit.name;
  }
  const name = buf.toString('utf8', start, start + length);
  if (hit === undefined && NAME_CACHE.size < NAME_CACHE_LIMIT) {
    NAME_CACHE.set(hash, { bytes: Buffer.from(buf.subarray(start, start + length)), name });
  }
  return name;
}

const NONE: NoneValue = Object.freeze({ type: 'none' });
const FALSE: BoolValue = Object.freeze({ type: 'bool', value: false });
const TRUE: BoolValue = Object.freeze({ type: 'bool', value: true });

/**
 * Python's `bytes.decode('utf-8', 'surrogateescape')`: valid UTF-8 decodes
 * normally, each byte of an invalid sequence becomes U+DC00 + byte.
 */
export function decodeSurrogateEscape(bytes: Buffer): string {
  let out = '';
  let i = 0;
  let runStart = 0;
  const n = bytes.length;
  while (i < n) {
    const b0 = bytes[i] as number;
    if (b0 < 0x80) {
      i++;
      continue;
    }
    const length = validSequenceLength(bytes, i, n);
    if (length > 0) {
      i += length;
      continue;
    }
    out += bytes.toString('utf8', runStart, i) + String.fromCharCode(0xdc00 + b0);
    i++;
    runStart = i;
  }
  return out + bytes.toString('utf8', runStart, n);
}

/** Length of the well-formed UTF-8 sequence at i (b0 ≥ 0x80), or 0. */
function validSequenceLength(b: Buffer, i: number, n: number): number {
  const b0 = b[i] as number;
  const cont = (k: number, lo = 0x80, hi = 0xbf): boolean =>
    i + k < n && (b[i + k] as number) >= lo && (b[i + k] as number) <= hi;
  if (b0 >= 0xc2 && b0 <= 0xdf) return cont(1) ? 2 : 0;
  if (b0 === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if (b0 === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (b0 >= 0xe1 && b0 <= 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (b0 === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (b0 >= 0xf1 && b0 <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (b0 === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

// ------------------------------------------------------------- rendering

export type JsonValue =
  null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

// The u flag: the low half of a surrogate pair (a character beyond U+FFFF
// whose low surrogate falls in this range, such as U+1F480) is not a
// stand-in for a byte.
const SURROGATE_ESCAPES = /[\udc80-\udcff]/gu;

/**
 * Plain text of a str / str_fs value for display and JSON: bytes that were
 * not UTF-8 appear as `\xNN` (so the text stays valid Unicode). This is for
 * people to read; a literal backslash in the name is not escaped.
 */
export function textOf(value: TextValue): string {
  return value.type === 'str' ? value.text : escapeSurrogates(value.text);
}

function escapeSurrogates(text: string): string {
  return text.replace(SURROGATE_ESCAPES, (ch) => `\\x${hex2(ch.charCodeAt(0) & 0xff)}`);
}

/**
 * A plain JSON rendering of a value (for `show --json`):
 * None → null, bool → boolean, int → number (string when beyond 2^53),
 * float → number ({"float": "nan" | "inf" | "-inf"} when not finite),
 * int beyond 64 bits → {"int_approx": number}, str → string
 * ({"str": text, "len": full} when cut short), bytes / bytearray →
 * {"bytes" | "bytearray": hex, "len": full}, tuple / list → array, with a
 * final {"more": count} when items were cut, code →
 * {"code": {filename, name, firstLine}}, other → {"type": name, "id": "0x…"}.
 */
export function toJsonValue(value: Value): JsonValue {
  switch (value.type) {
    case 'none':
      return null;
    case 'bool':
      return value.value;
    case 'int':
      return value.value >= MIN_SAFE && value.value <= MAX_SAFE
        ? Number(value.value)
        : value.value.toString();
    case 'int_approx':
      return {
        int_approx: Number.isFinite(value.approx) ? value.approx : pyFloatRepr(value.approx),
      };
    case 'float':
      return Number.isFinite(value.value) ? value.value : { float: pyFloatRepr(value.value) };
    case 'str':
    case 'str_fs':
      return value.truncated ? { str: textOf(value), len: value.fullLength } : textOf(value);
    case 'bytes':
    case 'bytearray':
      return { [value.type]: value.data.toString('hex'), len: value.fullLength };
    case 'tuple':
    case 'list': {
      const items: JsonValue[] = value.items.map(toJsonValue);
      if (value.truncated) items.push({ more: value.fullCount - value.items.length });
      return items;
    }
    case 'code':
      return {
        code: {
          filename: textOf(value.filename),
          name: textOf(value.name),
          firstLine: value.firstLine,
        },
      };
    case 'other':
      return { type: value.typeName, id: `0x${value.id.toString(16)}` };
  }
}

const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

export interface FormatOptions {
  /** Show at most this many characters of a string (default: all kept). */
  maxStringLength?: number;
  /** Show at most this many bytes of a bytes / bytearray (default: all kept). */
  maxBytesLength?: number;
}

/**
 * One line of Python-repr-like text: `None`, `True`, `42`, `1.5`, `'text'`,
 * `b'\x00'`, `(1,)`, `[…]`, `<code object f, file "x.py", line 3>`,
 * `<dict object at 0x…>`. What the agent cut is shown as `…(N bytes)` /
 * `…(N items)` with the real total.
 */
export function formatValue(value: Value, options: FormatOptions = {}): string {
  const max = options.maxStringLength ?? Infinity;
  switch (value.type) {
    case 'none':
      return 'None';
    case 'bool':
      return value.value ? 'True' : 'False';
    case 'int':
      return value.value.toString();
    case 'int_approx':
      return `~${pyFloatRepr(value.approx)}`;
    case 'float':
      return pyFloatRepr(value.value);
    case 'str':
    case 'str_fs': {
      const cut = value.text.length > max;
      const shown = cut ? value.text.slice(0, max) : value.text;
      return pyStrRepr(shown) + (cut || value.truncated ? `…(${value.fullLength} bytes)` : '');
    }
    case 'bytes':
    case 'bytearray': {
      const maxBytes = options.maxBytesLength ?? Infinity;
      const cut = value.data.length > maxBytes;
      const body = pyBytesRepr(cut ? value.data.subarray(0, maxBytes) : value.data);
      const shown = value.type === 'bytes' ? body : `bytearray(${body})`;
      return shown + (cut || value.truncated ? `…(${value.fullLength} bytes)` : '');
    }
    case 'tuple':
    case 'list': {
      const parts = value.items.map((item) => formatValue(item, options));
      if (value.truncated) parts.push(`…(${value.fullCount} items)`);
      if (value.type === 'list') return `[${parts.join(', ')}]`;
      return value.items.length === 1 && !value.truncated
        ? `(${parts[0] as string},)`
        : `(${parts.join(', ')})`;
    }
    case 'code':
      return `<code object ${textOf(value.name)}, file ${pyStrRepr(value.filename.text, '"')}, line ${value.firstLine}>`;
    case 'other':
      return `<${value.typeName} object at 0x${value.id.toString(16)}>`;
  }
}

/** Python's repr of a float: shortest round-trip digits, 'inf', 'nan', '1.0', '1e+16'. */
export function pyFloatRepr(x: number): string {
  if (Number.isNaN(x)) return 'nan';
  if (x === Infinity) return 'inf';
  if (x === -Infinity) return '-inf';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mantissa, expText] = x.toExponential().split('e') as [string, string];
  const exponent = Number(expText);
  if (exponent < -4 || exponent >= 16) {
    const sign = exponent < 0 ? '-' : '+';
    return `${mantissa}e${sign}${String(Math.abs(exponent)).padStart(2, '0')}`;
  }
  const text = String(x);
  return /[.e]/.test(text) ? text : `${text}.0`;
}

function pyStrRepr(text: string, forceQuote?: '"' | "'"): string {
  const quote = forceQuote ?? (text.includes("'") && !text.includes('"') ? '"' : "'");
  let out = quote;
  for (const ch of text) {
    const code = ch.codePointAt(0) as number;
    if (ch === quote || ch === '\\') out += `\\${ch}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else if (ch === '\t') out += '\\t';
    else if (code < 0x20 || (code >= 0x7f && code < 0xa0)) out += `\\x${hex2(code)}`;
    else if ((code >= 0xd800 && code <= 0xdfff) || code === 0x2028 || code === 0x2029) {
      out += `\\u${code.toString(16).padStart(4, '0')}`;
    } else out += ch;
  }
  return out + quote;
}

function pyBytesRepr(data: Buffer): string {
  const hasSingle = data.includes(0x27);
  const quote = hasSingle && !data.includes(0x22) ? '"' : "'";
  const quoteByte = quote.charCodeAt(0);
  let out = `b${quote}`;
  for (const b of data) {
    if (b === quoteByte || b === 0x5c) out += `\\${String.fromCharCode(b)}`;
    else if (b === 0x0a) out += '\\n';
    else if (b === 0x0d) out += '\\r';
    else if (b === 0x09) out += '\\t';
    else if (b < 0x20 || b >= 0x7f) out += `\\x${hex2(b)}`;
    else out += String.fromCharCode(b);
  }
  return out + quote;
}

function hex2(n: number): string {
  return n.toString(16).padStart(2, '0');
}

/**
 * Text of a value where a string is expected (argv items, paths, hosts):
 * str / str_fs as their text, bytes decoded lossily, anything else in its
 * repr form.
 */
export function valueText(value: Value): string {
  switch (value.type) {
    case 'str':
    case 'str_fs':
      return textOf(value);
    case 'bytes':
    case 'bytearray':
      return escapeSurrogates(decodeSurrogateEscape(value.data));
    default:
      return formatValue(value);
  }
}
