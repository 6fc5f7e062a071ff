// Reports from a session file, streamed: `csv` (one row per record),
// `sarif` (one result per denied or asked intent, for code-scanning
// dashboards) and `policy` (what the session's decisions imply, as
// `--learn` writes it). The output goes to a temporary file beside the
// target and is renamed into place only when complete, so a failure never
// leaves a partial report behind.

import fs from 'node:fs';
import path from 'node:path';

import { decidedByText, ruleCommentsOf, type RuleComments } from './decision-text.js';
import { eventMatcher } from './event-glob.js';
import { htmlReport } from './html-report.js';
import { perfettoReport } from './perfetto-report.js';
import { JSON_REPORT_TAIL, jsonReportBlock, jsonReportHead } from './json-report.js';
import { formatPolicy, learnPolicy } from './policy/index.js';
import { BytesMemo } from './protocol/bytes-memo.js';
import {
  RecordKind,
  decodeRecordAt,
  isCodeLoadEvent,
  recordEventAt,
  textOf,
  type DecisionRecord,
  type OpenCodeRecord,
} from './protocol/records.js';
import { formatBlockNativeAsync, newFormatTables } from './native-report.js';
import { RecentRecords, RecentSeqs } from './recent-seqs.js';
import {
  SessionReader,
  type PolicyInfo,
  type RawEventsBlock,
  type RawSessionBlock,
} from './session-file.js';
import { originOf } from './stack-origin.js';
import { HOOKSCOPE_VERSION } from './version.js';

/** How many times the html report reads the session (for its progress). */
const HTML_READS = 2;

export const REPORT_FORMATS = ['json', 'html', 'csv', 'perfetto', 'sarif', 'policy'] as const;
export type ReportFormat = (typeof REPORT_FORMATS)[number];

export interface ReportOptions {
  format: ReportFormat;
  /** Only records of this process. */
  pid?: number;
  /** Only records whose event name matches this glob (decisions by what they decide). */
  eventGlob?: string;
  /**
   * Only the events this keeps, by their position among the session's
   * events in file order (decision records not counted), the numbering of
   * the UI's event table; a decision goes with the event it decided.
   */
  keepEvent?: (position: number) => boolean;
  /** Called as the session file is read, with bytes read and its size. */
  onProgress?: (readBytes: number, totalBytes: number) => void;
}

/** A bad request (unknown format, bad filter, unwritable output): nothing was written. */
export class ReportError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ReportError';
  }
}

/** The reader of the standard output closed it before the report was done. */
export class ReportOutputClosed extends Error {
  constructor() {
    super('the standard output was closed before the report was complete');
    this.name = 'ReportOutputClosed';
  }
}

/** Where the report goes: a stream, written in chunks, with backpressure. */
interface Sink {
  write(chunk: string | Buffer): Promise<void>;
}

/** The columns of the CSV report, in order (stable: consumers index them). */
export const CSV_COLUMNS = [
  'kind',
  'session',
  'pid',
  'tid',
  'seq',
  'time_ns',
  'event',
  'category',
  'args',
  'path',
  'real_path',
  'size',
  'sha256',
  'intent',
  'error',
  'outcome',
  'action',
  'decided_by',
  'rule',
  'waited_ns',
  'event_seq',
  'module',
] as const;

/**
 * Writes the report of `sessionPath` to `outPath` (null: `stdout`).
 * Throws ReportError for bad input, SessionFileError for an unreadable
 * session; in both cases no output file exists afterwards.
 */
