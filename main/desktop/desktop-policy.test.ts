// The desktop app's security decisions, in plain Node: the IPC wrapper
// with a small stand-in for ipcMain (Electron cannot run here) in front of
// the real UiApi, and the app:// bundle handler on real files.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  API_METHOD_NAMES,
  CHANGE_CHANNEL,
  ipcChannel,
  type ChangeMessage,
  type RunStatus,
} from '../common/ipc-contract.js';
import { UiApi, type NativeDialogs } from '../core/ui-api.js';
import { tempDir } from '../test-support/cli.js';
import { auditCapableInterpreters } from '../test-support/pythons.js';
import { writeSampleSession } from '../test-support/sample-session.js';
import {
  APP_START_URL,
  bundleResponse,
  forwardChanges,
  isAppUrl,
  openDialogOptions,
  registerApiHandlers,
  saveDialogOptions,
  sendMenuCommand,
  type ChangeTargetLike,
  type IpcMainLike,
} from './desktop-policy.js';

type Listener = Parameters<IpcMainLike['handle']>[1];

let dir: string;
let api: UiApi;
const logged: string[] = [];
const handlers = new Map<string, Listener>();
const fakeIpcMain: IpcMainLike = { handle: (channel, listener) => handlers.set(channel, listener) };
const fromApp = { senderFrame: { url: APP_START_URL } };

beforeAll(() => {
  dir = tempDir('hookscope-desktop-');
  fs.mkdirSync(path.join(dir, 'sessions'));
  fs.mkdirSync(path.join(dir, 'renderer'));
  fs.writeFileSync(path.join(dir, 'renderer', 'index.html'), '<!doctype html>');
  fs.writeFileSync(path.join(dir, 'outside.txt'), 'secret');
  writeSampleSession(path.join(dir, 'sessions', 'sample.hks'));
  api = new UiApi({ sessionDir: path.join(dir, 'sessions'), log: (l) => logged.push(l) });
  registerApiHandlers(fakeIpcMain, api, (l) => logged.push(l));
});

afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

function handler(method: string): Listener {
  const h = handlers.get(ipcChannel(method as never));
  if (!h) throw new Error(`no handler for ${method}`);
  return h;
}

describe('IPC handlers', () => {
  it('registers exactly one handler per contract method', () => {
    expect([...handlers.keys()]).toEqual(API_METHOD_NAMES.map(ipcChannel));
  });

  it('answers the UI bundle with real data', async () => {
    const reply = await handler('session.open')(fromApp, {
      path: path.join(dir, 'sessions', 'sample.hks'),
    });
    expect(reply).toMatchObject({ ok: true, result: { processes: [{ pid: 100 }, { pid: 200 }] } });
  });

  it.each([
    ['a remote page', 'https://evil.example/'],
    ['a file:// page', 'file:///tmp/x.html'],
    ['another app:// host', 'app://other/index.html'],
    ['a data: URL', 'data:text/html,hi'],
  ])('refuses a sender frame from %s', async (_what, url) => {
    const reply = await handler('sessions.list')({ senderFrame: { url } }, {});
    expect(reply).toMatchObject({ ok: false, error: { code: 'refused' } });
    expect(logged.at(-1)).toContain('not the Hookscope UI');
  });

  it('refuses a destroyed frame and a wrong number of arguments', async () => {
    expect(await handler('sessions.list')({ senderFrame: null }, {})).toMatchObject({
      ok: false,
      error: { code: 'refused' },
    });
    expect(await handler('sessions.list')(fromApp, {}, 'extra')).toMatchObject({
      ok: false,
      error: { code: 'bad-request', message: 'expected one request argument, got 2' },
    });
  });

  it('validates the payload against the contract', async () => {
    const reply = await handler('session.events')(fromApp, { path: 'x.hks', offset: 0, limit: 5 });
    expect(reply).toEqual({
      ok: false,
      error: { code: 'bad-request', message: 'request.path must be an absolute path' },
    });
    expect(logged.at(-1)).toContain('refused "session.events" from desktop');
  });
});

