// An in-memory index of a session file's events, for the UI's event table.
//
// The file is read once per open: every event gets a few numbers in
// column arrays (which block, which record in it, process, thread, event
// name id, time) and one short line of argument text to search. Filters
// run over those columns only; a page of rows decodes just the blocks its
// events live in (with a small cache), so a 1M-event session filters and
// pages without holding 1M decoded records. A file that is still being
// written (a live run) is read on from where the last pass stopped.

import fs from 'node:fs';

import { categoryOf } from '../common/event-taxonomy.js';
import type { EventFilter, EventRow } from '../common/ipc-contract.js';
import { eventMatcher } from './event-glob.js';
import {
  formatValue,
  textOf,
  toJsonValue,
  type AgentRecord,
  type Value,
} from './protocol/records.js';
import { SESSION_HEADER_SIZE, SessionReader, type SessionBlock } from './session-file.js';
import { errnoText, summarizeSession, type SessionSummary } from './summary.js';

/** Characters of one value kept in the summary line. */
const SUMMARY_VALUE_CHARS = 120;
/** Characters of the whole summary line. */
const SUMMARY_CHARS = 300;
/** Decoded events blocks kept for paging. */
const BLOCK_CACHE_SIZE = 16;

interface IndexedProcess {
  pid: number;
  startMonotonicNs: bigint;
}

export class SessionIndex {
  /** File offsets of the events blocks, in file order. */
  private readonly blockOffsets: number[] = [];
  // One entry per event, in file order.
  private readonly blockOf: number[] = [];
  private readonly recordOf: number[] = [];
  private readonly sessionOf: number[] = [];
  private readonly tidOf: number[] = [];
  private readonly nameOf: number[] = [];
  private readonly summaryOf: string[] = [];
  /** Lower-cased event name and summary, built on the first text search. */
  private searchText: string[] | null = null;

  private readonly names: string[] = [];
  private readonly nameIds = new Map<string, number>();
  private readonly processes = new Map<number, IndexedProcess>();

  /** Where the next pass starts reading, and the file size it saw last. */
  private nextOffset = SESSION_HEADER_SIZE;
  private seenSize = -1;
  private refreshing: Promise<void> | null = null;

  private filterCache: { key: string; total: number; matches: Uint32Array } | null = null;
  private readonly blockCache = new Map<number, AgentRecord[]>();

  private constructor(readonly path: string) {}

  /** Reads the whole file; throws SessionFileError when it is not readable. */
  static async open(path: string): Promise<SessionIndex> {
    const index = new SessionIndex(path);
    await index.refresh();
    return index;
  }

  get totalEvents(): number {
    return this.blockOf.length;
  }