export async function writeReport(
  sessionPath: string,
  outPath: string | null,
  options: ReportOptions,
  stdout: NodeJS.WritableStream = process.stdout,
): Promise<void> {
  if (!(REPORT_FORMATS as readonly string[]).includes(options.format)) {
    throw new ReportError(
      `unknown format "${String(options.format)}"; one of ${REPORT_FORMATS.join(', ')}`,
    );
  }
  let match: ((event: string) => boolean) | null = null;
  if (options.eventGlob !== undefined) {
    try {
      match = eventMatcher(options.eventGlob);
    } catch (error) {
      throw new ReportError(`bad --event glob: ${(error as Error).message}`);
    }
  }
  if (
    options.format === 'html' &&
    (options.pid !== undefined || match !== null || options.keepEvent !== undefined)
  ) {
    throw new ReportError(
      'the html report covers the whole session: --pid and --event do not apply',
    );
  }
  // Opened (and its format checked) before any output exists.
  const reader = await SessionReader.open(sessionPath);
  let temp: string | null = null;
  let stream: NodeJS.WritableStream = stdout;
  if (outPath !== null) {
    if (fs.existsSync(outPath)) throw new ReportError(`${outPath} exists; it is not overwritten`);
    temp = path.join(path.dirname(outPath), `.${path.basename(outPath)}.${process.pid}.tmp`);
    try {
      // A deep buffer lets the file system write while the next stretch
      // of the report is made, instead of taking turns with it.
      stream = fs.createWriteStream(temp, { flags: 'wx', mode: 0o644, highWaterMark: 8 << 20 });
      await new Promise<void>((resolve, reject) => {
        (stream as fs.WriteStream).once('open', () => resolve());
        (stream as fs.WriteStream).once('error', reject);
      });
    } catch (error) {
      throw new ReportError(`cannot write ${outPath}: ${(error as Error).message}`);
    }
  }
  // An error of the output stream, whenever it comes: one emitted after a
  // write that did not wait (a reader of stdout gone, a full disk) would
  // otherwise have no listener and end the process.
  let streamError: Error | null = null;
  const onStreamError = (error: Error): void => {
    streamError ??= error;
  };
  stream.on('error', onStreamError);
  const sink: Sink = {
    write: (chunk) =>
      new Promise((resolve, reject) => {
        if (streamError !== null) {
          reject(streamError);
          return;
        }
        if (stream.write(chunk)) {
          resolve();
          return;
        }
        // Each listener removes the other: a long report waits for 'drain'
        // thousands of times, and must not pile up 'error' listeners.
        const onDrain = (): void => {
          stream.off('error', onError);
          resolve();
        };
        const onError = (error: Error): void => {
          stream.off('drain', onDrain);
          reject(error);
        };
        stream.once('drain', onDrain);
        stream.once('error', onError);
      }),
  };
  try {
    const filter = { pid: options.pid, match, keepEvent: options.keepEvent ?? null };
    // Every format but html reads the records as bytes (report-bytes.ts)
    // and decodes only what it cannot write from them.
    const raw = (): AsyncGenerator<RawSessionBlock> =>
      progressBlocks(reader.rawBlocks(), sessionPath, options.onProgress);
    if (options.format === 'json') {
      await jsonReport(raw(), filter, sink, sessionPath);
    } else if (options.format === 'html') {
      await reader.close();
      // Several passes, each a fresh reader: memory stays flat. Progress
      // counts both reads (htmlReport reads the session HTML_READS times).
      const total = fs.statSync(sessionPath).size;
      let pass = 0;
      const fresh = async function* (): AsyncGenerator<RawSessionBlock> {
        const done = Math.min(pass++, HTML_READS - 1) * total;
        for await (const block of (await SessionReader.open(sessionPath)).rawBlocks()) {
          if (options.onProgress && block.type !== 'end') {
            options.onProgress(Math.floor((done + block.offset) / HTML_READS), total);
          }
          yield block;
        }
      };
      await htmlReport(sessionPath, fresh, (text) => sink.write(text));
      options.onProgress?.(total, total);
    } else if (options.format === 'csv') {
      await csvReport(raw(), filter, sink);
    } else if (options.format === 'perfetto') {
      await perfettoReport(filterRawBlocks(raw(), filter), (chunk) => sink.write(chunk));
    } else if (options.format === 'sarif') await sarifReport(raw(), filter, sink, sessionPath);
    else await sink.write(formatPolicy(await learnPolicy(filterRawBlocks(raw(), filter))));
    if (temp !== null && outPath !== null) {
      await new Promise<void>((resolve, reject) => {
        (stream as fs.WriteStream).end((error?: Error | null) =>
          error ? reject(error) : resolve(),
        );
      });
      fs.renameSync(temp, outPath);
      temp = null;
    }
  } catch (error) {
    if (streamError === null || error !== streamError) throw error;
    // stdout's reader went away (`| head`): it has what it wanted.
    if (outPath === null && (error as NodeJS.ErrnoException).code === 'EPIPE') {
      throw new ReportOutputClosed();
    }
    throw new ReportError(
      `cannot write ${outPath ?? 'the standard output'}: ${(error as Error).message}`,
    );
  } finally {
    stream.off('error', onStreamError);
    if (temp !== null) {
      (stream as fs.WriteStream).destroy();
      fs.rmSync(temp, { force: true });
    }
  }
}

async function* progressBlocks<B extends { type: string; offset: number }>(
  blocks: AsyncIterable<B>,
  sessionPath: string,
  onProgress: ReportOptions['onProgress'],
): AsyncGenerator<B> {
  const total = onProgress ? fs.statSync(sessionPath).size : 0;
  for await (const block of blocks) {
    if (onProgress && block.type !== 'end') onProgress(block.offset, total);
    yield block;
  }
  onProgress?.(total, total);
}

