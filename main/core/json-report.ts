// The JSON report: everything in a session (runs, processes, events,
// intents, decisions, drops, notices), lossless, in a versioned document
// with a JSON Schema (report-schema.json). It keeps the session's blocks
// in order, one per line inside the "blocks" array, so it is written and
// read back as a stream; `hookscope show` reads it like a session file and
// prints the same thing.
//
// Lossless: 64-bit numbers travel as {"$bigint": "decimal"} and raw bytes
// as {"$bytes": "base64"}; everything else is the decoded block as is,
// except the Python values an event carries (its arguments, a code load's
// path). Version 2 writes the values that make up nearly all of them bare:
// None, a bool, an int within 2^53, a str kept whole, a tuple kept whole
// (null, true, 524288, "text", [...]); any other value is the tagged
// object of version 1. Version 1 spelled every value out and made a report
// about 3.5 times the size of its session; this reader still reads it.

import fs from 'node:fs';

import {
  DECIDED_BY,
  DECISION_ACTIONS,
  DECISION_OUTCOMES,
  OPEN_CODE_INTENTS,
  type AgentRecord,
  type StackFrame,
  type TextValue,
  type Value,
} from './protocol/records.js';
import { plainRecordJson } from './report-text.js';
import type { SessionBlock } from './session-file.js';
import { SessionFileError, checkedReportBlock } from './session-file.js';

export const JSON_REPORT_FORMAT = 'hookscope-report';
export const JSON_REPORT_VERSION = 2;
/** The versions this reader reads. */
const READABLE_VERSIONS: readonly number[] = [1, 2];

type Plain = null | boolean | number | string | Plain[] | { [key: string]: Plain };

/** A block as plain JSON (bigint and Buffer tagged), values as version 1 writes them. */
export function toPlain(value: unknown): Plain {
  if (value === null || value === undefined) return null;
  if (typeof value === 'bigint') return { $bigint: value.toString() };
  if (Buffer.isBuffer(value)) return { $bytes: value.toString('base64') };
  if (Array.isArray(value)) return value.map(toPlain);
  if (typeof value === 'object') {
    const out: { [key: string]: Plain } = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (v !== undefined) out[k] = toPlain(v);
    }
    return out;
  }
  return value as Plain;
}

/** The inverse of toPlain. */
export function fromPlain(value: Plain): unknown {
  if (Array.isArray(value)) return value.map(fromPlain);
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === '$bigint' && typeof value.$bigint === 'string') {
      return BigInt(value.$bigint);
    }
    if (keys.length === 1 && keys[0] === '$bytes' && typeof value.$bytes === 'string') {
      return Buffer.from(value.$bytes, 'base64');
    }
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = fromPlain(v);
    return out;
  }
  return value;
}

/**
 * A float as version 2 writes it: a number, or the text of one JSON has no
 * number for ("NaN", "Infinity", "-Infinity", "-0"; version 1 wrote null,
 * or 0 for -0, and lost which).
 */
export function floatToPlain(n: number): number | string {
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? 'Infinity' : '-Infinity';
  return Object.is(n, -0) ? '-0' : n;
}

const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

/** A str the bare form stands for: kept whole, its UTF-8 length its full length. */
function isWholeStr(value: TextValue): boolean {
  return (
    value.type === 'str' && !value.truncated && Buffer.byteLength(value.text) === value.fullLength
  );
}

/**
 * A value as the version 2 report writes it (the reference the direct
 * writers in report-text.ts, report-bytes.ts and the addon are tested
 * against): bare where the bare form says everything, else tagged.
 */
