// formatBlock (report-bytes.ts) with the native writer doing the common
// records: the addon writes records straight from the block's bytes into
// the output until it meets one it leaves to TypeScript (anything the byte
// writers decode: decisions, non-ASCII text, floats, code objects, …), an
// event name it has not been given, or the end of the room it was given;
// this loop settles that one case and calls again. The output is exactly
// formatBlock's (native-report.test.ts). The Perfetto report's audit
// instants go the same way (writeInstantsNative).

import { categoryOf } from '../common/event-taxonomy.js';
import { RECORD_HEADER_SIZE, recordEventAt, u16 } from './protocol/records.js';
import { ByteOut, writeCsvRow, writePlainRecord, type FormatTask } from './report-bytes.js';
import { csvText, jsonString } from './report-text.js';
import { nativeAddon } from './native-addon.js';

/** Event name bytes → their rendered bytes, held by the addon. */
declare const nameTableBrand: unique symbol;
export interface NameTable {
  readonly [nameTableBrand]: true;
}

/** Code-load slices by record bytes, held by the addon. */
declare const sliceTableBrand: unique symbol;
export interface SliceTable {
  readonly [sliceTableBrand]: true;
}

/** Why writeRecords returned (report-writer.cc). */
export const enum Stop {
  /** Every record is written. */
  DONE = 0,
  /** The next record is for the TypeScript writer. */
  FALLBACK = 1,
  /** The next record's event name is not in the table. */
  NAME = 2,
  /** The next record might not fit: state[2] bytes are needed. */
  ROOM = 3,
  /** writeInstants: the next code load's slice is not in the slice table. */
  SLICE = 4,
  /** writeInstants: the flows array is full (state[4] pairs). */
  FLOWS = 5,
}

export const enum NativeFormat {
  JSON = 0,
  CSV = 1,
  /** The html report's event rows (writeHtmlRowsNative). */
  HTML_ROWS = 2,
}

/** writeRecords' arguments (the same for its background form). */
type WriteRecordsArgs = [
  format: NativeFormat,
  src: Uint8Array,
  offsets: Int32Array,
  from: number,
  out: Uint8Array,
  outPos: number,
  table: NameTable,
  owner: Uint8Array,
  state: Float64Array,
  texts?: Uint8Array,
  textAt?: Int32Array,
];

export interface ReportAddon {
  newNameTable(): NameTable;
  /** Remembers a rendered name; false when the table is full (nothing kept). */
  setName(table: NameTable, nameBytes: Uint8Array, rendered: Uint8Array): boolean;
  /**
   * Writes records offsets[from], offsets[from + 1], … of `src` into `out`
   * from `outPos`, each whole or not at all; json records after the first
   * of the block (index > 0) with the ',' before them, and so html rows.
   * `owner` is the csv ",session,pid," in bytes, html rows' pid as JSON
   * (and state[3] their process's start in ns: -1 none, -2 past 2^53;
   * `texts`[`textAt`[2i], `textAt`[2i + 1]) the arguments of code-load
   * row i, a whole JSON string, -1 for a row left to TypeScript).
   * Leaves the next record index, the output position and (for ROOM) the
   * bytes needed in `state`. Throws on malformed records and offsets out
   * of range.
   */
  writeRecords(...args: WriteRecordsArgs): Stop;
  /**
   * writeRecords on the libuv thread pool: bad arguments throw at once,
   * malformed records reject. Until it settles the arrays are the job's,
   * and `table` refuses setName.
   */
  writeRecordsAsync(...args: WriteRecordsArgs): Promise<Stop>;
  /**
   * The Perfetto report's audit instants (perfetto-report.ts) of the
   * records of `src` from byte offset `from` into `out` from `outPos`, each
   * whole or not at all, ',\n' before each unless `first`; the table holds
   * instantHead's bytes by name, `pidText` is `"pid":…,"tid":` and
   * `originNs` the exact origin. Leaves the next record's offset, the
   * output position and (for ROOM) the bytes needed in `state`. FALLBACK:
   * the next record is TypeScript's. Throws on malformed records.
   */
  writeInstants(
    src: Uint8Array,
    from: number,
    out: Uint8Array,
    outPos: number,
    table: NameTable,
    pidText: Uint8Array,
    originNs: number,
    first: boolean,
    state: Float64Array,
    slices?: SliceTable,
    flows?: Int32Array,
  ): Stop;
  newSliceTable(): SliceTable;
  /**
   * Remembers the slice of the open-code record at `offset` of `src` (by
   * its bytes after the header): head and tail bytes, and the caller's
   * index of the source its flow goes to (-1: none). False when the table
   * is full (nothing kept).
   */
  setSlice(
    table: SliceTable,
    src: Uint8Array,
    offset: number,
    head: Uint8Array,
    tail: Uint8Array,
    source: number,
  ): boolean;
}