  /** Reads blocks appended since the last pass (nothing when the size is unchanged). */
  refresh(): Promise<void> {
    // One pass at a time: concurrent callers share it.
    this.refreshing ??= this.readNewBlocks().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  /**
   * A new index and the session summary from one read of the file (a
   * large session is decoded once, not twice).
   */
  static async openWithSummary(path: string): Promise<{
    index: SessionIndex;
    summary: SessionSummary;
  }> {
    const index = new SessionIndex(path);
    const size = (await fs.promises.stat(path)).size;
    const reader = await SessionReader.open(path);
    const summary = await summarizeSession(path, index.indexing(reader.blocks()));
    index.seenSize = size;
    return { index, summary };
  }

  private async *indexing(
    blocks: AsyncIterable<SessionBlock>,
  ): AsyncGenerator<SessionBlock, void, undefined> {
    for await (const block of blocks) {
      this.take(block);
      yield block;
    }
  }

  private async readNewBlocks(): Promise<void> {
    const size = (await fs.promises.stat(this.path)).size;
    if (size === this.seenSize) return;
    const reader = await SessionReader.open(this.path, { startOffset: this.nextOffset });
    for await (const block of reader.blocks()) this.take(block);
    this.seenSize = size;
  }

  private take(block: SessionBlock): void {
    switch (block.type) {
      case 'process':
        this.processes.set(block.process.session, {
          pid: block.process.pid,
          startMonotonicNs: BigInt(block.process.startMonotonicNs),
        });
        break;
      case 'events':
        this.addEvents(block.offset, block.sessionId, block.records);
        break;
      case 'end':
        // A torn tail of a growing file is the block being written now:
        // the next pass starts there again.
        this.nextOffset = block.truncated ? block.truncated.offset : block.offset;
        break;
      default:
        break;
    }
  }

  private addEvents(offset: number, sessionId: number, records: AgentRecord[]): void {
    const block = this.blockOffsets.length;
    this.blockOffsets.push(offset);
    this.blockCache.set(block, records);
    this.trimCache();
    for (let i = 0; i < records.length; i++) {
      const record = records[i] as AgentRecord;
      // Decisions are about events, not events: the table lists events only.
      if (record.kind === 'decision') continue;
      let nameId = this.nameIds.get(record.event);
      if (nameId === undefined) {
        nameId = this.names.length;
        this.names.push(record.event);
        this.nameIds.set(record.event, nameId);
      }
      const summary = argsSummary(record);
      this.blockOf.push(block);
      this.recordOf.push(i);
      this.sessionOf.push(sessionId);
      this.tidOf.push(record.tid);
      this.nameOf.push(nameId);
      this.summaryOf.push(summary);
      this.searchText?.push(`${record.event} ${summary}`.toLowerCase());
    }
  }

  /**
   * Indices of the events that pass `filter`, in file order. Throws on an
   * invalid glob (the message says why).
   */
  matching(filter: EventFilter = {}): Uint32Array | null {
    const glob = filter.event?.trim() || undefined;
    const text = filter.text?.trim().toLowerCase() || undefined;
    const pid = filter.pid;
    if (glob === undefined && text === undefined && pid === undefined) return null;
    const key = JSON.stringify([glob, text, pid]);
    const total = this.totalEvents;
    if (this.filterCache?.key === key && this.filterCache.total === total) {
      return this.filterCache.matches;
    }
    // Per-name and per-session answers first: the loop below is then plain lookups.
    let nameOk: Uint8Array | null = null;
    if (glob !== undefined) {
      const isMatch = eventMatcher(glob);
      nameOk = Uint8Array.from(this.names, (name) => (isMatch(name) ? 1 : 0));
    }
    let sessionOk: Set<number> | null = null;
    if (pid !== undefined) {
      sessionOk = new Set();
      for (const [session, p] of this.processes) if (p.pid === pid) sessionOk.add(session);
    }
    let search: string[] | null = null;
    if (text !== undefined) search = this.lowerCasedText();
    const out = new Uint32Array(total);
    let n = 0;
    for (let i = 0; i < total; i++) {
      if (nameOk !== null && nameOk[this.nameOf[i] as number] === 0) continue;
      if (sessionOk !== null && !sessionOk.has(this.sessionOf[i] as number)) continue;
      if (search !== null && !(search[i] as string).includes(text as string)) continue;
      out[n++] = i;
    }
    const matches = out.slice(0, n);
    this.filterCache = { key, total, matches };
    return matches;
  }

  private lowerCasedText(): string[] {
    if (this.searchText === null) {
      this.searchText = this.summaryOf.map((summary, i) =>
        `${this.names[this.nameOf[i] as number] as string} ${summary}`.toLowerCase(),
      );
    }
    return this.searchText;
  }

  /** Rows `offset` … `offset + limit` of the filtered events. */
  async page(
    filter: EventFilter,
    offset: number,
    limit: number,
  ): Promise<{ matchingEvents: number; rows: EventRow[] }> {
    const matches = this.matching(filter);
    const matchingEvents = matches === null ? this.totalEvents : matches.length;
    const end = Math.min(matchingEvents, offset + limit);
    const rows: EventRow[] = [];
    for (let k = offset; k < end; k++) {
      const index = matches === null ? k : (matches[k] as number);
      rows.push(await this.row(index));
    }
    return { matchingEvents, rows };
  }

  private async row(index: number): Promise<EventRow> {
    const block = this.blockOf[index] as number;
    const records = await this.blockRecords(block);
    const record = records[this.recordOf[index] as number] as EventRecord;
    const session = this.sessionOf[index] as number;
    const process = this.processes.get(session);
    const sinceStartMs =
      process === undefined ? 0 : Number((record.timeNs - process.startMonotonicNs) / 1000n) / 1000;
    return {
      index,
      session,
      pid: process?.pid ?? 0,
      tid: record.tid,
      seq: record.seq,
      timeNs: record.timeNs.toString(),
      sinceStartMs,
      event: record.event,
      category: categoryOf(record.event),
      argsSummary: this.summaryOf[index] as string,
      args: record.kind === 'audit' ? toJsonArgs(record) : [textOf(record.path)],
      argsTruncated: record.argsTruncated,
      fileIdentity:
        record.kind === 'open-code'
          ? {
              path: textOf(record.path),
              realPath: record.realPath,
              sizeBytes: record.size,
              sha256: record.sha256,
              intent: record.intent,
              error:
                record.status === 'error'
                  ? { errno: record.errno, message: errnoText(record.errno) }
                  : null,
            }
          : null,
    };
  }

  private async blockRecords(block: number): Promise<AgentRecord[]> {
    const cached = this.blockCache.get(block);
    if (cached !== undefined) {
      // Most recently used last.
      this.blockCache.delete(block);
      this.blockCache.set(block, cached);
      return cached;
    }
    const reader = await SessionReader.open(this.path, {
      startOffset: this.blockOffsets[block] as number,
    });
    let records: AgentRecord[] | null = null;
    for await (const item of reader.blocks()) {
      if (item.type === 'events') records = item.records;
      break;
    }
    if (records === null) {
      throw new Error(`${this.path}: the events block at ${this.blockOffsets[block]} moved`);
    }
    this.blockCache.set(block, records);
    this.trimCache();
    return records;
  }

  private trimCache(): void {
    while (this.blockCache.size > BLOCK_CACHE_SIZE) {
      const oldest = this.blockCache.keys().next().value as number;
      this.blockCache.delete(oldest);
    }
  }
}

/** The records the table lists (decisions are left out). */
type EventRecord = Exclude<AgentRecord, { kind: 'decision' }>;

function toJsonArgs(record: Extract<AgentRecord, { kind: 'audit' }>): EventRow['args'] {
  const json = toJsonValue(record.args);
  return Array.isArray(json) ? json : [json];
}

/** One line for the table: the arguments much as Python would print them, cut short. */
export function argsSummary(record: EventRecord): string {
  let line: string;
  if (record.kind === 'audit') {
    const parts = record.args.items.map(shortValue);
    if (record.args.truncated) parts.push(`…(${record.args.fullCount} args)`);
    line = parts.join(', ');
  } else {
    const real =
      record.realPath !== '' && record.realPath !== textOf(record.path)
        ? ` → ${record.realPath}`
        : '';
    line =
      `${record.intent} ${textOf(record.path)}${real}` +
      (record.status === 'error' ? ` FAILED (${errnoText(record.errno)})` : '');
  }
  return line.length > SUMMARY_CHARS ? `${line.slice(0, SUMMARY_CHARS)}…` : line;
}

// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const CONTROL = /[\x00-\x1f\x7f]/g;

/**
 * A value for the summary line. Strings, by far the most common, skip
 * formatValue's character-by-character repr (too slow for a million
 * events): quoted, cut, control characters as `\xNN`.
 */
function shortValue(value: Value): string {
  switch (value.type) {
    case 'str':
    case 'str_fs': {
      const text = textOf(value);
      const cut =
        text.length > SUMMARY_VALUE_CHARS ? `${text.slice(0, SUMMARY_VALUE_CHARS)}…` : text;
      return `'${cut.replace(CONTROL, (ch) => `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`)}'`;
    }
    case 'int':
      return value.value.toString();
    case 'none':
      return 'None';
    case 'tuple':
    case 'list': {
      const inner = value.items.map(shortValue);
      if (value.truncated) inner.push(`…(${value.fullCount} items)`);
      return value.type === 'list' ? `[${inner.join(', ')}]` : `(${inner.join(', ')})`;
    }
    default:
      return formatValue(value, { maxStringLength: SUMMARY_VALUE_CHARS, maxBytesLength: 32 });
  }
}
