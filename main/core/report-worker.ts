// One events block of a json or csv report, formatted as a task: on a
// worker thread of a FormatPool (format-pool.ts), or on the calling thread
// where there is none. Blocks of these formats do not depend on each
// other (what does, the filter and the separators, is settled before the
// task), so the threads format blocks side by side and the report is
// written in file order from their results.

import { parentPort } from 'node:worker_threads';

import { ByteOut, writeCsvRow, writePlainRecord } from './report-bytes.js';

export interface FormatTask {
  format: 'json' | 'csv';
  /** The block's records, as validateEventsPayload accepted them. */
  records: Uint8Array;
  /** Where the records to write start, in order. */
  offsets: Int32Array;
  /** json: the line up to its first record; csv: ",session,pid," of every row. */
  head: string;
}

/** What a worker answers: the task's bytes, or why it failed. */
export type FormatReply = { id: number; bytes: Uint8Array } | { id: number; error: string };

/** The report bytes of one task. */
export function formatBlock(task: FormatTask): Buffer {
  const src = Buffer.from(task.records.buffer, task.records.byteOffset, task.records.byteLength);
  const out = new ByteOut(Math.max(4096, src.length * 4));
  const { offsets } = task;
  if (task.format === 'json') {
    out.text(task.head);
    for (let i = 0; i < offsets.length; i++) {
      if (i > 0) out.byte(0x2c);
      writePlainRecord(out, src, offsets[i] as number);
    }
    out.text(']}');
  } else {
    const ownerBytes = Buffer.from(task.head, 'latin1');
    for (let i = 0; i < offsets.length; i++) {
      writeCsvRow(out, src, offsets[i] as number, task.head, ownerBytes);
    }
  }
  return out.finish();
}

// As a worker: one task per message, the bytes handed back (transferred,
// not copied). A task that throws is answered with the error, so the
// report fails with it instead of waiting.
const port = parentPort;
if (port !== null) {
  port.on('message', ({ id, task }: { id: number; task: FormatTask }) => {
    let reply: FormatReply;
    try {
      const bytes = formatBlock(task);
      reply = { id, bytes };
      port.postMessage(reply, [bytes.buffer as ArrayBuffer]);
      return;
    } catch (error) {
      reply = {
        id,
        error: error instanceof Error ? (error.stack ?? error.message) : String(error),
      };
    }
    port.postMessage(reply);
  });
}
