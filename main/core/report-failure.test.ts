// A json or csv report formats each block in the background while the next
// is read (report.ts's FormattedOutput): a report that fails half-way (a
// cancel, a failed write) waits for that block and drops it, fails with the
// error, and leaves no output behind.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';

import { writeBenchSession } from '../test-support/bench-session.js';
import { CLI, tempDir } from '../test-support/cli.js';
import { writeReport } from './report.js';

describe('a json or csv report that fails half-way', () => {
  const dir = tempDir('hookscope-report-failure-');
  const session = path.join(dir, 'bench.hks');
  writeBenchSession(session, 60_000);

  for (const format of ['json', 'csv'] as const) {
    it(`${format}: stopped by its progress callback, leaves no file`, async () => {
      const out = path.join(dir, `stopped.${format}`);
      // The twelfth block is the seventh events block: the sixth is in the background.
      let calls = 0;
      await expect(
        writeReport(session, out, {
          format,
          onProgress: () => {
            if (++calls === 12) throw new Error('stopped here');
          },
        }),
      ).rejects.toThrow('stopped here');
      expect(calls).toBe(12);
      expect(fs.readdirSync(dir).filter((f) => f !== 'bench.hks')).toEqual([]);
      // To a slow stream: the block in the background when the report
      // fails is finished or dropped before the failure is reported, and
      // nothing is written after it.
      let written = 0;
      const sink = new Writable({
        highWaterMark: 1,
        write(chunk: Buffer, _encoding, callback) {
          setTimeout(() => {
            written += chunk.length;
            callback();
          }, 20);
        },
      });
      calls = 0;
      await expect(
        writeReport(
          session,
          null,
          {
            format,
            onProgress: () => {
              if (++calls === 12) throw new Error('stopped here');
            },
          },
          sink,
        ),
      ).rejects.toThrow('stopped here');
      const atFailure = written;
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(written).toBe(atFailure);
    });

    it(`${format}: a write that fails fails the report, and nothing is written after it`, async () => {
      let written = 0;
      let afterError = 0;
      let failed = false;
      const sink = new Writable({
        // Every write waits for 'drain', so the error reaches the writer.
        highWaterMark: 1,
        write(chunk: Buffer, _encoding, callback) {
          if (failed) afterError++;
          written += chunk.length;
          if (written > 200_000 && !failed) {
            failed = true;
            callback(new Error('no space left on the test device'));
          } else callback();
        },
      });
      await expect(writeReport(session, null, { format }, sink)).rejects.toThrow(
        'no space left on the test device',
      );
      expect(failed).toBe(true);
      expect(afterError).toBe(0);
    });
  }

  it('to a pipe whose reader goes away (`| head`): stops quietly, exit 0', async () => {
    for (const format of ['csv', 'json', 'perfetto']) {
      const child = spawn(process.execPath, [CLI, 'report', session, '--format', format], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      // The first bytes, then the reader closes its end.
      await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
      child.stdout.destroy();
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      expect({ format, code, stderr }).toEqual({ format, code: 0, stderr: '' });
    }
  });
});

describe('a report refused before it starts', () => {
  it('leaves the session file closed (the desktop app runs on)', async () => {
    const dir = tempDir('hookscope-report-refused-');
    const session = path.join(dir, 'bench.hks');
    writeBenchSession(session, 1_000);
    const existing = path.join(dir, 'exists.json');
    fs.writeFileSync(existing, '');
    const open = (): number => fs.readdirSync('/proc/self/fd').length;
    const before = open();
    for (let i = 0; i < 10; i++) {
      await expect(writeReport(session, existing, { format: 'json' })).rejects.toThrow(
        /exists; it is not overwritten/,
      );
      await expect(
        writeReport(session, path.join(dir, 'no-such-dir', 'r.csv'), { format: 'csv' }),
      ).rejects.toThrow(/cannot write/);
    }
    expect(open()).toBe(before);
  });
});
