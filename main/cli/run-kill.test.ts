// A killed inspector must not take the target down, and what it wrote
// before dying must read back.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import { CLI, runCli, tempDir } from '../test-support/cli.js';
import { auditCapableInterpreters } from '../test-support/pythons.js';
import { until } from '../test-support/waiting.js';

const py = auditCapableInterpreters()[auditCapableInterpreters().length - 1]!;

describe('inspector killed mid-run', () => {
  it('leaves a readable session and the target finishes normally', async () => {
    const dir = tempDir();
    const out = path.join(dir, 's.hks');
    const started = path.join(dir, 'started');
    const done = path.join(dir, 'done');
    // Raises events for a while after the inspector is gone.
    const code = [
      'import sys, time',
      `open(${JSON.stringify(started)}, "w").close()`,
      'n = 0',
      'end = time.time() + 3',
      'while time.time() < end:',
      '    sys.audit("hookscope.test.tick", n); n += 1',
      '    time.sleep(0.0005)',
      `open(${JSON.stringify(done)}, "w").write(str(n))`,
    ].join('\n');
    const inspector = spawn(
      process.execPath,
      [CLI, 'run', '--out', out, '--', py.path, '-c', code],
      {
        stdio: 'ignore',
      },
    );
    await until(() => fs.existsSync(started), 20_000);
    await new Promise((r) => setTimeout(r, 700));
    inspector.kill('SIGKILL');
    await new Promise((r) => inspector.once('exit', r));
    // The target (now orphaned) keeps going and completes its work.
    await until(() => fs.existsSync(done) && fs.readFileSync(done, 'utf8').length > 0, 20_000);
    expect(Number(fs.readFileSync(done, 'utf8'))).toBeGreaterThan(100);

    const r = await runCli(['show', out, '--json', '--event', 'hookscope.test.tick']);
    expect(r.code).toBe(0);
    const ticks = r.stdout
      .split('\n')
      .filter((l) => l.trim())
      .map((l) => JSON.parse(l) as { args: number[] });
    expect(ticks.length).toBeGreaterThan(10);
    // Complete records, in order, from the first tick on.
    expect(ticks.map((t) => t.args[0])).toEqual(ticks.map((_, i) => i));
  });
});
