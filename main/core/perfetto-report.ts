// The Perfetto report: Chrome's trace event JSON, which Perfetto (and
// chrome://tracing) open. A track per process and thread; audit events as
// instants; code loads and `exec` as 1 µs slices joined by a flow arrow
// (the file opened for execution → the exec of its code); and each thread's
// wait for a decision as a slice from the ask to the answer. Streamed: one
// trace event per line; the track names, collected on the way, go last.

import { categoryOf } from '../common/event-taxonomy.js';
import { BytesMemo } from './protocol/bytes-memo.js';
import {
  RECORD_HEADER_SIZE,
  RecordKind,
  ValueTag,
  decodeRecordAt,
  textOf,
  u32,
  type AgentRecord,
  type OpenCodeRecord,
} from './protocol/records.js';
import {
  loadReportAddon,
  writeInstantsNative,
  type CodeLoads,
  type NativeInstantStats,
  type SliceTable,
} from './native-report.js';
import { ByteOuts, NameBytes, writeReprJson } from './report-bytes.js';
import { formatArgs, jsonString, memoText } from './report-text.js';
import type { RawSessionBlock, SessionBlock } from './session-file.js';

/** Microseconds from the first record, as trace `ts` (fractional µs keep ns). */
function micros(ns: bigint, origin: bigint): number {
  return Number(ns - origin) / 1000;
}

/** The source a `.pyc` was compiled from: what its code's co_filename names. */
export function sourceOfBytecode(pycPath: string): string | null {
  const m = /^(.*)\/__pycache__\/([^/]+?)\.[^/.]+(?:\.opt-\d+)?\.pyc$/.exec(pycPath);
  return m ? `${m[1]}/${m[2]}.py` : null;
}

type PerfettoBlock = SessionBlock | RawSessionBlock;

export interface PerfettoOptions {
  /** Initial size of the output buffer (1 MiB by default). */
  outSize?: number;
  /** Counts of what the addon did (tests). */
  stats?: NativeInstantStats;
  /** Flow starts the addon hands back per call (4096 by default; tests use a few). */
  flowsPerCall?: number;
}

/**
 * Writes the trace of `blocks`: decoded, or with events as bytes, in which
 * case nearly every record (an audit event) is written straight from its
 * bytes by the addon (native-report.ts; the rest by report-bytes.ts) and
 * only the rest are decoded. Both give the same bytes (report-bytes.test.ts,
 * native-report.test.ts).
 */
