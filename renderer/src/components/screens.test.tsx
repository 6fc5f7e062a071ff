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
import { memoryStorage } from '../store/table-prefs-slice.js';
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

describe('the session view', () => {
  async function openSaved(): Promise<AppStore> {
    const store = createAppStore(api, memoryStorage());
    store.getState().showScreen('sessions');
    renderApp(store);
    const open = await screen.findByRole('button', { name: 'Open' });
    await act(async () => {
      fireEvent.click(open);
    });
    await waitFor(() => expect(store.getState().matchingEvents).toBeGreaterThan(0));
    await waitFor(() => expect(store.getState().timeline).not.toBeNull());
    return store;
  }

  it('draws the density of imports on the timeline, and a drag filters the table to that time', async () => {
    const store = await openSaved();
    const total = store.getState().totalEvents;
    const imports = document.querySelector('[data-lane="imports"]')!;
    expect(Number(imports.getAttribute('data-count'))).toBeGreaterThan(0);
    const lanesTotal = [...document.querySelectorAll('[data-lane]')].reduce(
      (n, lane) => n + Number(lane.getAttribute('data-count')),
      0,
    );
    expect(lanesTotal).toBe(total);
    // happy-dom lays nothing out: the chart is 100 px wide after its 120 px of labels.
    const chart = screen.getByRole('img', { name: /Event density by category/ });
    await act(async () => {
      fireEvent.pointerDown(chart, { clientX: 120, button: 0, pointerId: 1 });
      fireEvent.pointerMove(chart, { clientX: 170, pointerId: 1 });
      fireEvent.pointerUp(chart, { clientX: 170, pointerId: 1 });
    });
    await waitFor(() => expect(store.getState().filter.toNs).toBeDefined());
    const { fromNs, toNs } = store.getState().filter;
    const view = store.getState().timeline!;
    expect(fromNs).toBe(Math.floor(view.fromNs));
    expect(toNs! - fromNs!).toBeCloseTo((view.toNs - view.fromNs) / 2, -3);
    await waitFor(() => expect(store.getState().matchingEvents).toBeLessThan(total));
    expect(screen.getByTestId('time-filter').textContent).toMatch(/time/);
    expect(screen.getByTestId('timeline-brush')).toBeTruthy();
    // Zoom to the range, then clear it: the whole session again.
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Zoom to range' }));
    });
    await waitFor(() => expect(store.getState().timeline!.toNs).toBeLessThan(view.toNs));
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Clear range' }));
    });
    await waitFor(() => expect(store.getState().matchingEvents).toBe(total));
    await act(async () => {
      fireEvent.keyDown(chart, { key: '0' });
    });
    await waitFor(() => expect(store.getState().timelineView).toBeNull());
  });

  it('sorts by a header, shows the chosen columns, keeps a named filter and marks rows', async () => {
    const store = await openSaved();
    const header = () => screen.getByRole('columnheader', { name: /^Event/ });
    await act(async () => {
      fireEvent.click(within(header()).getByRole('button'));
    });
    await waitFor(() => expect(header().getAttribute('aria-sort')).toBe('ascending'));
    await waitFor(() => expect(store.getState().pages[0]).toBeDefined());
    const names = store.getState().pages[0]!.map((r) => r.event);
    expect(names).toEqual([...names].sort());

    // Columns: Seq on, Category off.
    const columns = screen.getByRole('group', { name: 'Columns' });
    await act(async () => {
      fireEvent.click(within(columns).getByLabelText('Seq'));
      fireEvent.click(within(columns).getByLabelText('Category'));
    });
    expect(screen.getByRole('columnheader', { name: /Seq/ })).toBeTruthy();
    expect(screen.queryByRole('columnheader', { name: /Category/ })).toBeNull();

    // A named filter: saved, cleared, applied again.
    await act(async () => {
      fireEvent.change(screen.getByLabelText('Event glob'), { target: { value: 'import' } });
      fireEvent.submit(screen.getByRole('form', { name: 'Filter events' }));
    });
    await waitFor(() => expect(store.getState().filter).toEqual({ event: 'import' }));
    const importCount = await waitFor(() => {
      const n = store.getState().matchingEvents;
      if (n === null) throw new Error('loading');
      return n;
    });
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Save filter…' }));
    });
    await act(async () => {
      fireEvent.change(screen.getByLabelText('Filter name'), { target: { value: 'imports only' } });
      fireEvent.submit(screen.getByRole('form', { name: 'Save the filter' }));
    });
    expect(store.getState().savedFilters).toEqual([
      { name: 'imports only', filter: { event: 'import' } },
    ]);
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Clear' }));
    });
    await waitFor(() => expect(store.getState().filter).toEqual({}));
    await act(async () => {
      fireEvent.change(screen.getByLabelText('Saved filters'), {
        target: { value: 'imports only' },
      });
    });
    await waitFor(() => expect(store.getState().matchingEvents).toBe(importCount));

    // A highlight marks rows and hides none (in file order: the rows on screen).
    await act(async () => {
      fireEvent.click(within(header()).getByRole('button'));
    });
    await waitFor(() => expect(header().getAttribute('aria-sort')).toBe('descending'));
    await act(async () => {
      fireEvent.click(within(header()).getByRole('button'));
      fireEvent.click(screen.getByRole('button', { name: 'Clear' }));
    });
    await waitFor(() => expect(store.getState().sort).toBeNull());
    await waitFor(() => expect(store.getState().filter).toEqual({}));
    await waitFor(() => expect(store.getState().matchingEvents).not.toBeNull());
    const all = store.getState().matchingEvents;
    const shown = await waitFor(() => {
      const event = document.querySelector('[role="row"][data-event]')?.getAttribute('data-event');
      if (!event) throw new Error('no rows yet');
      return event;
    });
    await act(async () => {
      fireEvent.change(screen.getByLabelText('Highlight by'), { target: { value: 'event' } });
      fireEvent.change(screen.getByLabelText('Highlight'), { target: { value: shown } });
      fireEvent.submit(screen.getByRole('form', { name: 'Highlight events' }));
    });
    await waitFor(() =>
      expect(document.querySelectorAll('[data-highlighted="true"]').length).toBeGreaterThan(0),
    );
    expect(store.getState().matchingEvents).toBe(all);
    for (const row of document.querySelectorAll('[role="row"][data-event]')) {
      expect(row.getAttribute('data-highlighted') === 'true').toBe(
        row.getAttribute('data-event') === shown,
      );
    }
  });
});

