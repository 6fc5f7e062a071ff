// @vitest-environment happy-dom
// The rules editor: its store slice and its screen, in happy-dom, through
// the renderer's own fetch client over the real web host and UI API (from
// source, in this process), with a real CPython run whose policy is edited
// while it runs.
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

import type { HookscopeApi, PolicyDocument } from '../../../main/common/ipc-contract.js';
import { tempDir } from '../../../main/test-support/cli.js';
import { startFeedTestHost, type FeedTestHost } from '../../../main/test-support/feed-host.js';
import { auditCapableInterpreters } from '../../../main/test-support/pythons.js';
import { fetchApi } from '../api/hookscope-api.js';
import { createAppStore, type AppStore } from '../store/app-store.js';
import { StoreContext } from '../store/store-context.js';
import { memoryStorage } from '../store/table-prefs-slice.js';
import { App } from './app.js';

const python = auditCapableInterpreters().at(-1)!;
configure({ asyncUtilTimeout: 15_000 });

let dir: string;
let host: FeedTestHost;
let api: HookscopeApi;

const POLICY: PolicyDocument = {
  version: 1,
  default: 'allow',
  ask: { timeoutMs: 5000, timeoutAction: 'deny' },
  offline: 'allow',
  rules: [
    { action: 'deny', event: 'hookscope.test.rules', comment: 'no test events' },
    { action: 'allow', intent: 'pythoncode', realpathPrefix: '/usr/lib/' },
  ],
};

function writePolicy(name: string, policy: PolicyDocument = POLICY): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, `${JSON.stringify(policy, null, 2)}\n`);
  return file;
}

function readPolicy(file: string): PolicyDocument {
  return JSON.parse(fs.readFileSync(file, 'utf8')) as PolicyDocument;
}

function renderApp(store: AppStore) {
  return render(
    <StoreContext.Provider value={store}>
      <App />
    </StoreContext.Provider>,
  );
}

beforeAll(async () => {
  dir = tempDir('hookscope-rules-');
  host = await startFeedTestHost(dir);
  api = fetchApi(host.token, host.origin);
});

beforeEach(() => {
  (window as unknown as { happyDOM: { setURL(url: string): void } }).happyDOM.setURL(
    `${host.origin}/`,
  );
});
afterEach(cleanup);

