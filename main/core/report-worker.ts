// One events block of a json or csv report, formatted as a task: the
// block's records, which of them to write, and the text they share. The
// addon does it in reports (native-report.ts); formatBlock here is the
// same in TypeScript, the writers it falls back on.

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

/**
 * The report bytes of one task, written in TypeScript (report-bytes.ts).
 * Reports use formatBlockNative (native-report.ts), whose addon writes the
 * common records and hands the rest to these same writers;
 * native-report.test.ts holds the two to the same bytes.
 */
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
