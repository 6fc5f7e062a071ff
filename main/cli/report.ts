// `hookscope report FILE --format json|html|csv|perfetto|sarif|policy [--out OUT] [--pid PID] [--event GLOB]`
import path from 'node:path';

import {
  REPORT_FORMATS,
  ReportError,
  ReportOutputClosed,
  writeReport,
  type ReportFormat,
} from '../core/report.js';
import { SessionFileError } from '../core/session-file.js';

export interface ReportCommandOptions {
  format?: string;
  out?: string;
  pid?: number;
  event?: string;
}

/** Exit codes: 0 written; 2 bad input (nothing written); 1 the session could not be read. */
export async function reportCommand(
  file: string,
  options: ReportCommandOptions,
  stdout: NodeJS.WritableStream,
  err: NodeJS.WritableStream & { isTTY?: boolean },
): Promise<number> {
  if (options.format === undefined) {
    err.write(`hookscope report: --format is required (${REPORT_FORMATS.join(', ')})\n`);
    return 2;
  }
  const out = options.out === undefined || options.out === '-' ? null : path.resolve(options.out);
  let lastShown = 0;
  // Progress on a terminal only, a line rewritten at most every 200 ms.
  const onProgress = err.isTTY
    ? (read: number, total: number) => {
        const now = Date.now();
        if (now - lastShown < 200 && read < total) return;
        lastShown = now;
        const pct = total > 0 ? Math.floor((read / total) * 100) : 100;
        err.write(`\rhookscope report: ${pct}% of ${(total / 1e6).toFixed(1)} MB read`);
        if (read >= total) err.write('\n');
      }
    : undefined;
  try {
    await writeReport(
      file,
      out,
      {
        format: options.format as ReportFormat,
        ...(options.pid !== undefined ? { pid: options.pid } : {}),
        ...(options.event !== undefined ? { eventGlob: options.event } : {}),
        ...(onProgress ? { onProgress } : {}),
      },
      stdout,
    );
  } catch (error) {
    // `hookscope report … | head`: the reader has what it wanted.
    if (error instanceof ReportOutputClosed) return 0;
    if (error instanceof ReportError) {
      err.write(`hookscope report: ${error.message}\n`);
      return 2;
    }
    if (error instanceof SessionFileError) {
      err.write(`hookscope report: ${error.message}\n`);
      return 1;
    }
    throw error;
  }
  if (out !== null) err.write(`hookscope: report written to ${out}\n`);
  return 0;
}
