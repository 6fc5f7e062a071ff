// Byte-level report writers: records go from the session file's bytes
// straight to the report's bytes, without a record object, a value object
// or a string per piece in between (json and csv records, perfetto's audit
// instants). Exporting a 1,000,000-event session spent most of its time
// making those and then encoding and collecting them (docs/reports.md,
// "Cost").
//
// Each writer produces exactly the bytes of the string writer it stands in
// for (report-text.ts, named in its comment); report-bytes.test.ts checks
// that on real recordings and on generated records of every kind. What is
// rare or subtle is not rewritten here: a value or record the fast path
// does not handle (text with non-ASCII bytes, floats in the csv, code
// objects, decisions, failed opens, …) is decoded and handed to the string
// writer, and its text is written as UTF-8.
//
// Every function here reads a payload that validateEventsPayload accepted
// (SessionReader.rawBlocks does), so offsets and lengths are in bounds.

import { categoryOf } from '../common/event-taxonomy.js';
import { populatePages } from './native-addon.js';
import {
  RECORD_FLAG_ARGS_TRUNCATED,
  RECORD_HEADER_SIZE,
  OPEN_CODE_INTENTS,
  RecordKind,
  ValueTag,
  decodeRecordAt,
  decodeValueAt,
  recordEventAt,
  u16,
  u32,
  type FormatOptions,
} from './protocol/records.js';
import {
  csvRow,
  csvText,
  formatArgs,
  jsonString,
  jsonValueText,
  plainRecordJson,
  plainValueJson,
} from './report-text.js';

const TWO_POW_32 = 0x1_0000_0000;
/** A high word at most this keeps a 64-bit integer within ±(2^53 − 1). */
const SAFE_HIGH = 0x1f_ffff;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const HEX_DIGITS = Buffer.from('0123456789abcdef', 'latin1');

/** JSON.stringify's short escapes, by control character. */
const SHORT_ESCAPE = new Uint8Array(0x20);
SHORT_ESCAPE[0x08] = 0x62; // \b
SHORT_ESCAPE[0x09] = 0x74; // \t
SHORT_ESCAPE[0x0a] = 0x6e; // \n
SHORT_ESCAPE[0x0c] = 0x66; // \f
SHORT_ESCAPE[0x0d] = 0x72; // \r

/**
 * Report bytes in the making: one growing buffer, its bytes handed out
 * with finish(); the output stream keeps what it was given until it is
 * written, so a ByteOut is used again only once they are (ByteOuts).
 */
export class ByteOut {
  buf: Buffer;
  pos = 0;

  constructor(initialSize = 1 << 20) {
    this.buf = Buffer.allocUnsafe(initialSize);
  }

  /** Room for `n` more bytes. */
  ensure(n: number): void {
    if (this.pos + n > this.buf.length) this.grow(n);
  }

