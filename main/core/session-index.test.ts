import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { tempDir } from '../test-support/cli.js';
import { SAMPLE, writeSampleSession } from '../test-support/sample-session.js';
import { encodeAuditRecord, v } from '../test-support/wire-encoder.js';
import { SessionWriter } from './session-file.js';
import { SessionIndex } from './session-index.js';
import { summarizeSession } from './summary.js';

let dir: string;
let sample: string;
beforeAll(() => {
  dir = tempDir('hookscope-index-');
  sample = path.join(dir, 'sample.hks');
  writeSampleSession(sample);
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('SessionIndex', () => {
  it('indexes the same events the summary counts, in one read', async () => {
    const { index, summary } = await SessionIndex.openWithSummary(sample);
    expect(summary).toEqual(await summarizeSession(sample));
    expect(index.totalEvents).toBe(summary.totalEvents);
    const page = await index.page({}, 0, 1000);
    expect(page.rows.map((r) => r.index)).toEqual([...Array(summary.totalEvents).keys()]);
    expect(new Set(page.rows.map((r) => r.pid))).toEqual(
      new Set([SAMPLE.parentPid, SAMPLE.childPid]),
    );
  });

  it('filters by glob, pid and case-insensitive text, and pages the result', async () => {
    const index = await SessionIndex.open(sample);
    const sockets = await index.page({ event: 'socket.*' }, 0, 10);
    expect(sockets.rows.every((r) => r.event.startsWith('socket.'))).toBe(true);
    expect(sockets.matchingEvents).toBe(sockets.rows.length);
    const child = await index.page({ pid: SAMPLE.childPid }, 0, 100);
    expect(child.rows.every((r) => r.pid === SAMPLE.childPid)).toBe(true);
    expect(child.matchingEvents).toBeGreaterThan(0);
    const hosts = await index.page({ text: 'ETC/HOSTS' }, 0, 10);
    expect(hosts.rows.map((r) => r.event)).toEqual(['open']);
    expect(hosts.rows[0]?.argsSummary).toBe("'/etc/hosts', 'r', 524288");
    const second = await index.page({}, 1, 1);
    expect(second.rows.map((r) => r.index)).toEqual([1]);
  });

  it('gives the file identity of code opened for execution', async () => {
    const index = await SessionIndex.open(sample);
    const { rows } = await index.page({ event: 'io.open_code' }, 0, 10);
    expect(rows[0]?.fileIdentity).toMatchObject({
      path: '/usr/lib/python3.12/json/__init__.py',
      realPath: '/usr/lib/python3.12/json/__init__.py',
      sizeBytes: 12_345,
      sha256: SAMPLE.sha256.toString('hex'),
      intent: 'pythoncode',
      error: null,
    });
    expect(rows[0]?.sinceStartMs).toBe(1.5);
  });

  it('reads on from where it stopped while the file grows, even from a half-written block', async () => {
    const file = path.join(dir, 'growing.hks');
    const w = SessionWriter.create(file, { overwrite: false });
    w.writeProcess({
      session: 1,
      pid: 7,
      ppid: 1,
      parentSession: null,
      uid: 0,
      exe: '/usr/bin/python3',
      argv: ['python3'],
      cwd: '/',
      pythonVersion: '3.11',
      agentVersion: '0.1.0',
      startMonotonicNs: '0',
      startRealtimeNs: '0',
      flags: { preInit: true, initializedAtStart: false, auditHook: true, openCodeHook: true },
    });
    const batch = (from: number): Buffer =>
      Buffer.concat(
        [0, 1, 2].map((i) =>
          encodeAuditRecord({
            seq: from + i,
            event: 'import',
            args: v.tuple([v.str(`m${from + i}`)]),
          }),
        ),
      );
    w.writeEvents(1, batch(0));
    const index = await SessionIndex.open(file);
    expect(index.totalEvents).toBe(3);
    w.writeEvents(1, batch(3));
    w.close();
    // Half of the next block, as a reader may see it mid-write.
    const whole = fs.readFileSync(file);
    const scratch = path.join(dir, 'scratch.hks');
    const w2 = SessionWriter.create(scratch, { overwrite: false });
    w2.writeEvents(1, batch(6));
    w2.close();
    const block = fs.readFileSync(scratch).subarray(16);
    fs.writeFileSync(file, Buffer.concat([whole, block.subarray(0, 20)]));
    await index.refresh();
    expect(index.totalEvents).toBe(6);
    fs.appendFileSync(file, block.subarray(20));
    await index.refresh();
    expect(index.totalEvents).toBe(9);
    const { rows } = await index.page({ text: 'm8' }, 0, 5);
    expect(rows.map((r) => r.seq)).toEqual([8]);
  });
});
