// The desktop menu's commands and the native dialogs, as the store carries
// them out: the renderer's fetch client against the real web host and UI
// API in this process. Electron's dialogs cannot run here: the core gets a
// stand-in NativeDialogs that answers what a user would pick; everything
// behind it (opening the session, writing the report) is real.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { FeedMessage, HookscopeApi } from '../../../main/common/ipc-contract.js';
import { tempDir } from '../../../main/test-support/cli.js';
import {
  startFeedTestHost,
  type DialogStandIn,
  type FeedTestHost,
} from '../../../main/test-support/feed-host.js';
import { writeSampleSession } from '../../../main/test-support/sample-session.js';
import { fetchApi } from '../api/hookscope-api.js';
import { createAppStore } from './app-store.js';

let dir: string;
let sample: string;
let picks: { open: string | null; save: string | null };
const hosts: FeedTestHost[] = [];

/** A host over the sessions directory; with `dialogs`, as in the desktop app. */
async function serve(dialogs?: DialogStandIn): Promise<HookscopeApi> {
  const host = await startFeedTestHost(dir, dialogs ? { dialogs } : {});
  hosts.push(host);
  return fetchApi(host.token, host.origin);
}

const standIn: DialogStandIn = {
  openFile: async () => picks.open,
  saveFile: async () => picks.save,
};

beforeAll(() => {
  dir = tempDir('hookscope-shell-');
  fs.mkdirSync(path.join(dir, 'sessions'));
  fs.mkdirSync(path.join(dir, 'renderer'));
  sample = path.join(dir, 'sessions', 'sample.hks');
  writeSampleSession(sample);
});

afterAll(async () => {
  for (const host of hosts) await host.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('menu commands and dialogs in the desktop app', () => {
  it('Open Session… opens the chosen session; Open Policy… fills the Launch form', async () => {
    const store = createAppStore(await serve(standIn));
    await store.getState().loadCapabilities();
    expect(store.getState().nativeDialogs).toBe(true);
    picks = { open: sample, save: null };
    await store.getState().runMenuCommand('open-session');
    expect(store.getState().screen).toBe('session');
    expect(store.getState().sessionPath).toBe(sample);
    picks = { open: '/etc/hookscope/policy.json', save: null };
    await store.getState().runMenuCommand('open-policy');
    expect(store.getState().screen).toBe('processes');
    expect(store.getState().launchForm.policyPath).toBe('/etc/hookscope/policy.json');
    expect(store.getState().launchFocusRequest).toBe(1);
    // Cancelled: nothing changes.
    picks = { open: null, save: null };
    await store.getState().runMenuCommand('open-policy');
    expect(store.getState().launchForm.policyPath).toBe('/etc/hookscope/policy.json');
    expect(store.getState().shellError).toBeNull();
  });

  it('Export… opens the export dialog on the open session; its Browse… names the report', async () => {
    const store = createAppStore(await serve(standIn));
    await store.getState().runMenuCommand('export');
    expect(store.getState().shellError).toMatch(/^Open a session first/);
    expect(store.getState().exportDialogOpen).toBe(false);
    picks = { open: sample, save: path.join(dir, 'report.csv') };
    await store.getState().runMenuCommand('open-session');
    store.getState().showScreen('sessions');
    await store.getState().runMenuCommand('export');
    expect(store.getState().shellError).toBeNull();
    expect(store.getState().screen).toBe('session');
    expect(store.getState().exportDialogOpen).toBe(true);
    expect(await store.getState().chooseSaveFile('report.html')).toBe(path.join(dir, 'report.csv'));
  });

  it('carries out commands that arrive on the change feed', async () => {
    const api = await serve(standIn);
    // The preload's feed (Electron cannot run here): commands pushed by hand.
    let push: (message: FeedMessage) => void = () => undefined;
    const desktopLike: HookscopeApi = {
      ...api,
      onChange: (listener) => {
        push = listener;
        return () => {
          push = () => undefined;
        };
      },
    };
    const store = createAppStore(desktopLike);
    const stop = store.getState().watchMenuCommands();
    push({ topic: 'command', command: 'launch' });
    expect(store.getState().launchFocusRequest).toBe(1);
    stop();
    push({ topic: 'command', command: 'launch' });
    expect(store.getState().launchFocusRequest).toBe(1);
  });
});

describe('in the web UI (no native dialogs)', () => {
  it('has no Browse… and says why a dialog cannot open', async () => {
    const store = createAppStore(await serve());
    await store.getState().loadCapabilities();
    expect(store.getState().nativeDialogs).toBe(false);
    expect(await store.getState().chooseFile('policy')).toBeNull();
    expect(store.getState().shellError).toBe(
      'Could not show the file dialog: file dialogs exist only in the desktop app: type the absolute path instead',
    );
  });
});
