// Attach and detach through the UI API, on a real CPython process (gdb on
// 3.8-3.13): what the process picker's Attach button and the session
// view's Detach button call.
import { spawn } from 'node:child_process';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';

import type { ApiReply, RunStatus } from '../common/ipc-contract.js';
import { tempDir } from '../test-support/cli.js';
import { auditCapableInterpreters, type Interpreter } from '../test-support/pythons.js';
import { readSessionBlocks } from './session-file.js';
import { UiApi } from './ui-api.js';

const python = auditCapableInterpreters().at(-1) as Interpreter;
const children: Array<{ kill(signal: NodeJS.Signals): boolean }> = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

function result<T>(reply: ApiReply<unknown>): T {
  if (!reply.ok) throw new Error(`${reply.error.code}: ${reply.error.message}`);
  return reply.result as T;
}

describe('attach through the UI API', () => {
  it('attaches to a running process, records it live, and detaches leaving it running', async () => {
    const dir = tempDir('hookscope-ui-attach-');
    const target = spawn(
      python.path,
      ['-c', 'import time\nwhile True:\n    open("/dev/null").close()\n    time.sleep(0.05)'],
      { stdio: 'ignore' },
    );
    children.push(target);
    await new Promise((r) => setTimeout(r, 300));
    const logged: string[] = [];
    const api = new UiApi({ sessionDir: path.join(dir, 'sessions'), log: (l) => logged.push(l) });
    const run = result<RunStatus>(await api.call('attach.start', { pid: target.pid }, 'test'));
    expect(run).toMatchObject({ mode: 'attach', pid: target.pid, state: 'running' });
    await new Promise((r) => setTimeout(r, 300));
    const detached = result<RunStatus>(
      await api.call('attach.detach', { runId: run.runId }, 'test'),
    );
    expect(detached.state).toBe('detached');
    expect(target.exitCode).toBeNull(); // it runs on
    let opens = 0;
    for await (const block of readSessionBlocks(run.sessionPath)) {
      if (block.type !== 'events') continue;
      opens += block.records.filter((r) => r.kind === 'audit' && r.event === 'open').length;
    }
    expect(opens).toBeGreaterThan(0);
    // A launched run cannot be detached; an unknown one is not found.
    expect(await api.call('attach.detach', { runId: 'nope' }, 'test')).toMatchObject({
      ok: false,
      error: { code: 'not-found' },
    });
    await api.close();
  });

  it('refuses what cannot be attached, with the reason and its fix', async () => {
    const dir = tempDir('hookscope-ui-attach-');
    const sleeper = spawn('sleep', ['60'], { stdio: 'ignore' });
    children.push(sleeper);
    const api = new UiApi({ sessionDir: path.join(dir, 'sessions'), log: () => {} });
    const reply = await api.call('attach.start', { pid: sleeper.pid }, 'test');
    expect(reply).toMatchObject({ ok: false, error: { code: 'refused' } });
    expect(!reply.ok && reply.error.message).toMatch(/cannot attach to process \d+: .*\(fix: /);
    const bad = await api.call('attach.start', { pid: 0 }, 'test');
    expect(bad).toMatchObject({ ok: false, error: { code: 'bad-request' } });
    await api.close();
  });
});