afterAll(async () => {
  await host?.stop();
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('the policy slice', () => {
  it('opens, edits, checks a rule with the real checker, reorders, disables and saves', async () => {
    const file = writePolicy('slice.json');
    const store = createAppStore(api, memoryStorage());
    const s = () => store.getState();
    await s().openPolicy(file);
    expect(s().policyStatus).toBe('ready');
    expect(s().policyDoc?.rules).toHaveLength(2);
    expect(s().policyDirty).toBe(false);

    // A new rule with a reserved glob character: refused inline, on its field.
    s().startRuleEdit(null);
    s().setRuleDraft({ action: 'deny', events: 'socket.[x]', comment: 'metadata' });
    expect(await s().applyRuleEdit()).toBe(false);
    expect(s().ruleEdit?.problems.map((p) => p.field)).toEqual(['event']);
    expect(s().ruleEdit?.problems[0]?.message).toMatch(/reserved/);
    // The form's own checks: arguments must be JSON.
    s().setRuleDraft({ events: 'socket.connect', args: '{"1.0": ' });
    expect(await s().applyRuleEdit()).toBe(false);
    expect(s().ruleEdit?.problems.map((p) => p.field)).toEqual(['args']);
    s().setRuleDraft({ args: '{"1.0": "169.254.169.254"}' });
    expect(await s().applyRuleEdit()).toBe(true);
    expect(s().policyDoc?.rules[2]).toEqual({
      action: 'deny',
      event: 'socket.connect',
      args: { '1.0': '169.254.169.254' },
      comment: 'metadata',
    });

    s().moveRule(2, -1);
    s().moveRule(1, -1);
    s().toggleRule(1);
    s().setPolicySettings({ default: 'deny', timeoutMs: 9000 });
    expect(s().policyDirty).toBe(true);
    await s().savePolicy();
    expect(s().policyMessage).toBe('Saved — 0 live processes updated');
    expect(s().policyDirty).toBe(false);
    const saved = readPolicy(file);
    expect(saved.default).toBe('deny');
    expect(saved.ask.timeoutMs).toBe(9000);
    expect(saved.rules.map((r) => [r.event ?? r.intent, r.disabled ?? false])).toEqual([
      ['socket.connect', false],
      ['hookscope.test.rules', true],
      ['pythoncode', false],
    ]);

    // A problem only the whole policy shows comes back on its rule, and nothing is written.
    s().setPolicySettings({ timeoutMs: 0 });
    await s().savePolicy();
    expect(s().policyMessage).toBe('Not saved: 1 problem');
    expect(s().policyProblems.map((p) => [p.ruleIndex, p.field])).toEqual([[null, 'timeoutMs']]);
    expect(readPolicy(file).ask.timeoutMs).toBe(9000);

    // Export never replaces a file unless asked to.
    const other = writePolicy('other.json');
    s().setPolicySettings({ timeoutMs: 1000 });
    await s().exportPolicy(other, false);
    expect(s().policyMessage).toMatch(/^Not exported: .*exists/);
    await s().exportPolicy(other, true);
    expect(s().policyMessage).toBe(`Exported to ${other}`);
    expect(readPolicy(other).ask.timeoutMs).toBe(1000);

    // Unsaved changes are not dropped by opening another file without asking.
    await s().openPolicy(other);
    expect(s().policyPendingOpen).toBe(other);
    await s().openPolicy(other, true);
    expect(s().policyFile).toBe(other);

    // Import by pasting replaces the working copy, unsaved.
    await s().importPolicyText(JSON.stringify({ ...POLICY, rules: [] }));
    expect(s().policyDoc?.rules).toEqual([]);
    expect(s().policyDirty).toBe(true);
  });

  it('shows loading, then an error for a file that is not there', async () => {
    const store = createAppStore(api, memoryStorage());
    const opening = store.getState().openPolicy(path.join(dir, 'missing.json'));
    expect(store.getState().policyStatus).toBe('loading');
    await opening;
    expect(store.getState().policyStatus).toBe('error');
    expect(store.getState().policyError).toMatch(/no file/);
    // A file that is not JSON at all: an error naming the problem, nothing to edit.
    const garbage = path.join(dir, 'garbage.json');
    fs.writeFileSync(garbage, 'not json');
    await store.getState().openPolicy(garbage);
    expect(store.getState().policyStatus).toBe('error');
    expect(store.getState().policyError).toMatch(/is not a policy .*invalid JSON/);
    expect(store.getState().policyDoc).toBeNull();
  });
});

describe('the Rules screen', () => {
  it('edits the open run’s policy and updates the running process at once', async () => {
    const file = writePolicy('live.json');
    const out = path.join(dir, 'live-outcomes.txt');
    const stop = path.join(dir, 'live-stop');
    const script = path.join(dir, 'live.py');
    fs.writeFileSync(
      script,
      [
        'import os, sys, time',
        'end = time.monotonic() + 60',
        `while not os.path.exists(${JSON.stringify(stop)}) and time.monotonic() < end:`,
        '    try:',
        '        sys.audit("hookscope.test.rules")',
        '        outcome = "allowed"',
        '    except PermissionError:',
        '        outcome = "denied"',
        `    open(${JSON.stringify(out)}, "a").write(outcome + "\\n")`,
        '    time.sleep(0.02)',
        '',
      ].join('\n'),
    );
    const last = () =>
      fs.existsSync(out) ? fs.readFileSync(out, 'utf8').trim().split('\n').at(-1) : undefined;
    const store = createAppStore(api, memoryStorage());
    const run = await api.startRun({ command: python.path, args: [script], policyPath: file });
    try {
      await store.getState().openSession(run.sessionPath, run);
      await waitFor(() => expect(last()).toBe('denied'));
      renderApp(store);
      fireEvent.click(screen.getByRole('tab', { name: 'Rules' }));
      // The open run's policy is opened by default.
      const row0 = await screen.findByRole('listitem', { name: 'rule 0' });
      expect(row0.textContent).toContain('hookscope.test.rules');
      expect(row0.textContent).toContain('no test events');
      expect(screen.getByText(/enforced by 1 running run/)).toBeTruthy();
      expect(screen.getByRole('button', { name: 'Move rule 0 up' })).toHaveProperty(
        'disabled',
        true,
      );

      // Edit rule 0 with a bad event glob: the checker's message shows on the field.
      fireEvent.click(within(row0).getByRole('button', { name: 'Edit rule 0' }));
      const events = await screen.findByLabelText(/Event names or globs/);
      fireEvent.change(events, { target: { value: 'hookscope.test.[rules]' } });
      fireEvent.click(screen.getByRole('button', { name: 'Apply' }));
      await waitFor(() => expect(events.getAttribute('aria-invalid')).toBe('true'));
      expect(screen.getByRole('alert').textContent).toMatch(/reserved/);
      // Escape leaves the form without changing anything.
      fireEvent.keyDown(events, { key: 'Escape' });
      expect(screen.queryByLabelText(/Event names or globs/)).toBeNull();

      // Disable the deny rule and save: the running target is allowed from now on.
      fireEvent.click(screen.getByRole('button', { name: 'Disable rule 0' }));
      expect(screen.getByRole('listitem', { name: 'rule 0' }).textContent).toContain('disabled');
      await act(async () => {
        fireEvent.click(screen.getByRole('button', { name: 'Save' }));
      });
      await waitFor(() => expect(screen.getByText('Saved — 1 live process updated')).toBeTruthy());
      expect(readPolicy(file).rules[0]?.disabled).toBe(true);
      await waitFor(() => expect(last()).toBe('allowed'));
    } finally {
      fs.writeFileSync(stop, '');
    }
  });

  it('has an empty state and opens a typed path with the keyboard (Enter)', async () => {
    const file = writePolicy('typed.json');
    const store = createAppStore(api, memoryStorage());
    renderApp(store);
    fireEvent.click(screen.getByRole('tab', { name: 'Rules' }));
    expect(screen.getByText('No policy open')).toBeTruthy();
    const input = screen.getByLabelText('Policy file');
    fireEvent.change(input, { target: { value: file } });
    fireEvent.submit(input.closest('form')!);
    expect(await screen.findByRole('listitem', { name: 'rule 1' })).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Move rule 1 up' }));
    expect(screen.getByRole('listitem', { name: 'rule 0' }).textContent).toContain('pythoncode');
    // The focus moves with the rule (to its other arrow at the top).
    await waitFor(() =>
      expect(document.activeElement?.getAttribute('aria-label')).toBe('Move rule 0 down'),
    );
    fireEvent.click(screen.getByRole('button', { name: 'Delete rule 1' }));
    expect(screen.queryByRole('listitem', { name: 'rule 1' })).toBeNull();
    expect(screen.getByText(/unsaved changes/)).toBeTruthy();
  });
});