  private grow(n: number): void {
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.pos + n));
    this.buf.copy(next, 0, 0, this.pos);
    this.buf = next;
  }

  /** The bytes written; the ByteOut is not to be used after (but see ByteOuts). */
  finish(): Buffer {
    return this.buf.subarray(0, this.pos);
  }

  byte(c: number): void {
    this.ensure(1);
    this.buf[this.pos++] = c;
  }

  /** A constant piece, already encoded. */
  put(bytes: Uint8Array): void {
    const n = bytes.length;
    this.ensure(n);
    if (n > 24) {
      this.buf.set(bytes, this.pos);
      this.pos += n;
      return;
    }
    const b = this.buf;
    let p = this.pos;
    for (let i = 0; i < n; i++) b[p++] = bytes[i] as number;
    this.pos = p;
  }

  /** Bytes copied from a payload. */
  copy(src: Buffer, start: number, end: number): void {
    const n = end - start;
    this.ensure(n);
    if (n > 64) {
      src.copy(this.buf, this.pos, start, end);
      this.pos += n;
      return;
    }
    const b = this.buf;
    let p = this.pos;
    for (let i = start; i < end; i++) b[p++] = src[i] as number;
    this.pos = p;
  }

  /** Any text, as UTF-8. */
  text(text: string): void {
    this.ensure(text.length * 3);
    this.pos += this.buf.write(text, this.pos, 'utf8');
  }

  /**
   * String(ns / 1000) for an integer `ns`: microseconds with up to three
   * decimals. Below 10^15 (and not negative) the digits are written here:
   * a decimal of at most 15 significant digits is exactly what the
   * shortest round-trip form of its double prints.
   */
  micros(ns: number): void {
    if (!(ns >= 0 && ns < 1e15)) {
      this.text(String(ns / 1000));
      return;
    }
    const whole = Math.floor(ns / 1000);
    let fraction = ns - whole * 1000;
    this.uint(whole);
    if (fraction === 0) return;
    this.ensure(4);
    const b = this.buf;
    b[this.pos++] = 0x2e;
    let digits = 3;
    while (fraction % 10 === 0) {
      fraction /= 10;
      digits--;
    }
    for (let i = digits - 1; i >= 0; i--) {
      b[this.pos + i] = 48 + (fraction % 10);
      fraction = Math.floor(fraction / 10);
    }
    this.pos += digits;
  }

  /** The u64 at `p` in lowercase hex, without leading zeros (bigint.toString(16)). */
  hexU64(src: Buffer, p: number): void {
    this.ensure(16);
    const b = this.buf;
    let started = false;
    for (let i = p + 7; i >= p; i--) {
      const c = src[i] as number;
      const high = c >> 4;
      if (started || high !== 0) {
        b[this.pos++] = HEX_DIGITS[high] as number;
        started = true;
      }
      const low = c & 15;
      if (started || low !== 0 || i === p) {
        b[this.pos++] = HEX_DIGITS[low] as number;
        started = true;
      }
    }
  }

  /** src[start, end) in lowercase hex. */
  hex(src: Buffer, start: number, end: number): void {
    this.ensure(2 * (end - start));
    const b = this.buf;
    let p = this.pos;
    for (let i = start; i < end; i++) {
      const c = src[i] as number;
      b[p++] = HEX_DIGITS[c >> 4] as number;
      b[p++] = HEX_DIGITS[c & 15] as number;
    }
    this.pos = p;
  }

  /**
   * csvText of the UTF-8 text src[start, end) (report-text.ts): a leading
   * quote before what a spreadsheet would run as a formula, and RFC 4180
   * quoting when it holds a quote, a comma or a line break.
   */
  csvText(src: Buffer, start: number, end: number): void {
    let quoted = false;
    let quotes = 0;
    for (let i = start; i < end; i++) {
      const c = src[i] as number;
      if (c >= 0x80) {
        this.text(csvText(src.toString('utf8', start, end)));
        return;
      }
      if (c === QUOTE) quotes++;
      if (c === QUOTE || c === 0x2c || c === 0x0d || c === 0x0a) quoted = true;
    }
    const first = end > start ? (src[start] as number) : -1;
    // = + - @ tab CR
    const formula =
      first === 0x3d ||
      first === 0x2b ||
      first === 0x2d ||
      first === 0x40 ||
      first === 0x09 ||
      first === 0x0d;
    this.ensure(end - start + quotes + 3);
    const b = this.buf;
    let p = this.pos;
    if (quoted) b[p++] = QUOTE;
    if (formula) b[p++] = 0x27;
    for (let i = start; i < end; i++) {
      const c = src[i] as number;
      b[p++] = c;
      if (c === QUOTE) b[p++] = QUOTE;
    }
    if (quoted) b[p++] = QUOTE;
    this.pos = p;
  }

  /** A non-negative integer below 2^53, in decimal. */
  uint(n: number): void {
    if (n < 0x8000_0000) {
      this.small(n);
      return;
    }
    // Two halves that each fit small integer arithmetic: digits above the
    // last eight, then the last eight with their leading zeros.
    const high = Math.floor(n / 1e8);
    this.uint(high);
    this.ensure(8);
    const b = this.buf;
    let low = n - high * 1e8;
    for (let p = this.pos + 7; p >= this.pos; p--) {
      const q = (low / 10) | 0;
      b[p] = 48 + low - q * 10;
      low = q;
    }
    this.pos += 8;
  }

  /** uint for n below 2^31. */
  private small(n: number): void {
    let digits = 1;
    for (let x = n; x >= 10; x = (x / 10) | 0) digits++;
    this.ensure(digits);
    const b = this.buf;
    let p = this.pos + digits;
    this.pos = p;
    do {
      const q = (n / 10) | 0;
      b[--p] = 48 + n - q * 10;
      n = q;
    } while (n > 0);
  }

  /** The unsigned 64-bit integer at `p`, in decimal. */
  u64(src: Buffer, p: number): void {
    const high = u32(src, p + 4);
    if (high <= SAFE_HIGH) this.uint(high * TWO_POW_32 + u32(src, p));
    else this.text(src.readBigUInt64LE(p).toString());
  }

  /** The signed 64-bit integer at `p`, in decimal. */
  i64(src: Buffer, p: number): void {
    const high = src.readInt32LE(p + 4);
    if (high > SAFE_HIGH || high < -SAFE_HIGH) {
      this.text(src.readBigInt64LE(p).toString());
      return;
    }
    const n = high * TWO_POW_32 + u32(src, p);
    if (n < 0) {
      this.byte(0x2d);
      this.uint(-n);
    } else this.uint(n);
  }

  /**
   * jsonString of the UTF-8 text src[start, end), each '"' of it written
   * `quotes` times (2: inside a quoted CSV cell). Plain ASCII is escaped
   * here; anything else is decoded and escaped as a string, so invalid
   * UTF-8 becomes U+FFFD exactly as the decoder makes it.
   */
  jsonText(src: Buffer, start: number, end: number, quotes: 1 | 2): void {
    this.ensure((end - start) * 6 + 4);
    const b = this.buf;
    const begin = this.pos;
    let p = begin;
    b[p++] = QUOTE;
    if (quotes === 2) b[p++] = QUOTE;
    for (let i = start; i < end; i++) {
      const c = src[i] as number;
      if (c >= 0x20 && c !== QUOTE && c !== BACKSLASH) {
        if (c >= 0x80) {
          this.pos = begin;
          const text = jsonString(src.toString('utf8', start, end));
          this.text(quotes === 1 ? text : text.replaceAll('"', '""'));
          return;
        }
        b[p++] = c;
      } else if (c === QUOTE) {
        b[p++] = BACKSLASH;
        b[p++] = QUOTE;
        if (quotes === 2) b[p++] = QUOTE;
      } else if (c === BACKSLASH) {
        b[p++] = BACKSLASH;
        b[p++] = BACKSLASH;
      } else {
        b[p++] = BACKSLASH;
        const short = SHORT_ESCAPE[c] as number;
        if (short !== 0) b[p++] = short;
        else {
          b[p++] = 0x75; // u00XX
          b[p++] = 0x30;
          b[p++] = 0x30;
          b[p++] = HEX_DIGITS[c >> 4] as number;
          b[p++] = HEX_DIGITS[c & 15] as number;
        }
      }
    }
    b[p++] = QUOTE;
    if (quotes === 2) b[p++] = QUOTE;
    this.pos = p;
  }
}