export interface Filter {
  pid: number | undefined;
  match: ((event: string) => boolean) | null;
  keepEvent: ((position: number) => boolean) | null;
}

/**
 * The filter over records left as bytes: which records of each events
 * block it keeps, by their offsets in the block. A decision goes with the
 * event it decided; event positions count every event of the session
 * that is not a decision, in file order.
 */
class RawSelection {
  private readonly pids = new Map<number, number>();
  private position = 0;
  private readonly kept = new Map<number, RecentSeqs>();
  private readonly matched = new Map<string, boolean>();

  constructor(private readonly filter: Filter) {}

  /** Every block passes through here, in file order. */
  see(block: RawSessionBlock): void {
    if (block.type === 'process') this.pids.set(block.process.session, block.process.pid);
  }

  /** The offsets of the records of `block` the filter keeps (often none). */
  records(block: RawEventsBlock): number[] {
    const { pid, keepEvent, match } = this.filter;
    const src = block.records;
    const offsets: number[] = [];
    if (pid !== undefined && this.pids.get(block.sessionId) !== pid) {
      if (keepEvent !== null) {
        for (let p = 0; p < src.length; p += src.readUInt32LE(p)) {
          if (src[p + 4] !== RecordKind.DECISION) this.position++;
        }
      }
      return offsets;
    }
    let seqs: RecentSeqs | undefined;
    if (keepEvent !== null) {
      seqs = this.kept.get(block.sessionId);
      if (seqs === undefined) this.kept.set(block.sessionId, (seqs = new RecentSeqs()));
    }
    for (let p = 0; p < src.length; p += src.readUInt32LE(p)) {
      if (seqs !== undefined && keepEvent !== null) {
        if (src[p + 4] === RecordKind.DECISION) {
          // The decided event's seq follows the name (docs/protocol.md).
          const q = p + 28 + src.readUInt16LE(p + 6);
          const eventSeq = src.readUInt32LE(q) + src.readUInt32LE(q + 4) * 0x1_0000_0000;
          if (seqs.find(eventSeq) === undefined) continue;
        } else {
          if (!keepEvent(this.position++)) continue;
          seqs.add(src.readUInt32LE(p + 12) + src.readUInt32LE(p + 16) * 0x1_0000_0000, 1);
        }
      }
      if (match !== null && !this.matches(recordEventAt(src, p))) continue;
      offsets.push(p);
    }
    return offsets;
  }

  private matches(event: string): boolean {
    let yes = this.matched.get(event);
    if (yes === undefined) {
      yes = this.filter.match!(event);
      if (this.matched.size < 4096) this.matched.set(event, yes);
    }
    return yes;
  }
}

/** Blocks with events narrowed to the filter: the kept records, still bytes. */
export async function* filterRawBlocks(
  blocks: AsyncIterable<RawSessionBlock>,
  filter: Filter,
): AsyncGenerator<RawSessionBlock> {
  if (filter.pid === undefined && filter.match === null && filter.keepEvent === null) {
    yield* blocks;
    return;
  }
  const selection = new RawSelection(filter);
  for await (const block of blocks) {
    selection.see(block);
    if (block.type !== 'events') {
      yield block;
      continue;
    }
    const kept = selection.records(block);
    if (kept.length === block.count) yield block;
    else if (kept.length > 0) {
      const src = block.records;
      const parts = kept.map((p) => src.subarray(p, p + src.readUInt32LE(p)));
      yield { ...block, records: Buffer.concat(parts), count: kept.length };
    }
  }
}

/**
 * The json and csv reports' output: events blocks formatted by the addon
 * (native-report.ts) in the background, one at a time and in order, so
 * that the main thread reads and checks the next block of the session
 * while the addon formats this one; everything else written in its place
 * between them.
 */
class FormattedOutput {
  private inFlight: Promise<void> | null = null;
  private failed: { error: unknown } | null = null;
  private dropped = false;
  private readonly tables = newFormatTables();

  constructor(private readonly sink: Sink) {}

  /** The kept records of an events block: formatted once the block before is written. */
  async block(
    format: 'json' | 'csv',
    block: RawEventsBlock,
    kept: number[],
    head: string,
  ): Promise<void> {
    await this.settle();
    const task = { format, records: block.records, offsets: Int32Array.from(kept), head };
    // A failure is kept for the next call: a rejection nobody waits on
    // while the next block is read would end the process.
    this.inFlight = formatBlockNativeAsync(task, { tables: this.tables })
      .then((bytes) => (this.dropped ? undefined : this.sink.write(bytes)))
      .catch((error: unknown) => {
        this.failed ??= { error };
      });
  }

