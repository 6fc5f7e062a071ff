// End to end, in Debian's Chromium: `hookscope serve` as a user starts it,
// the page at the URL it prints, real CPython processes, the real agent.
// Screenshots of each main screen go to artifacts/screenshots/ (git-ignored).
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { writePopenAskTarget } from '../main/test-support/ask-target.js';
import { launchChromium } from '../main/test-support/chromium.js';
import { REPO_ROOT, runCli, tempDir } from '../main/test-support/cli.js';
import { auditCapableInterpreters } from '../main/test-support/pythons.js';
import { startServe, type ServedInspector } from '../main/test-support/serve.js';

const SHOTS = path.join(REPO_ROOT, 'artifacts', 'screenshots');
const python = auditCapableInterpreters()[0]!;

let dir: string;
let env: NodeJS.ProcessEnv;
let serve: ServedInspector;
let sleeper: ChildProcess;
let context: BrowserContext;
let page: Page;
let url: string;
const pageErrors: string[] = [];

async function shot(name: string): Promise<void> {
  await page.screenshot({ path: path.join(SHOTS, `${name}.png`), fullPage: false });
}

beforeAll(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  dir = tempDir('hookscope-e2e-');
  env = { ...process.env, XDG_DATA_HOME: dir };
  const sessions = path.join(dir, 'hookscope', 'sessions');
  fs.mkdirSync(sessions, { recursive: true });
  const saved = await runCli(
    [
      'run',
      '--out',
      path.join(sessions, 'saved-session.hks'),
      '--no-summary',
      '--',
      python.path,
      '-c',
      "import json, base64; open('/etc/hostname').close()",
    ],
    { env },
  );
  expect(saved.code, saved.stderr).toBe(0);
  sleeper = spawn(python.path, ['-c', 'import time; time.sleep(600)', 'hookscope-e2e-sleeper'], {
    stdio: 'ignore',
  });
  serve = await startServe(env);
  url = serve.url;
  context = await launchChromium(path.join(dir, 'chromium-profile'));
  page = context.pages()[0] ?? (await context.newPage());
  page.on('pageerror', (e) => pageErrors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error') pageErrors.push(m.text());
  });
  // The console says only "Failed to load resource"; this says which.
  page.on('response', (r) => {
    if (r.status() >= 400) pageErrors.push(`${r.status()} from ${r.request().method()} ${r.url()}`);
  });
});

