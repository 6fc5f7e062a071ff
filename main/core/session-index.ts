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

import { categoryOf, EVENT_CATEGORIES, type EventCategory } from '../common/event-taxonomy.js';
import {
  MAX_TIMELINE_MARKS,
  type EventFilter,
  type EventRow,
  type EventSort,
  type TimelineView,
} from '../common/ipc-contract.js';
import { eventMatcher } from './event-glob.js';
import {
  formatValue,
  textOf,
  toJsonValue,
  type AgentRecord,
  type Value,
} from './protocol/records.js';
import { RecentSeqs } from './recent-seqs.js';
import { SESSION_HEADER_SIZE, SessionReader, type SessionBlock } from './session-file.js';
import { originOf } from './stack-origin.js';
import { TypedColumn } from './typed-column.js';
import { errnoText } from './errno-text.js';
import { SessionSummarizer, type SessionSummary } from './summary.js';

/** Characters of one value kept in the summary line. */
const SUMMARY_VALUE_CHARS = 120;
/** Characters of the whole summary line. */
const SUMMARY_CHARS = 300;
/** Decoded events blocks kept for paging. */
const BLOCK_CACHE_SIZE = 16;
/** Filter answers kept (a Uint32Array of up to 4 MB each for 1M events). */
const FILTER_CACHE_SIZE = 4;

// Bits of an event's decision column.
const DECIDED_ALLOWED = 1;
const DECIDED_DENIED = 2;
const DECIDED_ASKED = 4;

/** Category of each position in EVENT_CATEGORIES, by id. */
const CATEGORY_INDEX = new Map<EventCategory, number>(EVENT_CATEGORIES.map((c, i) => [c.id, i]));

interface IndexedProcess {
  pid: number;
  startMonotonicNs: bigint;
  /** Its latest events' indices by sequence number, for joining decisions. */
  recent: RecentSeqs;
}

export class SessionIndex {
  /** File offsets of the events blocks, in file order. */
  private readonly blockOffsets: number[] = [];
  // One entry per event, in file order.
  private readonly blockOf = new TypedColumn('u32');
  private readonly recordOf = new TypedColumn('u32');
  private readonly sessionOf = new TypedColumn('u32');
  private readonly tidOf = new TypedColumn('u32');
  private readonly nameOf = new TypedColumn('u32');
  /** Ns on the session's axis (since `originNs`). */
  private readonly offsetNsOf = new TypedColumn('f64');
  /** DECIDED_* bits; 0 when no decision was recorded. */
  private readonly decisionOf = new TypedColumn('u8');
  /**
   * Where each event's line starts in its block's text. The text of a
   * block is every event's name and argument summary, joined with NUL
   * (which neither can contain): one string per block instead of one per
   * event, so a million lines cost the collector a few hundred objects.
   */
  private readonly textStartOf = new TypedColumn('u32');
  private readonly blockText: string[] = [];
  /** The first event of each block (its index), to map a text hit to its event. */
  private readonly blockFirstEvent: number[] = [];
  /** Lower-cased block texts, for case-insensitive search (made as blocks are read). */
  private readonly blockLowerText: string[] = [];
  /**
   * Where the decision record of an event is, for decisions that carry a
   * stack (denials and asks: few, so a map, not a column).
   */
  private readonly decisionRecordOf = new Map<number, { block: number; record: number }>();

  private readonly names: string[] = [];
  /** Position in EVENT_CATEGORIES of each name's category. */
  private readonly nameCategory: number[] = [];
  private readonly nameIds = new Map<string, number>();
  /** CLOCK_MONOTONIC of the first process's start: 0 on the session's axis. */
  private originNs: bigint | null = null;
  private minOffsetNs = Infinity;
  private maxOffsetNs = -Infinity;
  private readonly processes = new Map<number, IndexedProcess>();

  /** Where the next pass starts reading, and the file size it saw last. */
  private nextOffset = SESSION_HEADER_SIZE;
  private seenSize = -1;
  /** The file's size when the first pass began, and how far passes have read. */
  private sizeAtStart = 0;
  private readBytes = 0;
  private fileId: { dev: number; ino: number } | null = null;
  /** A pass has read to the end of the file once. */
  private readOnce = false;
  private summarizer: SessionSummarizer | null = null;
  private refreshing: Promise<void> | null = null;

