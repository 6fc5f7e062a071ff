// The HTML report in Debian's Chromium, from a real run under a policy:
// it shows the summary and the denied intent, its event table searches,
// it makes no network request, and a target-chosen string cannot run as
// script in it.
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { REPO_ROOT, runCli, tempDir } from '../main/test-support/cli.js';
import { auditCapableInterpreters } from '../main/test-support/pythons.js';

const CHROMIUM = '/usr/bin/chromium';
const SHOTS = path.join(REPO_ROOT, 'artifacts', 'screenshots');
const python = auditCapableInterpreters().at(-1)!;
let browser: Browser;
let report: string;

beforeAll(async () => {
  const dir = tempDir('hookscope-html-');
  const policy = path.join(dir, 'policy.json');
  fs.writeFileSync(
    policy,
    JSON.stringify({
      version: 1,
      default: 'allow',
      rules: [{ action: 'deny', event: 'subprocess.Popen', comment: 'no subprocesses' }],
    }),
  );
  const session = path.join(dir, 's.hks');
  const run = await runCli([
    'run',
    '--out',
    session,
    '--no-summary',
    '--policy',
    policy,
    '--',
    python.path,
    '-c',
    [
      'import subprocess, sys',
      'sys.audit("hookscope.test.markup", "</script><script>document.title=\'pwned\'</script>")',
      'try:',
      '    subprocess.run(["/bin/true"])',
      'except PermissionError:',
      '    pass',
    ].join('\n'),
  ]);
  expect(run.code, run.stderr).toBe(3);
  report = path.join(dir, 'report.html');
  const r = await runCli(['report', session, '--format', 'html', '--out', report]);
  expect(r.code, r.stderr).toBe(0);
  fs.mkdirSync(SHOTS, { recursive: true });
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
  });
});

afterAll(async () => {
  await browser?.close();
});

describe('the HTML report', () => {
  it('opens offline with the summary, the denied intent and a searchable table, and asks for nothing', async () => {
    const page = await browser.newPage({ viewport: { width: 1200, height: 900 } });
    const requests: string[] = [];
    page.on('request', (req) => {
      if (!req.url().startsWith('file://')) requests.push(req.url());
    });
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`file://${report}`);
    await page.locator('#events-body tr').first().waitFor();
    expect(await page.title()).toMatch(/^Hookscope report: /);
    const summary = await page.locator('#summary + table').textContent();
    expect(summary).toMatch(/Denied1/);
    const decisions = await page.locator('#decisions + table').textContent();
    expect(decisions).toContain('subprocess.Popen');
    expect(decisions).toContain('rule 0 (no subprocesses)');
    expect(decisions).toContain('__main__');
    const all = await page.locator('#page-info').textContent();
    await page.getByLabel('Search events').fill('markup');
    await expect.poll(() => page.locator('#page-info').textContent()).not.toBe(all);
    // Every row left mentions it (the event, and the -c source that raised it).
    const rows = await page.locator('#events-body tr').allTextContents();
    expect(rows.length).toBeGreaterThan(0);
    for (const row of rows) expect(row).toContain('markup');
    const hostile = page
      .locator('#events-body tr')
      .filter({ has: page.locator('td:nth-child(4)', { hasText: /^hookscope\.test\.markup$/ }) });
    // The hostile argument is text in the table, not a script that ran.
    expect(await hostile.first().textContent()).toContain('</script><script>document.title=');
    expect(await page.title()).not.toBe('pwned');
    await page.screenshot({ path: path.join(SHOTS, 'html-report.png'), fullPage: false });
    expect(requests).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  });
});