/**
 * ByteOuts whose bytes are written, for the next chunks of a report: a
 * new buffer for each chunk started on fresh pages, a page fault for each
 * 4 KiB of the report (a json report of the bench session: 12,700 page
 * faults, 8,100 with its buffers used again). The output stream says when
 * it has written a chunk (Sink.write's `written`); as many are in use as
 * the stream holds.
 */
export class ByteOuts {
  private readonly free: ByteOut[] = [];

  constructor(private readonly size: number) {}

  /** An empty ByteOut. */
  get(): ByteOut {
    const reused = this.free.pop();
    if (reused !== undefined) return reused;
    // A new one is fresh memory, and written whole again and again: its
    // pages made present at once rather than one fault at a time.
    const out = new ByteOut(this.size);
    populatePages(out.buf);
    return out;
  }

  /** `out`'s bytes are written, or dropped: it takes the next chunk. */
  release(out: ByteOut): void {
    out.pos = 0;
    if (this.free.length < MAX_FREE_OUTS) this.free.push(out);
  }
}

/** More than the stream holds (8 MiB) in chunks of 0.25–1 MiB. */
const MAX_FREE_OUTS = 64;

const ascii = (text: string): Buffer => Buffer.from(text, 'latin1');

/** The u64 at `p` as a number (exact below 2^53). */
function u64Number(buf: Buffer, p: number): number {
  return u32(buf, p) + u32(buf, p + 4) * TWO_POW_32;
}

/**
 * Bytes rendered from an event name, remembered by the name's bytes:
 * names repeat endlessly. Bounded, since names are whatever the target
 * chose to raise; beyond the bound each is rendered anew.
 */
export class NameBytes {
  private readonly cache = new Map<number, { name: Buffer; out: Buffer }[]>();
  private size = 0;

  constructor(private readonly render: (event: string) => string) {}