  /** Recent filters' answers (the table's, the timeline's, the highlight's), by key. */
  private readonly filterCache = new Map<string, { total: number; matches: Uint32Array | null }>();
  private sortCache: { key: string; total: number; order: Uint32Array } | null = null;
  private highlightCache: { key: string; total: number; marks: Uint8Array | null } | null = null;
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
    this.refreshing ??= this.readNewBlocks(Infinity).finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  /**
   * Reads on for about `budgetMs`, then stops between blocks: a large file
   * shows its first events at once while the rest is read (refresh() goes
   * on from where this stopped). Waits for a pass already running.
   */
  async refreshFor(budgetMs: number): Promise<void> {
    if (this.refreshing !== null) return this.refreshing;
    this.refreshing = this.readNewBlocks(performance.now() + budgetMs).finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  /**
   * Brings the index up to date unless a pass is running already (then what
   * is read so far answers: a request must not wait for a large file's
   * whole first read).
   */
  async catchUp(): Promise<void> {
    if (this.refreshing === null) await this.refresh();
  }

  /** The first read of the whole file has not finished yet (it goes on in the background). */
  get reading(): boolean {
    return !this.readOnce;
  }

  /**
   * A new index and the session summary from one read of the file (a
   * large session is decoded once, not twice).
   */
  static async openWithSummary(path: string): Promise<{
    index: SessionIndex;
    summary: SessionSummary;
  }> {
    const index = SessionIndex.withSummary(path);
    await index.refresh();
    return { index, summary: index.summary() as SessionSummary };
  }

  /**
   * An index that also keeps the session summary, not read yet: the first
   * refresh() reads the file (watch `progress` meanwhile). The summary goes
   * on with the index as a live file grows: summary() answers again later
   * without reading the file again.
   */
  static withSummary(path: string): SessionIndex {
    const index = new SessionIndex(path);
    index.summarizer = new SessionSummarizer(path);
    return index;
  }

  /** The session summary up to what was read; null for an index opened without one. */
  summary(): SessionSummary | null {
    return this.summarizer?.result() ?? null;
  }

  /** How far the first read has come: bytes of the file indexed, of its size then. */
  get progress(): { readBytes: number; totalBytes: number } {
    const totalBytes = Math.max(this.seenSize, this.sizeAtStart);
    return { readBytes: this.readOnce ? totalBytes : this.readBytes, totalBytes };
  }

  /**
   * Whether the file is still the one this index read (same inode, not
   * shorter): only then may a later open go on from here.
   */
  async stillReads(): Promise<boolean> {
    try {
      const stat = await fs.promises.stat(this.path);
      return (
        this.fileId !== null &&
        stat.dev === this.fileId.dev &&
        stat.ino === this.fileId.ino &&
        stat.size >= this.seenSize
      );
    } catch {
      return false;
    }
  }

  private async readNewBlocks(deadline: number): Promise<void> {
    const stat = await fs.promises.stat(this.path);
    if (stat.size === this.seenSize) return;
    this.fileId ??= { dev: stat.dev, ino: stat.ino };
    if (this.sizeAtStart === 0) this.sizeAtStart = stat.size;
    const reader = await SessionReader.open(this.path, { startOffset: this.nextOffset });
    for await (const block of reader.blocks()) {
      if (block.type !== 'end' && performance.now() > deadline) {
        // Out of time: the next pass starts with this block (leaving the
        // loop closes the reader).
        this.nextOffset = block.offset;
        return;
      }
      this.take(block);
    }
    this.seenSize = stat.size;
    this.readOnce = true;
  }

  private take(block: SessionBlock): void {
    this.summarizer?.add(block);
    if (block.type !== 'end') this.readBytes = block.offset;
    switch (block.type) {
      case 'process': {
        const startNs = BigInt(block.process.startMonotonicNs);
        this.originNs ??= startNs;
        this.processes.set(block.process.session, {
          pid: block.process.pid,
          startMonotonicNs: startNs,
          recent: new RecentSeqs(),
        });
        break;
      }
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
    const process = this.processes.get(sessionId);
    this.blockFirstEvent.push(this.blockOf.length);
    const lines: string[] = [];
    let textLength = 0;
    // A file always has the process block first; a file without one still opens.
    this.originNs ??= records[0]?.timeNs ?? 0n;
    const originNs = Number(this.originNs);
    for (let i = 0; i < records.length; i++) {
      const record = records[i] as AgentRecord;
      // Decisions are about events, not events: the table lists events only,
      // and marks the event a decision was about.
      if (record.kind === 'decision') {
        this.takeDecision(process, record, block, i);
        continue;
      }
      let nameId = this.nameIds.get(record.event);
      if (nameId === undefined) {
        nameId = this.names.length;
        this.names.push(record.event);
        this.nameCategory.push(CATEGORY_INDEX.get(categoryOf(record.event)) ?? 0);
        this.nameIds.set(record.event, nameId);
      }
      const line = `${record.event} ${argsSummary(record)}`;
      this.textStartOf.push(textLength);
      lines.push(line);
      textLength += line.length + 1;
      const index = this.blockOf.length;
      const offsetNs = Number(record.timeNs) - originNs;
      if (offsetNs < this.minOffsetNs) this.minOffsetNs = offsetNs;
      if (offsetNs > this.maxOffsetNs) this.maxOffsetNs = offsetNs;
      this.blockOf.push(block);
      this.recordOf.push(i);
      this.sessionOf.push(sessionId);
      this.tidOf.push(record.tid);
      this.nameOf.push(nameId);
      this.offsetNsOf.push(offsetNs);
      this.decisionOf.push(0);
      process?.recent.add(record.seq, index);
    }
    const text = lines.join('\0');
    this.blockText.push(text);
    // Lower-cased now, while the file is read (in the background for a
    // large one), not on the first text search: that search stays fast.
    this.blockLowerText.push(text.toLowerCase());
  }

  /** The argument summary of event `index` (its line without the name). */
  private summaryOf(index: number): string {
    const block = this.blockOf.data[index] as number;
    const text = this.blockText[block] as string;
    const start = this.textStartOf.data[index] as number;
    const next = index + 1 < this.totalEvents && this.blockOf.data[index + 1] === block;
    const end = next ? (this.textStartOf.data[index + 1] as number) - 1 : text.length;
    const name = this.names[this.nameOf.data[index] as number] as string;
    return text.slice(start + name.length + 1, end);
  }

  /**
   * Marks (1) every event whose line contains `needle` (already lower
   * case): one native search per block over its joined text.
   */
  private textHits(needle: string): Uint8Array {
    const total = this.totalEvents;
    const hits = new Uint8Array(total);
    const starts = this.textStartOf.data;
    for (let block = 0; block < this.blockText.length; block++) {
      const first = this.blockFirstEvent[block] as number;
      const end =
        block + 1 < this.blockFirstEvent.length
          ? (this.blockFirstEvent[block + 1] as number)
          : total;
      if (end === first) continue;
      const text = this.blockText[block] as string;
      const lower = this.blockLowerText[block] as string;
      if (lower.length !== text.length) {
        // Lower-casing changed lengths (a few Unicode letters): the offsets
        // do not hold for this block, so each line is searched by itself.
        for (let i = first; i < end; i++) {
          const stop = i + 1 < end ? (starts[i + 1] as number) - 1 : text.length;
          if (
            text
              .slice(starts[i] as number, stop)
              .toLowerCase()
              .includes(needle)
          )
            hits[i] = 1;
        }
        continue;
      }
      let event = first;
      let at = lower.indexOf(needle);
      while (at !== -1) {
        // The event whose line holds `at`: lines are in order, hits ascend.
        while (event + 1 < end && (starts[event + 1] as number) <= at) event++;
        hits[event] = 1;
        if (event + 1 >= end) break;
        at = lower.indexOf(needle, starts[event + 1] as number);
      }
    }
    return hits;
  }

  private takeDecision(
    process: IndexedProcess | undefined,
    record: Extract<AgentRecord, { kind: 'decision' }>,
    block: number,
    recordIndex: number,
  ): void {
    const index = process?.recent.find(Number(record.eventSeq));
    if (index === undefined) return;
    if (record.stack !== null) this.decisionRecordOf.set(index, { block, record: recordIndex });
    let bits = this.decisionOf.data[index] as number;
    bits |= record.outcome === 'denied' ? DECIDED_DENIED : DECIDED_ALLOWED;
    if (record.action === 'ask') bits |= DECIDED_ASKED;
    this.decisionOf.data[index] = bits;
    // A filter that looks at decisions may now answer differently.
    this.filterCache.clear();
    this.sortCache = null;
    this.highlightCache = null;
  }

  /**
   * Indices of the events that pass `filter`, in file order; null when the
   * filter lets everything through. Throws on an invalid glob (the message
   * says why).
   */
  matching(filter: EventFilter = {}, options: { ignoreTime?: boolean } = {}): Uint32Array | null {
    const glob = filter.event?.trim() || undefined;
    const text = filter.text?.trim().toLowerCase() || undefined;
    const { pid, tid, decision } = filter;
    const categories =
      filter.categories !== undefined && filter.categories.length > 0
        ? filter.categories
        : undefined;
    const fromNs = options.ignoreTime ? undefined : filter.fromNs;
    const toNs = options.ignoreTime ? undefined : filter.toNs;
    const key = JSON.stringify([glob, text, pid, tid, categories, decision, fromNs, toNs]);
    const total = this.totalEvents;
    const cached = this.filterCache.get(key);
    if (cached !== undefined && cached.total === total) return cached.matches;
    const matches = this.computeMatches({
      glob,
      text,
      pid,
      tid,
      categories,
      decision,
      fromNs,
      toNs,
    });
    this.filterCache.delete(key);
    this.filterCache.set(key, { total, matches });
    while (this.filterCache.size > FILTER_CACHE_SIZE) {
      this.filterCache.delete(this.filterCache.keys().next().value as string);
    }
    return matches;
  }

  private computeMatches(f: {
    glob: string | undefined;
    text: string | undefined;
    pid: number | undefined;
    tid: number | undefined;
    categories: EventCategory[] | undefined;
    decision: EventFilter['decision'];
    fromNs: number | undefined;
    toNs: number | undefined;
  }): Uint32Array | null {
    const total = this.totalEvents;
    // Per-name and per-session answers first: the loop below is then plain lookups.
    let nameOk: Uint8Array | null = null;
    if (f.glob !== undefined || f.categories !== undefined) {
      const isMatch = f.glob === undefined ? () => true : eventMatcher(f.glob);
      const wanted =
        f.categories === undefined
          ? null
          : new Set(f.categories.map((c) => CATEGORY_INDEX.get(c) ?? -1));
      nameOk = Uint8Array.from(this.names, (name, id) =>
        isMatch(name) && (wanted === null || wanted.has(this.nameCategory[id] as number)) ? 1 : 0,
      );
    }
    let sessionOk: Set<number> | null = null;
    if (f.pid !== undefined) {
      sessionOk = new Set();
      for (const [session, p] of this.processes) if (p.pid === f.pid) sessionOk.add(session);
    }
    const search = f.text === undefined ? null : this.textHits(f.text);
    const decisionOk = decisionTest(f.decision);
    const tid = f.tid;
    const fromNs = f.fromNs ?? -Infinity;
    const toNs = f.toNs ?? Infinity;
    const timed = f.fromNs !== undefined || f.toNs !== undefined;
    if (nameOk === null && sessionOk === null && search === null && decisionOk === null) {
      if (tid === undefined && !timed) return null;
    }
    const out = new Uint32Array(total);
    let n = 0;
    for (let i = 0; i < total; i++) {
      if (nameOk !== null && nameOk[this.nameOf.data[i] as number] === 0) continue;
      if (sessionOk !== null && !sessionOk.has(this.sessionOf.data[i] as number)) continue;
      if (tid !== undefined && this.tidOf.data[i] !== tid) continue;
      if (timed) {
        const t = this.offsetNsOf.data[i] as number;
        if (t < fromNs || t > toNs) continue;
      }
      if (decisionOk !== null && !decisionOk(this.decisionOf.data[i] as number)) continue;
      if (search !== null && search[i] === 0) continue;
      out[n++] = i;
    }
    return out.slice(0, n);
  }

  /**
   * One byte per event, 1 where it passes `filter` (null: every event
   * does): what an export of "the events the table shows" keeps.
   */
  eventMask(filter: EventFilter): Uint8Array | null {
    const matches = this.matching(filter);
    if (matches === null) return null;
    const mask = new Uint8Array(this.totalEvents);
    for (const i of matches) mask[i] = 1;
    return mask;
  }

  /**
   * The filtered events in `sort` order (file order without one). Sorting
   * is stable: equal keys keep file order.
   */
  private ordered(filter: EventFilter, sort: EventSort | undefined): Uint32Array | null {
    const matches = this.matching(filter);
    if (sort === undefined) return matches;
    const total = this.totalEvents;
    const key = JSON.stringify([filter, sort.column, sort.descending]);
    if (this.sortCache?.key === key && this.sortCache.total === total) return this.sortCache.order;
    const order = matches === null ? identity(total) : Uint32Array.from(matches);
    const sortKey = this.sortKey(sort.column);
    const sign = sort.descending ? -1 : 1;
    order.sort((a, b) => sign * ((sortKey[a] as number) - (sortKey[b] as number)) || a - b);
    this.sortCache = { key, total, order };
    return order;
  }

  /** One number per event that orders it by `column`. */
  private sortKey(column: EventSort['column']): ArrayLike<number> {
    switch (column) {
      case 'time':
        return this.offsetNsOf.view();
      case 'tid':
        return this.tidOf.view();
      case 'pid': {
        const pidOf = new Map([...this.processes].map(([session, p]) => [session, p.pid]));
        return Float64Array.from(this.sessionOf.view(), (session) => pidOf.get(session) ?? 0);
      }
      case 'event':
      case 'category': {
        // Rank the distinct names once; each event then costs a lookup.
        const ids = this.names.map((_, id) => id);
        ids.sort((a, b) =>
          column === 'event'
            ? compareText(this.names[a] as string, this.names[b] as string)
            : (this.nameCategory[a] as number) - (this.nameCategory[b] as number) ||
              compareText(this.names[a] as string, this.names[b] as string),
        );
        const rank = new Float64Array(ids.length);
        ids.forEach((id, position) => (rank[id] = position));
        return Float64Array.from(this.nameOf.view(), (id) => rank[id] as number);
      }
      case 'decision':
        // Denied first, then asked, then allowed, then undecided (ascending).
        return Float64Array.from(this.decisionOf.view(), decisionRank);
    }
  }

  /** Marks (1) on the events that match `highlight`; null when it names nothing. */
  private highlights(highlight: EventFilter | undefined): Uint8Array | null {
    if (highlight === undefined) return null;
    const key = JSON.stringify(highlight);
    const total = this.totalEvents;
    if (this.highlightCache?.key === key && this.highlightCache.total === total) {
      return this.highlightCache.marks;
    }
    let marks: Uint8Array | null = null;
    const matches = this.matching(highlight);
    if (matches !== null) {
      marks = new Uint8Array(total);
      for (const i of matches) marks[i] = 1;
    }
    this.highlightCache = { key, total, marks };
    return marks;
  }

  /**
   * Density of the filtered events per category over `buckets` equal slices
   * of [fromNs, toNs] (default: the whole session), and the decided events
   * in that range.
   */
  timeline(
    filter: EventFilter,
    range: { fromNs?: number; toNs?: number; buckets: number },
  ): TimelineView {
    const total = this.totalEvents;
    const extentFromNs = total === 0 ? 0 : this.minOffsetNs;
    const extentToNs = total === 0 ? 0 : this.maxOffsetNs;
    const fromNs = range.fromNs ?? extentFromNs;
    let toNs = range.toNs ?? extentToNs;
    if (toNs <= fromNs) toNs = fromNs + 1;
    const buckets = range.buckets;
    const bucketNs = (toNs - fromNs) / buckets;
    const counts = EVENT_CATEGORIES.map(() => new Array<number>(buckets).fill(0));
    const denied: TimelineView['decisions'] = [];
    const others: TimelineView['decisions'] = [];
    let decided = 0;
    const matches = this.matching(filter, { ignoreTime: true });
    const n = matches === null ? total : matches.length;
    for (let k = 0; k < n; k++) {
      const i = matches === null ? k : (matches[k] as number);
      const t = this.offsetNsOf.data[i] as number;
      if (t < fromNs || t > toNs) continue;
      const bucket = Math.min(buckets - 1, Math.floor((t - fromNs) / bucketNs));
      const lane = counts[this.nameCategory[this.nameOf.data[i] as number] as number] as number[];
      lane[bucket] = (lane[bucket] as number) + 1;
      const bits = this.decisionOf.data[i] as number;
      if (bits === 0) continue;
      decided++;
      const mark = {
        offsetNs: t,
        index: i,
        outcome: bits & DECIDED_DENIED ? ('denied' as const) : ('allowed' as const),
        asked: (bits & DECIDED_ASKED) !== 0,
      };
      const into = mark.outcome === 'denied' ? denied : others;
      if (into.length < MAX_TIMELINE_MARKS) into.push(mark);
    }
    const decisions = [...denied, ...others].slice(0, MAX_TIMELINE_MARKS);
    return {
      extentFromNs,
      extentToNs,
      fromNs,
      toNs,
      bucketNs,
      lanes: EVENT_CATEGORIES.map((c, i) => ({
        category: c.id,
        label: c.label,
        counts: counts[i] as number[],
      })),
      decisions,
      decisionsCut: decided > decisions.length,
      totalEvents: total,
    };
  }

  /** Rows `offset` … `offset + limit` of the filtered events. */
  async page(
    filter: EventFilter,
    offset: number,
    limit: number,
    options: { sort?: EventSort; highlight?: EventFilter } = {},
  ): Promise<{ matchingEvents: number; rows: EventRow[] }> {
    const marks = this.highlights(options.highlight);
    const matches = this.ordered(filter, options.sort);
    const matchingEvents = matches === null ? this.totalEvents : matches.length;
    const end = Math.min(matchingEvents, offset + limit);
    const rows: EventRow[] = [];
    for (let k = offset; k < end; k++) {
      const index = matches === null ? k : (matches[k] as number);
      const row = await this.row(index);
      row.highlighted = marks !== null && marks[index] === 1;
      rows.push(row);
    }
    return { matchingEvents, rows };
  }

  private async row(index: number): Promise<EventRow> {
    const block = this.blockOf.data[index] as number;
    const records = await this.blockRecords(block);
    const record = records[this.recordOf.data[index] as number] as EventRecord;
    const session = this.sessionOf.data[index] as number;
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
      offsetNs: this.offsetNsOf.data[index] as number,
      event: record.event,
      category: categoryOf(record.event),
      argsSummary: this.summaryOf(index),
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
      decision: await this.decisionRow(index),
      highlighted: false,
    };
  }

  private async decisionRow(index: number): Promise<EventRow['decision']> {
    const bits = this.decisionOf.data[index] as number;
    if (bits === 0) return null;
    const row: NonNullable<EventRow['decision']> = {
      outcome: bits & DECIDED_DENIED ? 'denied' : 'allowed',
      asked: (bits & DECIDED_ASKED) !== 0,
      detail: null,
    };
    const at = this.decisionRecordOf.get(index);
    if (at === undefined) return row;
    const record = (await this.blockRecords(at.block))[at.record];
    if (record?.kind !== 'decision') return row;
    row.detail = {
      by: record.by,
      ruleIndex: record.ruleIndex,
      waitedNs: record.waitedNs.toString(),
      stack: record.stack,
      module: originOf(record.stack)?.module ?? null,
    };
    return row;
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

function identity(n: number): Uint32Array {
  const out = new Uint32Array(n);
  for (let i = 0; i < n; i++) out[i] = i;
  return out;
}

function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function decisionTest(decision: EventFilter['decision']): ((bits: number) => boolean) | null {
  switch (decision) {
    case undefined:
      return null;
    case 'any':
      return (bits) => bits !== 0;
    case 'none':
      return (bits) => bits === 0;
    case 'allowed':
      return (bits) => (bits & DECIDED_ALLOWED) !== 0 && (bits & DECIDED_DENIED) === 0;
    case 'denied':
      return (bits) => (bits & DECIDED_DENIED) !== 0;
    case 'asked':
      return (bits) => (bits & DECIDED_ASKED) !== 0;
  }
}

function decisionRank(bits: number): number {
  if (bits & DECIDED_DENIED) return bits & DECIDED_ASKED ? 0 : 1;
  if (bits & DECIDED_ALLOWED) return bits & DECIDED_ASKED ? 2 : 3;
  return 4;
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