describe('the app:// protocol', () => {
  it('is the only origin trusted', () => {
    expect(isAppUrl('app://hookscope/index.html')).toBe(true);
    expect(isAppUrl('app://hookscope.evil/index.html')).toBe(false);
    expect(isAppUrl('not a url')).toBe(false);
  });

  it('serves the bundle with the CSP, and nothing outside it', async () => {
    const rendererDir = path.join(dir, 'renderer');
    const index = await bundleResponse('app://hookscope/', rendererDir);
    expect(index.status).toBe(200);
    expect(index.headers['Content-Security-Policy']).toContain("default-src 'none'");
    expect((await bundleResponse('app://hookscope/..%2Foutside.txt', rendererDir)).status).toBe(
      404,
    );
    expect((await bundleResponse('app://hookscope/%E0%A4%A', rendererDir)).status).toBe(404);
    expect((await bundleResponse('app://other/index.html', rendererDir)).status).toBe(404);
  });
});

/** A window's webContents as far as the feed uses it. */
function fakeWebContents(): ChangeTargetLike & {
  sent: [string, ChangeMessage][];
  destroyed: boolean;
} {
  const contents = {
    sent: [] as [string, ChangeMessage][],
    destroyed: false,
    isDestroyed: () => contents.destroyed,
    send: (channel: string, message: ChangeMessage) => contents.sent.push([channel, message]),
  };
  return contents;
}

