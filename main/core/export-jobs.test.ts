// Exports from the UI API (the export dialog): written in the background
// with progress, refused up front when they cannot work, cancellable, and
// never leaving a partial file behind.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ApiReply, ExportJob } from '../common/ipc-contract.js';
import { writeBenchSession } from '../test-support/bench-session.js';
import { tempDir } from '../test-support/cli.js';
import { writeEnforcedSampleSession } from '../test-support/sample-session.js';
import { REPORT_FORMATS } from './report.js';
import { EXPORT_FORMATS } from '../common/ipc-contract.js';
import { UiApi } from './ui-api.js';

let dir: string;
let sessions: string;
let sample: string;
let api: UiApi;
const logged: string[] = [];

beforeAll(() => {
  dir = tempDir('hookscope-export-');
  sessions = path.join(dir, 'sessions');
  fs.mkdirSync(sessions);
  sample = path.join(sessions, 'enforced.hks');
  writeEnforcedSampleSession(sample, { withStack: true });
  api = new UiApi({ sessionDir: sessions, log: (line) => logged.push(line) });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

async function call<T>(method: string, request: object): Promise<ApiReply<T>> {
  return (await api.call(method, request, 'test')) as ApiReply<T>;
}

async function finished(jobId: string): Promise<ExportJob> {
  for (;;) {
    const reply = await call<ExportJob>('export.status', { jobId });
    if (!reply.ok) throw new Error(reply.error.message);
    if (reply.result.state !== 'running') return reply.result;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Files in `folder` other than the session files. */
function leftovers(folder: string): string[] {
  return fs.readdirSync(folder).filter((name) => !name.endsWith('.hks'));
}

describe('export through the UI API', () => {
  it('offers exactly the formats `hookscope report` writes', () => {
    expect([...EXPORT_FORMATS]).toEqual([...REPORT_FORMATS]);
  });

  it('writes each format in the background and says how big the report is', async () => {
    for (const format of EXPORT_FORMATS) {
      const out = path.join(dir, `report.${format}`);
      const started = await call<ExportJob>('export.start', { path: sample, format, out });
      expect(started.ok).toBe(true);
      const job = await finished((started as { result: ExportJob }).result.jobId);
      expect(job, JSON.stringify(job)).toMatchObject({ state: 'done', out, error: null });
      expect(job.outBytes).toBe(fs.statSync(out).size);
      expect(job.readBytes).toBe(job.totalBytes);
    }
    const sarif = JSON.parse(fs.readFileSync(path.join(dir, 'report.sarif'), 'utf8')) as {
      runs: { results: unknown[] }[];
    };
    expect(sarif.runs[0]?.results.length).toBe(3);
  });

  it("exports exactly the events the table's filter shows, each with its decision", async () => {
    const csv = async (name: string, filter: object) => {
      const out = path.join(dir, name);
      const started = await call<ExportJob>('export.start', {
        path: sample,
        format: 'csv',
        out,
        filter,
      });
      expect(started.ok, JSON.stringify(started)).toBe(true);
      const job = await finished((started as { result: ExportJob }).result.jobId);
      expect(job.state).toBe('done');
      return fs
        .readFileSync(out, 'utf8')
        .trim()
        .split(/\r?\n/)
        .slice(1)
        .map((line) => line.split(',').slice(0, 7).join(','));
    };
    // The Popen event and the decision about it.
    const popen = await csv('popen.csv', { event: 'subprocess.*' });
    expect(popen.map((line) => line.split(',')[0])).toEqual(['audit', 'decision']);
    // Filters only the table has: decision and category; text.
    const denied = await csv('denied.csv', { decision: 'denied', categories: ['network'] });
    expect(denied.map((line) => `${line.split(',')[0]} ${line.split(',')[6]}`)).toEqual([
      'audit socket.connect',
      'decision socket.connect',
    ]);
    const hosts = await csv('hosts.csv', { text: 'hosts' });
    expect(hosts.map((line) => `${line.split(',')[0]} ${line.split(',')[6]}`)).toEqual([
      'audit open',
    ]);
  });

  it('refuses an existing output, a missing folder and a session outside the sessions folder', async () => {
    const existing = path.join(dir, 'exists.json');
    fs.writeFileSync(existing, 'keep me');
    expect(await call('export.start', { path: sample, format: 'json', out: existing })).toEqual({
      ok: false,
      error: {
        code: 'refused',
        message: `${existing} exists; choose another name (it is not overwritten)`,
      },
    });
    expect(fs.readFileSync(existing, 'utf8')).toBe('keep me');
    expect(
      await call('export.start', { path: sample, format: 'json', out: '/nonexistent/dir/r.json' }),
    ).toMatchObject({
      ok: false,
      error: { code: 'refused', message: '/nonexistent/dir is not a folder' },
    });
    expect(
      await call('export.start', { path: '/etc/passwd', format: 'json', out: path.join(dir, 'x') }),
    ).toMatchObject({ ok: false });
    expect(
      await call('export.start', { path: sample, format: 'pdf', out: path.join(dir, 'x') }),
    ).toMatchObject({
      ok: false,
      error: {
        code: 'bad-request',
        message: expect.stringMatching(/^request\.format must be one of json/),
      },
    });
    expect(await call('export.status', { jobId: 'nope' })).toMatchObject({
      ok: false,
      error: { code: 'not-found' },
    });
  });

  it('refuses a filtered HTML report up front, and reports a failure with its reason', async () => {
    const out = path.join(dir, 'filtered.html');
    expect(
      await call('export.start', { path: sample, format: 'html', out, filter: { pid: 1 } }),
    ).toMatchObject({
      ok: false,
      error: { code: 'refused', message: expect.stringMatching(/covers the whole session/) },
    });
    expect(fs.existsSync(out)).toBe(false);
    // A session that turns out unreadable once the export runs: failed, said why, no file.
    const broken = path.join(sessions, 'broken.hks');
    fs.writeFileSync(broken, Buffer.alloc(64, 7));
    const started = await call<ExportJob>('export.start', {
      path: broken,
      format: 'csv',
      out: path.join(dir, 'broken.csv'),
    });
    const job = await finished((started as { result: ExportJob }).result.jobId);
    expect(job.state).toBe('failed');
    expect(job.error).toMatch(/could not write the report|not a Hookscope session|session/);
    expect(fs.existsSync(path.join(dir, 'broken.csv'))).toBe(false);
    expect(logged.some((line) => line.includes('broken.csv'))).toBe(true);
    fs.rmSync(broken);
  });

  it.each(['json', 'html'])('cancels a long %s export with nothing left behind', async (format) => {
    const big = path.join(sessions, 'big.hks');
    if (!fs.existsSync(big)) writeBenchSession(big, 200_000);
    const folder = path.join(dir, `cancelled-${format}`);
    fs.mkdirSync(folder);
    const out = path.join(folder, `big.${format}`);
    const started = await call<ExportJob>('export.start', { path: big, format, out });
    const { jobId } = (started as { result: ExportJob }).result;
    // Some progress first, so the cancel lands mid-way.
    for (;;) {
      const job = await call<ExportJob>('export.status', { jobId });
      if (job.ok && job.result.readBytes > 0) break;
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    expect((await call<ExportJob>('export.cancel', { jobId })).ok).toBe(true);
    const job = await finished(jobId);
    expect(job.state).toBe('cancelled');
    expect(job.readBytes).toBeLessThan(job.totalBytes);
    expect(fs.readdirSync(folder)).toEqual([]);
    expect(leftovers(sessions)).toEqual([]);
  });

  it('closing the API cancels running exports and waits for them: nothing is left behind', async () => {
    const big = path.join(sessions, 'big.hks');
    if (!fs.existsSync(big)) writeBenchSession(big, 200_000);
    const folder = path.join(dir, 'closed');
    fs.mkdirSync(folder);
    const closing = new UiApi({ sessionDir: sessions, log: (line) => logged.push(line) });
    const jobIds: string[] = [];
    for (const format of ['json', 'csv', 'perfetto']) {
      const started = await closing.call(
        'export.start',
        { path: big, format, out: path.join(folder, `big.${format}`) },
        'test',
      );
      expect(started.ok).toBe(true);
      jobIds.push((started as { result: ExportJob }).result.jobId);
    }
    await closing.close();
    // Ended when close() returns: no export still running, no file in the folder.
    for (const jobId of jobIds) {
      const status = await closing.call('export.status', { jobId }, 'test');
      expect((status as { result: ExportJob }).result.state).toBe('cancelled');
    }
    expect(fs.readdirSync(folder)).toEqual([]);
  });
});
