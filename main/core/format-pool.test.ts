// The json and csv formatting threads: real worker threads running the
// compiled worker (app/dist, made by `npm run build`), giving exactly the
// bytes the calling thread gives for the same blocks; stopping them fails
// what waits instead of leaving it hanging; and where they cannot help or
// run, there is no pool and the report is made on the calling thread.
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import { writeBenchSession } from '../test-support/bench-session.js';
import { REPO_ROOT, tempDir } from '../test-support/cli.js';
import { FormatPool } from './format-pool.js';
import { formatBlock, type FormatTask } from './report-worker.js';
import { SessionReader } from './session-file.js';

const WORKER = path.join(REPO_ROOT, 'app', 'dist', 'main', 'core', 'report-worker.js');

/** Tasks for every events block of a generated session, each format, all records kept. */
async function tasksOf(file: string): Promise<FormatTask[]> {
  const tasks: FormatTask[] = [];
  for await (const block of (await SessionReader.open(file)).rawBlocks()) {
    if (block.type !== 'events') continue;
    const offsets: number[] = [];
    for (let p = 0; p < block.records.length; p += block.records.readUInt32LE(p)) offsets.push(p);
    for (const format of ['json', 'csv'] as const) {
      tasks.push({
        format,
        records: new Uint8Array(block.records),
        offsets: Int32Array.from(format === 'json' ? offsets : offsets.filter((_, i) => i % 3)),
        head:
          format === 'json' ? `{"type":"events","offset":${block.offset},"records":[` : ',1,42,',
      });
    }
  }
  return tasks;
}

describe('FormatPool', () => {
  it('formats blocks on worker threads exactly as the calling thread does', async () => {
    const file = path.join(tempDir('hookscope-pool-'), 'bench.hks');
    writeBenchSession(file, 30_000);
    const tasks = await tasksOf(file);
    // The calling thread's bytes first: a task's buffers move to the worker.
    const expected = tasks.map((t) => formatBlock(t).toString('latin1'));
    const pool = FormatPool.open({ threads: 3, script: WORKER });
    expect(pool, `${WORKER} (run \`npm run build\`)`).not.toBeNull();
    try {
      expect(pool!.threads).toBe(3);
      const got = await Promise.all(tasks.map((t) => pool!.format(t)));
      expect(got.map((b) => b.toString('latin1'))).toEqual(expected);
      expect(tasks.length).toBeGreaterThan(20);
    } finally {
      await pool!.close();
    }
  });

  it('fails what is still waiting when it is stopped, and everything after', async () => {
    const file = path.join(tempDir('hookscope-pool-'), 'bench.hks');
    writeBenchSession(file, 30_000);
    const tasks = await tasksOf(file);
    const pool = FormatPool.open({ threads: 2, script: WORKER })!;
    const waiting = tasks.map((t) => pool.format(t));
    const settled = Promise.allSettled(waiting);
    await pool.close();
    const outcomes = await settled;
    // Some may have been answered before the stop; none is left hanging.
    expect(outcomes.some((o) => o.status === 'rejected')).toBe(true);
    for (const o of outcomes) {
      if (o.status === 'rejected') expect(String(o.reason)).toMatch(/report threads were stopped/);
    }
    await expect(pool.format(tasks[0]!)).rejects.toThrow(/stopped/);
  });

  it('is not made where threads cannot help or run', () => {
    expect(FormatPool.open({ threads: 1, script: WORKER })).toBeNull();
    expect(FormatPool.open({ threads: 2, script: path.join(REPO_ROOT, 'no-such.js') })).toBeNull();
    // From the TypeScript sources (as here) there is no compiled script beside the module.
    expect(FormatPool.open({ threads: 2 })).toBeNull();
  });
});
