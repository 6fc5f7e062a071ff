// Text of decoded records for the streamed reports, written straight into
// strings. A 1,000,000-event export used to build an intermediate object
// (or several) per record and value and hand it to JSON.stringify; those
// allocations and the generic walks cost far more than decoding the
// session. Each function here produces exactly the bytes of the generic
// code it replaces, named in its comment; report.test.ts checks that on
// real recordings, and the golden reports pin the rest.
//
// The record and value writers follow the key order in which
// protocol/records.ts builds its objects (fixed object literals). A field
// added there must be added here too: the equivalence test fails until it is.

import { categoryOf } from '../common/event-taxonomy.js';
import {
  formatValue,
  pyFloatRepr,
  textOf,
  type AgentRecord,
  type FormatOptions,
  type StackFrame,
  type Value,
} from './protocol/records.js';
import { originOf } from './stack-origin.js';
import { errnoText } from './errno-text.js';

/** What JSON.stringify escapes in a string: quote, backslash, controls, surrogates. */
// eslint-disable-next-line no-control-regex -- control characters are exactly what it looks for
const JSON_ESCAPED = /["\\\u0000-\u001f\ud800-\udfff]/;

/**
 * JSON.stringify of a string. Most strings (names, paths) need nothing
 * escaped, and a test is cheaper than the general routine.
 */
export function jsonString(text: string): string {
  return JSON_ESCAPED.test(text) ? JSON.stringify(text) : `"${text}"`;
}

/**
 * Memoises a pure string → string function for strings that repeat
 * endlessly (event names, categories). Bounded: names are whatever the
 * target chose to raise.
 */
export function memoText(render: (text: string) => string, limit = 4096): (text: string) => string {
  const cache = new Map<string, string>();
  return (text) => {
    let out = cache.get(text);
    if (out === undefined) {
      out = render(text);
      if (cache.size < limit) cache.set(text, out);
    }
    return out;
  };
}

const eventJson = memoText(jsonString);

/** JSON.stringify of a finite or non-finite number (non-finite is null). */
function jsonNumber(n: number): string {
  return Number.isFinite(n) ? String(n) : 'null';
}

function bigintJson(n: bigint): string {
  return `{"$bigint":"${n.toString()}"}`;
}

// ------------------------------------------------- lossless (json report)

/** JSON.stringify(valueToPlain(value)) of a decoded value (json-report.ts). */
export function plainValueJson(value: Value): string {
  switch (value.type) {
    case 'none':
      return 'null';
    case 'bool':
      return value.value ? 'true' : 'false';
    case 'int':
      return value.value >= MIN_SAFE && value.value <= MAX_SAFE
        ? value.value.toString()
        : `{"type":"int","value":${bigintJson(value.value)}}`;
    case 'int_approx':
      return `{"type":"int_approx","approx":${floatJson(value.approx)}}`;
    case 'float':
      return `{"type":"float","value":${floatJson(value.value)}}`;
    case 'str':
      // Bare when kept whole (json-report.ts's isWholeStr).
      if (!value.truncated && Buffer.byteLength(value.text) === value.fullLength) {
        return jsonString(value.text);
      }
      return `{"type":"str","text":${jsonString(value.text)},"fullLength":${value.fullLength},"truncated":${value.truncated}}`;
    case 'str_fs':
      return `{"type":"str_fs","text":${jsonString(value.text)},"raw":{"$bytes":"${value.raw.toString('base64')}"},"fullLength":${value.fullLength},"truncated":${value.truncated}}`;
    case 'bytes':
    case 'bytearray':
      return `{"type":"${value.type}","data":{"$bytes":"${value.data.toString('base64')}"},"fullLength":${value.fullLength},"truncated":${value.truncated}}`;
    case 'tuple':
    case 'list': {
      let items = '';
      for (let i = 0; i < value.items.length; i++) {
        items += (i === 0 ? '' : ',') + plainValueJson(value.items[i] as Value);
      }
      if (value.type === 'tuple' && !value.truncated && value.items.length === value.fullCount) {
        return `[${items}]`;
      }
      return `{"type":"${value.type}","items":[${items}],"fullCount":${value.fullCount},"truncated":${value.truncated}}`;
    }
    case 'code':
      return `{"type":"code","filename":${plainValueJson(value.filename)},"name":${plainValueJson(value.name)},"firstLine":${value.firstLine}}`;
    case 'other':
      return `{"type":"other","id":${bigintJson(value.id)},"typeName":${jsonString(value.typeName)}}`;
  }
}

/** JSON.stringify(floatToPlain(n)) (json-report.ts). */
function floatJson(n: number): string {
  if (Number.isNaN(n)) return '"NaN"';
  if (!Number.isFinite(n)) return n > 0 ? '"Infinity"' : '"-Infinity"';
  return Object.is(n, -0) ? '"-0"' : String(n);
}

function plainStackJson(stack: StackFrame[] | null): string {
  if (stack === null) return 'null';
  let out = '[';
  for (let i = 0; i < stack.length; i++) {
    const f = stack[i] as StackFrame;
    out += `${i === 0 ? '' : ','}{"file":${jsonString(f.file)},"function":${jsonString(f.function)},"line":${jsonNumber(f.line)},"module":${f.module === null ? 'null' : jsonString(f.module)}}`;
  }
  return `${out}]`;
}

/** JSON.stringify(recordToPlain(record)) of a decoded record (json-report.ts). */
export function plainRecordJson(r: AgentRecord): string {
  const head = `{"kind":"${r.kind}","seq":${r.seq},"timeNs":${bigintJson(r.timeNs)},"tid":${r.tid},"event":${eventJson(r.event)},"argsTruncated":${r.argsTruncated}`;
  if (r.kind === 'audit') return `${head},"args":${plainValueJson(r.args)}}`;
  if (r.kind === 'decision') {
    return `${head},"eventSeq":${bigintJson(r.eventSeq)},"outcome":"${r.outcome}","action":"${r.action}","by":"${r.by}","ruleIndex":${r.ruleIndex === null ? 'null' : r.ruleIndex},"waitedNs":${bigintJson(r.waitedNs)},"stack":${plainStackJson(r.stack)}}`;
  }
  return `${head},"intent":"${r.intent}","status":"${r.status}","errno":${r.errno},"size":${r.size},"dev":${bigintJson(r.dev)},"ino":${bigintJson(r.ino)},"mtimeNs":${bigintJson(r.mtimeNs)},"sha256":${r.sha256 === null ? 'null' : `"${r.sha256}"`},"path":${plainValueJson(r.path)},"realPath":${jsonString(r.realPath)}}`;
}

// ------------------------------------------- plain JSON (csv args column)

/**
 * JSON.stringify(toJsonValue(value)) (protocol/records.ts). With `quote`
 * '""', every '"' of that text comes out doubled, as a quoted CSV cell
 * holds it, without a second pass to double them.
 */
export function jsonValueText(value: Value, quote: '"' | '""' = '"'): string {
  const q = quote;
  const str = q === '"' ? jsonString : doubledJsonString;
  switch (value.type) {
    case 'none':
      return 'null';
    case 'bool':
      return value.value ? 'true' : 'false';
    case 'int': {
      const n = value.value;
      // toJsonValue: a number while exact, else its decimal string.
      return n >= MIN_SAFE && n <= MAX_SAFE ? n.toString() : `${q}${n.toString()}${q}`;
    }
    case 'int_approx':
      return `{${q}int_approx${q}:${
        Number.isFinite(value.approx) ? String(value.approx) : str(pyFloatRepr(value.approx))
      }}`;
    case 'float':
      return Number.isFinite(value.value)
        ? String(value.value)
        : `{${q}float${q}:${str(pyFloatRepr(value.value))}}`;
    case 'str':
    case 'str_fs':
      return value.truncated
        ? `{${q}str${q}:${str(textOf(value))},${q}len${q}:${value.fullLength}}`
        : str(textOf(value));
    case 'bytes':
    case 'bytearray':
      return `{${q}${value.type}${q}:${q}${value.data.toString('hex')}${q},${q}len${q}:${value.fullLength}}`;
    case 'tuple':
    case 'list': {
      let out = '[';
      for (let i = 0; i < value.items.length; i++) {
        out += (i === 0 ? '' : ',') + jsonValueText(value.items[i] as Value, q);
      }
      if (value.truncated) {
        out += `${value.items.length === 0 ? '' : ','}{${q}more${q}:${value.fullCount - value.items.length}}`;
      }
      return `${out}]`;
    }
    case 'code':
      return `{${q}code${q}:{${q}filename${q}:${str(textOf(value.filename))},${q}name${q}:${str(textOf(value.name))},${q}firstLine${q}:${value.firstLine}}}`;
    case 'other':
      return `{${q}type${q}:${str(value.typeName)},${q}id${q}:${q}0x${value.id.toString(16)}${q}}`;
  }
}

/** jsonString(text) with every '"' doubled. */
function doubledJsonString(text: string): string {
  return JSON_ESCAPED.test(text) ? JSON.stringify(text).replaceAll('"', '""') : `""${text}""`;
}

const MIN_SAFE = BigInt(Number.MIN_SAFE_INTEGER);
const MAX_SAFE = BigInt(Number.MAX_SAFE_INTEGER);

// ------------------------------------------------ repr (html, perfetto)

/**
 * Printable ASCII without a quote or a backslash: its Python repr is the
 * text between single quotes, nothing escaped.
 */
const PLAIN_REPR = /^[\x20-\x26\x28-\x5b\x5d-\x7e]*$/;

/**
 * formatValue(value, options) (protocol/records.ts), with the common case
 * (a short, plain ASCII str; ints; objects) written directly and anything
 * else handed to formatValue itself. A tuple's text is its items' texts
 * joined, so handing over item by item gives the same bytes.
 */
export function formatArgs(value: Value, options: FormatOptions): string {
  switch (value.type) {
    case 'str': {
      const max = options.maxStringLength ?? Infinity;
      if (!value.truncated && value.text.length <= max && PLAIN_REPR.test(value.text)) {
        return `'${value.text}'`;
      }
      return formatValue(value, options);
    }
    case 'int':
      return value.value.toString();
    case 'none':
      return 'None';
    case 'other':
      return `<${value.typeName} object at 0x${value.id.toString(16)}>`;
    case 'tuple':
    case 'list': {
      const items = value.items;
      let out = '';
      for (let i = 0; i < items.length; i++) {
        out += (i === 0 ? '' : ', ') + formatArgs(items[i] as Value, options);
      }
      if (value.truncated) out += `${items.length === 0 ? '' : ', '}…(${value.fullCount} items)`;
      if (value.type === 'list') return `[${out}]`;
      return items.length === 1 && !value.truncated ? `(${out},)` : `(${out})`;
    }
    default:
      return formatValue(value, options);
  }
}

// ------------------------------------------------------------------ csv

const CSV_FORMULA = /^[=+\-@\t\r]/;
const CSV_QUOTE = /[",\r\n]/;

/**
 * csvCell of a string (report.ts): RFC 4180 quoting, and a leading quote
 * on a cell a spreadsheet would run as a formula.
 */
export function csvText(text: string): string {
  const cell = CSV_FORMULA.test(text) ? `'${text}` : text;
  return CSV_QUOTE.test(cell) ? `"${cell.replaceAll('"', '""')}"` : cell;
}

/**
 * csvCell of JSON.stringify(toJsonValue(value)) (the args column): the
 * JSON is made with its quotes already doubled, so only the decision to
 * quote the cell is left. Doubling changes neither the first character
 * nor whether a '"' is present, so both tests give csvText's answers.
 */
export function csvJsonCell(value: Value): string {
  const doubled = jsonValueText(value, '""');
  const cell = CSV_FORMULA.test(doubled) ? `'${doubled}` : doubled;
  return CSV_QUOTE.test(cell) ? `"${cell}"` : cell;
}

/** "event,category" cells of an event name: names repeat endlessly. */
const csvEventCells = memoText((event) => `${csvText(event)},${csvText(categoryOf(event))}`);

/**
 * One CSV row, CSV_COLUMNS (report.ts) in order, ending in CRLF: written directly, the
 * same bytes as csvCell over each column (`owner` is ",session,pid,").
 * Cells that can only hold digits or a fixed word (numbers, time, hex
 * digest, intent, outcome) cannot need quoting, so are written as they are.
 */
export function csvRow(record: AgentRecord, owner: string): string {
  const head = `${record.kind}${owner}${record.tid},${record.seq},${record.timeNs},${csvEventCells(record.event)},`;
  if (record.kind === 'audit') {
    // args, then path … module empty.
    return `${head}${csvJsonCell(record.args)},,,,,,,,,,,,,\r\n`;
  }
  if (record.kind === 'open-code') {
    const error = record.status === 'error' ? csvText(errnoText(record.errno)) : '';
    return `${head}${csvText(`[${jsonValueText(record.path)}]`)},${csvText(textOf(record.path))},${csvText(record.realPath)},${record.size},${record.sha256 ?? ''},${record.intent},${error},,,,,,,\r\n`;
  }
  const module = originOf(record.stack)?.module;
  return `${head},,,,,,,${record.outcome},${record.action},${record.by},${record.ruleIndex ?? ''},${record.waitedNs},${record.eventSeq},${module === undefined ? '' : csvText(module)}\r\n`;
}
