// CPython's own audit test scenarios (Lib/test/audit-tests.py) are truth
// nobody here wrote: every scenario must behave the same with the agent
// loaded, and the events a scenario prints (what its own Python hook saw)
// must be in the recorded session.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import { CaptureRun } from '../core/capture-run.js';
import { showJson, tempDir } from '../test-support/cli.js';
import { auditCapableInterpreters } from '../test-support/pythons.js';

const withSuite = auditCapableInterpreters().filter(
  (py) => py.testDir && fs.existsSync(path.join(py.testDir, 'audit-tests.py')),
);

function scenarios(script: string): string[] {
  return [...fs.readFileSync(script, 'utf8').matchAll(/^def (test_\w+)\(/gm)].map((m) => m[1]!);
}

/** Extra arguments CPython's test_audit.py passes to some scenarios. */
function scenarioArgs(name: string, dir: string): string[] {
  if (name === 'test_open') return [path.join(dir, 'testfn')];
  if (name === 'test_time') return ['print'];
  return [];
}

interface Outcome {
  code: number | null;
  stdout: string;
}

async function underAgent(py: string, args: string[], cwd: string, out: string): Promise<Outcome> {
  const run = await CaptureRun.start({
    command: py,
    args,
    cwd,
    outPath: out,
    stdio: ['ignore', 'pipe', 'pipe'],
    hookscopeVersion: 'test',
  });
  const chunks: Buffer[] = [];
  run.child.stdout?.on('data', (b: Buffer) => chunks.push(b));
  run.child.stderr?.resume();
  const exit = await run.finish();
  return { code: exit.code, stdout: Buffer.concat(chunks).toString('utf8') };
}

describe('environment', () => {
  it('has CPython audit-tests.py for at least one interpreter', () => {
    expect(withSuite.length).toBeGreaterThan(0);
  });
});

describe.each(withSuite.map((py) => [py.version, py] as const))(
  'audit-tests.py of %s',
  (_v, py) => {
    const script = path.join(py.testDir!, 'audit-tests.py');
    it.each(scenarios(script))('%s behaves the same and its events are recorded', async (name) => {
      const dir = tempDir();
      const args = ['-X', 'utf8', script, name, ...scenarioArgs(name, dir)];
      const plain = spawnSync(py.path, args, { cwd: dir, encoding: 'utf8', timeout: 60_000 });
      const out = path.join(dir, 's.hks');
      const hooked = await underAgent(py.path, args, dir, out);
      expect(hooked.code).toBe(plain.status);
      // Same events printed in the same order (arguments may differ: the
      // agent's socket shifts descriptor numbers, object ids vary per run).
      const names = (text: string): string[] =>
        text.split('\n').map((l) => l.trim().split(' ')[0] ?? '');
      expect(names(hooked.stdout)).toEqual(names(plain.stdout));
      const seen = new Set((await showJson(out)).map((e) => e.event));
      expect(seen.size).toBeGreaterThan(0);
      // Each printed line is "<event> <args>", except test_http_client's own
      // note that it could not send (this machine has no network).
      for (const line of hooked.stdout.split('\n')) {
        if (line.includes('[cannot send]')) continue;
        const event = line.trim().split(' ')[0];
        if (event) expect(seen, `event ${event} printed by the scenario`).toContain(event);
      }
    });
  },
);
