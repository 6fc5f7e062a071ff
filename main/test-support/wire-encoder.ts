// Test-only encoder for the agent wire format (docs/protocol.md), written
// from the document so decoder tests do not depend on the C agent. It
// encodes exactly what it is given: limits are not enforced here, so tests
// can build out-of-limit input on purpose.

import { TOKEN_LENGTH } from '../core/protocol/hello.js';
import {
  OPEN_CODE_EVENT,
  RECORD_HEADER_SIZE,
  ValueTag,
  type OpenCodeIntent,
  type SequenceValue,
  type TextValue,
  type Value,
} from '../core/protocol/records.js';

/** Concise builders for Value objects (the decoder's output shape). */
export const v = {
  none: (): Value => ({ type: 'none' }),
  bool: (value: boolean): Value => ({ type: 'bool', value }),
  int: (value: number | bigint): Value => ({ type: 'int', value: BigInt(value) }),
  intApprox: (approx: number): Value => ({ type: 'int_approx', approx }),
  float: (value: number): Value => ({ type: 'float', value }),
  str: (text: string, fullLength?: number): TextValue => {
    const n = Buffer.byteLength(text, 'utf8');
    const full = fullLength ?? n;
    return { type: 'str', text, fullLength: full, truncated: n < full };
  },
  /** A str_fs from its raw filesystem bytes; `text` is filled in by the decoder's rule. */
  strFs: (raw: Buffer, text: string, fullLength?: number): TextValue => {
    const full = fullLength ?? raw.length;
    return { type: 'str_fs', raw, text, fullLength: full, truncated: raw.length < full };
  },
  bytes: (data: Buffer, fullLength?: number): Value => {
    const full = fullLength ?? data.length;
    return { type: 'bytes', data, fullLength: full, truncated: data.length < full };
  },
  bytearray: (data: Buffer, fullLength?: number): Value => {
    const full = fullLength ?? data.length;
    return { type: 'bytearray', data, fullLength: full, truncated: data.length < full };
  },
  tuple: (items: Value[], fullCount?: number): SequenceValue => {
    const full = fullCount ?? items.length;
    return { type: 'tuple', items, fullCount: full, truncated: items.length < full };
  },
  list: (items: Value[], fullCount?: number): SequenceValue => {
    const full = fullCount ?? items.length;
    return { type: 'list', items, fullCount: full, truncated: items.length < full };
  },
  code: (filename: string, name: string, firstLine: number): Value => ({
    type: 'code',
    filename: v.str(filename),
    name: v.str(name),
    firstLine,
  }),
  other: (typeName: string, id: bigint): Value => ({ type: 'other', typeName, id }),
};

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0, 0);
  return b;
}

function u64(n: bigint | number): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt.asUintN(64, BigInt(n)), 0);
  return b;
}

function sized(tag: number, full: number, data: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), u32(full), u32(data.length), data]);
}

export function encodeValue(value: Value): Buffer {
  switch (value.type) {
    case 'none':
      return Buffer.from([ValueTag.NONE]);
    case 'bool':
      return Buffer.from([value.value ? ValueTag.TRUE : ValueTag.FALSE]);
    case 'int': {
      const b = Buffer.alloc(9);
      b[0] = ValueTag.INT;
      b.writeBigInt64LE(value.value, 1);
      return b;
    }
    case 'int_approx':
    case 'float': {
      const b = Buffer.alloc(9);
      b[0] = value.type === 'float' ? ValueTag.FLOAT : ValueTag.INT_APPROX;
      b.writeDoubleLE(value.type === 'float' ? value.value : value.approx, 1);
      return b;
    }
    case 'str':
      return sized(ValueTag.STR, value.fullLength, Buffer.from(value.text, 'utf8'));
    case 'str_fs':
      return sized(ValueTag.STR_FS, value.fullLength, value.raw);
    case 'bytes':
      return sized(ValueTag.BYTES, value.fullLength, value.data);
    case 'bytearray':
      return sized(ValueTag.BYTEARRAY, value.fullLength, value.data);
    case 'tuple':
    case 'list':
      return Buffer.concat([
        Buffer.from([value.type === 'tuple' ? ValueTag.TUPLE : ValueTag.LIST]),
        u32(value.fullCount),
        u32(value.items.length),
        ...value.items.map(encodeValue),
      ]);
    case 'code': {
      const line = Buffer.alloc(4);
      line.writeInt32LE(value.firstLine, 0);
      return Buffer.concat([
        Buffer.from([ValueTag.CODE]),
        line,
        encodeValue(value.filename),
        encodeValue(value.name),
      ]);
    }
    case 'other': {
      const name = Buffer.from(value.typeName, 'utf8');
      const len = Buffer.alloc(2);
      len.writeUInt16LE(name.length, 0);
      return Buffer.concat([Buffer.from([ValueTag.OTHER]), u64(value.id), len, name]);
    }
  }
}