export async function perfettoReport(
  blocks: AsyncIterable<PerfettoBlock>,
  write: (chunk: string | Buffer, written?: () => void) => Promise<void>,
  options: PerfettoOptions = {},
): Promise<void> {
  const outs = new ByteOuts(options.outSize ?? 1 << 20);
  let out = outs.get();
  /** Writes what is made so far; the trace goes on in a ByteOut written before. */
  const flush = async (): Promise<void> => {
    const full = out;
    out = outs.get();
    await write(full.finish(), () => outs.release(full));
  };
  const stats = options.stats;
  out.text('{"displayTimeUnit":"ns","traceEvents":[\n');
  let first = true;
  /** Appends one trace event, already JSON text. */
  const emit = (event: string): void => {
    out.text(first ? event : `,\n${event}`);
    first = false;
  };
  let origin: bigint | null = null;
  /** `origin` as a number while it is exact, for the records' fast path. */
  let originNumber: number | null = null;
  const processes = new Map<number, { pid: number; name: string }>();
  // Threads in the order first seen (their names go last), by pid then tid.
  const threads: Array<{ pid: number; tid: number }> = [];
  const seenThreads = new Map<number, Set<number>>();
  // Code files opened for execution, by the source path their code names, per process.
  const loads = new Map<string, number>();
  // The code loads the addon writes: the report's own slice table (made
  // when the first block of bytes comes: decoded blocks need no addon), and
  // the flow ids, shared with the code loads written here.
  const sources: string[] = [];
  let blockPid = 0;
  let sliceTable: SliceTable | null = null;
  const codeLoads: CodeLoads = {
    get table(): SliceTable {
      return (sliceTable ??= loadReportAddon().newSliceTable());
    },
    nextFlow: 1,
    flows: new Int32Array(2 * (options.flowsPerCall ?? 4096)),
    add: (src, p) => {
      const slice = codeSliceOf(decodeRecordAt(src, p) as OpenCodeRecord);
      const source = slice.source === null ? -1 : sources.push(slice.source) - 1;
      const kept = loadReportAddon().setSlice(
        codeLoads.table,
        src,
        p,
        slice.headBytes,
        slice.tailBytes,
        source,
      );
      if (!kept && source >= 0) sources.pop();
      return kept;
    },
    started: (flows, count) => {
      for (let k = 0; k < 2 * count; k += 2) {
        loads.set(`${blockPid}\0${sources[flows[k] as number] as string}`, flows[k + 1] as number);
      }
    },
  };

  /** Every trace event of one decoded record. */
  const record = (r: AgentRecord, pid: number, origin: bigint): void => {
    const ts = micros(r.timeNs, origin);
    // "pid":…,"tid":…,"ts":…: every event of this record has them.
    const where = `"pid":${pid},"tid":${r.tid},"ts":`;
    if (r.kind === 'decision') {
      if (r.waitedNs > 0n) {
        const startTs = Math.max(0, micros(r.timeNs - r.waitedNs, origin));
        emit(
          `{"name":${jsonString(`waited for a decision: ${r.event}`)},"cat":"intent","ph":"X",${where}${startTs},"dur":${Number(r.waitedNs) / 1000},"args":{"outcome":"${r.outcome}","by":"${r.by}","rule":${r.ruleIndex ?? 'null'}}}`,
        );
      }
      return;
    }
    if (r.kind === 'open-code') {
      codeSlice(codeSliceOf(r), pid, where, ts);
      return;
    }
    const code = r.event === 'exec' ? r.args.items[0] : undefined;
    if (code !== undefined && code.type === 'code') {
      const key = `${pid}\0${code.filename.text}`;
      const id = loads.get(key);
      emit(
        `{"name":"exec","cat":${categoryJson(r.event)},"ph":"X",${where}${ts},"dur":1,"args":{"code":${jsonString(`${code.name.text} in ${code.filename.text}:${code.firstLine}`)}}}`,
      );
      if (id !== undefined) {
        loads.delete(key);
        emit(`{"name":"load → exec","cat":"flow","ph":"f","bp":"e","id":${id},${where}${ts}}`);
      }
      return;
    }
    emit(
      `${instantHead(r.event)}${where}${ts},"args":{"args":${jsonString(formatArgs(r.args, ARGS_FORMAT))}}}`,
    );
  };

  /** The slice of a code load, and the start of its flow to the exec of its code. */
  const codeSlice = (slice: CodeSlice, pid: number, where: string, ts: number): void => {
    emit(`${slice.head}${where}${ts}${slice.tail}`);
    if (slice.source !== null) {
      const id = codeLoads.nextFlow++;
      loads.set(`${pid}\0${slice.source}`, id);
      emit(`{"name":"load → exec","cat":"flow","ph":"s","id":${id},${where}${ts}}`);
    }
  };
  /** codeSlice for the open-code record at `p`, from its bytes. */
  const codeSliceBytes = (
    slice: CodeSlice,
    src: Buffer,
    p: number,
    pid: number,
    pidText: Buffer,
    origin: bigint,
  ): void => {
    const tid = src.readUInt32LE(p + 8);
    // Number(ns) / 1000 as codeSlice writes it (ByteOut.micros).
    const ns = Number(src.readBigUInt64LE(p + 20) - origin);
    if (!first) out.put(EVENT_SEPARATOR);
    first = false;
    out.put(slice.headBytes);
    out.put(pidText);
    out.uint(tid);
    out.put(TS);
    out.micros(ns);
    out.put(slice.tailBytes);
    if (slice.source !== null) {
      const id = codeLoads.nextFlow++;
      loads.set(`${pid}\0${slice.source}`, id);
      out.put(EVENT_SEPARATOR);
      out.put(FLOW_START);
      out.uint(id);
      out.byte(0x2c);
      out.put(pidText);
      out.uint(tid);
      out.put(TS);
      out.micros(ns);
      out.byte(0x7d);
    }
  };
  // An open-code record's slice depends on its bytes after the header
  // alone: worked out once per distinct bytes (the same files load over
  // and over).
  const slices = new BytesMemo<CodeSlice>();

  /**
   * The instant of the audit record at `p` (not an exec of code), from its
   * bytes: what record() writes for it.
   */
  const instant = (src: Buffer, p: number, pidText: Buffer, originNs: number): void => {
    if (!first) out.put(EVENT_SEPARATOR);
    first = false;
    instantHeadBytes.write(out, src, p);
    out.put(pidText);
    out.uint(src.readUInt32LE(p + 8));
    out.put(TS);
    const high = src.readUInt32LE(p + 24);
    const ns =
      high <= 0x1f_ffff
        ? high * 0x1_0000_0000 + src.readUInt32LE(p + 20) - originNs
        : Number(src.readBigUInt64LE(p + 20) - (origin as bigint));
    out.micros(ns);
    out.put(ARGS_OPEN);
    writeReprJson(out, src, p + 28 + src.readUInt16LE(p + 6), ARGS_FORMAT);
    out.put(ARGS_CLOSE);
  };

  for await (const block of blocks) {
    if (block.type === 'process') {
      const p = block.process;
      // Time 0 is the first agent's start: every record (and every wait) is after it.
      const start = BigInt(p.startMonotonicNs);
      if (origin === null || start < origin) {
        origin = start;
        originNumber = start <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(start) : null;
      }
      processes.set(p.session, { pid: p.pid, name: `${p.argv.join(' ') || p.exe} (pid ${p.pid})` });
    }
    if (block.type !== 'events') continue;
    // Out first when the block's trace may not fit in what is left (about
    // 1.6 bytes a record byte): growing the output copies all of it.
    if (out.pos > 0 && out.buf.length - out.pos < 2 * recordsLength(block)) await flush();
    const pid = processes.get(block.sessionId)?.pid ?? block.sessionId;
    let tids = seenThreads.get(pid);
    if (tids === undefined) seenThreads.set(pid, (tids = new Set()));
    if (!Buffer.isBuffer(block.records)) {
      for (const r of block.records) {
        origin ??= r.timeNs;
        if (!tids.has(r.tid)) {
          tids.add(r.tid);
          threads.push({ pid, tid: r.tid });
        }
        record(r, pid, origin);
      }
    } else {
      const src = block.records;
      if (origin === null && src.length > 0) {
        origin = src.readBigUInt64LE(20);
        originNumber = origin <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(origin) : null;
      }
      // Threads first, in record order: the addon writes most records.
      // (A pass over the headers: 2-5% of the report's time.)
      let lastTid = -1;
      for (let p = 0; p < src.length;) {
        const length = u32(src, p);
        if (length < RECORD_HEADER_SIZE) throw new Error(`malformed record at offset ${p}`);
        const tid = u32(src, p + 8);
        if (tid !== lastTid && !tids.has(tid)) {
          tids.add(tid);
          threads.push({ pid, tid });
        }
        lastTid = tid;
        p += length;
      }
      const pidText = Buffer.from(`"pid":${pid},"tid":`, 'latin1');
      blockPid = pid;
      for (let p = 0; p < src.length; p += src.readUInt32LE(p)) {
        if (originNumber !== null) {
          const at = out.pos;
          p = writeInstantsNative(
            out,
            src,
            p,
            pidText,
            originNumber,
            first,
            instantHead,
            stats,
            codeLoads,
          );
          if (out.pos !== at) first = false;
          if (p >= src.length) break;
        }
        // The one record the addon left (origin is set: there are records).
        const recordOrigin = origin as bigint;
        const kind = src[p + 4];
        if (kind === RecordKind.AUDIT && originNumber !== null && !execOfCode(src, p)) {
          instant(src, p, pidText, originNumber);
        } else if (kind === RecordKind.OPEN_CODE) {
          let slice = slices.get(src, p);
          if (slice === undefined) {
            slice = codeSliceOf(decodeRecordAt(src, p) as OpenCodeRecord);
            slices.set(src, p, slice);
          }
          codeSliceBytes(slice, src, p, pid, pidText, recordOrigin);
        } else record(decodeRecordAt(src, p), pid, recordOrigin);
      }
    }
    if (out.pos >= 1 << 20) await flush();
  }
  for (const p of processes.values()) {
    emit(
      JSON.stringify({ name: 'process_name', ph: 'M', pid: p.pid, tid: 0, args: { name: p.name } }),
    );
  }
  for (const t of threads) {
    emit(
      JSON.stringify({
        name: 'thread_name',
        ph: 'M',
        pid: t.pid,
        tid: t.tid,
        args: { name: t.tid === t.pid ? `main thread ${t.tid}` : `thread ${t.tid}` },
      }),
    );
  }
  // A load whose code never ran (a failed import) leaves a flow start
  // without an end; trace viewers ignore those.
  out.text('\n]}\n');
  await flush();
}

