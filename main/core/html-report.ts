// The HTML report: one self-contained file a reviewer opens offline. No
// network (a CSP that forbids it, no external scripts, fonts or images),
// readable in print. One streaming pass over the session gathers the
// summary, the timeline (html-timeline.ts: counted in fine steps, since the
// run's range is known only at its end), the lists the summary does not
// keep and the event rows (embedded as JSON for the page's search and
// pages, in an element near the top that the page does not show, written
// as the pass makes them; capped at HTML_MAX_EVENTS).
//
// Everything from the target is data, never markup: text is HTML-escaped,
// and the embedded JSON has '<' escaped so no string can close its script.

import { EVENT_CATEGORIES, categoryOf, type EventCategory } from '../common/event-taxonomy.js';
import { decidedByText, ruleCommentsOf, type RuleComments } from './decision-text.js';
import {
  RecordKind,
  decodeRecordAt,
  formatValue,
  isCodeLoadEvent,
  recordEventAt,
  textOf,
  type AgentRecord,
  type AuditRecord,
  type OpenCodeRecord,
  type StackFrame,
} from './protocol/records.js';
import { ByteOut, ByteOuts, NameBytes, writeReprJson } from './report-bytes.js';
import { formatArgs, jsonString, memoText } from './report-text.js';
import type { RawSessionBlock, RunInfo, SessionBlock } from './session-file.js';
import { BytesMemo } from './protocol/bytes-memo.js';
import { RecordScan } from './protocol/record-scan.js';
import { RecentRecords } from './recent-seqs.js';
import { originOf } from './stack-origin.js';
import { FineTimeline } from './html-timeline.js';
import { SessionSummarizer, type SessionSummary } from './summary.js';
import { writeHtmlRowsNative } from './native-report.js';
import { HOOKSCOPE_VERSION } from './version.js';

/** Events embedded for the table; the rest are counted, not shown. */
export const HTML_MAX_EVENTS = 200_000;
const TIMELINE_BUCKETS = 120;
const LIST_LIMIT = 500;

/** The session's blocks (decoded, or events as bytes), read once. */
type Blocks = AsyncIterable<SessionBlock | RawSessionBlock>;

export function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** JSON safe inside <script>: no '<', so nothing can end the element early. */
function scriptJson(value: unknown): string {
  return JSON.stringify(value)
    .replace(/</g, '\\u003c')
    .replace(/\u2028|\u2029/g, ' ');
}

const SCRIPT_UNSAFE = /[<\u2028\u2029]/;

/** scriptJson of a string; most need no replacing, so are not searched twice. */
function scriptString(text: string): string {
  const json = jsonString(text);
  return SCRIPT_UNSAFE.test(json) ? scriptJson(text) : json;
}

const scriptEventJson = memoText(scriptString);
const ROW_ARGS_FORMAT = { maxStringLength: 300, maxBytesLength: 64 };

interface Asked {
  what: string;
  outcome: string;
  by: string;
  pid: number | null;
  module: string | null;
  stack: StackFrame[] | null;
}

interface Pass {
  summary: SessionSummary;
  /** The first and last record times (null: no records). */
  range: { firstNs: number; lastNs: number } | null;
  buckets: Map<EventCategory, number[]>;
  decisions: Asked[];
  filesWritten: Map<string, number>;
  /** Events past the limit: counted, not shown. */
  omitted: number;
}

/**
 * The summary, the timeline, the lists the summary does not keep, and the
 * event rows, in one pass. Each block's rows (JSON text, comma-separated)
 * go to `emitRows` as the block is done, with the run as far as the pass
 * has seen it: the first HTML_MAX_EVENTS events that are not decisions.
 */