  /** Writes the rendering of the name of the record at `p`. */
  write(out: ByteOut, src: Buffer, p: number): void {
    const start = p + RECORD_HEADER_SIZE;
    const length = u16(src, p + 6);
    let hash = length;
    for (let i = start; i < start + length; i++) {
      hash = (Math.imul(hash, 31) + (src[i] as number)) | 0;
    }
    const bucket = this.cache.get(hash);
    if (bucket !== undefined) {
      for (let e = 0; e < bucket.length; e++) {
        const entry = bucket[e] as { name: Buffer; out: Buffer };
        const name = entry.name;
        if (name.length !== length) continue;
        let i = 0;
        while (i < length && name[i] === src[start + i]) i++;
        if (i === length) {
          out.put(entry.out);
          return;
        }
      }
    }
    const rendered = Buffer.from(this.render(recordEventAt(src, p)), 'utf8');
    // At most a few names per hash value: names crafted to share one must
    // not make every record scan all of them.
    if (this.size < 4096 && (bucket === undefined || bucket.length < 8)) {
      const entry = { name: Buffer.from(src.subarray(start, start + length)), out: rendered };
      if (bucket === undefined) this.cache.set(hash, [entry]);
      else bucket.push(entry);
      this.size++;
    }
    out.put(rendered);
  }
}

// ------------------------------------------------- json report (lossless)

const J = {
  none: ascii('null'),
  true: ascii('true'),
  false: ascii('false'),
  intOpen: ascii('{"type":"int","value":{"$bigint":"'),
  bigintClose: ascii('"}}'),
  floatOpen: ascii('{"type":"float","value":'),
  strOpen: ascii('{"type":"str","text":'),
  fullLength: ascii(',"fullLength":'),
  truncatedTrue: ascii(',"truncated":true}'),
  truncatedFalse: ascii(',"truncated":false}'),
  tupleOpen: ascii('{"type":"tuple","items":['),
  listOpen: ascii('{"type":"list","items":['),
  itemsClose: ascii('],"fullCount":'),
  otherOpen: ascii('{"type":"other","id":{"$bigint":"'),
  typeName: ascii('"},"typeName":'),
  auditOpen: ascii('{"kind":"audit","seq":'),
  openCodeOpen: ascii('{"kind":"open-code","seq":'),
  intent: ascii(',"intent":"'),
  statusOk: ascii('","status":"ok","errno":0,"size":'),
  statusError: ascii('","status":"error","errno":'),
  size: ascii(',"size":'),
  dev: ascii(',"dev":{"$bigint":"'),
  ino: ascii('"},"ino":{"$bigint":"'),
  mtimeNs: ascii('"},"mtimeNs":{"$bigint":"'),
  sha256: ascii('"},"sha256":"'),
  sha256Null: ascii('"},"sha256":null'),
  path: ascii(',"path":'),
  realPath: ascii(',"realPath":'),
  timeNs: ascii(',"timeNs":{"$bigint":"'),
  tid: ascii('"},"tid":'),
  event: ascii(',"event":'),
  argsTruncatedTrue: ascii(',"argsTruncated":true'),
  argsTruncatedFalse: ascii(',"argsTruncated":false'),
  args: ascii(',"args":'),
};

/** Intent names as written, by their code on the wire. */
const INTENT_BYTES = OPEN_CODE_INTENTS.map(ascii);

/** plainValueJson of the value at `p`; returns where the value ends. */
export function writePlainValue(out: ByteOut, src: Buffer, p: number): number {
  const tag = src[p] as number;
  const q = p + 1;
  switch (tag) {
    case ValueTag.NONE:
      out.put(J.none);
      return q;
    case ValueTag.TRUE:
      out.put(J.true);
      return q;
    case ValueTag.FALSE:
      out.put(J.false);
      return q;
    case ValueTag.INT: {
      const n = safeI64(src, q);
      if (n === null) {
        out.put(J.intOpen);
        out.i64(src, q);
        out.put(J.bigintClose);
      } else if (n < 0) {
        out.byte(0x2d);
        out.uint(-n);
      } else out.uint(n);
      return q + 8;
    }
    case ValueTag.STR: {
      const full = u32(src, q);
      const n = u32(src, q + 4);
      // Kept whole and ASCII: bare. Other text is decoded, so that the bare
      // form is kept for what decodes to exactly its bytes (plainValueJson).
      if (n === full && isAscii(src, q + 8, q + 8 + n)) {
        out.jsonText(src, q + 8, q + 8 + n, 1);
        return q + 8 + n;
      }
      if (n === full) break;
      out.put(J.strOpen);
      out.jsonText(src, q + 8, q + 8 + n, 1);
      out.put(J.fullLength);
      out.uint(full);
      out.put(J.truncatedTrue);
      return q + 8 + n;
    }
    case ValueTag.TUPLE:
    case ValueTag.LIST: {
      const full = u32(src, q);
      const n = u32(src, q + 4);
      // A tuple kept whole is a bare array.
      const bare = tag === ValueTag.TUPLE && n === full;
      if (bare) out.byte(0x5b);
      else out.put(tag === ValueTag.TUPLE ? J.tupleOpen : J.listOpen);
      let r = q + 8;
      for (let i = 0; i < n; i++) {
        if (i > 0) out.byte(0x2c);
        r = writePlainValue(out, src, r);
      }
      if (bare) {
        out.byte(0x5d);
        return r;
      }
      out.put(J.itemsClose);
      out.uint(full);
      out.put(n < full ? J.truncatedTrue : J.truncatedFalse);
      return r;
    }
    case ValueTag.OTHER: {
      const n = u16(src, q + 8);
      out.put(J.otherOpen);
      out.u64(src, q);
      out.put(J.typeName);
      out.jsonText(src, q + 10, q + 10 + n, 1);
      out.byte(0x7d);
      return q + 10 + n;
    }
  }
  // Floats, big ints, str_fs, bytes, code objects, non-ASCII text: the
  // string writer.
  const { value, end } = decodeValueAt(src, p);
  out.text(plainValueJson(value));
  return end;
}