export function valueToPlain(value: Value): Plain {
  switch (value.type) {
    case 'none':
      return null;
    case 'bool':
      return value.value;
    case 'int':
      return value.value >= MIN_SAFE && value.value <= MAX_SAFE
        ? Number(value.value)
        : { type: 'int', value: { $bigint: value.value.toString() } };
    case 'str':
      return isWholeStr(value) ? value.text : toPlain(value);
    case 'tuple':
    case 'list': {
      const items = value.items.map(valueToPlain);
      if (value.type === 'tuple' && !value.truncated && items.length === value.fullCount) {
        return items;
      }
      return { type: value.type, items, fullCount: value.fullCount, truncated: value.truncated };
    }
    case 'float':
      return { type: 'float', value: floatToPlain(value.value) };
    case 'int_approx':
      return { type: 'int_approx', approx: floatToPlain(value.approx) };
    case 'code':
      return {
        type: 'code',
        filename: valueToPlain(value.filename),
        name: valueToPlain(value.name),
        firstLine: value.firstLine,
      };
    default:
      return toPlain(value);
  }
}

/** Why a block of a report could not be read (the reader adds the line). */
class ReportValueError extends Error {}

type PlainObject = { [key: string]: Plain };
/** A record or value read back: bigints and bytes untagged (fromPlain). */
type Fields = Record<string, unknown>;

function plainObject(plain: Plain): PlainObject | null {
  return plain !== null && typeof plain === 'object' && !Array.isArray(plain) ? plain : null;
}

/**
 * A float field: a number, or the text of one JSON has no number for
 * (floatToPlain); version 1 wrote null for NaN and the infinities, read
 * as NaN.
 */
function floatField(plain: PlainObject, key: string, what: string): number {
  const n = plain[key];
  if (typeof n === 'number') return n;
  if (n === 'NaN' || n === null) return NaN;
  if (n === 'Infinity') return Infinity;
  if (n === '-Infinity') return -Infinity;
  if (n === '-0') return -0;
  throw new ReportValueError(`${what} without a number "${key}"`);
}

function wholeField(fields: Fields, key: string, what: string, min = 0): number {
  const n = fields[key];
  if (typeof n !== 'number' || !Number.isSafeInteger(n) || n < min) {
    throw new ReportValueError(`${what}: "${key}" must be a whole number of at least ${min}`);
  }
  return n;
}

function bigintField(fields: Fields, key: string, what: string): bigint {
  const n = fields[key];
  if (typeof n !== 'bigint') throw new ReportValueError(`${what}: "${key}" must be {"$bigint": …}`);
  return n;
}

function bytesField(fields: Fields, key: string, what: string): Buffer {
  const b = fields[key];
  if (!Buffer.isBuffer(b)) throw new ReportValueError(`${what}: "${key}" must be {"$bytes": …}`);
  return b;
}

function stringField(fields: Fields, key: string, what: string): string {
  const text = fields[key];
  if (typeof text !== 'string') throw new ReportValueError(`${what}: "${key}" must be a string`);
  return text;
}

function boolField(fields: Fields, key: string, what: string): boolean {
  const b = fields[key];
  if (typeof b !== 'boolean') throw new ReportValueError(`${what}: "${key}" must be true or false`);
  return b;
}

function oneOfField<T extends string>(
  fields: Fields,
  key: string,
  allowed: readonly T[],
  what: string,
): T {
  const text = fields[key];
  if (typeof text !== 'string' || !(allowed as readonly string[]).includes(text)) {
    throw new ReportValueError(`${what}: "${key}" must be one of ${allowed.join(', ')}`);
  }
  return text as T;
}

/**
 * A kept length's full one and whether it was cut short: kept ≤ full,
 * and "truncated" says whether kept < full.
 */
function fullOf(
  fields: Fields,
  key: string,
  kept: number,
  what: string,
): { full: number; truncated: boolean } {
  const full = wholeField(fields, key, what);
  if (full < kept) throw new ReportValueError(`${what}: "${key}" is less than what is kept`);
  const truncated = boolField(fields, 'truncated', what);
  if (truncated !== kept < full) {
    throw new ReportValueError(`${what}: "truncated" does not match "${key}"`);
  }
  return { full, truncated };
}

function textFromPlain(plain: Plain, what: string): TextValue {
  const value = valueFromPlain(plain);
  if (value.type !== 'str' && value.type !== 'str_fs') {
    throw new ReportValueError(`${what} must be a str, found ${value.type}`);
  }
  return value;
}

/**
 * The inverse of valueToPlain, also for version 1's tagged forms; throws
 * a ReportValueError for anything that is not a value the decoder makes.
 */