describe('the change feed to the window', () => {
  it("forwards a real run's changes on the one channel, until stopped", async () => {
    const python = auditCapableInterpreters()[0]!;
    const contents = fakeWebContents();
    const stop = forwardChanges(api, contents);
    const started = await api.call(
      'run.start',
      { command: python.path, args: ['-c', 'pass'] },
      't',
    );
    const run = (started as { ok: true; result: RunStatus }).result;
    const deadline = Date.now() + 30_000;
    while (!contents.sent.some(([, m]) => m.topic === 'run' && m.state === 'exited')) {
      if (Date.now() > deadline) throw new Error(JSON.stringify(contents.sent));
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(contents.sent[0]).toEqual([
      CHANGE_CHANNEL,
      { topic: 'run', runId: run.runId, sessionPath: run.sessionPath, state: 'running' },
    ]);
    expect(new Set(contents.sent.map(([channel]) => channel))).toEqual(new Set([CHANGE_CHANNEL]));
    stop();
    const count = contents.sent.length;
    await api.call('run.start', { command: python.path, args: ['-c', 'pass'] }, 't');
    expect(contents.sent).toHaveLength(count);
  });

  it('sends menu commands down the same channel, and nothing to a destroyed window', () => {
    const contents = fakeWebContents();
    sendMenuCommand(contents, 'open-session');
    expect(contents.sent).toEqual([
      [CHANGE_CHANNEL, { topic: 'command', command: 'open-session' }],
    ]);
    contents.destroyed = true;
    sendMenuCommand(contents, 'launch');
    expect(contents.sent).toHaveLength(1);
  });
});

describe('native dialogs', () => {
  it('are answered through the same checked wrapper, with the sessions directory to start in', async () => {
    // Electron's dialog cannot run here: a stand-in that records what it was asked.
    const asked: unknown[] = [];
    const withDialogs = new UiApi({
      sessionDir: path.join(dir, 'sessions'),
      log: (l) => logged.push(l),
      dialogs: {
        openFile: async (options) => {
          asked.push(options);
          return options.purpose === 'session' ? path.join(dir, 'sessions', 'sample.hks') : null;
        },
        saveFile: async (options) => {
          asked.push(options);
          return path.join(dir, `exported-${options.defaultName}`);
        },
      } satisfies NativeDialogs,
    });
    const own = new Map<string, Listener>();
    registerApiHandlers({ handle: (c, l) => own.set(c, l) }, withDialogs, (l) => logged.push(l));
    const call = (method: string, payload: unknown, from = fromApp) =>
      own.get(ipcChannel(method as never))!(from, payload);
    expect(await call('app.capabilities', {})).toEqual({
      ok: true,
      result: { nativeDialogs: true },
    });
    expect(await call('dialog.openFile', { purpose: 'session' })).toEqual({
      ok: true,
      result: { path: path.join(dir, 'sessions', 'sample.hks') },
    });
    expect(await call('dialog.openFile', { purpose: 'policy' })).toEqual({
      ok: true,
      result: { path: null },
    });
    expect(asked).toEqual([
      { purpose: 'session', defaultDir: path.join(dir, 'sessions') },
      { purpose: 'policy', defaultDir: null },
    ]);
    // A foreign frame cannot open a dialog; a bad purpose never reaches one.
    expect(
      await call('dialog.openFile', { purpose: 'session' }, { senderFrame: { url: 'https://x/' } }),
    ).toMatchObject({ ok: false, error: { code: 'refused' } });
    expect(await call('dialog.openFile', { purpose: '/etc' })).toMatchObject({
      ok: false,
      error: { code: 'bad-request' },
    });
    expect(asked).toHaveLength(2);
    // Export: the save dialog, then a real report of the session written there.
    const saved = await call('dialog.saveFile', { purpose: 'export', defaultName: 'sample.html' });
    const outPath = path.join(dir, 'exported-sample.html');
    expect(saved).toEqual({ ok: true, result: { path: outPath } });
    expect(asked.at(-1)).toEqual({ purpose: 'export', defaultName: 'sample.html' });
    expect(
      await call('dialog.saveFile', { purpose: 'export', defaultName: '../../etc/x' }),
    ).toMatchObject({ ok: false, error: { code: 'bad-request' } });
    let job = (await call('export.start', {
      path: path.join(dir, 'sessions', 'sample.hks'),
      format: 'html',
      out: outPath,
    })) as { ok: true; result: { jobId: string; state: string } };
    expect(job).toMatchObject({ ok: true, result: { state: expect.any(String) } });
    while (job.result.state === 'running') {
      await new Promise((r) => setTimeout(r, 20));
      job = (await call('export.status', { jobId: job.result.jobId })) as typeof job;
    }
    expect(job.result.state).toBe('done');
    expect(fs.readFileSync(outPath, 'utf8')).toMatch(/^<!doctype html>/i);
  });

  it('are refused, clearly, where there are none (the web host)', async () => {
    expect(await handler('app.capabilities')(fromApp, {})).toEqual({
      ok: true,
      result: { nativeDialogs: false },
    });
    expect(
      await handler('dialog.saveFile')(fromApp, { purpose: 'export', defaultName: 'a.html' }),
    ).toMatchObject({ ok: false, error: { code: 'refused' } });
    expect(await handler('dialog.openFile')(fromApp, { purpose: 'policy' })).toEqual({
      ok: false,
      error: {
        code: 'refused',
        message: 'file dialogs exist only in the desktop app: type the absolute path instead',
      },
    });
  });

  it('filter by purpose and start in an existing directory only', () => {
    const session = openDialogOptions('session', path.join(dir, 'sessions'));
    expect(session).toMatchObject({
      defaultPath: path.join(dir, 'sessions'),
      properties: ['openFile'],
      filters: [{ name: 'Hookscope sessions', extensions: ['hks'] }, { extensions: ['*'] }],
    });
    expect(openDialogOptions('session', path.join(dir, 'missing')).defaultPath).toBeUndefined();
    expect(openDialogOptions('policy', null).filters[0]?.extensions).toEqual(['json', 'jsonc']);
    expect(saveDialogOptions('export', 'a.html')).toMatchObject({
      defaultPath: 'a.html',
      properties: ['createDirectory'],
    });
  });
});