export function loadReportAddon(): ReportAddon {
  return nativeAddon<ReportAddon>();
}

/** How each format renders an event name (NameBytes in report-bytes.ts). */
const RENDER: Record<FormatTask['format'], (event: string) => string> = {
  json: jsonString,
  csv: (event) => `${csvText(event)},${csvText(categoryOf(event))}`,
};

/**
 * The addon's rendered names, one table per format: names repeat across
 * blocks. A report that formats blocks in the background
 * (formatBlockNativeAsync) has tables of its own, so that no other report
 * adds a name to a table while a job of its reads it.
 */
export type FormatTables = Partial<Record<FormatTask['format'], NameTable>>;

// For the synchronous calls of this thread.
const sharedTables: FormatTables = {};
const NO_OWNER = Buffer.alloc(0);

/** What one formatBlockNative did, counted (for tests and measurements). */
export interface NativeFormatStats {
  /** writeRecords calls. */
  calls: number;
  /** Records written by the TypeScript writer. */
  fallbacks: number;
  /** Names rendered and given to the table. */
  names: number;
  /** Names the full table did not take. */
  refused: number;
  /** Times the output grew. */
  grown: number;
}

export interface NativeFormatOptions {
  /** Initial size of the output buffer (formatBlock's by default). */
  outSize?: number;
  /**
   * An empty ByteOut to write the block into (ByteOuts): the block's
   * bytes are a view of it. A new one of `outSize` by default.
   */
  out?: ByteOut;
  stats?: NativeFormatStats;
  /** The name tables to use (newFormatTables()); this thread's shared ones by default. */
  tables?: FormatTables;
}

/** Name tables of one report's own. */
export function newFormatTables(): FormatTables {
  return {};
}

/** One block being formatted: what both forms of the call need. */
interface BlockFormat {
  native: ReportAddon;
  task: FormatTask;
  src: Buffer;
  out: ByteOut;
  code: NativeFormat;
  ownerBytes: Buffer;
  table: NameTable;
  state: Float64Array;
  stats: NativeFormatStats | undefined;
}

function startBlock(task: FormatTask, options: NativeFormatOptions): BlockFormat {
  const native = loadReportAddon();
  const src = Buffer.from(task.records.buffer, task.records.byteOffset, task.records.byteLength);
  const size = options.outSize ?? Math.max(4096, src.length * 4);
  const out = options.out ?? new ByteOut(size);
  out.ensure(size);
  const json = task.format === 'json';
  const tables = options.tables ?? sharedTables;
  if (json) out.text(task.head);
  return {
    native,
    task,
    src,
    out,
    code: json ? NativeFormat.JSON : NativeFormat.CSV,
    ownerBytes: json ? NO_OWNER : Buffer.from(task.head, 'latin1'),
    table: (tables[task.format] ??= native.newNameTable()),
    state: new Float64Array(3),
    stats: options.stats,
  };
}

/**
 * Gives `table` the name of the record at `p` of `src`, rendered by
 * `render` (a NAME stop); false when the full table refused it.
 */
function giveName(
  native: ReportAddon,
  table: NameTable,
  src: Buffer,
  p: number,
  render: (event: string) => string,
): boolean {
  const start = p + RECORD_HEADER_SIZE;
  const name = src.subarray(start, start + u16(src, p + 6));
  return native.setName(table, name, Buffer.from(render(recordEventAt(src, p)), 'utf8'));
}

/** formatBlock(task), the common records written by the addon. */
export function formatBlockNative(task: FormatTask, options: NativeFormatOptions = {}): Buffer {
  const block = startBlock(task, options);
  let i = 0;
  while (i < task.offsets.length) {
    const stop = block.native.writeRecords(...recordsArgs(block, i));
    i = settle(block, stop);
  }
  return finishBlock(block);
}