async function onePass(
  sessionPath: string,
  blocks: Blocks,
  rowLimit: number,
  emitRows: (rows: Buffer, run: RunInfo | null, written: () => void) => Promise<void>,
): Promise<Pass> {
  let run: RunInfo | null = null;
  const summarizer = new SessionSummarizer(sessionPath);
  // A decision is described with the comments of the policy before it.
  let comments: RuleComments = [];
  const timeline = new FineTimeline(EVENT_CATEGORIES.length);
  const rowOf = new Map<EventCategory, number>(EVENT_CATEGORIES.map((c, i) => [c.id, i]));
  const decisions: Asked[] = [];
  const filesWritten = new Map<string, number>();
  const pids = new Map<number, { pid: number; start: bigint; startNumber: number | null }>();
  const recentCode = new RecentRecords<CodeSeen>(4096);
  // What an open or an open-code record's bytes (after the header) come
  // to, worked out once per distinct bytes: the same files open over and
  // over, and decoding each again was a third of this pass.
  const writtenByOpen = new BytesMemo<string | null>();
  const codeSeen = new BytesMemo<CodeSeen>();
  // Names by id, and the two memos by body id where the scan tells the
  // bodies apart (the BytesMemos above take the rest); the timeline's row
  // by name id.
  const scan = new RecordScan(
    (kind, event) =>
      kind === RecordKind.OPEN_CODE || (kind === RecordKind.AUDIT && event === 'open'),
  );
  const writtenByBody: (string | null | undefined)[] = [];
  const codeByBody: (CodeSeen | undefined)[] = [];
  const rowByName: number[] = [];
  const rowOfEvent = (event: string): number => rowOf.get(categoryOf(event)) ?? -1;
  const raw: RawState = {
    scan,
    timeline,
    rowLimit,
    rowByName,
    rowOfEvent,
    filesWritten,
    writtenByBody,
    writtenByOpen,
    codeByBody,
    codeSeen,
    recentCode,
    shown: 0,
  };
  // A code load's arguments in the table, as the JSON string of its row,
  // made once per distinct load.
  const codeRowJsons = new WeakMap<CodeSeen, Buffer>();
  const codeRowJson = (code: CodeSeen): Buffer => {
    let json = codeRowJsons.get(code);
    if (json === undefined)
      codeRowJsons.set(code, (json = Buffer.from(scriptString(codeArgs(code)))));
    return json;
  };
  const codeTexts = new ByteOut(64 * 1024);
  // Each block's rows go out in a buffer of their own, written to fresh
  // pages each time (a fault every 4 KiB) unless used again.
  const rowOuts = new ByteOuts(256 * 1024);
  // A block's rows: their records' offsets, and the rows that are code
  // loads (ascending) with what each loaded. The same arrays for every
  // block: a new empty array takes numbers only until its first object,
  // and the compiled loop that fills it was dropped at that change.
  const rowOffsets: number[] = [];
  const codeRows: number[] = [];
  const codes: CodeSeen[] = [];
  // Once the table is full, an audit event other than an open is only
  // counted in the timeline: the scan does that itself (countInto).
  let scanCounts = false;
  for await (const block of blocks) {
    summarizer.add(block);
    if (block.type === 'run') run = block.run;
    if (block.type === 'policy') comments = ruleCommentsOf(block.policy);
    if (block.type === 'process') {
      const start = BigInt(block.process.startMonotonicNs);
      pids.set(block.process.session, {
        pid: block.process.pid,
        start,
        startNumber: start <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(start) : null,
      });
    }
    if (block.type !== 'events') continue;
    const p = pids.get(block.sessionId);
    const pidJson = p ? String(p.pid) : 'null';
    // This block's rows, comma-separated: a block of bytes gives the
    // offsets of its rows' records (and, for a code load, what it loaded),
    // and they are written once it is scanned.
    // (Rows take about 0.8 bytes a record byte: room for them at once.)
    const rowRoom = Buffer.isBuffer(block.records) ? block.records.length : 64 * 1024;
    const blockRows = raw.shown < rowLimit ? rowOuts.get() : NO_ROWS;
    if (raw.shown < rowLimit) blockRows.ensure(rowRoom);
    let rowsInBlock = 0;
    rowOffsets.length = 0;
    codeRows.length = 0;
    codes.length = 0;
    /** A decoded record (every record of a decoded block). */
    const take = (r: AgentRecord): void => {
      if (r.kind === 'decision') {
        // In the chart's range, not in its counts.
        timeline.see(Number(r.timeNs));
        if (decisions.length >= LIST_LIMIT) return;
        const code = isCodeLoadEvent(r.event)
          ? recentCode.find(block.sessionId, Number(r.eventSeq))
          : undefined;
        if (r.outcome === 'denied' || r.action === 'ask') {
          decisions.push({
            what: code ? `${code.intent} ${code.realPath || textOf(code.path)}` : r.event,
            outcome: r.outcome,
            by: decidedByText(r, comments),
            pid: p?.pid ?? null,
            module: originOf(r.stack)?.module ?? null,
            stack: r.stack,
          });
        }
        return;
      }
      if (raw.shown < rowLimit) {
        if (rowsInBlock++ > 0) blockRows.byte(0x2c);
        blockRows.text(eventRow(r, p, pidJson));
        raw.shown++;
      }
      const row = rowOfEvent(r.event);
      if (row >= 0) timeline.add(row, Number(r.timeNs));
      if (r.kind === 'open-code') {
        recentCode.add(block.sessionId, r.seq, r);
      } else if (r.event === 'open' && filesWritten.size < LIST_LIMIT) {
        addFileWritten(filesWritten, writtenBy(r));
      }
    };
    if (!Buffer.isBuffer(block.records)) {
      for (const r of block.records) take(r);
    } else {
      const at = block.records;
      for (let n = scan.first(at); n > 0; n = scan.next()) {
        rawBatch(raw, at, n, block.sessionId, rowOffsets, codeRows, codes, take);
        if (!scanCounts && raw.shown >= rowLimit) {
          scanCounts = true;
          scan.countInto(timeline, (kind, event) =>
            kind === RecordKind.AUDIT && event !== 'open' ? rowOfEvent(event) : null,
          );
        }
      }
      if (rowOffsets.length > 0) {
        // The code loads' arguments, for the addon to write their rows too.
        codeTexts.pos = 0;
        const textAt = new Int32Array(2 * rowOffsets.length).fill(-1);
        codeRows.forEach((i, k) => {
          textAt[2 * i] = codeTexts.pos;
          codeTexts.put(codeRowJson(codes[k] as CodeSeen));
          textAt[2 * i + 1] = codeTexts.pos;
        });
        writeHtmlRowsNative(
          blockRows,
          at,
          Int32Array.from(rowOffsets),
          Buffer.from(pidJson, 'latin1'),
          p === undefined ? -1 : (p.startNumber ?? -2),
          (i) => {
            const code = codeOfRow(codeRows, codes, i);
            const item = rowOffsets[i] as number;
            writeEventRow(blockRows, at, item, p, pidJson, code && codeArgs(code));
          },
          scriptEventJson,
          { texts: codeTexts.buf, at: textAt },
        );
        rowsInBlock += rowOffsets.length;
      }
    }
    // One buffer per block, written out at once: a block's bytes may be
    // reused once the block after the next is read (rawBlocks), and the
    // rows then held nothing of the session's. The buffer is used again
    // once the stream says it is written.
    if (rowsInBlock > 0) {
      await emitRows(blockRows.finish(), run, () => rowOuts.release(blockRows));
    } else if (blockRows !== NO_ROWS) rowOuts.release(blockRows);
  }
  const buckets = new Map<EventCategory, number[]>();
  const counted = timeline.buckets(TIMELINE_BUCKETS);
  EVENT_CATEGORIES.forEach((c, i) => buckets.set(c.id, counted[i] as number[]));
  const summary = summarizer.result();
  return {
    summary,
    range: timeline.range,
    buckets,
    decisions,
    filesWritten,
    // Every event (a record not a decision) is in the summary's total.
    omitted: summary.totalEvents - raw.shown,
  };
}

