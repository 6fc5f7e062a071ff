// A run started from the UI: the target runs in a session of its own (no
// terminal to share; the scheduler groups its processes against the
// inspector), and Stop still ends it.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import type { ApiReply, RunStatus } from '../common/ipc-contract.js';
import { tempDir } from '../test-support/cli.js';
import { auditCapableInterpreters, type Interpreter } from '../test-support/pythons.js';
import { UiApi } from './ui-api.js';

const python = auditCapableInterpreters()[0] as Interpreter;
const dir = tempDir('hookscope-ui-launch-');
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

function result<T>(reply: ApiReply<unknown>): T {
  if (!reply.ok) throw new Error(`${reply.error.code}: ${reply.error.message}`);
  return reply.result as T;
}

/** The session id of `pid` (field 6 of /proc/PID/stat, after the command in parentheses). */
function sessionOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]);
}

function isZombie(pid: number): boolean {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z');
  } catch {
    return true;
  }
}

describe('run.start', () => {
  it('starts the target in a session of its own, with its Python children, and Stop ends them all', async () => {
    const api = new UiApi({ sessionDir: path.join(dir, 'sessions'), log: () => undefined });
    const ready = path.join(dir, 'ready');
    const script = [
      'import subprocess, sys, time',
      'child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])',
      `open(${JSON.stringify(ready)}, "w").write(str(child.pid))`,
      'time.sleep(60)',
    ].join('\n');
    const run = result<RunStatus>(
      await api.call('run.start', { command: python.path, args: ['-c', script] }, 'test'),
    );
    const deadline = Date.now() + 20_000;
    while (!fs.existsSync(ready) || fs.readFileSync(ready, 'utf8') === '') {
      if (Date.now() > deadline) throw new Error('the target did not start its child');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    const pid = run.pid as number;
    expect(sessionOf(pid)).toBe(pid);
    expect(sessionOf(pid)).not.toBe(sessionOf(process.pid));
    const grandchild = Number(fs.readFileSync(ready, 'utf8'));
    expect(sessionOf(grandchild)).toBe(pid);
    // Stop (the app closing stops every run) ends the whole tree.
    await api.close();
    const ended = result<RunStatus>(await api.call('run.status', { runId: run.runId }, 'test'));
    expect(ended).toMatchObject({ state: 'exited', signal: 'SIGTERM' });
    const gone = Date.now() + 10_000;
    while (fs.existsSync(`/proc/${grandchild}`) && !isZombie(grandchild)) {
      if (Date.now() > gone) {
        process.kill(grandchild, 'SIGKILL');
        throw new Error("the target's child outlived Stop");
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  });
});