export function valueFromPlain(plain: Plain): Value {
  if (plain === null) return { type: 'none' };
  if (typeof plain === 'boolean') return { type: 'bool', value: plain };
  if (typeof plain === 'number') {
    if (!Number.isSafeInteger(plain)) {
      throw new ReportValueError(`a bare number must be an int within 2^53, found ${plain}`);
    }
    return { type: 'int', value: BigInt(plain) };
  }
  if (typeof plain === 'string') {
    return { type: 'str', text: plain, fullLength: Buffer.byteLength(plain), truncated: false };
  }
  if (Array.isArray(plain)) {
    const items = plain.map(valueFromPlain);
    return { type: 'tuple', items, fullCount: items.length, truncated: false };
  }
  const tagged = plain;
  const what = `a ${String(tagged.type)} value`;
  switch (tagged.type) {
    case 'none':
      return { type: 'none' };
    case 'bool':
      return { type: 'bool', value: boolField(tagged, 'value', what) };
    case 'int':
      return { type: 'int', value: bigintField(fromPlain(tagged) as Fields, 'value', what) };
    case 'int_approx':
      return { type: 'int_approx', approx: floatField(tagged, 'approx', what) };
    case 'float':
      return { type: 'float', value: floatField(tagged, 'value', what) };
    case 'str': {
      // A str cut short, or one whose text is not what its bytes decode to
      // (not UTF-8): its full length says what the text does not.
      const text = stringField(tagged, 'text', what);
      const full = wholeField(tagged, 'fullLength', what);
      return {
        type: 'str',
        text,
        fullLength: full,
        truncated: boolField(tagged, 'truncated', what),
      };
    }
    case 'str_fs': {
      const fields = fromPlain(tagged) as Fields;
      const raw = bytesField(fields, 'raw', what);
      const text = stringField(fields, 'text', what);
      const { full, truncated } = fullOf(fields, 'fullLength', raw.length, what);
      return { type: 'str_fs', text, raw, fullLength: full, truncated };
    }
    case 'bytes':
    case 'bytearray': {
      const fields = fromPlain(tagged) as Fields;
      const data = bytesField(fields, 'data', what);
      const { full, truncated } = fullOf(fields, 'fullLength', data.length, what);
      return { type: tagged.type, data, fullLength: full, truncated };
    }
    case 'tuple':
    case 'list': {
      if (!Array.isArray(tagged.items)) throw new ReportValueError(`${what} without items`);
      const items = tagged.items.map(valueFromPlain);
      const { full, truncated } = fullOf(tagged, 'fullCount', items.length, what);
      return { type: tagged.type, items, fullCount: full, truncated };
    }
    case 'code':
      return {
        type: 'code',
        filename: textFromPlain(tagged.filename ?? null, "a code object's filename"),
        name: textFromPlain(tagged.name ?? null, "a code object's name"),
        firstLine: wholeField(tagged, 'firstLine', what, -(2 ** 31)),
      };
    case 'other': {
      const fields = fromPlain(tagged) as Fields;
      return {
        type: 'other',
        id: bigintField(fields, 'id', what),
        typeName: stringField(fields, 'typeName', what),
      };
    }
    default:
      throw new ReportValueError(`a value of unknown type ${JSON.stringify(tagged.type ?? null)}`);
  }
}

/** A block as the version 2 report writes it: toPlain, with its records' values as valueToPlain. */
export function blockToPlain(block: SessionBlock): Plain {
  if (block.type !== 'events') return toPlain(block);
  return {
    type: 'events',
    offset: block.offset,
    sessionId: block.sessionId,
    records: block.records.map(recordToPlain),
  };
}

function recordToPlain(record: AgentRecord): Plain {
  const plain = toPlain(record) as { [key: string]: Plain };
  if (record.kind === 'audit') plain.args = valueToPlain(record.args);
  if (record.kind === 'open-code') plain.path = valueToPlain(record.path);
  return plain;
}

/**
 * The inverse of blockToPlain, every field checked (version 1's blocks
 * too: its values are the tagged forms valueFromPlain also reads).
 */