  /**
   * Runs a report's loop: when it fails (a bad block, a cancel, a failed
   * write), the block in the background is waited for and dropped before
   * the error goes on to writeReport, which removes the output.
   */
  async run(loop: () => Promise<void>): Promise<void> {
    try {
      await loop();
    } catch (error) {
      await this.abandon();
      throw error;
    }
  }

  /** Text after the blocks so far. */
  async write(chunk: string | Buffer): Promise<void> {
    await this.settle();
    await this.sink.write(chunk);
  }

  /**
   * The report failed: waits for the block in the background and drops
   * what it made, so nothing is written after the caller cleans up.
   */
  async abandon(): Promise<void> {
    const inFlight = this.inFlight;
    this.inFlight = null;
    this.dropped = true;
    if (inFlight !== null) await inFlight;
  }

  /** Waits for the block in the background; throws what went wrong with it. */
  async settle(): Promise<void> {
    const inFlight = this.inFlight;
    this.inFlight = null;
    if (inFlight !== null) await inFlight;
    if (this.failed !== null) throw this.failed.error;
  }
}

async function jsonReport(
  blocks: AsyncIterable<RawSessionBlock>,
  filter: Filter,
  sink: Sink,
  sessionPath: string,
): Promise<void> {
  await sink.write(
    jsonReportHead({
      path: path.basename(sessionPath),
      generatedBy: `Hookscope ${HOOKSCOPE_VERSION}`,
    }),
  );
  const selection = new RawSelection(filter);
  const output = new FormattedOutput(sink);
  await output.run(async () => {
    let first = true;
    for await (const block of blocks) {
      selection.see(block);
      if (block.type !== 'events') {
        await output.write(jsonReportBlock(block, first));
        first = false;
        continue;
      }
      const kept = selection.records(block);
      if (kept.length === 0) continue;
      // jsonReportBlock's events line, record by record from the bytes.
      const head = `${first ? '' : ',\n'}{"type":"events","offset":${block.offset},"sessionId":${block.sessionId},"records":[`;
      await output.block('json', block, kept, head);
      first = false;
    }
    await output.write(JSON_REPORT_TAIL);
  });
}

/** What a SARIF result shows of the code a decision stopped. */
type SarifCode = Pick<OpenCodeRecord, 'intent' | 'realPath' | 'path' | 'sha256'>;

