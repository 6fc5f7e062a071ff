// The JSON report: everything in a session (runs, processes, events,
// intents, decisions, drops, notices), lossless, in a versioned document
// with a JSON Schema (report-schema.json). It keeps the session's blocks
// in order, one per line inside the "blocks" array, so it is written and
// read back as a stream; `hookscope show` reads it like a session file and
// prints the same thing.
//
// Lossless: 64-bit numbers travel as {"$bigint": "decimal"} and raw bytes
// as {"$bytes": "base64"}; everything else is the decoded block as is.

import fs from 'node:fs';
import readline from 'node:readline';

import type { AgentRecord } from './protocol/records.js';
import { plainRecordJson } from './report-text.js';
import type { SessionBlock } from './session-file.js';
import { SessionFileError } from './session-file.js';

export const JSON_REPORT_FORMAT = 'hookscope-report';
export const JSON_REPORT_VERSION = 1;

type Plain = null | boolean | number | string | Plain[] | { [key: string]: Plain };

/** A block as plain JSON (bigint and Buffer tagged). */
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

/** The document's first line; the blocks follow, one per line. */
export function jsonReportHead(source: { path: string; generatedBy: string }): string {
  return `{"format":"${JSON_REPORT_FORMAT}","version":${JSON_REPORT_VERSION},"generatedBy":${JSON.stringify(source.generatedBy)},"source":${JSON.stringify(source.path)},"blocks":[\n`;
}

/**
 * One block as a line of the document: JSON.stringify(toPlain(block)).
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
 * Throws SessionFileError for anything that is not a report this version
 * wrote.
 */
export async function* readJsonReportBlocks(path: string): AsyncGenerator<SessionBlock> {
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
        if (head.version !== JSON_REPORT_VERSION) {
          throw new SessionFileError(
            path,
            `${path}: JSON report version ${String(head.version)} is not supported; this Hookscope reads version ${JSON_REPORT_VERSION}`,
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
        block = fromPlain(JSON.parse(text) as Plain) as SessionBlock;
      } catch (error) {
        throw new SessionFileError(path, `${path}:${n}: ${(error as Error).message}`);
      }
      if (typeof block !== 'object' || block === null || typeof block.type !== 'string') {
        throw new SessionFileError(path, `${path}:${n}: a block without a type`);
      }
      yield block;
    }
  } finally {
    lines.close();
  }
  if (!ended)
    throw new SessionFileError(path, `${path}: the JSON report is cut short (no closing "]}")`);
}
