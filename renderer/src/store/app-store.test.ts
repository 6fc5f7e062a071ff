// The store's slices against the real core: `hookscope serve` started as a
// user would, the renderer's own fetch client, real CPython processes. A
// fresh store per test, so nothing carries over.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { HookscopeApi } from '../../../main/common/ipc-contract.js';
import { runCli, tempDir } from '../../../main/test-support/cli.js';
import { auditCapableInterpreters } from '../../../main/test-support/pythons.js';
import { startServe, type ServedInspector } from '../../../main/test-support/serve.js';
import { fetchApi } from '../api/hookscope-api.js';
import { createAppStore } from './app-store.js';
import { visibleProcesses } from './processes-slice.js';

const python = auditCapableInterpreters()[0]!;
let dir: string;
let saved: string;
let served: ServedInspector;
let sleeper: ChildProcess;
let api: HookscopeApi;

beforeAll(async () => {
  dir = tempDir('hookscope-store-');
  const env = { ...process.env, XDG_DATA_HOME: dir };
  const sessions = path.join(dir, 'hookscope', 'sessions');
  fs.mkdirSync(sessions, { recursive: true });
  saved = path.join(sessions, 'saved.hks');
  const r = await runCli(
    ['run', '--out', saved, '--no-summary', '--', python.path, '-c', 'import json, socket'],
    { env },
  );
  expect(r.code, r.stderr).toBe(0);
  sleeper = spawn(python.path, ['-c', 'import time; time.sleep(600)', 'store-test-sleeper'], {
    stdio: 'ignore',
  });
  served = await startServe(env);
  api = fetchApi(served.token, served.origin);
});

afterAll(async () => {
  sleeper?.kill('SIGKILL');
  await served?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('processes slice', () => {
  it('loads the real process list and searches it', async () => {
    const store = createAppStore(api);
    expect(store.getState().processesStatus).toBe('idle');
    const loading = store.getState().loadProcesses();
    expect(store.getState().processesStatus).toBe('loading');
    await loading;
    const { processes, processesStatus } = store.getState();
    expect(processesStatus).toBe('ready');
    const shown = visibleProcesses(processes, 'store-test-sleeper', true);
    expect(shown.map((p) => p.pid)).toEqual([sleeper.pid]);
    expect(visibleProcesses(processes, String(sleeper.pid), true)).toHaveLength(1);
  });

  it('shows an error state when the server refuses the token', async () => {
    const store = createAppStore(fetchApi('0'.repeat(64), served.origin));
    await store.getState().loadProcesses();
    expect(store.getState()).toMatchObject({
      processesStatus: 'error',
      processesError: 'wrong token',
    });
  });
});

describe('sessions and session view slices', () => {
  it('lists saved sessions, opens one, pages and filters its events', async () => {
    const store = createAppStore(api);
    await store.getState().loadSessions();
    expect(store.getState().sessionFiles.map((f) => f.path)).toContain(saved);
    await store.getState().openSession(saved);
    let s = store.getState();
    expect(s.screen).toBe('session');
    expect(s.overviewStatus).toBe('ready');
    expect(s.matchingEvents).toBe(s.overview?.totalEvents);
    expect(s.pages[0]?.length).toBeGreaterThan(0);
    await s.setFilter({ event: 'import', text: 'socket' });
    s = store.getState();
    expect(s.pages[0]?.map((r) => r.event)).toContain('import');
    expect(s.pages[0]?.every((r) => r.event === 'import')).toBe(true);
    s.selectEvent(s.pages[0]?.[0] ?? null, 0);
    expect(store.getState().selectedEvent?.event).toBe('import');
    // The keyboard moves the selection through the filtered list.
    await store.getState().setFilter({});
    await store.getState().moveSelection(1);
    expect(store.getState().selectedPosition).toBe(0);
    await store.getState().moveSelection(Infinity);
    const last = (store.getState().matchingEvents ?? 0) - 1;
    expect(store.getState().selectedPosition).toBe(last);
    expect(store.getState().selectedEvent?.index).toBe(last);
    await store.getState().moveSelection(-1);
    expect(store.getState().selectedPosition).toBe(last - 1);
    // Rows far past the end ask for nothing and break nothing.
    await store.getState().ensureRows(10_000, 10_100);
    expect(store.getState().eventsError).toBeNull();
  });

  it('shows an error state for a session that does not exist', async () => {
    const store = createAppStore(api);
    await store.getState().openSession(path.join(path.dirname(saved), 'missing.hks'));
    expect(store.getState().overviewStatus).toBe('error');
    expect(store.getState().overviewError).toMatch(/no session file/);
  });
});

describe('launch slice', () => {
  it('asks for a command instead of sending an empty one', async () => {
    const store = createAppStore(api);
    await store.getState().launch();
    expect(store.getState().launchError).toMatch(/Enter a command/);
  });

  it('launches a real run, follows it live and sees it end', async () => {
    const store = createAppStore(api);
    store.getState().setLaunchForm({ command: python.path, args: '-c\nimport csv' });
    await store.getState().launch();
    expect(store.getState().run?.state).toBe('running');
    for (let i = 0; i < 100 && store.getState().run?.state === 'running'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      await store.getState().pollLive();
    }
    const s = store.getState();
    expect(s.run?.state).toBe('exited');
    expect(s.overview?.processes[0]?.end?.reason).toBe('exited');
    expect(s.matchingEvents).toBeGreaterThan(0);
  });

  it('shows the core refusing a command that does not exist', async () => {
    const store = createAppStore(api);
    store.getState().setLaunchForm({ command: 'no-such-command-xyz' });
    await store.getState().launch();
    expect(store.getState().launchError).toMatch(/no-such-command-xyz/);
    expect(store.getState().screen).toBe('processes');
  });
});