function blockFromPlain(plain: Plain): SessionBlock {
  const tagged = plainObject(plain);
  if (tagged === null || typeof tagged.type !== 'string') {
    throw new ReportValueError('a block without a type');
  }
  if (tagged.type !== 'events') {
    try {
      return checkedReportBlock(fromPlain(tagged) as Fields);
    } catch (error) {
      throw new ReportValueError((error as Error).message, { cause: error });
    }
  }
  const offset = wholeField(tagged, 'offset', 'an events block');
  const sessionId = wholeField(tagged, 'sessionId', 'an events block');
  if (!Array.isArray(tagged.records)) throw new ReportValueError('an events block without records');
  const records = tagged.records.map(recordFromPlain);
  return { type: 'events', offset, sessionId, records };
}

const RECORD_KINDS = ['audit', 'open-code', 'decision'] as const;

/** A record read back, its fields in the decoder's order (records.ts). */
function recordFromPlain(plain: Plain): AgentRecord {
  const fields = plainObject(plain);
  if (fields === null) throw new ReportValueError('a record that is not an object');
  const { args, path, ...rest } = fields;
  const f = fromPlain(rest) as Fields;
  const kind = oneOfField(f, 'kind', RECORD_KINDS, 'a record');
  const what = `a ${kind} record`;
  const seq = wholeField(f, 'seq', what);
  const timeNs = bigintField(f, 'timeNs', what);
  const tid = wholeField(f, 'tid', what);
  const event = stringField(f, 'event', what);
  const argsTruncated = boolField(f, 'argsTruncated', what);
  if (kind === 'audit') {
    // Version 1 wrote the tuple tagged; valueFromPlain reads both.
    const value = valueFromPlain(args ?? null);
    if (value.type !== 'tuple') {
      throw new ReportValueError(`audit arguments must be a tuple, found ${value.type}`);
    }
    return { kind, seq, timeNs, tid, event, argsTruncated, args: value };
  }
  if (kind === 'decision') {
    const ruleIndex = f.ruleIndex === null ? null : wholeField(f, 'ruleIndex', what);
    const stack = f.stack === null ? null : stackOf(f.stack, what);
    return {
      kind,
      seq,
      timeNs,
      tid,
      event,
      argsTruncated,
      eventSeq: bigintField(f, 'eventSeq', what),
      outcome: oneOfField(f, 'outcome', DECISION_OUTCOMES, what),
      action: oneOfField(f, 'action', DECISION_ACTIONS, what),
      by: oneOfField(f, 'by', DECIDED_BY, what),
      ruleIndex,
      waitedNs: bigintField(f, 'waitedNs', what),
      stack,
    };
  }
  const status = oneOfField(f, 'status', ['ok', 'error'] as const, what);
  const sha256 = f.sha256 === null ? null : stringField(f, 'sha256', what);
  if (sha256 !== null && !/^[0-9a-f]{64}$/.test(sha256)) {
    throw new ReportValueError(`${what}: "sha256" must be 64 lowercase hex digits or null`);
  }
  return {
    kind,
    seq,
    timeNs,
    tid,
    event,
    argsTruncated,
    intent: oneOfField(f, 'intent', OPEN_CODE_INTENTS, what),
    status,
    errno: wholeField(f, 'errno', what),
    size: wholeField(f, 'size', what),
    dev: bigintField(f, 'dev', what),
    ino: bigintField(f, 'ino', what),
    mtimeNs: bigintField(f, 'mtimeNs', what),
    sha256,
    path: textFromPlain(path ?? null, "a code load's path"),
    realPath: stringField(f, 'realPath', what),
  };
}

function stackOf(stack: unknown, what: string): StackFrame[] {
  if (!Array.isArray(stack))
    throw new ReportValueError(`${what}: "stack" must be an array or null`);
  return stack.map((frame: unknown) => {
    if (typeof frame !== 'object' || frame === null || Array.isArray(frame)) {
      throw new ReportValueError(`${what}: a stack frame that is not an object`);
    }
    const fr = frame as Fields;
    return {
      file: stringField(fr, 'file', `${what}'s stack frame`),
      function: stringField(fr, 'function', `${what}'s stack frame`),
      line: wholeField(fr, 'line', `${what}'s stack frame`, -(2 ** 31)),
      module: fr.module === null ? null : stringField(fr, 'module', `${what}'s stack frame`),
    };
  });
}