/**
 * A count with its thousands grouped ("1,234,567"), as toLocaleString('en')
 * writes a whole number: that call loads the locale data first, 21 ms of a
 * report.
 */
export function withCommas(n: number): string {
  const digits = String(Math.abs(n));
  let out = digits.slice(0, ((digits.length - 1) % 3) + 1);
  for (let i = out.length; i < digits.length; i += 3) out += `,${digits.slice(i, i + 3)}`;
  return n < 0 ? `-${out}` : out;
}

/** A block's rows once the table is full: none. */
const NO_ROWS = new ByteOut(0);

/** What the pass keeps, across blocks, for the records it reads from bytes. */
interface RawState {
  readonly scan: RecordScan;
  readonly timeline: FineTimeline;
  readonly rowLimit: number;
  /** The timeline's row by name id (undefined: not worked out yet). */
  readonly rowByName: number[];
  readonly rowOfEvent: (event: string) => number;
  readonly filesWritten: Map<string, number>;
  /** What an open or an open-code record's bytes come to, by body id or by the bytes. */
  readonly writtenByBody: (string | null | undefined)[];
  readonly writtenByOpen: BytesMemo<string | null>;
  readonly codeByBody: (CodeSeen | undefined)[];
  readonly codeSeen: BytesMemo<CodeSeen>;
  readonly recentCode: RecentRecords<CodeSeen>;
  /** Events given a row so far. */
  shown: number;
}

