// @vitest-environment happy-dom
// The screens rendered in a DOM (happy-dom) over the real core: the
// renderer's fetch client against `hookscope serve`, real CPython.
import { spawn, type ChildProcess } from 'node:child_process';
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
  within,
} from '@testing-library/react';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';

import type { HookscopeApi } from '../../../main/common/ipc-contract.js';
import { writePopenAskTarget } from '../../../main/test-support/ask-target.js';
import { runCli, tempDir } from '../../../main/test-support/cli.js';
import { auditCapableInterpreters } from '../../../main/test-support/pythons.js';
import { startServe, type ServedInspector } from '../../../main/test-support/serve.js';
import { fetchApi } from '../api/hookscope-api.js';
import { createAppStore, type AppStore } from '../store/app-store.js';
import { StoreContext } from '../store/store-context.js';
import { App } from './app.js';

const python = auditCapableInterpreters()[0]!;
// Listing /proc and reading sessions take longer while other suites run.
configure({ asyncUtilTimeout: 15_000 });
let dir: string;
let served: ServedInspector;
let sleeper: ChildProcess;
let api: HookscopeApi;
let emptyDirApi: HookscopeApi;
let emptyServed: ServedInspector;

beforeAll(async () => {
  dir = tempDir('hookscope-screens-');
  const env = { ...process.env, XDG_DATA_HOME: path.join(dir, 'a') };
  const sessions = path.join(dir, 'a', 'hookscope', 'sessions');
  fs.mkdirSync(sessions, { recursive: true });
  const r = await runCli(
    [
      'run',
      '--out',
      path.join(sessions, 'saved.hks'),
      '--no-summary',
      '--',
      python.path,
      '-c',
      'import json',
    ],
    { env },
  );
  expect(r.code, r.stderr).toBe(0);
  sleeper = spawn(python.path, ['-c', 'import time; time.sleep(600)', 'screens-sleeper'], {
    stdio: 'ignore',
  });
  served = await startServe(env);
  api = fetchApi(served.token, served.origin);
  emptyServed = await startServe({ ...process.env, XDG_DATA_HOME: path.join(dir, 'b') });
  emptyDirApi = fetchApi(emptyServed.token, emptyServed.origin);
});

beforeEach(() => pageAt(served.origin));
afterEach(cleanup);

afterAll(async () => {
  sleeper?.kill('SIGKILL');
  await served?.stop();
  await emptyServed?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

/**
 * The page's own URL: happy-dom's fetch applies the same-origin policy, and
 * the UI is always served by the server it talks to.
 */
function pageAt(origin: string): void {
  (window as unknown as { happyDOM: { setURL(url: string): void } }).happyDOM.setURL(`${origin}/`);
}

function renderApp(store: AppStore) {
  return render(
    <StoreContext.Provider value={store}>
      <App />
    </StoreContext.Provider>,
  );
}

describe('screens', () => {
  it('the process picker lists a real Python process with its attachability', async () => {
    renderApp(createAppStore(api));
    const row = await waitFor(() => {
      const found = document.querySelector(`tr[data-pid="${sleeper.pid}"]`);
      if (!found) throw new Error('not listed yet');
      return found as HTMLElement;
    });
    expect(row.textContent).toContain(python.version);
    expect(row.textContent).toMatch(/yes, via|Fix:/);
    // The session tab stays disabled until there is a session, and says why.
    expect(screen.getByRole('tab', { name: 'Session' })).toHaveProperty('disabled', true);
  });

  it('the Launch form says what is missing instead of sending nothing', async () => {
    const store = createAppStore(api);
    renderApp(store);
    // Let the process list the screen asked for arrive before the test ends.
    await waitFor(() => expect(store.getState().processesStatus).toBe('ready'));
    const form = screen.getByRole('button', { name: 'Launch and record' }).closest('form')!;
    await act(async () => {
      fireEvent.submit(form);
    });
    expect(within(form).getByRole('alert').textContent).toMatch(/Enter a command/);
  });

  it('the sessions list has an empty state that says how to record one', async () => {
    pageAt(emptyServed.origin);
    const store = createAppStore(emptyDirApi);
    store.getState().showScreen('sessions');
    renderApp(store);
    await screen.findByText('No saved sessions yet');
    expect(document.body.textContent).toContain('npx hookscope run');
  });

  it('opens a saved session into the process tree and the event table', async () => {
    const store = createAppStore(api);
    store.getState().showScreen('sessions');
    renderApp(store);
    const open = await screen.findByRole('button', { name: 'Open' });
    await act(async () => {
      fireEvent.click(open);
    });
    await screen.findByTestId('session-state');
    await waitFor(() => expect(store.getState().matchingEvents).toBeGreaterThan(0));
    await screen.findAllByRole('row', { selected: false });
    expect(screen.getByTestId('session-state').textContent).toBe('ended with code 0');
    expect(
      screen.getByRole('complementary', { name: 'Processes of this session' }).textContent,
    ).toMatch(/exited/);
    expect(screen.getByRole('complementary', { name: 'Event detail' }).textContent).toContain(
      'No event selected',
    );
  });
});

describe('the intent queue', () => {
  it('shows a waiting Popen from a launched run, and the target gets Deny, then Allow', async () => {
    // Arguments are one per line in the form: the script goes in a file.
    const { policy, script, result } = writePopenAskTarget('hookscope-screens-ask-');
    const store = createAppStore(api);
    renderApp(store);
    await waitFor(() => expect(store.getState().processesStatus).toBe('ready'));
    store.getState().setLaunchForm({
      command: python.path,
      args: script,
      policyPath: policy,
    });
    await act(async () => {
      await store.getState().launch();
    });
    const first = await screen.findByRole('article', { name: 'Waiting: subprocess.Popen' });
    expect(first.textContent).toContain('rule 0 (no surprise processes)');
    expect(first.textContent).toContain("'/bin/echo', 'first'");
    expect(first.textContent).toMatch(/\d+ s left, then deny/);
    // The oldest card has the focus: the countdown stands still while it is read.
    await waitFor(() => expect(first.textContent).toContain('(paused while you read)'));
    expect(screen.getByRole('link', { name: '1 waiting for an answer' })).toBeTruthy();
    expect(document.title).toBe('(1) Hookscope — waiting for you');
    await act(async () => {
      fireEvent.click(within(first).getByRole('button', { name: /Deny once/ }));
    });
    const second = await waitFor(() => {
      const card = screen.getByRole('article', { name: 'Waiting: subprocess.Popen' });
      if (!card.textContent?.includes("'second'")) throw new Error('still the first');
      return card;
    });
    // The keyboard answers the focused card: A is Allow once.
    await act(async () => {
      fireEvent.keyDown(second, { key: 'a' });
    });
    await waitFor(() => expect(fs.existsSync(result)).toBe(true));
    await waitFor(() => expect(fs.readFileSync(result, 'utf8')).toBe('first refused second ran'));
    await waitFor(() => expect(screen.queryByRole('article')).toBeNull());
    expect(document.title).toBe('Hookscope');
  });
});