/**
 * formatBlockNative with every call to the addon on the libuv thread pool:
 * the caller reads the next block meanwhile. Only what the addon leaves to
 * TypeScript (a record it does not write, a new name) is done here, between
 * the calls. Calls with the same `tables` must not overlap: each waits for
 * the one before.
 */
export async function formatBlockNativeAsync(
  task: FormatTask,
  options: NativeFormatOptions & { tables: FormatTables },
): Promise<Buffer> {
  const block = startBlock(task, options);
  let i = 0;
  while (i < task.offsets.length) {
    const stop = await block.native.writeRecordsAsync(...recordsArgs(block, i));
    i = settle(block, stop);
  }
  return finishBlock(block);
}

function recordsArgs(block: BlockFormat, from: number): WriteRecordsArgs {
  const { code, src, task, out, table, ownerBytes, state } = block;
  return [code, src, task.offsets, from, out.buf, out.pos, table, ownerBytes, state];
}

/**
 * Takes in what a writeRecords call did and settles why it stopped: the
 * record it leaves to TypeScript is written here, a full output grown, a
 * new name rendered for the table. Returns the index of the next record
 * for the addon (the count of records when all are written).
 */
function settle(block: BlockFormat, stop: Stop): number {
  const { native, task, src, out, ownerBytes, table, state, stats } = block;
  const { offsets, format } = task;
  let i = state[0] as number;
  out.pos = state[1] as number;
  if (stats) stats.calls++;
  // The TypeScript writer for the one record at index i.
  const writeOne = (): void => {
    if (stats) stats.fallbacks++;
    const p = offsets[i] as number;
    if (format === 'json') {
      if (i > 0) out.byte(0x2c);
      writePlainRecord(out, src, p);
    } else writeCsvRow(out, src, p, task.head, ownerBytes);
    i++;
  };
  if (stop === Stop.DONE) return offsets.length;
  if (stop === Stop.FALLBACK) writeOne();
  else if (stop === Stop.ROOM) {
    if (stats) stats.grown++;
    out.ensure(state[2] as number);
  } else {
    if (stats) stats.names++;
    // A full table: this name's records are written here.
    if (!giveName(native, table, src, offsets[i] as number, RENDER[format])) {
      if (stats) stats.refused++;
      writeOne();
    }
  }
  return i;
}

/** The block's bytes, once every record is written. */
function finishBlock(block: BlockFormat): Buffer {
  if (block.task.format === 'json') block.out.text(']}');
  return block.out.finish();
}

/** What writeInstantsNative did, counted (for tests). */
export interface NativeInstantStats {
  /** writeInstants calls. */
  calls: number;
  /** Records left to the caller. */
  fallbacks: number;
  /** Names rendered and given to the table. */
  names: number;
  /** Names the full table did not take. */
  refused: number;
  /** Times the output grew. */
  grown: number;
  /** Times the flows array was full (counted when present). */
  flowsFull?: number;
  /** Code loads whose slice was not in the table (counted when present). */
  newSlices?: number;
}

// Instant heads by event name, for every Perfetto report of this thread.
let instantTable: NameTable | null = null;
const instantState = new Float64Array(5);

/**
 * How a Perfetto report lets the addon write its code loads too: the
 * report's slice table, the flow ids, and what to do with the flows the
 * addon started.
 */
export interface CodeLoads {
  table: SliceTable;
  /** The next flow id (the addon takes ids from it). */
  nextFlow: number;
  /** Room for (source index, flow id) pairs. */
  flows: Int32Array;
  /** Puts the slice of the code load at `p` in the table; false when it is full. */
  add(src: Buffer, p: number): boolean;
  /** The flows the last call started, `count` pairs of `flows`, in order. */
  started(flows: Int32Array, count: number): void;
}

/**
 * Writes the Perfetto instants of the records of `src` from offset `p` on
 * with the addon, until a record it leaves to the caller (anything but a
 * plain audit instant, or a name the full table refused) or the end;
 * returns that record's offset (src.length at the end). `head` renders an
 * event's instant head; `first`: no separator before the first instant.
 */