/**
 * The `n` records of a batch of the scan of `at` (scan.out), of process
 * `sessionId`: each counted in the timeline and, while the table takes
 * them, given a row (its offset in `rowOffsets`, and for a code load its
 * row in `codeRows` and what it loaded in `codes`: arrays of one kind of
 * value each, which the engine's compiled loop keeps to; a row array of
 * code loads and undefined sent it back to the interpreter, twice a
 * report). An audit event needs no decoding (unless it is
 * an open that may write a file); an open-code record is remembered for
 * its decision without decoding it again, since what it loaded depends on
 * its bytes after the header; the rest (decisions) go to `take` decoded.
 * Most of a report's time is here: a function of its own, small, which the
 * engine compiles soon and again quickly when it must, where inside the
 * whole pass (a long function) it ran uncompiled for longer.
 */
function rawBatch(
  s: RawState,
  at: Buffer,
  n: number,
  sessionId: number,
  rowOffsets: number[],
  codeRows: number[],
  codes: CodeSeen[],
  take: (r: AgentRecord) => void,
): void {
  const out = s.scan.out;
  for (let i = 0; i < 3 * n; i += 3) {
    const item = out[i] as number;
    const nameId = out[i + 1] as number;
    const bodyId = out[i + 2] as number;
    const kind = at[item + 4];
    if (kind === RecordKind.AUDIT) {
      const event = nameId >= 0 ? (s.scan.events[nameId] as string) : recordEventAt(at, item);
      if (event === 'open' && s.filesWritten.size < LIST_LIMIT) {
        let name = bodyId >= 0 ? s.writtenByBody[bodyId] : s.writtenByOpen.get(at, item);
        if (name === undefined) {
          name = writtenBy(decodeRecordAt(at, item) as AuditRecord);
          if (bodyId >= 0) s.writtenByBody[bodyId] = name;
          else s.writtenByOpen.set(at, item, name);
        }
        addFileWritten(s.filesWritten, name);
      }
      if (s.shown < s.rowLimit) {
        rowOffsets.push(item);
        s.shown++;
      }
      countRecord(s, at, item, nameId, event);
      continue;
    }
    if (kind === RecordKind.OPEN_CODE) {
      const event = nameId >= 0 ? (s.scan.events[nameId] as string) : recordEventAt(at, item);
      countRecord(s, at, item, nameId, event);
      let code = bodyId >= 0 ? s.codeByBody[bodyId] : s.codeSeen.get(at, item);
      if (code === undefined) {
        const { intent, realPath, path, sha256 } = decodeRecordAt(at, item) as OpenCodeRecord;
        code = { intent, realPath, path, sha256 };
        if (bodyId >= 0) s.codeByBody[bodyId] = code;
        else s.codeSeen.set(at, item, code);
      }
      if (s.shown < s.rowLimit) {
        codeRows.push(rowOffsets.length);
        codes.push(code);
        rowOffsets.push(item);
        s.shown++;
      }
      const seq = at.readUInt32LE(item + 12) + at.readUInt32LE(item + 16) * 0x1_0000_0000;
      s.recentCode.add(sessionId, seq, code);
      continue;
    }
    take(decodeRecordAt(at, item));
  }
}