/** The signed 64-bit integer at `p` when it is within ±(2^53 - 1), else null. */
function safeI64(src: Buffer, p: number): number | null {
  const high = src.readInt32LE(p + 4);
  if (high > SAFE_HIGH || high < -SAFE_HIGH - 1) return null;
  const n = high * TWO_POW_32 + u32(src, p);
  return n >= Number.MIN_SAFE_INTEGER ? n : null;
}

function isAscii(src: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) if ((src[i] as number) >= 0x80) return false;
  return true;
}

const jsonEventName = new NameBytes(jsonString);

/** plainRecordJson of the record at `p`. */
export function writePlainRecord(out: ByteOut, src: Buffer, p: number): void {
  const kind = src[p + 4];
  if (kind === RecordKind.DECISION) {
    out.text(plainRecordJson(decodeRecordAt(src, p)));
    return;
  }
  out.put(kind === RecordKind.AUDIT ? J.auditOpen : J.openCodeOpen);
  out.uint(u64Number(src, p + 12));
  out.put(J.timeNs);
  out.u64(src, p + 20);
  out.put(J.tid);
  out.uint(u32(src, p + 8));
  out.put(J.event);
  jsonEventName.write(out, src, p);
  const truncated = ((src[p + 5] as number) & RECORD_FLAG_ARGS_TRUNCATED) !== 0;
  out.put(truncated ? J.argsTruncatedTrue : J.argsTruncatedFalse);
  const q = p + RECORD_HEADER_SIZE + u16(src, p + 6);
  if (kind === RecordKind.AUDIT) {
    out.put(J.args);
    writePlainValue(out, src, q);
    out.byte(0x7d);
    return;
  }
  // Open-code: the fixed fields (docs/protocol.md), the path, the real path.
  out.put(J.intent);
  out.put(INTENT_BYTES[src[q] as number] as Buffer);
  const ok = src[q + 1] === 0;
  if (ok) out.put(J.statusOk);
  else {
    out.put(J.statusError);
    out.uint(u32(src, q + 4));
    out.put(J.size);
  }
  out.uint(u64Number(src, q + 8));
  out.put(J.dev);
  out.u64(src, q + 16);
  out.put(J.ino);
  out.u64(src, q + 24);
  out.put(J.mtimeNs);
  out.i64(src, q + 32);
  if (ok) {
    out.put(J.sha256);
    out.hex(src, q + 40, q + 72);
    out.byte(QUOTE);
  } else out.put(J.sha256Null);
  out.put(J.path);
  const r = writePlainValue(out, src, q + 72);
  out.put(J.realPath);
  out.jsonText(src, r + 4, r + 4 + u32(src, r), 1);
  out.byte(0x7d);
}

// ---------------------------------------------------------------- csv

/** The pieces of jsonValueText with '"' written once or twice. */
function csvPieces(
  q: string,
): Record<
  'strOpen' | 'len' | 'bytesOpen' | 'bytearrayOpen' | 'typeOpen' | 'id' | 'more' | 'quote',
  Buffer
> {
  return {
    strOpen: ascii(`{${q}str${q}:`),
    len: ascii(`,${q}len${q}:`),
    bytesOpen: ascii(`{${q}bytes${q}:${q}`),
    bytearrayOpen: ascii(`{${q}bytearray${q}:${q}`),
    typeOpen: ascii(`{${q}type${q}:`),
    id: ascii(`,${q}id${q}:${q}0x`),
    more: ascii(`{${q}more${q}:`),
    quote: ascii(q),
  };
}
const PIECES = { 1: csvPieces('"'), 2: csvPieces('""') } as const;
const NULL = ascii('null');
const TRUE = ascii('true');
const FALSE = ascii('false');

