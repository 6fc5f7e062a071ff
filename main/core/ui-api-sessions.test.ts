// session.open through the UI API: progress while a large file is read the
// first time, an open index going on with a growing file (a live run is
// re-opened as it grows, without reading it again), and a replaced file
// read afresh.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ApiReply, SessionOverview } from '../common/ipc-contract.js';
import { writeBenchSession } from '../test-support/bench-session.js';
import { tempDir } from '../test-support/cli.js';
import { writeEnforcedSampleSession, writeSampleSession } from '../test-support/sample-session.js';
import { UiApi } from './ui-api.js';

let dir: string;
let api: UiApi;
beforeAll(() => {
  dir = tempDir('hookscope-ui-sessions-');
  api = new UiApi({ sessionDir: dir, log: () => undefined });
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function result<T>(reply: ApiReply<unknown>): T {
  if (!reply.ok) throw new Error(`${reply.error.code}: ${reply.error.message}`);
  return reply.result as T;
}

const open = async (file: string) =>
  result<SessionOverview>(await api.call('session.open', { path: file }, 'test'));

describe('session.open', () => {
  it('says how far it has read a large file, and nothing once it is open', async () => {
    const file = path.join(dir, 'big.hks');
    writeBenchSession(file, 200_000);
    const opening = open(file);
    const seen: number[] = [];
    let done = false;
    void opening.then(() => (done = true));
    while (!done) {
      const p = result<{ opening: boolean; readBytes: number; totalBytes: number }>(
        await api.call('session.progress', { path: file }, 'test'),
      );
      // The size is known once the read has begun (0 until then).
      if (p.opening && p.totalBytes > 0) {
        expect(p.totalBytes).toBe(fs.statSync(file).size);
        seen.push(p.readBytes);
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
    // What the first read did not reach follows in the background.
    let opened = await opening;
    while (opened.indexing !== null) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      opened = await open(file);
    }
    expect(opened.totalEvents).toBe(200_000);
    expect(seen.length).toBeGreaterThan(0);
    expect(seen.some((bytes) => bytes > 0)).toBe(true);
    expect(seen).toEqual([...seen].sort((a, b) => a - b));
    expect(
      result<{ opening: boolean }>(await api.call('session.progress', { path: file }, 'test')),
    ).toEqual({ opening: false, readBytes: 0, totalBytes: 0 });
  });

  it('answers a large file after its first stretch and reads the rest in the background', async () => {
    const file = path.join(dir, 'big.hks');
    // Almost no time for the first read: the rest certainly follows.
    const quick = new UiApi({ sessionDir: dir, log: () => undefined, openFirstReadMs: 1 });
    const first = result<SessionOverview>(await quick.call('session.open', { path: file }, 't'));
    expect(first.indexing).not.toBeNull();
    expect(first.indexing!.totalBytes).toBe(fs.statSync(file).size);
    expect(first.totalEvents).toBeLessThan(200_000);
    // The table answers with what is read so far, without waiting for the rest.
    const page = result<{ totalEvents: number }>(
      await quick.call('session.events', { path: file, offset: 0, limit: 10 }, 't'),
    );
    expect(page.totalEvents).toBeLessThan(200_000);
    let latest = first;
    const readBytes: number[] = [];
    while (latest.indexing !== null) {
      readBytes.push(latest.indexing.readBytes);
      await new Promise((resolve) => setTimeout(resolve, 20));
      latest = result<SessionOverview>(await quick.call('session.open', { path: file }, 't'));
    }
    expect(readBytes).toEqual([...readBytes].sort((a, b) => a - b));
    // Once all is read: the same overview as one read of the whole file.
    expect(latest).toEqual(await open(file));
    expect(latest.totalEvents).toBe(200_000);
  });

  it('goes on with a file that grew, and reads a replaced file afresh', async () => {
    const file = path.join(dir, 'live.hks');
    const sample = path.join(dir, 'sample.tmp');
    writeSampleSession(sample);
    // The sample without its last bytes stands for the file while it is written.
    const whole = fs.readFileSync(sample);
    const half = Math.floor(whole.length / 2);
    fs.writeFileSync(file, whole.subarray(0, half));
    const first = await open(file);
    fs.appendFileSync(file, whole.subarray(half));
    const grown = await open(file);
    expect(grown.totalEvents).toBeGreaterThan(first.totalEvents);
    expect(grown.truncated).toBeNull();
    // The same overview as a fresh read of the whole file.
    const other = new UiApi({ sessionDir: dir, log: () => undefined });
    expect(grown).toEqual(
      result<SessionOverview>(await other.call('session.open', { path: file }, 'test')),
    );

    // Replaced by another session (a new file under the same name).
    const replacement = path.join(dir, 'replacement.tmp');
    writeEnforcedSampleSession(replacement);
    fs.renameSync(replacement, file);
    const replaced = await open(file);
    expect(replaced.policy).not.toBeNull();
    expect(replaced.totalEvents).toBe(4);
  });
});
