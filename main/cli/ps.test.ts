// `hookscope ps` through the built CLI, against a real sleeping CPython.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ProcessInfo } from '../core/discovery.js';
import { runCli } from '../test-support/cli.js';
import { auditCapableInterpreters } from '../test-support/pythons.js';

const SLEEPER =
  'import sys, time\nsys.stdout.write("ready\\n")\nsys.stdout.flush()\ntime.sleep(120)';

let python: ChildProcess;
let sleeper: ChildProcess;

function ready(child: ChildProcess): Promise<void> {
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      if (out.includes('ready\n')) resolve();
    });
    child.on('exit', (code) => reject(new Error(`ended early (${code})`)));
  });
}

beforeAll(async () => {
  const env = { ...process.env, LD_PRELOAD: '' };
  python = spawn(auditCapableInterpreters()[0]!.path, ['-c', SLEEPER], {
    env,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  // A shell that says it is ready, then becomes `sleep` (not Python).
  sleeper = spawn('/bin/sh', ['-c', 'echo ready; exec sleep 120'], {
    env,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  await Promise.all([ready(python), ready(sleeper)]);
});

afterAll(() => {
  python?.kill('SIGKILL');
  sleeper?.kill('SIGKILL');
});

function unusedPid(): number {
  // Counting down from the top of the pid range finds a free one quickly.
  let pid = Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8')) - 1;
  while (fs.existsSync(`/proc/${pid}`)) pid--;
  return pid;
}

describe('hookscope ps', () => {
  it('--json prints every process, with our CPython attachable', async () => {
    const r = await runCli(['ps', '--json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const all = JSON.parse(r.stdout) as ProcessInfo[];
    const py = all.find((p) => p.pid === python.pid);
    expect(py?.python?.major).toBe(3);
    expect(py?.attach.ok).toBe(true);
    expect(py?.agentLoaded).toBe(false);
    const sh = all.find((p) => p.pid === sleeper.pid);
    expect(sh?.python).toBeNull();
    expect(sh?.attach.reasons.map((x) => x.code)).toEqual(['not-python']);
  });

  it('--python --json leaves out what is not CPython', async () => {
    const r = await runCli(['ps', '--python', '--json']);
    expect(r.code).toBe(0);
    const pids = (JSON.parse(r.stdout) as ProcessInfo[]).map((p) => p.pid);
    expect(pids).toContain(python.pid);
    expect(pids).not.toContain(sleeper.pid);
  });

  it('--pid --json prints one object', async () => {
    const r = await runCli(['ps', '--pid', String(python.pid), '--json']);
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout) as ProcessInfo;
    expect(info.pid).toBe(python.pid);
    expect(info.python?.source).toBeTruthy();
  });

  it('prints a table with the attach method or the first reason', async () => {
    const r = await runCli(['ps']);
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/^\s*PID\s+USER\s+PYTHON\s+AGENT\s+ATTACH\s+COMMAND$/);
    const row = lines.find((l) => l.trimStart().startsWith(`${python.pid} `));
    expect(row).toMatch(/ 3\.\d+(\.\d+)?\s+no\s+ok \((gdb|lldb)\)\s+/);
    const sh = lines.find((l) => l.trimStart().startsWith(`${sleeper.pid} `));
    expect(sh).toMatch(/ -\s+no\s+not-python\s+sleep 120$/);
    // Not a terminal: lines fit in 100 columns.
    for (const line of lines) expect([...line].length).toBeLessThanOrEqual(100);
  });

  it('--pid shows every reason with its fix', async () => {
    const r = await runCli(['ps', '--pid', String(sleeper.pid)]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`pid        ${sleeper.pid}\n`);
    expect(r.stdout).toContain('attach     not possible:\n');
    expect(r.stdout).toContain(
      `  - not-python: Process ${sleeper.pid} is not running CPython (no libpython is mapped and its executable does not contain the interpreter).\n` +
        '    fix: Choose the process id of a CPython 3.8 or newer program.\n',
    );
  });

  it('--pid of a process that does not exist exits 2 with one line', async () => {
    const pid = unusedPid();
    const r = await runCli(['ps', '--pid', String(pid)]);
    expect(r.code).toBe(2);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`hookscope ps: no process with pid ${pid}\n`);
  });

  it('--pid that is not a number is a usage error', async () => {
    const r = await runCli(['ps', '--pid', 'abc']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('expected a process id');
  });
});