/**
 * jsonValueText(value, quote) of the value at `p` (the csv args column),
 * with '"' written `quotes` times; returns where the value ends.
 */
export function writeJsonValue(out: ByteOut, src: Buffer, p: number, quotes: 1 | 2): number {
  const tag = src[p] as number;
  const q = p + 1;
  const k = PIECES[quotes];
  switch (tag) {
    case ValueTag.NONE:
      out.put(NULL);
      return q;
    case ValueTag.TRUE:
      out.put(TRUE);
      return q;
    case ValueTag.FALSE:
      out.put(FALSE);
      return q;
    case ValueTag.INT: {
      const high = src.readInt32LE(q + 4);
      // A number while exact; beyond, a decimal string (the string writer).
      if (high > SAFE_HIGH || high < -SAFE_HIGH) break;
      out.i64(src, q);
      return q + 8;
    }
    case ValueTag.STR: {
      const full = u32(src, q);
      const n = u32(src, q + 4);
      if (n < full) out.put(k.strOpen);
      out.jsonText(src, q + 8, q + 8 + n, quotes);
      if (n < full) {
        out.put(k.len);
        out.uint(full);
        out.byte(0x7d);
      }
      return q + 8 + n;
    }
    case ValueTag.BYTES:
    case ValueTag.BYTEARRAY: {
      const full = u32(src, q);
      const n = u32(src, q + 4);
      out.put(tag === ValueTag.BYTES ? k.bytesOpen : k.bytearrayOpen);
      out.ensure(2 * n);
      out.pos += out.buf.write(src.toString('hex', q + 8, q + 8 + n), out.pos, 'latin1');
      out.put(k.quote);
      out.put(k.len);
      out.uint(full);
      out.byte(0x7d);
      return q + 8 + n;
    }
    case ValueTag.TUPLE:
    case ValueTag.LIST: {
      const full = u32(src, q);
      const n = u32(src, q + 4);
      out.byte(0x5b);
      let r = q + 8;
      for (let i = 0; i < n; i++) {
        if (i > 0) out.byte(0x2c);
        r = writeJsonValue(out, src, r, quotes);
      }
      if (n < full) {
        if (n > 0) out.byte(0x2c);
        out.put(k.more);
        out.uint(full - n);
        out.byte(0x7d);
      }
      out.byte(0x5d);
      return r;
    }
    case ValueTag.OTHER: {
      const n = u16(src, q + 8);
      out.put(k.typeOpen);
      out.jsonText(src, q + 10, q + 10 + n, quotes);
      out.put(k.id);
      out.hexU64(src, q);
      out.put(k.quote);
      out.byte(0x7d);
      return q + 10 + n;
    }
    default:
      break;
  }
  // Floats, big ints, str_fs, code objects: the string writer.
  const { value, end } = decodeValueAt(src, p);
  out.text(jsonValueText(value, quotes === 1 ? '"' : '""'));
  return end;
}

const csvEventCells = new NameBytes((event) => `${csvText(event)},${csvText(categoryOf(event))}`);
const CSV_AUDIT = ascii('audit');
/** The empty cells after `args` in an audit row, and the line end. */
const CSV_AUDIT_TAIL = ascii(',,,,,,,,,,,,,\r\n');

const CSV_OPEN_CODE = ascii('open-code');
/** The empty cells after `error` in an open-code row, and the line end. */
const CSV_OPEN_CODE_TAIL = ascii(',,,,,,,\r\n');

/**
 * csvRow of the record at `p` (report-text.ts): `owner` is ",session,pid,",
 * `ownerBytes` the same in bytes.
 */
