// Reports from a session file, streamed: `json` and `csv` (one row per
// record) here; `html`, `perfetto`, `sarif` and `policy` (what the
// session's decisions imply, as `--learn` writes it) in modules of their
// own, loaded only for the report that asks for them (a report's start is
// part of what it costs). The output goes to a temporary file beside the
// target and is renamed into place only when complete, so a failure never
// leaves a partial report behind.

import fs from 'node:fs';
import path from 'node:path';

import { JSON_REPORT_TAIL, jsonReportBlock, jsonReportHead } from './json-report.js';
import { formatBlockNativeAsync, newFormatTables } from './native-report.js';
import { ByteOuts } from './report-bytes.js';
import { filterRawBlocks, RawSelection, type Filter, type Sink } from './report-selection.js';
import { SessionReader, type RawEventsBlock, type RawSessionBlock } from './session-file.js';
import { HOOKSCOPE_VERSION } from './version.js';

export type { Filter } from './report-selection.js';

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
      const { eventMatcher } = await import('./event-glob.js');
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
  try {
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
  } catch (error) {
    // The session stays closed on a refusal too (the desktop app lives on).
    await reader.close();
    throw error;
  }
  // An error of the output stream, whenever it comes: one emitted after a
  // write that did not wait (a reader of stdout gone, a full disk) would
  // otherwise have no listener and end the process.
  let streamError: Error | null = null;
  const onStreamError = (error: Error): void => {
    streamError ??= error;
  };
  stream.on('error', onStreamError);
  // A file's and stdout's write callbacks come once the bytes are written
  // out (to the kernel), so a chunk's buffer may then be used again; any
  // other stream (a transform, one that keeps what it is given) may still
  // hold the chunk, and its buffers are not used again.
  const writesOut = outPath !== null || stream === process.stdout;
  const sink: Sink = {
    write: (chunk, written) =>
      new Promise((resolve, reject) => {
        if (streamError !== null) {
          reject(streamError);
          return;
        }
        const fits =
          written && writesOut
            ? stream.write(chunk, (error?: Error | null) => {
                if (!error) written();
              })
            : stream.write(chunk);
        if (fits) {
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
    // Every format reads the records as bytes (report-bytes.ts) and
    // decodes only what it cannot write from them. None keeps a view of a
    // block's bytes past the block after it (json and csv format one block
    // in the background while they read the next, and wait for it before
    // passing over a block: FormattedOutput.skip): the reader may reuse its
    // buffers.
    const raw = (): AsyncGenerator<RawSessionBlock> =>
      progressBlocks(reader.rawBlocks({ reuseBuffers: true }), sessionPath, options.onProgress);
    if (options.format === 'json') {
      await jsonReport(raw(), filter, sink, sessionPath);
    } else if (options.format === 'html') {
      const { htmlReport } = await import('./html-report.js');
      await htmlReport(sessionPath, raw(), (chunk, written) => sink.write(chunk, written));
    } else if (options.format === 'csv') {
      await csvReport(raw(), filter, sink);
    } else if (options.format === 'perfetto') {
      const { perfettoReport } = await import('./perfetto-report.js');
      await perfettoReport(filterRawBlocks(raw(), filter), (chunk, written) =>
        sink.write(chunk, written),
      );
    } else if (options.format === 'sarif') {
      const { sarifReport } = await import('./sarif-report.js');
      await sarifReport(raw(), filter, sink, sessionPath);
    } else {
      const { formatPolicy, learnPolicy } = await import('./policy/index.js');
      await sink.write(formatPolicy(await learnPolicy(filterRawBlocks(raw(), filter))));
    }
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
    // Its blocks close it when read to the end or left; not when a format
    // failed before reading any.
    await reader.close();
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
  private readonly outs = new ByteOuts(1 << 20);

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
    const out = this.outs.get();
    // A failure is kept for the next call: a rejection nobody waits on
    // while the next block is read would end the process.
    this.inFlight = formatBlockNativeAsync(task, { tables: this.tables, out })
      .then((bytes) =>
        this.dropped
          ? this.outs.release(out)
          : this.sink.write(bytes, () => this.outs.release(out)),
      )
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

  /**
   * A block the report passes over. The reader counts it as read: the
   * block in the background may use its bytes only until the block after
   * this one is asked for (rawBlocks' reuseBuffers), so it is waited for
   * here.
   */
  async skip(): Promise<void> {
    await this.settle();
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
      if (kept.length === 0) {
        await output.skip();
        continue;
      }
      // jsonReportBlock's events line, record by record from the bytes.
      const head = `${first ? '' : ',\n'}{"type":"events","offset":${block.offset},"sessionId":${block.sessionId},"records":[`;
      await output.block('json', block, kept, head);
      first = false;
    }
    await output.write(JSON_REPORT_TAIL);
  });
}

/** What a SARIF result shows of the code a decision stopped. */

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
      const kept = block.type === 'events' ? selection.records(block) : [];
      if (block.type !== 'events' || kept.length === 0) {
        await output.skip();
        continue;
      }
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