/**
 * Whether the audit record at `p` is an `exec` of a code object (its code
 * may end a load → exec flow): named `exec`, its first argument a code
 * value (the arguments' tuple header is a tag and two u32 counts).
 */
function execOfCode(src: Buffer, p: number): boolean {
  return (
    src.readUInt16LE(p + 6) === 4 &&
    src[p + 28] === 0x65 &&
    src[p + 29] === 0x78 &&
    src[p + 30] === 0x65 &&
    src[p + 31] === 0x63 &&
    src.readUInt32LE(p + 32 + 5) > 0 &&
    src[p + 32 + 9] === ValueTag.CODE
  );
}

/** A code load's slice around its pid, tid and ts, and the source its flow starts from. */
interface CodeSlice {
  head: string;
  tail: string;
  /** head and tail in UTF-8, for the records written from bytes. */
  headBytes: Buffer;
  tailBytes: Buffer;
  /** null: no flow (a failed open, or a .pyc whose source is unknown). */
  source: string | null;
}

function codeSliceOf(r: OpenCodeRecord): CodeSlice {
  const path = textOf(r.path);
  const source = r.intent === 'bytecode' ? sourceOfBytecode(path) : path;
  const head = `{"name":${jsonString(`${r.event} ${r.intent}`)},"cat":${categoryJson(r.event)},"ph":"X",`;
  const tail = `,"dur":1,"args":{"path":${jsonString(path)},"realPath":${jsonString(r.realPath)},"sha256":${r.sha256 === null ? 'null' : `"${r.sha256}"`},"size":${r.size}}}`;
  return {
    head,
    tail,
    headBytes: Buffer.from(head, 'utf8'),
    tailBytes: Buffer.from(tail, 'utf8'),
    source: r.status === 'ok' ? source : null,
  };
}

const EVENT_SEPARATOR = Buffer.from(',\n', 'latin1');
const TS = Buffer.from(',"ts":', 'latin1');
const FLOW_START = Buffer.from('{"name":"load → exec","cat":"flow","ph":"s","id":', 'utf8');
const ARGS_OPEN = Buffer.from(',"args":{"args":"', 'latin1');
const ARGS_CLOSE = Buffer.from('"}}', 'latin1');

const ARGS_FORMAT = { maxStringLength: 200, maxBytesLength: 32 };

/** "cat" of an event name, as JSON. */
const categoryJson = memoText((event) => jsonString(categoryOf(event)));

/** An instant event up to its "pid": `{"name":…,"cat":…,"ph":"i","s":"t",`. */
const instantHead = memoText(
  (event) =>
    `{"name":${jsonString(event)},"cat":${jsonString(categoryOf(event))},"ph":"i","s":"t",`,
);

/** instantHead, remembered by the name's bytes. */
const instantHeadBytes = new NameBytes(instantHead);

/** The byte length of an events block's records (decoded: an estimate). */
function recordsLength(block: { records: Buffer | readonly unknown[] }): number {
  return Buffer.isBuffer(block.records) ? block.records.length : 128 * block.records.length;
}