/** RFC 4180 quoting; a cell a spreadsheet would run as a formula gets a leading quote. */
export function csvCell(value: string | number | null): string {
  if (value === null) return '';
  let text = String(value);
  if (typeof value === 'string' && /^[=+\-@\t\r]/.test(text)) text = `'${text}`;
  return /[",\r\n]/.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}

async function csvReport(
  blocks: AsyncIterable<RawSessionBlock>,
  filter: Filter,
  sink: Sink,
): Promise<void> {
  await sink.write(`${CSV_COLUMNS.join(',')}\r\n`);
  const pids = new Map<number, number>();
  const selection = new RawSelection(filter);
  const output = new FormattedOutput(sink);
  await output.run(async () => {
    for await (const block of blocks) {
      selection.see(block);
      if (block.type === 'process') pids.set(block.process.session, block.process.pid);
      if (block.type !== 'events') continue;
      const kept = selection.records(block);
      if (kept.length === 0) continue;
      // ,session,pid, : the same for every record of the block.
      await output.block(
        'csv',
        block,
        kept,
        `,${block.sessionId},${pids.get(block.sessionId) ?? ''},`,
      );
    }
    await output.settle();
  });
}

// ---------------------------------------------------------------- SARIF

const SARIF_SCHEMA = 'https://json.schemastore.org/sarif-2.1.0.json';

async function sarifReport(
  blocks: AsyncIterable<RawSessionBlock>,
  filter: Filter,
  sink: Sink,
  sessionPath: string,
): Promise<void> {
  let policy: PolicyInfo | null = null;
  let comments: RuleComments = [];
  const pids = new Map<number, number>();
  // The code record each decision of code decides (same session, by seq),
  // bounded. What a result shows of it depends on its bytes after the
  // header alone: decoded once per distinct bytes (decoding every one of
  // them was a fifth of the report).
  const recentCode = new RecentRecords<SarifCode>(4096);
  const codeSeen = new BytesMemo<SarifCode>();
  const rules = new Map<string, { id: string; text: string }>();
  let started = false;
  const head = (): string =>
    `{"$schema":${JSON.stringify(SARIF_SCHEMA)},"version":"2.1.0","runs":[{"results":[`;
  const selection = new RawSelection(filter);
  for await (const block of blocks) {
    selection.see(block);
    if (block.type === 'policy') {
      policy = block.policy;
      comments = ruleCommentsOf(policy);
    }
    if (block.type === 'process') pids.set(block.process.session, block.process.pid);
    if (block.type !== 'events') continue;
    for (const p of selection.records(block)) {
      // Only intents and decisions matter here: audit records (nearly all
      // of a session) are passed over without being decoded.
      const src = block.records;
      const kind = src[p + 4];
      if (kind === RecordKind.AUDIT) continue;
      if (kind === RecordKind.OPEN_CODE) {
        let code = codeSeen.get(src, p);
        if (code === undefined) {
          const { intent, realPath, path, sha256 } = decodeRecordAt(src, p) as OpenCodeRecord;
          code = { intent, realPath, path, sha256 };
          codeSeen.set(src, p, code);
        }
        const seq = src.readUInt32LE(p + 12) + src.readUInt32LE(p + 16) * 0x1_0000_0000;
        recentCode.add(block.sessionId, seq, code);
        continue;
      }
      const record = decodeRecordAt(src, p);
      if (record.kind !== 'decision') continue;
      if (record.outcome !== 'denied' && record.action !== 'ask') continue;
      const ruleId =
        record.ruleIndex === null ? 'hookscope/default' : `hookscope/rule-${record.ruleIndex}`;
      if (!rules.has(ruleId)) {
        rules.set(ruleId, {
          id: ruleId,
          text:
            record.ruleIndex === null
              ? "the policy's default"
              : (comments[record.ruleIndex] ?? `rule ${record.ruleIndex} of the policy`),
        });
      }
      const code = isCodeLoadEvent(record.event)
        ? recentCode.find(block.sessionId, Number(record.eventSeq))
        : undefined;
      const result = sarifResult(record, ruleId, code, pids.get(block.sessionId) ?? null, comments);
      const text = `${started ? ',' : ''}${JSON.stringify(result)}`;
      if (!started) {
        await sink.write(head());
        started = true;
      }
      await sink.write(text);
    }
  }
  if (!started) await sink.write(head());
  const driver = {
    name: 'Hookscope',
    version: HOOKSCOPE_VERSION,
    rules: [...rules.values()].map((r) => ({
      id: r.id,
      shortDescription: { text: r.text },
    })),
  };
  const run = {
    tool: { driver },
    originalUriBaseIds: {},
    properties: {
      session: path.basename(sessionPath),
      ...(policy !== null ? { policy: policy.file, policySha256: policy.sha256 } : {}),
    },
  };
  // The results array is open: close it and add the rest of the run.
  const rest = JSON.stringify(run).slice(1);
  await sink.write(`],${rest}]}\n`);
}

function sarifResult(
  decision: DecisionRecord,
  ruleId: string,
  code: SarifCode | undefined,
  pid: number | null,
  comments: RuleComments,
): Record<string, unknown> {
  const what = code ? `${code.intent} ${code.realPath || textOf(code.path)}` : decision.event;
  const message = `${what}: ${decision.outcome} by ${decidedByText(decision, comments)}${pid !== null ? ` in process ${pid}` : ''}`;
  const origin = originOf(decision.stack);
  const frame = decision.stack === null ? undefined : decision.stack[origin?.frame ?? 0];
  const locations =
    frame !== undefined && frame.file.startsWith('/')
      ? [
          {
            physicalLocation: {
              artifactLocation: { uri: fileUri(frame.file) },
              region: { startLine: Math.max(1, frame.line) },
            },
            ...(origin
              ? { logicalLocations: [{ fullyQualifiedName: `${origin.module}.${frame.function}` }] }
              : {}),
          },
        ]
      : [];
  return {
    ruleId,
    level: decision.outcome === 'denied' ? 'error' : 'warning',
    message: { text: message },
    locations,
    properties: {
      event: decision.event,
      outcome: decision.outcome,
      decidedBy: decision.by,
      waitedNs: decision.waitedNs.toString(),
      ...(code ? { realPath: code.realPath, sha256: code.sha256, intent: code.intent } : {}),
      ...(origin ? { module: origin.module, package: origin.package } : {}),
      ...(pid !== null ? { pid } : {}),
    },
  };
}

function fileUri(file: string): string {
  return `file://${file.split('/').map(encodeURIComponent).join('/')}`;
}