afterAll(async () => {
  await context?.close();
  sleeper?.kill('SIGKILL');
  await serve?.stop();
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

describe('the inspector in Chromium', () => {
  it('lists a real Python process with its version and attachability', async () => {
    await page.goto(url);
    // The token leaves the address bar once the page has it.
    await expect.poll(() => page.url()).not.toContain('token=');
    const row = page.locator(`tr[data-pid="${sleeper.pid}"]`);
    await row.waitFor({ timeout: 20_000 });
    expect(await row.textContent()).toContain(python.version.split('.').slice(0, 2).join('.'));
    expect(await row.textContent()).toMatch(/yes, via|Fix:/);
    await page.getByLabel('Search processes').fill('hookscope-e2e-sleeper');
    await expect.poll(() => page.locator('table[aria-label="Processes"] tbody tr').count()).toBe(1);
    await shot('processes');
  });

  it('launches a real run from the Launch form and shows its events live', async () => {
    await page.getByLabel('Search processes').fill('');
    await page.locator('input[name="command"]').fill(python.path);
    await page
      .locator('textarea[name="args"]')
      .fill("-c\nimport json, time; time.sleep(3); import csv; open('/etc/hostname').close()");
    await page.getByRole('button', { name: 'Launch and record' }).click();
    await page.locator('.ev-row[data-event]').first().waitFor({ timeout: 20_000 });
    // Events show while the target still runs (it sleeps for 3 s).
    expect(await page.getByTestId('session-state').textContent()).toBe('live');
    await shot('session-live');
    await expect
      .poll(() => page.getByTestId('session-state').textContent(), { timeout: 30_000 })
      .toBe('ended with code 0');
    // Virtualised: the DOM holds the rows in view, not the whole session
    // (counted once the table has caught up with the finished run).
    const digits = async (selector: string): Promise<number> =>
      Number(((await page.locator(selector).first().textContent()) ?? '').replace(/[^0-9]/g, ''));
    const total = await digits('.stats span');
    await expect.poll(() => digits('[data-testid="event-count"]')).toBe(total);
    expect(total).toBeGreaterThan(500);
    expect(await page.locator('.ev-row[data-event]').count()).toBeLessThan(100);
    await page.locator('.ev-scroll').evaluate((el) => el.scrollTo({ top: el.scrollHeight }));
    await expect
      .poll(() => page.locator('.ev-row[data-event]').last().getAttribute('aria-rowindex'))
      .toBe(String(total));
    // The process tree shows the process and its state; the late import is there.
    expect(await page.locator('.proc-tree').textContent()).toMatch(/exited/);
    await page.getByLabel('Text in arguments').fill("'csv'");
    await page.getByRole('button', { name: 'Filter', exact: true }).click();
    await page.locator('.ev-row[data-event="import"]').first().waitFor();
    await page.getByRole('button', { name: 'Clear' }).click();
  });

  it('filters the events by an event glob and shows an event in detail', async () => {
    await page.getByLabel('Event glob').fill('io.open_*');
    await page.getByRole('button', { name: 'Filter', exact: true }).click();
    await expect.poll(() => page.getByTestId('event-count').textContent()).toMatch(/ of /);
    const names = await page
      .locator('.ev-row[data-event]')
      .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-event')));
    expect(names.length).toBeGreaterThan(0);
    expect(new Set(names)).toEqual(new Set(['io.open_code']));
    await shot('session-filtered');
    await page.locator('.ev-row[data-event="io.open_code"]').first().click();
    const identity = page.getByTestId('file-identity');
    await identity.waitFor();
    expect(await identity.textContent()).toMatch(/SHA-256[0-9a-f]{64}/);
    await shot('event-detail');
    // The keyboard moves through the rows and the detail follows.
    await page.keyboard.press('ArrowDown');
    await expect
      .poll(() => page.locator('.ev-row[aria-selected="true"]').getAttribute('aria-rowindex'))
      .toBe('2');
  });

  it('brushes a time range on the timeline, zooms it, and sorts the table by a column', async () => {
    await page.getByRole('button', { name: 'Clear', exact: true }).click();
    await expect.poll(() => page.getByTestId('event-count').textContent()).not.toMatch(/ of /);
    const chart = page.getByRole('img', { name: /Event density by category/ });
    await chart.waitFor();
    // The lanes add up to every event of the session.
    const laneTotal = () =>
      page
        .locator('[data-lane]')
        .evaluateAll((lanes) =>
          lanes.reduce((n, lane) => n + Number(lane.getAttribute('data-count')), 0),
        );
    const total = Number(
      ((await page.getByTestId('event-count').textContent()) ?? '').replace(/[^0-9]/g, ''),
    );
    await expect.poll(laneTotal).toBe(total);
    expect(
      Number(await page.locator('[data-lane="imports"]').getAttribute('data-count')),
    ).toBeGreaterThan(0);
    // Drag across the first half of the chart (after the 120 px of lane labels).
    const box = (await chart.boundingBox())!;
    const left = box.x + 121;
    const width = box.width - 121;
    await page.mouse.move(left + 2, box.y + 40);
    await page.mouse.down();
    await page.mouse.move(left + width / 2, box.y + 40, { steps: 5 });
    await page.mouse.up();
    await page.getByTestId('time-filter').waitFor();
    await expect.poll(() => page.getByTestId('event-count').textContent()).toMatch(/ of /);
    await page.getByRole('button', { name: 'Zoom to range' }).click();
    await expect.poll(() => page.getByTestId('timeline-range').textContent()).toMatch(/ of /);
    await shot('timeline');
    // Wheel over the chart zooms in further.
    const before = await page.getByTestId('timeline-range').textContent();
    const zoomed = (await chart.boundingBox())!;
    await page.mouse.move(zoomed.x + 121 + width / 2, zoomed.y + zoomed.height / 2);
    await page.mouse.wheel(0, -300);
    await expect.poll(() => page.getByTestId('timeline-range').textContent()).not.toBe(before);
    await page.getByRole('button', { name: 'Clear range' }).click();
    await page.getByRole('button', { name: 'Fit' }).click();
    await expect.poll(() => page.getByTestId('event-count').textContent()).not.toMatch(/ of /);
    // Sorted by event name, descending on the second click.
    const header = page.getByRole('columnheader', { name: /^Event/ });
    await header.getByRole('button').click();
    await header.getByRole('button').click();
    await expect.poll(() => header.getAttribute('aria-sort')).toBe('descending');
    const names = await page
      .locator('.ev-row[data-event]')
      .evaluateAll((rows) => rows.map((r) => r.getAttribute('data-event') ?? ''));
    expect(names).toEqual([...names].sort().reverse());
    await header.getByRole('button').click();
    await expect.poll(() => header.getAttribute('aria-sort')).toBe('none');
  });

  it('opens a saved session from the sessions list', async () => {
    await page.getByRole('tab', { name: 'Sessions' }).click();
    const row = page.locator('tr', { hasText: 'saved-session.hks' });
    await row.waitFor();
    await shot('sessions');
    await row.getByRole('button', { name: 'Open' }).click();
    await expect
      .poll(() => page.getByTestId('session-state').textContent())
      .toBe('ended with code 0');
    await page.getByLabel('Text in arguments').fill('/etc/hostname');
    await page.getByRole('button', { name: 'Filter', exact: true }).click();
    await page.locator('.ev-row[data-event="open"]').first().click();
    expect(await page.locator('.detail').textContent()).toContain('/etc/hostname');
    await shot('saved-session');
  });

  it('answers a waiting intent with Deny and with Allow, and the target sees each', async () => {
    const { policy, script, result } = writePopenAskTarget('hookscope-e2e-ask-');
    await page.getByRole('tab', { name: 'Processes' }).click();
    await page.locator('input[name="command"]').fill(python.path);
    await page.locator('textarea[name="args"]').fill(script);
    await page.locator('input[name="policyPath"]').fill(policy);
    await page.getByRole('button', { name: 'Launch and record' }).click();
    const card = page.getByRole('article', { name: 'Waiting: subprocess.Popen' });
    await card.waitFor({ timeout: 20_000 });
    expect(await card.textContent()).toContain("'first'");
    expect(await page.getByRole('link', { name: '1 waiting for an answer' }).count()).toBe(1);
    await shot('intent-prompt');
    await card.getByRole('button', { name: /Deny once/ }).click();
    await expect.poll(() => card.textContent(), { timeout: 20_000 }).toContain("'second'");
    await card.getByRole('button', { name: /Allow once/ }).click();
    await expect
      .poll(() => (fs.existsSync(result) ? fs.readFileSync(result, 'utf8') : ''), {
        timeout: 30_000,
      })
      .toBe('first refused second ran');
    await expect.poll(() => card.count()).toBe(0);
    // The session records both decisions, by the user.
    await page.getByLabel('Event glob').fill('subprocess.Popen');
    await page.getByRole('button', { name: 'Filter', exact: true }).click();
    await page.locator('.ev-row[data-event="subprocess.Popen"]').first().waitFor();
  });

  it("edits the live run's policy in the Rules screen and the running target follows", async () => {
    const policy = path.join(dir, 'rules-e2e.json');
    fs.writeFileSync(
      policy,
      JSON.stringify({
        version: 1,
        default: 'allow',
        rules: [{ action: 'deny', event: 'hookscope.e2e.rules', comment: 'no e2e events' }],
      }),
    );
    const out = path.join(dir, 'rules-e2e-outcomes.txt');
    const stop = path.join(dir, 'rules-e2e-stop');
    const script = path.join(dir, 'rules-e2e.py');
    fs.writeFileSync(
      script,
      [
        'import os, sys, time',
        'end = time.monotonic() + 60',
        `while not os.path.exists(${JSON.stringify(stop)}) and time.monotonic() < end:`,
        '    try:',
        '        sys.audit("hookscope.e2e.rules")',
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
    try {
      await page.getByRole('tab', { name: 'Processes' }).click();
      await page.locator('input[name="command"]').fill(python.path);
      await page.locator('textarea[name="args"]').fill(script);
      await page.locator('input[name="policyPath"]').fill(policy);
      await page.getByRole('button', { name: 'Launch and record' }).click();
      await page.getByTestId('session-state').waitFor();
      // The form keeps its fields: the attach test below wants no policy.
      await page.getByRole('tab', { name: 'Processes' }).click();
      await page.locator('input[name="policyPath"]').fill('');
      await expect.poll(last, { timeout: 20_000 }).toBe('denied');
      await page.getByRole('tab', { name: 'Rules' }).click();
      const rule = page.getByRole('listitem', { name: 'rule 0' });
      await rule.waitFor();
      expect(await rule.textContent()).toContain('no e2e events');
      await page.getByRole('button', { name: 'Disable rule 0' }).click();
      await shot('rules-editor');
      await page.getByRole('button', { name: 'Save', exact: true }).click();
      await page.getByText('Saved — 1 live process updated').waitFor();
      expect(JSON.parse(fs.readFileSync(policy, 'utf8')).rules[0].disabled).toBe(true);
      await expect.poll(last, { timeout: 10_000 }).toBe('allowed');
    } finally {
      fs.writeFileSync(stop, '');
    }
  });

  it('attaches to a running process from the picker and detaches from the session view', async () => {
    await page.getByRole('tab', { name: 'Processes' }).click();
    await page.getByLabel('Search processes').fill(String(sleeper.pid));
    await page.locator('input[name="policyPath"]').fill('');
    await page.getByRole('button', { name: `Attach to ${sleeper.pid}` }).click();
    await expect
      .poll(() => page.getByTestId('session-state').textContent(), { timeout: 30_000 })
      .toBe('live');
    await page
      .locator('.ev-row[data-event="hookscope.attached"]')
      .first()
      .waitFor({ timeout: 20_000 });
    await shot('attached-session');
    await page.getByRole('button', { name: 'Detach' }).click();
    await expect
      .poll(() => page.getByTestId('session-state').textContent(), { timeout: 30_000 })
      .toBe('detached');
    expect(sleeper.exitCode).toBeNull();
  });

  it('ran with no page errors (CSP violations included)', () => {
    expect(pageErrors).toEqual([]);
  });
});