/** Counts the record at `item` in the timeline, at its name's row. */
function countRecord(s: RawState, at: Buffer, item: number, nameId: number, event: string): void {
  let row = nameId >= 0 ? s.rowByName[nameId] : undefined;
  if (row === undefined) {
    row = s.rowOfEvent(event);
    if (nameId >= 0) s.rowByName[nameId] = row;
  }
  // The time as a number, as Number(timeNs) gives it for a decoded record.
  if (row >= 0)
    s.timeline.add(row, at.readUInt32LE(item + 24) * 0x1_0000_0000 + at.readUInt32LE(item + 20));
}

/** What row `row` loaded, when it is a code load's (`rows` ascending, `codes` beside them). */
function codeOfRow(rows: number[], codes: CodeSeen[], row: number): CodeSeen | undefined {
  let lo = 0;
  let hi = rows.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((rows[mid] as number) < row) lo = mid + 1;
    else hi = mid;
  }
  return rows[lo] === row ? codes[lo] : undefined;
}

function addFileWritten(files: Map<string, number>, name: string | null): void {
  if (name !== null) files.set(name, (files.get(name) ?? 0) + 1);
}

/** What a denial shows of the code it stopped, and its row. */
type CodeSeen = Pick<OpenCodeRecord, 'intent' | 'realPath' | 'path' | 'sha256'>;

/** A code load's text in the events table (eventRow's). */
function codeArgs(code: CodeSeen): string {
  return `${code.intent} ${textOf(code.path)}${code.sha256 ? ` sha256=${code.sha256}` : ''}`;
}

/** The file an `open` audit event opened for writing, or null when it only reads. */
function writtenBy(r: AuditRecord): string | null {
  const [file, mode, flags] = r.args.items;
  const modeText = mode && (mode.type === 'str' || mode.type === 'str_fs') ? mode.text : '';
  const flagBits = flags && flags.type === 'int' ? Number(flags.value) : 0;
  // O_WRONLY | O_RDWR, or a mode that writes.
  if (!/[wax+]/.test(modeText) && (flagBits & 3) === 0) return null;
  return file === undefined
    ? '?'
    : file.type === 'int'
      ? `file descriptor ${file.value}`
      : file.type === 'str' || file.type === 'str_fs'
        ? file.text
        : formatValue(file, { maxStringLength: 400 });
}

/** scriptEventJson, remembered by the name's bytes. */
const scriptEventBytes = new NameBytes(scriptEventJson);

/**
 * eventRow of the audit record at `p` of a block read as bytes: the same
 * bytes, written from the record's bytes (report-bytes.ts); of an
 * open-code record, with its `args` (codeArgs).
 */
function writeEventRow(
  out: ByteOut,
  src: Buffer,
  p: number,
  process: { pid: number; start: bigint; startNumber: number | null } | undefined,
  pidJson: string,
  args?: string,
): void {
  out.byte(0x5b);
  out.text(pidJson);
  out.byte(0x2c);
  out.uint(src.readUInt32LE(p + 8));
  out.byte(0x2c);
  if (process === undefined) out.text('null');
  else {
    // Number((t - start) / 1000n) / 1000: whole microseconds (the bigint
    // division truncates), then as milliseconds.
    const high = src.readUInt32LE(p + 24);
    const since =
      process.startNumber !== null && high <= 0x1f_ffff
        ? high * 0x1_0000_0000 + src.readUInt32LE(p + 20) - process.startNumber
        : -1;
    if (since >= 0) {
      let micros = Math.floor(since / 1000);
      if (micros * 1000 > since) micros--;
      else if ((micros + 1) * 1000 <= since) micros++;
      out.micros(micros);
    } else {
      out.text(String(Number((src.readBigUInt64LE(p + 20) - process.start) / 1000n) / 1000));
    }
  }
  out.byte(0x2c);
  scriptEventBytes.write(out, src, p);
  out.byte(0x2c);
  if (args !== undefined) out.text(scriptString(args));
  else {
    out.byte(0x22);
    writeReprJson(out, src, p + 28 + src.readUInt16LE(p + 6), ROW_ARGS_FORMAT, true);
    out.byte(0x22);
  }
  out.byte(0x5d);
}