/** The document's first line; the blocks follow, one per line. */
export function jsonReportHead(source: { path: string; generatedBy: string }): string {
  return `{"format":"${JSON_REPORT_FORMAT}","version":${JSON_REPORT_VERSION},"generatedBy":${JSON.stringify(source.generatedBy)},"source":${JSON.stringify(source.path)},"blocks":[\n`;
}

/**
 * One block as a line of the document: JSON.stringify(blockToPlain(block)).
 * An events block (nearly all of a session) is written record by record
 * without the intermediate plain copy (report-text.ts), same bytes.
 */
export function jsonReportBlock(block: SessionBlock, first: boolean): string {
  const separator = first ? '' : ',\n';
  if (block.type !== 'events') return `${separator}${JSON.stringify(toPlain(block))}`;
  // Joined from an array rather than appended: one flat string, which the
  // output stream encodes far faster than a long chain of small pieces.
  const records = block.records;
  const texts = new Array<string>(records.length);
  for (let i = 0; i < records.length; i++) texts[i] = plainRecordJson(records[i] as AgentRecord);
  return `${separator}{"type":"events","offset":${block.offset},"sessionId":${block.sessionId},"records":[${texts.join(',')}]}`;
}

export const JSON_REPORT_TAIL = '\n]}\n';

/** True when `path` starts like a JSON report (not a session file). */
export function looksLikeJsonReport(path: string): boolean {
  let fd: number | null = null;
  try {
    fd = fs.openSync(path, 'r');
    const head = Buffer.alloc(64);
    const n = fs.readSync(fd, head, 0, head.length, 0);
    return head.subarray(0, n).toString('utf8').startsWith(`{"format":"${JSON_REPORT_FORMAT}"`);
  } catch {
    return false;
  } finally {
    if (fd !== null) fs.closeSync(fd);
  }
}

/**
 * Reads a JSON report's blocks back, line by line (memory stays flat).
 * Throws SessionFileError for anything that is not a report of a version
 * this reader reads, naming the line.
 */
export async function* readJsonReportBlocks(path: string): AsyncGenerator<SessionBlock> {
  // Loaded here: every report loads this module, only `show` reads reports.
  const readline = await import('node:readline');
  const lines = readline.createInterface({
    input: fs.createReadStream(path, { encoding: 'utf8' }),
    crlfDelay: Infinity,
  });
  let n = 0;
  let ended = false;
  try {
    for await (const raw of lines) {
      n++;
      if (n === 1) {
        let head: { format?: unknown; version?: unknown };
        try {
          head = JSON.parse(`${raw.replace(/"blocks":\[$/, '"blocks":[]')}}`) as typeof head;
        } catch {
          throw new SessionFileError(path, `${path}: not a Hookscope JSON report (line 1)`);
        }
        if (head.format !== JSON_REPORT_FORMAT) {
          throw new SessionFileError(path, `${path}: not a Hookscope JSON report`);
        }
        if (typeof head.version !== 'number' || !READABLE_VERSIONS.includes(head.version)) {
          throw new SessionFileError(
            path,
            `${path}: JSON report version ${String(head.version)} is not supported; this Hookscope reads versions ${READABLE_VERSIONS.join(' and ')}`,
          );
        }
        continue;
      }
      if (raw === ']}') {
        ended = true;
        continue;
      }
      if (ended && raw === '') continue;
      const text = raw.endsWith(',') ? raw.slice(0, -1) : raw;
      let block: SessionBlock;
      try {
        block = blockFromPlain(JSON.parse(text) as Plain);
      } catch (error) {
        throw new SessionFileError(path, `${path}:${n}: ${(error as Error).message}`);
      }
      yield block;
    }
  } finally {
    lines.close();
  }
  if (!ended)
    throw new SessionFileError(path, `${path}: the JSON report is cut short (no closing "]}")`);
}