describe('the export dialog', () => {
  it('writes a CSV report of the open session with progress, and refuses an existing file', async () => {
    const store = createAppStore(api, memoryStorage());
    store.getState().showScreen('sessions');
    renderApp(store);
    await act(async () => {
      fireEvent.click(await screen.findByRole('button', { name: 'Open' }));
    });
    await waitFor(() => expect(store.getState().overview).not.toBeNull());
    await act(async () => {
      fireEvent.click(screen.getByRole('button', { name: 'Export…' }));
    });
    const dialog = screen.getByRole('dialog', { name: 'Export a report' });
    // The scope "filter" means nothing while the table shows everything.
    expect(within(dialog).getByLabelText(/the events the table's filter shows/)).toHaveProperty(
      'disabled',
      true,
    );
    await act(async () => {
      fireEvent.change(within(dialog).getByLabelText('Format'), { target: { value: 'csv' } });
    });
    const out = within(dialog).getByLabelText('Save as') as HTMLInputElement;
    expect(out.value).toBe(store.getState().sessionPath!.replace(/\.hks$/, '.csv'));
    const target = path.join(dir, 'export-from-dialog.csv');
    await act(async () => {
      fireEvent.change(out, { target: { value: target } });
      fireEvent.submit(within(dialog).getByRole('form', { name: 'Export' }));
    });
    await waitFor(() =>
      expect(within(dialog).getByTestId('export-status').textContent).toMatch(/Saved/),
    );
    expect(fs.readFileSync(target, 'utf8').split('\n')[0]).toMatch(/^kind,session,pid,/);
    // Again to the same name: refused, the first report kept.
    await act(async () => {
      fireEvent.submit(within(dialog).getByRole('form', { name: 'Export' }));
    });
    await waitFor(() =>
      expect(within(dialog).getByRole('alert').textContent).toMatch(/exists; choose another name/),
    );
    await act(async () => {
      fireEvent.click(within(dialog).getByRole('button', { name: 'Close' }));
    });
    expect(screen.queryByRole('dialog')).toBeNull();
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
    // "Always … (written into the policy)" offers what the rule matches: for an event,
    // these arguments or any.
    expect(within(first).queryByLabelText('What the written rule matches')).toBeNull();
    fireEvent.change(within(first).getByLabelText('How long an Always answer holds'), {
      target: { value: 'always' },
    });
    const match = within(first).getByLabelText('What the written rule matches');
    expect([...match.querySelectorAll('option')].map((o) => o.textContent)).toEqual([
      'these arguments',
      'any arguments',
    ]);
    fireEvent.change(within(first).getByLabelText('How long an Always answer holds'), {
      target: { value: 'session' },
    });
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

  it('a hold that arrives after the answer drops the intent at once, with no error', async () => {
    const { policy, script, result } = writePopenAskTarget('hookscope-screens-hold-');
    // Not rendered and not watching: only the hold's reply can change its queue.
    const store = createAppStore(api);
    const run = await api.startRun({ command: python.path, args: [script], policyPath: policy });
    const waiting = async (word: string) =>
      waitFor(async () => {
        await store.getState().loadIntents();
        const found = store
          .getState()
          .intents.find(
            (i) =>
              i.runId === run.runId &&
              i.subject.kind === 'audit' &&
              i.subject.argsText.includes(word),
          );
        if (found === undefined) throw new Error(`no intent for ${word} yet`);
        return found;
      });
    const first = await waiting("'first'");
    await store.getState().holdIntent(first.id);
    expect(store.getState().intents.map((i) => i.id)).toContain(first.id);
    // Answered elsewhere (another window), then this window's timer holds it.
    await api.answerIntent({ id: first.id, outcome: 'deny' });
    await store.getState().holdIntent(first.id);
    expect(store.getState().intents.map((i) => i.id)).not.toContain(first.id);
    expect(store.getState().intentsError).toBeNull();
    const second = await waiting("'second'");
    await store.getState().answerIntent(second.id, 'allow');
    expect(store.getState().answerErrors).toEqual({});
    await waitFor(() => expect(fs.existsSync(result)).toBe(true));
    await waitFor(() => expect(fs.readFileSync(result, 'utf8')).toBe('first refused second ran'));
  });
});