/**
 * One row of the events table: scriptJson([pid, tid, ms, event, args]),
 * written directly (only the two strings can hold what scriptJson escapes).
 */
function eventRow(
  r: AuditRecord | OpenCodeRecord,
  p: { pid: number; start: bigint } | undefined,
  pidJson: string,
): string {
  const ms = p ? Number((r.timeNs - p.start) / 1000n) / 1000 : null;
  const args = r.kind === 'audit' ? formatArgs(r.args, ROW_ARGS_FORMAT) : codeArgs(r);
  return `[${pidJson},${r.tid},${ms === null ? 'null' : ms},${scriptEventJson(r.event)},${scriptString(args)}]`;
}

const COLORS: Record<string, string> = {
  imports: '#4f9cff',
  code: '#b36bff',
  files: '#3fb37f',
  processes: '#e0a43a',
  network: '#e5675c',
  native: '#ff8fb1',
  serialization: '#7fd1d8',
  sys: '#a0a7b4',
  other: '#6b7280',
};

function timelineSvg(pass: Pass): string {
  const width = 960;
  const height = 180;
  const totals = new Array<number>(TIMELINE_BUCKETS).fill(0);
  for (const row of pass.buckets.values())
    row.forEach((n, i) => (totals[i] = (totals[i] ?? 0) + n));
  const max = Math.max(1, ...totals);
  const barW = width / TIMELINE_BUCKETS;
  const rects: string[] = [];
  for (let i = 0; i < TIMELINE_BUCKETS; i++) {
    let y = height;
    for (const c of EVENT_CATEGORIES) {
      const n = pass.buckets.get(c.id)?.[i] ?? 0;
      if (n === 0) continue;
      const h = (n / max) * height;
      y -= h;
      rects.push(
        `<rect x="${(i * barW).toFixed(1)}" y="${y.toFixed(1)}" width="${(barW - 0.5).toFixed(1)}" height="${h.toFixed(1)}" fill="${COLORS[c.id] ?? '#888'}"><title>${escapeHtml(c.label)}: ${n}</title></rect>`,
      );
    }
  }
  const spanMs = pass.range === null ? 0 : (pass.range.lastNs - pass.range.firstNs) / 1e6;
  const legend = EVENT_CATEGORIES.map(
    (c) =>
      `<span class="legend"><i style="background:${COLORS[c.id] ?? '#888'}"></i>${escapeHtml(c.label)}</span>`,
  ).join(' ');
  return `<svg viewBox="0 0 ${width} ${height}" class="timeline" role="img" aria-label="Events over time by category">${rects.join('')}</svg>
<p class="dim">0 – ${spanMs.toFixed(1)} ms, ${TIMELINE_BUCKETS} buckets; the tallest holds ${max} events.</p><p>${legend}</p>`;
}

