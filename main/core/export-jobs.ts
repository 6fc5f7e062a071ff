// Reports written for the UI's export dialog: each export runs in the
// background of the main process (writeReport streams, so the API stays
// responsive), reports its progress as bytes of the session read, and can
// be cancelled. Like `hookscope report`, a failed or cancelled export
// leaves nothing at its output path.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { ApiError, type ExportJob, type ExportRequest } from '../common/ipc-contract.js';
import { ReportError, writeReport, type ReportOptions } from './report.js';

/** Finished jobs remembered for `export.status`; the oldest are forgotten beyond this. */
const KEPT_JOBS = 32;

/** Raised from the progress callback to stop writeReport between blocks. */
class ExportCancelled extends Error {}

interface Job {
  status: ExportJob;
  cancel: AbortController;
  /** Settles when the export has ended (its output in place, or removed). */
  ended: Promise<void>;
}

export class ExportJobs {
  private readonly jobs = new Map<string, Job>();

  constructor(private readonly log: (line: string) => void) {}

  /**
   * Starts an export of `sessionFile` (already checked to be a session the
   * UI may read). `keep` marks the events to export by their position (the
   * table's filter, from the session index); null exports them all.
   * Refuses at once what can be known up front: an output that exists, a
   * folder that does not, a filter the format cannot apply.
   */
  start(sessionFile: string, request: ExportRequest, keep: Uint8Array | null): ExportJob {
    const out = path.resolve(request.out);
    if (fs.existsSync(out)) {
      throw new ApiError('refused', `${out} exists; choose another name (it is not overwritten)`);
    }
    const folder = path.dirname(out);
    if (!fs.existsSync(folder) || !fs.statSync(folder).isDirectory()) {
      throw new ApiError('refused', `${folder} is not a folder`);
    }
    if (keep !== null && request.format === 'html') {
      throw new ApiError(
        'refused',
        'the HTML report covers the whole session: export it without the filter, or choose another format',
      );
    }
    const options: Pick<ReportOptions, 'keepEvent'> =
      keep === null ? {} : { keepEvent: (position) => keep[position] === 1 };
    const jobId = crypto.randomUUID();
    const cancel = new AbortController();
    const status: ExportJob = {
      jobId,
      path: sessionFile,
      format: request.format,
      out,
      state: 'running',
      readBytes: 0,
      totalBytes: fs.statSync(sessionFile).size,
      outBytes: null,
      error: null,
      startedAtMs: Date.now(),
      endedAtMs: null,
    };
    const ended = this.run(
      sessionFile,
      out,
      { ...options, format: request.format },
      status,
      cancel.signal,
    );
    this.jobs.set(jobId, { status, cancel, ended });
    this.forgetOld();
    return { ...status };
  }

  status(jobId: string): ExportJob {
    return { ...this.job(jobId).status };
  }

  cancel(jobId: string): ExportJob {
    const job = this.job(jobId);
    job.cancel.abort();
    return { ...job.status };
  }

  /**
   * Cancels every running export (the app is closing) and waits for each
   * to end, so that none leaves its temporary file behind.
   */
  async cancelAll(): Promise<void> {
    for (const job of this.jobs.values()) job.cancel.abort();
    await Promise.all([...this.jobs.values()].map((job) => job.ended));
  }

  private job(jobId: string): Job {
    const job = this.jobs.get(jobId);
    if (job === undefined) throw new ApiError('not-found', `no export with id ${jobId}`);
    return job;
  }

  private async run(
    sessionFile: string,
    out: string,
    options: ReportOptions,
    status: ExportJob,
    signal: AbortSignal,
  ): Promise<void> {
    try {
      await writeReport(sessionFile, out, {
        ...options,
        onProgress: (readBytes, totalBytes) => {
          // The report stops at the next block; writeReport removes its temporary file.
          if (signal.aborted) throw new ExportCancelled('cancelled');
          status.readBytes = readBytes;
          status.totalBytes = totalBytes;
        },
      });
      if (signal.aborted) {
        // Finished in the same moment it was cancelled: honour the cancel.
        fs.rmSync(out, { force: true });
        status.state = 'cancelled';
      } else {
        status.state = 'done';
        status.readBytes = status.totalBytes;
        status.outBytes = fs.statSync(out).size;
      }
    } catch (error) {
      if (error instanceof ExportCancelled || signal.aborted) {
        status.state = 'cancelled';
      } else {
        status.state = 'failed';
        status.error =
          error instanceof ReportError
            ? error.message
            : `could not write the report: ${(error as Error).message}`;
        this.log(`hookscope: export of ${sessionFile} to ${out} failed: ${status.error}`);
      }
    } finally {
      status.endedAtMs = Date.now();
    }
  }

  private forgetOld(): void {
    if (this.jobs.size <= KEPT_JOBS) return;
    for (const [id, job] of this.jobs) {
      if (this.jobs.size <= KEPT_JOBS) break;
      if (job.status.state !== 'running') this.jobs.delete(id);
    }
  }
}