export function writeInstantsNative(
  out: ByteOut,
  src: Buffer,
  p: number,
  pidText: Buffer,
  originNs: number,
  first: boolean,
  head: (event: string) => string,
  stats?: NativeInstantStats,
  codeLoads?: CodeLoads,
): number {
  const native = loadReportAddon();
  const table = (instantTable ??= native.newNameTable());
  for (;;) {
    if (codeLoads) instantState[3] = codeLoads.nextFlow;
    const stop = native.writeInstants(
      src,
      p,
      out.buf,
      out.pos,
      table,
      pidText,
      originNs,
      first,
      instantState,
      codeLoads?.table,
      codeLoads?.flows,
    );
    if (stats) stats.calls++;
    p = instantState[0] as number;
    if (instantState[1] !== out.pos) first = false;
    out.pos = instantState[1] as number;
    if (codeLoads) {
      codeLoads.nextFlow = instantState[3] as number;
      if ((instantState[4] as number) > 0) {
        codeLoads.started(codeLoads.flows, instantState[4] as number);
      }
    }
    if (stop === Stop.DONE) return p;
    if (stop === Stop.FLOWS) {
      if (stats?.flowsFull !== undefined) stats.flowsFull++;
      continue;
    }
    if (stop === Stop.SLICE) {
      if (stats?.newSlices !== undefined) stats.newSlices++;
      if ((codeLoads as CodeLoads).add(src, p)) continue;
      // A full table: this code load is the caller's.
      if (stats) stats.fallbacks++;
      return p;
    }
    if (stop === Stop.FALLBACK) {
      if (stats) stats.fallbacks++;
      return p;
    }
    if (stop === Stop.ROOM) {
      const need = instantState[2] as number;
      // The room asked for was there: the addon's bound is wrong.
      if (out.buf.length - out.pos >= need)
        throw new Error('writeInstants: a record outgrew its bound');
      if (stats) stats.grown++;
      out.ensure(need);
      continue;
    }
    if (stats) stats.names++;
    if (!giveName(native, table, src, p, head)) {
      // A full table: this record is the caller's.
      if (stats) {
        stats.refused++;
        stats.fallbacks++;
      }
      return p;
    }
  }
}

// The html report's rows: rendered names for the synchronous calls of this
// thread, and the call's state.
let rowTable: NameTable | null = null;
const rowState = new Float64Array(4);

/**
 * The html report's event rows (html-report.ts) of the records at
 * `offsets` of `src`, comma-separated, into `out`: the audit events' by
 * the addon, straight from their bytes, and the code loads' whose
 * arguments `codeArgs` holds (row i's JSON string at
 * texts[at[2i], at[2i + 1]), at[2i] = -1 for none); every other row (what
 * the addon leaves: non-ASCII text, floats, times it does not write)
 * by `writeRow(i)`, with the ',' before it written already. `pidJson` is
 * the process's pid as JSON, `startNs` its start (-1: no process; -2: past
 * 2^53); `render` gives an event name's JSON, safe inside a script.
 */
export function writeHtmlRowsNative(
  out: ByteOut,
  src: Buffer,
  offsets: Int32Array,
  pidJson: Buffer,
  startNs: number,
  writeRow: (i: number) => void,
  render: (event: string) => string,
  codeArgs?: { texts: Uint8Array; at: Int32Array },
): void {
  const native = loadReportAddon();
  const table = (rowTable ??= native.newNameTable());
  const state = rowState;
  let i = 0;
  while (i < offsets.length) {
    state[3] = startNs;
    const stop = native.writeRecords(
      NativeFormat.HTML_ROWS,
      src,
      offsets,
      i,
      out.buf,
      out.pos,
      table,
      pidJson,
      state,
      codeArgs?.texts,
      codeArgs?.at,
    );
    i = state[0] as number;
    out.pos = state[1] as number;
    if (stop === Stop.DONE) break;
    if (stop === Stop.ROOM) {
      out.ensure(state[2] as number);
      continue;
    }
    if (stop === Stop.NAME && giveName(native, table, src, offsets[i] as number, render)) continue;
    // FALLBACK, or a name the full table did not take.
    if (i > 0) out.byte(0x2c);
    writeRow(i++);
  }
}
