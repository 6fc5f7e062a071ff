// @vitest-environment happy-dom
// "Browse…" where native dialogs exist and nowhere else: the screens in
// happy-dom over the real host and core in this process, once as the
// desktop app (a stand-in for Electron's dialogs, which cannot run here)
// and once as the web UI.
import fs from 'node:fs';
import path from 'node:path';
import {
  act,
  cleanup,
  configure,
  fireEvent,
  render,
  screen,
  waitFor,
} from '@testing-library/react';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { tempDir } from '../../../main/test-support/cli.js';
import { startFeedTestHost, type FeedTestHost } from '../../../main/test-support/feed-host.js';
import { writeSampleSession } from '../../../main/test-support/sample-session.js';
import { fetchApi } from '../api/hookscope-api.js';
import { createAppStore, type AppStore } from '../store/app-store.js';
import { StoreContext } from '../store/store-context.js';
import { App } from './app.js';

configure({ asyncUtilTimeout: 15_000 });
let dir: string;
let desktop: FeedTestHost;
let web: FeedTestHost;
const policyPick = '/home/me/policies/strict.json';
let sample: string;

beforeAll(async () => {
  dir = tempDir('hookscope-shell-ui-');
  fs.mkdirSync(path.join(dir, 'sessions'), { recursive: true });
  sample = path.join(dir, 'sessions', 'sample.hks');
  writeSampleSession(sample);
  desktop = await startFeedTestHost(dir, {
    dialogs: {
      openFile: async ({ purpose }) => (purpose === 'policy' ? policyPick : sample),
      saveFile: async () => null,
    },
  });
  web = await startFeedTestHost(dir);
});

afterEach(cleanup);

afterAll(async () => {
  await desktop?.stop();
  await web?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

function renderAt(host: FeedTestHost): AppStore {
  (window as unknown as { happyDOM: { setURL(url: string): void } }).happyDOM.setURL(
    `${host.origin}/`,
  );
  const store = createAppStore(fetchApi(host.token, host.origin));
  render(
    <StoreContext.Provider value={store}>
      <App />
    </StoreContext.Provider>,
  );
  return store;
}

describe('Browse… buttons', () => {
  it('in the desktop app: Browse… fills the policy field, Open… opens a session', async () => {
    const store = renderAt(desktop);
    const browse = await screen.findByRole('button', { name: 'Browse for a policy file' });
    await act(async () => {
      fireEvent.click(browse);
    });
    await waitFor(() =>
      expect((document.querySelector('input[name="policyPath"]') as HTMLInputElement).value).toBe(
        policyPick,
      ),
    );
    await act(async () => {
      fireEvent.click(screen.getByRole('tab', { name: 'Sessions' }));
    });
    await act(async () => {
      fireEvent.click(await screen.findByRole('button', { name: 'Open a session file' }));
    });
    await waitFor(() => expect(store.getState().sessionPath).toBe(sample));
    expect(store.getState().screen).toBe('session');
    await waitFor(() => expect(store.getState().overview).not.toBeNull());
  });

  it('in the web UI: none, the typed fields stay', async () => {
    const store = renderAt(web);
    await waitFor(() => expect(store.getState().processesStatus).not.toBe('loading'));
    // The capabilities answer (no dialogs) has had time to arrive.
    await new Promise((r) => setTimeout(r, 300));
    expect(store.getState().nativeDialogs).toBe(false);
    expect(screen.queryByRole('button', { name: 'Browse for a policy file' })).toBeNull();
    expect(document.querySelector('input[name="policyPath"]')).not.toBeNull();
  });
});