export function writeCsvRow(
  out: ByteOut,
  src: Buffer,
  p: number,
  owner: string,
  ownerBytes: Buffer,
): void {
  const kind = src[p + 4];
  const q = p + RECORD_HEADER_SIZE + u16(src, p + 6);
  // Decisions, failed opens (an errno text) and paths not in UTF-8: the string writer.
  if (
    kind === RecordKind.DECISION ||
    (kind === RecordKind.OPEN_CODE && (src[q + 1] !== 0 || src[q + 72] !== ValueTag.STR))
  ) {
    out.text(csvRow(decodeRecordAt(src, p), owner));
    return;
  }
  out.put(kind === RecordKind.AUDIT ? CSV_AUDIT : CSV_OPEN_CODE);
  out.put(ownerBytes);
  out.uint(u32(src, p + 8));
  out.byte(0x2c);
  out.uint(u64Number(src, p + 12));
  out.byte(0x2c);
  out.u64(src, p + 20);
  out.byte(0x2c);
  csvEventCells.write(out, src, p);
  out.byte(0x2c);
  if (kind === RecordKind.OPEN_CODE) {
    writeCsvOpenCode(out, src, q);
    return;
  }
  // csvJsonCell: the arguments are a tuple, so the cell starts with '['
  // and is never taken for a formula; it is quoted when it holds a quote,
  // a comma or a line break. Written after a place kept for the opening
  // quote, which is dropped when not needed.
  const quoteAt = out.pos;
  out.byte(QUOTE);
  writeJsonValue(out, src, q, 2);
  const b = out.buf;
  let quoted = false;
  for (let i = quoteAt + 1; i < out.pos; i++) {
    const c = b[i] as number;
    if (c === QUOTE || c === 0x2c || c === 0x0d || c === 0x0a) {
      quoted = true;
      break;
    }
  }
  if (quoted) out.byte(QUOTE);
  else {
    b.copyWithin(quoteAt, quoteAt + 1, out.pos);
    out.pos--;
  }
  out.put(CSV_AUDIT_TAIL);
}

/**
 * The cells of an open-code row from `path` on (`q`: the fixed fields),
 * for a file opened and hashed whose path is a str.
 */
function writeCsvOpenCode(out: ByteOut, src: Buffer, q: number): void {
  // path: csvText of the path's JSON in brackets. The JSON holds quotes,
  // so the cell is always quoted, with its quotes doubled.
  out.byte(QUOTE);
  out.byte(0x5b);
  const r = writeJsonValue(out, src, q + 72, 2);
  out.byte(0x5d);
  out.byte(QUOTE);
  out.byte(0x2c);
  // real_path … intent; error empty (the open succeeded).
  const textStart = q + 72 + 9;
  out.csvText(src, textStart, textStart + u32(src, q + 72 + 5));
  out.byte(0x2c);
  out.csvText(src, r + 4, r + 4 + u32(src, r));
  out.byte(0x2c);
  out.uint(u64Number(src, q + 8));
  out.byte(0x2c);
  out.hex(src, q + 40, q + 72);
  out.byte(0x2c);
  out.put(INTENT_BYTES[src[q] as number] as Buffer);
  out.byte(0x2c);
  out.put(CSV_OPEN_CODE_TAIL);
}

// ------------------------------------------------ repr (perfetto, html)

const NONE_REPR = ascii('None');
const REPR_OBJECT_AT = ascii(' object at 0x');
const REPR_SEPARATOR = ascii(', ');
/** "…(" : the ellipsis in UTF-8. */
const REPR_MORE = Buffer.from('…(', 'utf8');
const REPR_ITEMS = ascii(' items)');

/**
 * Whether src[start, end) is printable ASCII without a quote or a
 * backslash: its Python repr is the text between single quotes. A '"' is
 * allowed (the caller escapes it for JSON).
 */
function plainRepr(src: Buffer, start: number, end: number): boolean {
  for (let i = start; i < end; i++) {
    const c = src[i] as number;
    if (c < 0x20 || c > 0x7e || c === 0x27 || c === BACKSLASH) return false;
  }
  return true;
}

/** `\u003c`: '<' where a JSON string must not close a <script> element. */
const LT_ESCAPED = ascii('\\u003c');

/**
 * Bytes of plain ASCII (plainRepr), with '"' escaped for a JSON string,
 * and '<' too when the string goes inside a <script> element.
 */
function putEscapingQuotes(
  out: ByteOut,
  src: Buffer,
  start: number,
  end: number,
  script: boolean,
): void {
  out.ensure(6 * (end - start));
  const b = out.buf;
  let p = out.pos;
  for (let i = start; i < end; i++) {
    const c = src[i] as number;
    if (c === 0x3c && script) {
      for (let k = 0; k < 6; k++) b[p++] = LT_ESCAPED[k] as number;
      continue;
    }
    if (c === QUOTE) b[p++] = BACKSLASH;
    b[p++] = c;
  }
  out.pos = p;
}

/**
 * What html-report.ts's scriptString makes of a string, without its
 * quotes: its JSON text with '<' escaped and U+2028 / U+2029 (which end a
 * line in a script) turned into spaces.
 */
