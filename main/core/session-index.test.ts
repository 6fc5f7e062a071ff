import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { tempDir } from '../test-support/cli.js';
import {
  SAMPLE,
  writeEnforcedSampleSession,
  writeSampleSession,
} from '../test-support/sample-session.js';
import { encodeAuditRecord, v } from '../test-support/wire-encoder.js';
import { SessionWriter } from './session-file.js';
import { SessionIndex } from './session-index.js';
import { summarizeSession } from './summary.js';

/** One process, pid 7, started at 0 on the monotonic clock. */
const PROCESS_7 = {
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
};

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
    w.writeProcess(PROCESS_7);
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
    const index = SessionIndex.withSummary(file);
    await index.refresh();
    expect(index.totalEvents).toBe(3);
    expect(index.summary()?.totalEvents).toBe(3);
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
    // The summary went on with it: the same as one read of the whole file.
    expect(index.summary()).toEqual(await summarizeSession(file));
    expect(index.progress.readBytes).toBeGreaterThan(0);
    expect(await index.stillReads()).toBe(true);
    // Replaced by another file of the same name: this index no longer reads it.
    fs.copyFileSync(file, `${file}.new`);
    fs.renameSync(`${file}.new`, file);
    expect(await index.stillReads()).toBe(false);
  });

  it('finds argument text in every line of a block, whatever lower-casing does to its length', async () => {
    const file = path.join(dir, 'text.hks');
    const w = SessionWriter.create(file, { overwrite: false });
    w.writeProcess(PROCESS_7);
    const texts = [
      ['/srv/Needle/a', '/srv/other'],
      ['/srv/x', '/srv/needle/b needle again'],
      // 'İ' lower-cases to two code units: offsets in the lower-cased text shift.
      ['/srv/İstanbul', '/srv/NEEDLE/c'],
      ['/srv/y', '/srv/z'],
    ];
    texts.forEach((block, b) =>
      w.writeEvents(
        1,
        Buffer.concat(
          block.map((arg, i) =>
            encodeAuditRecord({
              seq: b * 2 + i,
              tid: 1,
              timeNs: BigInt(b * 2 + i),
              event: 'open',
              args: v.tuple([v.str(arg)]),
            }),
          ),
        ),
      ),
    );
    w.close();
    const index = await SessionIndex.open(file);
    const found = async (text: string) =>
      (await index.page({ text }, 0, 10)).rows.map((r) => r.args[0]);
    expect(await found('needle')).toEqual([
      '/srv/Needle/a',
      '/srv/needle/b needle again',
      '/srv/NEEDLE/c',
    ]);
    expect(await found('i̇stanbul')).toEqual(['/srv/İstanbul']);
    // The event name is searched too; NUL between lines never joins two of them.
    expect(await found('open')).toHaveLength(8);
    expect(await found("other'")).toEqual(['/srv/other']);
    expect(await found("/a' open")).toEqual([]);
    const rows = (await index.page({}, 0, 10)).rows;
    expect(rows.map((r) => r.argsSummary)).toEqual(texts.flat().map((t) => `'${t}'`));
  });

  it('marks each event with the decision about it, with its stack when recorded', async () => {
    const file = path.join(dir, 'enforced.hks');
    writeEnforcedSampleSession(file, { withStack: true });
    const index = await SessionIndex.open(file);
    const { rows } = await index.page({}, 0, 10);
    expect(
      rows.map((r) => [r.event, r.decision?.outcome ?? null, r.decision?.asked ?? null]),
    ).toEqual([
      ['io.open_code', 'denied', false],
      ['open', null, null],
      ['subprocess.Popen', 'denied', false],
      ['socket.connect', 'denied', true],
    ]);
    const popen = rows[2]?.decision?.detail;
    expect(popen).toMatchObject({
      by: 'rule',
      ruleIndex: 1,
      waitedNs: '2500000',
      module: '__main__',
    });
    expect(popen?.stack?.[1]).toEqual({
      file: '/srv/app.py',
      function: 'list_files',
      line: 12,
      module: '__main__',
    });
    // No stack recorded: the outcome only.
    expect(rows[0]?.decision?.detail).toBeNull();

    const count = async (filter: Parameters<SessionIndex['page']>[0]) =>
      (await index.page(filter, 0, 10)).rows.map((r) => r.event);
    expect(await count({ decision: 'denied' })).toEqual([
      'io.open_code',
      'subprocess.Popen',
      'socket.connect',
    ]);
    expect(await count({ decision: 'asked' })).toEqual(['socket.connect']);
    expect(await count({ decision: 'none' })).toEqual(['open']);
    expect(await count({ decision: 'allowed' })).toEqual([]);
    expect(await count({ decision: 'any', categories: ['processes', 'network'] })).toEqual([
      'subprocess.Popen',
      'socket.connect',
    ]);
  });

  it('places events on one session axis and filters by time range and thread', async () => {
    const index = await SessionIndex.open(sample);
    const { rows } = await index.page({}, 0, 100);
    // The first process starts the axis; the child's events come later on it.
    expect(rows[0]?.offsetNs).toBe(1_000_000);
    const child = rows.filter((r) => r.pid === SAMPLE.childPid);
    expect(child[0]?.offsetNs).toBe(Number(6_000_500_000n - SAMPLE.startMonotonicNs));
    const window = await index.page({ fromNs: 1_500_000, toNs: 4_000_000 }, 0, 100);
    expect(window.rows.every((r) => r.offsetNs >= 1_500_000 && r.offsetNs <= 4_000_000)).toBe(true);
    expect(window.matchingEvents).toBe(
      rows.filter((r) => r.offsetNs >= 1_500_000 && r.offsetNs <= 4_000_000).length,
    );
    const thread = await index.page({ tid: 101 }, 0, 100);
    expect(thread.rows.map((r) => r.tid)).toEqual(rows.filter((r) => r.tid === 101).map(() => 101));
    expect(thread.matchingEvents).toBeGreaterThan(0);
  });

  it('sorts by a column, stably, both ways, and marks highlighted rows without hiding any', async () => {
    const index = await SessionIndex.open(sample);
    const all = (await index.page({}, 0, 100)).rows;
    const byEvent = (await index.page({}, 0, 100, { sort: { column: 'event', descending: false } }))
      .rows;
    const expected = [...all].sort((a, b) =>
      a.event < b.event ? -1 : a.event > b.event ? 1 : a.index - b.index,
    );
    expect(byEvent.map((r) => r.index)).toEqual(expected.map((r) => r.index));
    const byTimeDown = (
      await index.page({}, 0, 100, { sort: { column: 'time', descending: true } })
    ).rows.map((r) => r.offsetNs);
    expect(byTimeDown).toEqual([...byTimeDown].sort((a, b) => b - a));
    const childFirst = (
      await index.page({}, 0, 100, {
        sort: { column: 'pid', descending: SAMPLE.childPid > SAMPLE.parentPid },
      })
    ).rows;
    expect(childFirst[0]?.pid).toBe(SAMPLE.childPid);

    const marked = await index.page({}, 0, 100, { highlight: { event: 'socket.*' } });
    expect(marked.matchingEvents).toBe(all.length);
    expect(marked.rows.filter((r) => r.highlighted).map((r) => r.event)).toEqual(
      all.filter((r) => r.event.startsWith('socket.')).map((r) => r.event),
    );
    expect(marked.rows.some((r) => r.highlighted)).toBe(true);
  });

  it('counts the filtered events per category over a time range, with the decisions', async () => {
    const index = await SessionIndex.open(sample);
    const all = (await index.page({}, 0, 100)).rows;
    const whole = index.timeline({}, { buckets: 10 });
    expect(whole.extentFromNs).toBe(Math.min(...all.map((r) => r.offsetNs)));
    expect(whole.extentToNs).toBe(Math.max(...all.map((r) => r.offsetNs)));
    const sum = (view: typeof whole) =>
      view.lanes.reduce((n, lane) => n + lane.counts.reduce((a, b) => a + b, 0), 0);
    expect(sum(whole)).toBe(all.length);
    for (const lane of whole.lanes) {
      expect(lane.counts).toHaveLength(10);
      expect(lane.counts.reduce((a, b) => a + b, 0)).toBe(
        all.filter((r) => r.category === lane.category).length,
      );
    }
    // A zoomed view counts only what is inside it; the filter's own time range is ignored.
    const part = index.timeline(
      { fromNs: 0, toNs: 1 },
      { fromNs: 1_000_000, toNs: 3_000_000, buckets: 4 },
    );
    expect(sum(part)).toBe(
      all.filter((r) => r.offsetNs >= 1_000_000 && r.offsetNs <= 3_000_000).length,
    );
    expect(part.bucketNs).toBe(500_000);
    const sockets = index.timeline({ event: 'socket.*' }, { buckets: 5 });
    expect(sum(sockets)).toBe(all.filter((r) => r.event.startsWith('socket.')).length);

    const file = path.join(dir, 'enforced-timeline.hks');
    writeEnforcedSampleSession(file);
    const enforced = (await SessionIndex.open(file)).timeline({}, { buckets: 3 });
    expect(enforced.decisions.map((d) => [d.outcome, d.asked])).toEqual([
      ['denied', false],
      ['denied', false],
      ['denied', true],
    ]);
    expect(enforced.decisionsCut).toBe(false);
  });
});