export interface RecordHeaderSpec {
  seq?: number | bigint;
  timeNs?: bigint;
  tid?: number;
  /** Raw flags byte; bit 0 = arguments truncated. */
  flags?: number;
}

function recordHeader(
  kind: number,
  event: Buffer,
  bodyLength: number,
  spec: RecordHeaderSpec,
): Buffer {
  const h = Buffer.alloc(RECORD_HEADER_SIZE);
  h.writeUInt32LE(RECORD_HEADER_SIZE + event.length + bodyLength, 0);
  h[4] = kind;
  h[5] = spec.flags ?? 0;
  h.writeUInt16LE(event.length, 6);
  h.writeUInt32LE(spec.tid ?? 1000, 8);
  h.writeBigUInt64LE(BigInt(spec.seq ?? 0), 12);
  h.writeBigUInt64LE(spec.timeNs ?? 1_000_000n, 20);
  return Buffer.concat([h, event]);
}

export interface AuditRecordSpec extends RecordHeaderSpec {
  event: string | Buffer;
  /**
   * The argument value; normally a tuple (anything is encoded as given).
   * A Buffer is taken as an encoded value, for bytes no Value describes
   * (a str that is not valid UTF-8).
   */
  args: Value | Buffer;
}

export function encodeAuditRecord(spec: AuditRecordSpec): Buffer {
  const event = typeof spec.event === 'string' ? Buffer.from(spec.event, 'utf8') : spec.event;
  const body = Buffer.isBuffer(spec.args) ? spec.args : encodeValue(spec.args);
  return Buffer.concat([recordHeader(1, event, body.length, spec), body]);
}

const INTENT_CODES: Record<OpenCodeIntent, number> = {
  unknown: 0,
  pythoncode: 1,
  bytecode: 2,
  zipimport: 3,
  nativecode: 4,
  ctypes: 5,
};

export interface OpenCodeRecordSpec extends RecordHeaderSpec {
  event?: string;
  intent?: OpenCodeIntent;
  /** 0 = ok, 1 = error. */
  status?: number;
  errno?: number;
  size?: number | bigint;
  dev?: bigint;
  ino?: bigint;
  mtimeNs?: bigint;
  /** 32 bytes. */
  sha256?: Buffer;
  path: Value;
  realPath: string | Buffer;
}

export function encodeOpenCodeRecord(spec: OpenCodeRecordSpec): Buffer {
  const event = Buffer.from(spec.event ?? OPEN_CODE_EVENT, 'utf8');
  const fixed = Buffer.alloc(72);
  fixed[0] = INTENT_CODES[spec.intent ?? 'pythoncode'];
  fixed[1] = spec.status ?? 0;
  fixed.writeUInt32LE(spec.errno ?? 0, 4);
  fixed.writeBigUInt64LE(BigInt(spec.size ?? 0), 8);
  fixed.writeBigUInt64LE(spec.dev ?? 0n, 16);
  fixed.writeBigUInt64LE(spec.ino ?? 0n, 24);
  fixed.writeBigInt64LE(spec.mtimeNs ?? 0n, 32);
  (spec.sha256 ?? Buffer.alloc(32)).copy(fixed, 40, 0, 32);
  const real = typeof spec.realPath === 'string' ? Buffer.from(spec.realPath) : spec.realPath;
  const body = Buffer.concat([fixed, encodeValue(spec.path), u32(real.length), real]);
  return Buffer.concat([recordHeader(2, event, body.length, spec), body]);
}