function table(head: string[], rows: string[][]): string {
  if (rows.length === 0) return '<p class="dim">None.</p>';
  return `<table><thead><tr>${head.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr></thead><tbody>${rows
    .map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`)
    .join('')}</tbody></table>`;
}

function stackHtml(stack: StackFrame[] | null): string {
  if (!stack || stack.length === 0) return '';
  return `<details><summary>stack (${stack.length})</summary><ol class="mono">${stack
    .map(
      (f) =>
        `<li>${escapeHtml(`${f.file}:${f.line} in ${f.function}${f.module ? ` (${f.module})` : ''}`)}</li>`,
    )
    .join('')}</ol></details>`;
}

const STYLE = `body{font:14px/1.45 system-ui,sans-serif;margin:24px;color:#1b1f26}
h1{font-size:20px}h2{font-size:16px;margin-top:28px;border-bottom:1px solid #ccd;padding-bottom:4px}
table{border-collapse:collapse;width:100%;margin:8px 0}th,td{border:1px solid #dde;padding:3px 6px;text-align:left;vertical-align:top;font-size:12px}
th{background:#f3f4f8}.mono,td.mono{font-family:ui-monospace,monospace;word-break:break-all}.dim{color:#667}
.denied{color:#b3261e;font-weight:600}.timeline{width:100%;max-width:960px;height:180px;background:#fafbfd;border:1px solid #dde}
.legend{margin-right:10px;font-size:12px}.legend i{display:inline-block;width:10px;height:10px;margin-right:4px}
#pager button{margin:0 4px}@media print{#search,#pager{display:none}details{display:block}}`;

const SCRIPT = `(function(){
var rows=JSON.parse(document.getElementById('events-data').textContent);
var size=100,page=0,shown=rows;var body=document.getElementById('events-body');
var info=document.getElementById('page-info');
function esc(t){var d=document.createElement('div');d.textContent=String(t);return d.innerHTML;}
function render(){var from=page*size,html='';for(var i=from;i<Math.min(shown.length,from+size);i++){var r=shown[i];
html+='<tr><td>'+esc(r[0])+'</td><td>'+esc(r[1])+'</td><td>'+esc(r[2])+'</td><td>'+esc(r[3])+'</td><td class="mono">'+esc(r[4])+'</td></tr>';}
body.innerHTML=html;info.textContent=shown.length?('events '+(from+1)+'–'+Math.min(shown.length,from+size)+' of '+shown.length):'no matching events';}
document.getElementById('search').addEventListener('input',function(e){var q=e.target.value.toLowerCase();
shown=q?rows.filter(function(r){return (r[3]+' '+r[4]).toLowerCase().indexOf(q)>=0;}):rows;page=0;render();});
document.getElementById('prev').addEventListener('click',function(){if(page>0){page--;render();}});
document.getElementById('next').addEventListener('click',function(){if((page+1)*size<shown.length){page++;render();}});
render();})();`;

/**
 * Writes the whole HTML document for the session at `sessionPath`; the
 * table holds its first `rowLimit` events.
 */
export async function htmlReport(
  sessionPath: string,
  blocks: Blocks,
  write: (chunk: string | Buffer, written?: () => void) => Promise<void>,
  rowLimit = HTML_MAX_EVENTS,
): Promise<void> {
  // The top of the page, then the table's rows in their data element as
  // the pass makes them (an element the page does not show, read by its
  // script at the end), then all the pass gathered. The title is the
  // run's command as the pass has seen it by the first row.
  let topWritten = false;
  let rowBlocks = 0;
  const top = async (run: RunInfo | null): Promise<void> => {
    if (topWritten) return;
    topWritten = true;
    const title = run ? run.command.join(' ') : sessionPath;
    await write(`<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:">
<title>Hookscope report: ${escapeHtml(title)}</title><style>${STYLE}</style></head><body>
<h1>Hookscope report</h1>
<p class="mono">${escapeHtml(title)}</p>
<p class="dim">Generated by Hookscope ${escapeHtml(HOOKSCOPE_VERSION)} from ${escapeHtml(sessionPath.split('/').pop() ?? sessionPath)}.</p>
<script type="application/json" id="events-data">[`);
  };
  const pass = await onePass(sessionPath, blocks, rowLimit, async (rows, run, written) => {
    await top(run);
    if (rowBlocks++ > 0) await write(',');
    await write(rows, written);
  });
  const summary = pass.summary;
  await top(summary.run);
  await write(']</script>');
  const durationMs =
    summary.run && summary.runEnd ? summary.runEnd.endedAtMs - summary.run.startedAtMs : null;
  const out: string[] = [];
  out.push(`<h2 id="summary">Summary</h2>${table(
    ['', ''],
    [
      ['Processes', String(summary.processes.length)],
      ['Duration', durationMs === null ? 'unknown' : `${(durationMs / 1000).toFixed(2)} s`],
      ['Events', withCommas(summary.totalEvents)],
      [
        'Denied',
        `<span class="${summary.deniedTotal ? 'denied' : ''}">${summary.deniedTotal}</span>`,
      ],
      ['Dropped records', summary.droppedTotal.toString()],
      [
        'Policy',
        summary.policy
          ? escapeHtml(`${summary.policy.file} (sha256 ${summary.policy.sha256})`)
          : 'none',
      ],
      [
        'Attach',
        summary.attach
          ? escapeHtml(
              `via ${summary.attach.method}; nothing before ${new Date(summary.attach.hooksActiveAtMs).toISOString()} was seen`,
            )
          : 'no (launched)',
      ],
    ].map(([a, b]) => [escapeHtml(a as string), b as string]),
  )}
${table(
  ['Category', 'Events'],
  summary.byCategory.map((c) => [escapeHtml(c.label), String(c.count)]),
)}
${table(
  ['PID', 'Command', 'Python', 'End'],
  summary.processes.map((p) => [
    String(p.pid),
    `<span class="mono">${escapeHtml(p.argv.join(' '))}</span>`,
    escapeHtml(p.pythonVersion.split(' ')[0] ?? ''),
    escapeHtml(
      p.end
        ? `${p.end.reason}${p.end.exitCode !== null ? ` (${p.end.exitCode})` : ''}${p.end.signal ? ` ${p.end.signal}` : ''}`
        : 'still running',
    ),
  ]),
)}`);
  out.push(`<h2 id="timeline">Timeline</h2>${timelineSvg(pass)}`);
  out.push(
    `<h2 id="decisions">Denied and asked intents</h2>${table(
      ['What', 'Outcome', 'Decided by', 'PID', 'From'],
      pass.decisions.map((d) => [
        `<span class="mono">${escapeHtml(d.what)}</span>${stackHtml(d.stack)}`,
        `<span class="${d.outcome === 'denied' ? 'denied' : ''}">${escapeHtml(d.outcome)}</span>`,
        escapeHtml(d.by),
        d.pid === null ? '?' : String(d.pid),
        escapeHtml(d.module ?? ''),
      ]),
    )}`,
  );
  out.push(
    `<h2 id="code">Code loaded for execution</h2>${table(
      ['Intent', 'Path', 'Real path', 'SHA-256', 'Size', 'Times'],
      summary.codeLoaded.map((c) => [
        escapeHtml(c.intent),
        `<span class="mono">${escapeHtml(c.path)}</span>`,
        `<span class="mono">${escapeHtml(c.realPath)}</span>`,
        `<span class="mono">${escapeHtml(c.sha256 ?? (c.errno !== null ? `failed (errno ${c.errno})` : ''))}</span>`,
        String(c.size),
        String(c.count),
      ]),
    )}`,
  );
  out.push(
    `<h2 id="subprocesses">Subprocesses</h2>${table(
      ['Event', 'Command line', 'Times'],
      summary.subprocesses.map((s) => [
        escapeHtml(s.event),
        `<span class="mono">${escapeHtml(s.commandLine)}</span>`,
        String(s.count),
      ]),
    )}
<h2 id="network">Network peers</h2>${table(
      ['Operation', 'Address', 'Times'],
      summary.sockets.map((s) => [
        escapeHtml(s.operation),
        `<span class="mono">${escapeHtml(s.address)}</span>`,
        String(s.count),
      ]),
    )}
<h2 id="files">Files opened for writing</h2>${table(
      ['File', 'Times'],
      [...pass.filesWritten].map(([f, n]) => [
        `<span class="mono">${escapeHtml(f)}</span>`,
        String(n),
      ]),
    )}`,
  );
  out.push(`<h2 id="events">Events</h2>
<p><input id="search" type="search" placeholder="search event names and arguments" aria-label="Search events"></p>
<p id="pager"><button id="prev" type="button">Previous</button><span id="page-info"></span><button id="next" type="button">Next</button></p>
<table><thead><tr><th>PID</th><th>TID</th><th>ms</th><th>Event</th><th>Arguments</th></tr></thead><tbody id="events-body"></tbody></table>`);
  await write(out.join('\n'));
  const omitted = pass.omitted;
  if (omitted > 0) {
    await write(
      `<p class="dim">The first ${withCommas(rowLimit)} events are in this page; ${withCommas(omitted)} more are in the session file (hookscope show).</p>`,
    );
  }
  await write(`<script>${SCRIPT}</script></body></html>\n`);
}
