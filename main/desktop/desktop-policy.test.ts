// The desktop app's security decisions, in plain Node: the IPC wrapper
// with a small stand-in for ipcMain (Electron cannot run here) in front of
// the real UiApi, and the app:// bundle handler on real files.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { API_METHOD_NAMES, ipcChannel } from '../common/ipc-contract.js';
import { UiApi } from '../core/ui-api.js';
import { tempDir } from '../test-support/cli.js';
import { writeSampleSession } from '../test-support/sample-session.js';
import {
  APP_START_URL,
  bundleResponse,
  isAppUrl,
  registerApiHandlers,
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