const DECISION_CODES = {
  outcome: { allowed: 0, denied: 1 },
  action: { allow: 0, deny: 1, ask: 2 },
  by: { rule: 0, default: 1, user: 2, timeout: 3, offline: 4, headless: 5, remembered: 6 },
} as const;

export interface DecisionRecordSpec extends RecordHeaderSpec {
  /** The event or intent decided on; `io.open_code` for code about to run. */
  event: string;
  eventSeq: number | bigint;
  outcome?: keyof typeof DECISION_CODES.outcome;
  action?: keyof typeof DECISION_CODES.action;
  by?: keyof typeof DECISION_CODES.by;
  /** null: the default (0xFFFFFFFF on the wire). */
  ruleIndex?: number | null;
  waitedNs?: bigint;
  /** Raw reserved byte, 0 unless a test wants it otherwise. */
  reserved?: number;
  /** Frames (file, function, line, module) appended as the stack, with flag bit 1. */
  stack?: Array<[string, string, number, string | null]>;
}

export function encodeDecisionRecord(spec: DecisionRecordSpec): Buffer {
  const event = Buffer.from(spec.event, 'utf8');
  const body = Buffer.alloc(24);
  body.writeBigUInt64LE(BigInt(spec.eventSeq), 0);
  body[8] = DECISION_CODES.outcome[spec.outcome ?? 'denied'];
  body[9] = DECISION_CODES.action[spec.action ?? 'deny'];
  body[10] = DECISION_CODES.by[spec.by ?? 'rule'];
  body[11] = spec.reserved ?? 0;
  const ruleIndex = spec.ruleIndex === undefined ? 0 : spec.ruleIndex;
  body.writeUInt32LE(ruleIndex === null ? 0xffff_ffff : ruleIndex, 12);
  body.writeBigUInt64LE(spec.waitedNs ?? 0n, 16);
  if (spec.stack === undefined)
    return Buffer.concat([recordHeader(3, event, body.length, spec), body]);
  const stack = encodeStack(spec.stack);
  return Buffer.concat([
    recordHeader(3, event, body.length + stack.length, { ...spec, flags: (spec.flags ?? 0) | 2 }),
    body,
    stack,
  ]);
}

/** A stack value: a tuple of (file, function, line, module or None) tuples. */
export function encodeStack(frames: Array<[string, string, number, string | null]>): Buffer {
  return encodeValue(
    v.tuple(
      frames.map(([file, fn, line, module]) =>
        v.tuple([v.str(file), v.str(fn), v.int(line), module === null ? v.none() : v.str(module)]),
      ),
    ),
  );
}

export interface HelloSpec {
  protocolVersion?: number;
  token?: Buffer;
  pid?: number;
  ppid?: number;
  uid?: number;
  flags?: number;
  startMonotonicNs?: bigint;
  startRealtimeNs?: bigint;
  exe?: string | Buffer;
  cwd?: string | Buffer;
  pythonVersion?: string;
  agentVersion?: string;
  argv?: (string | Buffer)[];
}

function lstr(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  return Buffer.concat([u32(b.length), b]);
}

export function encodeHelloPayload(spec: HelloSpec = {}): Buffer {
  const argv = spec.argv ?? ['python3', '-c', 'pass'];
  return Buffer.concat([
    u32(spec.protocolVersion ?? 1),
    spec.token ?? Buffer.alloc(TOKEN_LENGTH, 0xab),
    u32(spec.pid ?? 4242),
    u32(spec.ppid ?? 1),
    u32(spec.uid ?? 1000),
    u32(spec.flags ?? 0b1111),
    u64(spec.startMonotonicNs ?? 5_000_000_000n),
    u64(spec.startRealtimeNs ?? 1_700_000_000_000_000_000n),
    lstr(spec.exe ?? '/usr/bin/python3'),
    lstr(spec.cwd ?? '/tmp'),
    lstr(spec.pythonVersion ?? '3.12.3 (main)'),
    lstr(spec.agentVersion ?? '0.1.0'),
    u32(argv.length),
    ...argv.map(lstr),
  ]);
}

export function encodeDropsPayload(total: bigint): Buffer {
  return u64(total);
}

export function encodeByePayload(
  recordsTotal: bigint,
  droppedTotal: bigint,
  reason: number,
): Buffer {
  return Buffer.concat([u64(recordsTotal), u64(droppedTotal), u32(reason)]);
}