function scriptSafe(json: string): string {
  return json.replace(/</g, '\\u003c').replace(/\u2028|\u2029/g, ' ');
}

/**
 * formatArgs(value, options) of the value at `p` (report-text.ts), written
 * as the inside of a JSON string (jsonString without its quotes), made
 * safe inside a <script> element when `script` is set (html-report.ts's
 * scriptString); returns where the value ends. Escaping piece by piece
 * gives the bytes of escaping the whole text: both escapes go character
 * by character, and no piece starts with a low surrogate that could pair
 * with the one before.
 */
export function writeReprJson(
  out: ByteOut,
  src: Buffer,
  p: number,
  options: FormatOptions,
  script = false,
): number {
  const tag = src[p] as number;
  const q = p + 1;
  switch (tag) {
    case ValueTag.NONE:
      out.put(NONE_REPR);
      return q;
    case ValueTag.INT:
      out.i64(src, q);
      return q + 8;
    case ValueTag.STR: {
      const full = u32(src, q);
      const n = u32(src, q + 4);
      const max = options.maxStringLength ?? Infinity;
      // Plain ASCII: one character a byte, so n is its length.
      if (n === full && n <= max && plainRepr(src, q + 8, q + 8 + n)) {
        out.byte(0x27);
        putEscapingQuotes(out, src, q + 8, q + 8 + n, script);
        out.byte(0x27);
        return q + 8 + n;
      }
      break;
    }
    case ValueTag.OTHER: {
      const n = u16(src, q + 8);
      if (!plainRepr(src, q + 10, q + 10 + n)) break;
      if (script) out.put(LT_ESCAPED);
      else out.byte(0x3c);
      putEscapingQuotes(out, src, q + 10, q + 10 + n, script);
      out.put(REPR_OBJECT_AT);
      out.hexU64(src, q);
      out.byte(0x3e);
      return q + 10 + n;
    }
    case ValueTag.TUPLE:
    case ValueTag.LIST: {
      const full = u32(src, q);
      const n = u32(src, q + 4);
      out.byte(tag === ValueTag.LIST ? 0x5b : 0x28);
      let r = q + 8;
      for (let i = 0; i < n; i++) {
        if (i > 0) out.put(REPR_SEPARATOR);
        r = writeReprJson(out, src, r, options, script);
      }
      if (n < full) {
        if (n > 0) out.put(REPR_SEPARATOR);
        out.put(REPR_MORE);
        out.uint(full);
        out.put(REPR_ITEMS);
      } else if (n === 1 && tag === ValueTag.TUPLE) out.byte(0x2c);
      out.byte(tag === ValueTag.LIST ? 0x5d : 0x29);
      return r;
    }
    default:
      break;
  }
  const { value, end } = decodeValueAt(src, p);
  const json = jsonString(formatArgs(value, options));
  out.text((script ? scriptSafe(json) : json).slice(1, -1));
  return end;
}

// ------------------------------------------------- one block of json or csv

/**
 * One events block of a json or csv report, formatted as a task: the
 * block's records, which of them to write, and the text they share. The
 * addon does it in reports (formatBlockNative, native-report.ts);
 * formatBlock below is the same in TypeScript, with the writers above that
 * the addon falls back on.
 */
export interface FormatTask {
  format: 'json' | 'csv';
  /** The block's records, as validateEventsPayload accepted them. */
  records: Uint8Array;
  /** Where the records to write start, in order. */
  offsets: Int32Array;
  /** json: the line up to its first record; csv: ",session,pid," of every row. */
  head: string;
}

/**
 * The report bytes of one task, written in TypeScript.
 * Reports use formatBlockNative (native-report.ts), whose addon writes the
 * common records and hands the rest to these same writers;
 * native-report.test.ts holds the two to the same bytes.
 */
export function formatBlock(task: FormatTask): Buffer {
  const src = Buffer.from(task.records.buffer, task.records.byteOffset, task.records.byteLength);
  const out = new ByteOut(Math.max(4096, src.length * 4));
  const { offsets } = task;
  if (task.format === 'json') {
    out.text(task.head);
    for (let i = 0; i < offsets.length; i++) {
      if (i > 0) out.byte(0x2c);
      writePlainRecord(out, src, offsets[i] as number);
    }
    out.text(']}');
  } else {
    const ownerBytes = Buffer.from(task.head, 'latin1');
    for (let i = 0; i < offsets.length; i++) {
      writeCsvRow(out, src, offsets[i] as number, task.head, ownerBytes);
    }
  }
  return out.finish();
}
