// @vitest-environment happy-dom
// The renderer's side of the change feed, in a DOM (happy-dom's WebSocket)
// against the real web host and core in this process: the socket client
// with its token, reconnecting after the server went away, backing off
// when refused, and the intent queue following pushes with no polling.
import fs from 'node:fs';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import type { FeedMessage, RunStatus } from '../../../main/common/ipc-contract.js';
import { writePopenAskTarget } from '../../../main/test-support/ask-target.js';
import { tempDir } from '../../../main/test-support/cli.js';
import { auditCapableInterpreters } from '../../../main/test-support/pythons.js';
import { startFeedTestHost, type FeedTestHost } from '../../../main/test-support/feed-host.js';
import { fetchApi, socketFeed } from '../api/hookscope-api.js';
import { createAppStore } from './app-store.js';
import { INTENTS_FALLBACK_POLL_MS } from './intents-slice.js';

const python = auditCapableInterpreters().at(-1)!;
let dir: string;
let host: FeedTestHost;

beforeAll(async () => {
  dir = tempDir('hookscope-feed-client-');
  host = await startFeedTestHost(dir);
});

// The page is served by the host it talks to (happy-dom sends its Origin).
beforeEach(() => {
  (window as unknown as { happyDOM: { setURL(url: string): void } }).happyDOM.setURL(
    `${host.origin}/`,
  );
});

afterAll(async () => {
  await host?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function until(check: () => boolean, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('the renderer change feed', () => {
  it('connects with the token and hears a run start and end', async () => {
    const heard: FeedMessage[] = [];
    const stop = fetchApi(host.token, host.origin).onChange((m) => heard.push(m));
    try {
      await until(() => heard.some((m) => m.topic === 'feed' && m.connected));
      const run = await fetchApi(host.token, host.origin).startRun({
        command: python.path,
        args: ['-c', 'pass'],
      });
      await until(() =>
        heard.some((m) => m.topic === 'run' && m.runId === run.runId && m.state === 'exited'),
      );
    } finally {
      stop();
    }
  });

  it('reconnects after the server went away and came back on its port', async () => {
    const heard: FeedMessage[] = [];
    const { token } = host;
    const stop = socketFeed(token, host.origin).onChange((m) => heard.push(m));
    try {
      await until(() => heard.some((m) => m.topic === 'feed' && m.connected));
      const restarted = host.restart();
      await until(() => heard.some((m) => m.topic === 'feed' && !m.connected));
      heard.length = 0;
      await restarted;
      await until(() => heard.some((m) => m.topic === 'feed' && m.connected));
      const run: RunStatus = await fetchApi(token, host.origin).startRun({
        command: python.path,
        args: ['-c', 'pass'],
      });
      await until(() => heard.some((m) => m.topic === 'run' && m.runId === run.runId));
    } finally {
      stop();
    }
  });

  it('with a wrong token: never connected, retried with growing delays', async () => {
    const heard: FeedMessage[] = [];
    const before = host.logged.filter((l) => l.includes('refused WebSocket')).length;
    const stop = socketFeed('f'.repeat(64), host.origin).onChange((m) => heard.push(m));
    await new Promise((r) => setTimeout(r, 2000));
    stop();
    const tries = host.logged.filter((l) => l.includes('refused WebSocket')).length - before;
    // At 0, 0.5 and 1.5 s (doubling): three tries, not one every few ms.
    expect(tries).toBeGreaterThanOrEqual(2);
    expect(tries).toBeLessThanOrEqual(4);
    expect(heard.some((m) => m.topic === 'feed' && m.connected)).toBe(false);
  });

  it('the intent queue follows pushes: a waiting Popen shows long before the fallback poll', async () => {
    const store = createAppStore(fetchApi(host.token, host.origin));
    const stop = store.getState().watchIntents();
    const { policy, script, result } = writePopenAskTarget('hookscope-feed-client-ask-');
    try {
      // Let the first read and the connection happen.
      await new Promise((r) => setTimeout(r, 300));
      const asked = Date.now();
      await store
        .getState()
        .setLaunchForm({ command: python.path, args: script, policyPath: policy });
      await store.getState().launch();
      await until(() => store.getState().intents.length === 1);
      expect(Date.now() - asked).toBeLessThan(INTENTS_FALLBACK_POLL_MS);
      const first = store.getState().intents[0]!;
      await store.getState().answerIntent(first.id, 'deny');
      await until(() => store.getState().intents.some((i) => i.id !== first.id));
      await store.getState().answerIntent(store.getState().intents[0]!.id, 'allow');
      await until(() => fs.existsSync(result) && fs.readFileSync(result, 'utf8') !== '');
      expect(fs.readFileSync(result, 'utf8')).toBe('first refused second ran');
      await until(() => store.getState().intents.length === 0);
    } finally {
      stop();
    }
  }, 60_000);
});
