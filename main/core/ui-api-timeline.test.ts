// The session view's queries through the UI API on a real run under a
// policy: decisions joined to the events they decided (with the stack),
// the filters the table offers, sorting, and the timeline's counts.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ApiReply, EventPage, TimelineView } from '../common/ipc-contract.js';
import { runCli, tempDir } from '../test-support/cli.js';
import { auditCapableInterpreters } from '../test-support/pythons.js';
import { UiApi } from './ui-api.js';

function result<T>(reply: ApiReply<unknown>): T {
  if (!reply.ok) throw new Error(`${reply.error.code}: ${reply.error.message}`);
  return reply.result as T;
}

const SCRIPT = `
import subprocess, threading
def spawn():
    try:
        subprocess.Popen(["/bin/true"])
    except PermissionError:
        pass
t = threading.Thread(target=spawn)
t.start(); t.join()
spawn()
`;

let dir: string;
let sessions: string;
beforeAll(() => {
  dir = tempDir('hookscope-ui-timeline-');
  sessions = path.join(dir, 'sessions');
  fs.mkdirSync(sessions);
  fs.writeFileSync(
    path.join(dir, 'policy.json'),
    JSON.stringify({
      version: 1,
      default: 'allow',
      rules: [{ action: 'deny', event: 'subprocess.Popen', comment: 'no processes' }],
    }),
  );
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe.each(auditCapableInterpreters().map((p) => [p.version, p] as const))(
  'session queries on CPython %s',
  (_version, python) => {
    it('joins each denial to its event, filters and sorts by it, and marks it on the timeline', async () => {
      const file = path.join(sessions, `run-${python.version}.hks`);
      const r = await runCli([
        'run',
        '--out',
        file,
        '--policy',
        path.join(dir, 'policy.json'),
        '--no-summary',
        '--',
        python.path,
        '-c',
        SCRIPT,
      ]);
      // 3: the run completed and the policy denied something.
      expect(r.code, r.stderr).toBe(3);
      const api = new UiApi({ sessionDir: sessions, log: () => undefined });
      const page = (extra: object) =>
        api
          .call('session.events', { path: file, offset: 0, limit: 1000, ...extra }, 'test')
          .then((reply) => result<EventPage>(reply));

      const denied = await page({ filter: { decision: 'denied' } });
      expect(denied.rows.map((row) => row.event)).toEqual(['subprocess.Popen', 'subprocess.Popen']);
      // Two threads: each denial is joined to its own thread's event.
      expect(new Set(denied.rows.map((row) => row.tid)).size).toBe(2);
      for (const row of denied.rows) {
        expect(row.decision).toMatchObject({
          outcome: 'denied',
          asked: false,
          detail: { by: 'rule', ruleIndex: 0, module: '__main__' },
        });
        expect(row.decision?.detail?.stack?.some((f) => f.function === 'spawn')).toBe(true);
      }
      const thread = await page({ filter: { decision: 'denied', tid: denied.rows[1]!.tid } });
      expect(thread.matchingEvents).toBe(1);

      const all = await page({});
      const undecided = await page({ filter: { decision: 'none' } });
      expect(undecided.matchingEvents).toBe(all.matchingEvents - 2);
      const processes = await page({ filter: { categories: ['processes'] } });
      expect(processes.rows.every((row) => row.category === 'processes')).toBe(true);
      expect(processes.rows.map((row) => row.event)).toContain('subprocess.Popen');

      // Sorted by decision: the denials come first.
      const byDecision = await page({ sort: { column: 'decision', descending: false } });
      expect(byDecision.rows.slice(0, 2).map((row) => row.decision?.outcome)).toEqual([
        'denied',
        'denied',
      ]);

      // The time range around the first denial holds it.
      const at = denied.rows[0]!.offsetNs;
      const around = await page({ filter: { fromNs: at, toNs: at } });
      expect(around.rows.map((row) => row.index)).toContain(denied.rows[0]!.index);

      const timeline = result<TimelineView>(
        await api.call('session.timeline', { path: file, buckets: 50 }, 'test'),
      );
      const counted = timeline.lanes.reduce(
        (n, lane) => n + lane.counts.reduce((a, b) => a + b, 0),
        0,
      );
      expect(counted).toBe(all.totalEvents);
      expect(timeline.decisions.map((d) => [d.index, d.outcome])).toEqual(
        denied.rows.map((row) => [row.index, 'denied']),
      );
      const narrow = result<TimelineView>(
        await api.call(
          'session.timeline',
          { path: file, buckets: 10, fromNs: at - 1000, toNs: at + 1000 },
          'test',
        ),
      );
      expect(narrow.decisions.map((d) => d.index)).toContain(denied.rows[0]!.index);
      expect(narrow.bucketNs).toBe(200);
    });
  },
);

describe('session.timeline refusals', () => {
  it('refuses an empty range and a missing session with a reason', async () => {
    const api = new UiApi({ sessionDir: sessions, log: () => undefined });
    const file = path.join(sessions, fs.readdirSync(sessions)[0] ?? 'missing.hks');
    expect(
      await api.call('session.timeline', { path: file, buckets: 5, fromNs: 10, toNs: 10 }, 't'),
    ).toEqual({
      ok: false,
      error: { code: 'bad-request', message: 'request.toNs must be after request.fromNs' },
    });
    const missing = await api.call(
      'session.timeline',
      { path: path.join(sessions, 'gone.hks'), buckets: 5 },
      't',
    );
    expect(missing).toMatchObject({ ok: false, error: { code: 'not-found' } });
  });
});
