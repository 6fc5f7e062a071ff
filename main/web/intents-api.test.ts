// Pending intents through the UI's API, against a real `hookscope serve`
// and real CPython targets: launch with a policy, list what waits, answer
// it, write an "always" rule, and kill the inspector while a thread waits.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import {
  INTENT_HOLD_MS,
  type ApiReply,
  type PendingIntentRow,
  type RunStatus,
} from '../common/ipc-contract.js';
import { tempDir } from '../test-support/cli.js';
import { auditCapableInterpreters, type Interpreter } from '../test-support/pythons.js';
import { startServe, type ServedInspector } from '../test-support/serve.js';
import { TOKEN_HEADER } from './web-host.js';

const interpreters = auditCapableInterpreters();
const python = interpreters[interpreters.length - 1] as Interpreter;

async function post<T>(
  served: ServedInspector,
  method: string,
  payload: unknown,
): Promise<{ status: number; reply: ApiReply<T> }> {
  const response = await fetch(`${served.origin}/api/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', [TOKEN_HEADER]: served.token },
    body: JSON.stringify(payload),
  });
  return { status: response.status, reply: (await response.json()) as ApiReply<T> };
}

function ok<T>(r: { reply: ApiReply<T> }): T {
  if (!r.reply.ok) throw new Error(`API error: ${r.reply.error.message}`);
  return r.reply.result;
}

async function waitForIntents(
  served: ServedInspector,
  count: number,
  timeoutMs = 30_000,
): Promise<PendingIntentRow[]> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { intents } = ok(await post<{ intents: PendingIntentRow[] }>(served, 'intents.list', {}));
    if (intents.length >= count) return intents;
    if (Date.now() > deadline) throw new Error(`only ${intents.length} pending intents`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function waitForFile(file: string, timeoutMs: number): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (!fs.existsSync(file) || fs.readFileSync(file, 'utf8') === '') {
    if (Date.now() > deadline) throw new Error(`${file} never appeared`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return fs.readFileSync(file, 'utf8');
}

async function serveIn(dir: string): Promise<ServedInspector> {
  return startServe({ ...process.env, XDG_DATA_HOME: path.join(dir, 'data') });
}

function writePolicy(dir: string, doc: Record<string, unknown>): string {
  const file = path.join(dir, 'policy.json');
  fs.writeFileSync(file, `${JSON.stringify({ version: 1, ...doc }, null, 2)}\n`);
  return file;
}

/** A target that asks about two Popen calls and writes what happened to `result`. */
function popenScript(result: string): string[] {
  return [
    '-c',
    [
      'import subprocess, sys',
      'out = []',
      'for word in ("first", "second"):',
      '    try:',
      '        subprocess.run(["/bin/echo", word], stdout=subprocess.DEVNULL)',
      '        out.append(word + " ran")',
      '    except PermissionError as e:',
      '        out.append(word + " refused: " + str(e))',
      `open(${JSON.stringify(result)}, "w").write("\\n".join(out))`,
    ].join('\n'),
  ];
}

describe('pending intents through the API of hookscope serve', () => {
  it('lists a waiting Popen with its rule, answers Deny and Allow, and the target sees each', async () => {
    const dir = tempDir('hookscope-intents-api-');
    const served = await serveIn(dir);
    try {
      const policy = writePolicy(dir, {
        default: 'allow',
        ask: { timeoutMs: 60_000, timeoutAction: 'deny' },
        rules: [{ action: 'ask', event: 'subprocess.Popen', comment: 'no surprise processes' }],
      });
      const result = path.join(dir, 'result.txt');
      const run = ok(
        await post<RunStatus>(served, 'run.start', {
          command: python.path,
          args: popenScript(result),
          policyPath: policy,
        }),
      );
      const [first] = await waitForIntents(served, 1);
      expect(first).toMatchObject({
        runId: run.runId,
        sessionPath: run.sessionPath,
        pid: run.pid,
        ruleIndex: 0,
        ruleComment: 'no surprise processes',
        scope: 'once',
        timeoutAction: 'deny',
        subject: { kind: 'audit', event: 'subprocess.Popen' },
      });
      expect((first as PendingIntentRow).subject).toMatchObject({
        argsText: expect.stringContaining("'/bin/echo'"),
      });
      // Held: the deadline moves out to at least INTENT_HOLD_MS from now.
      const before = Date.now();
      const held = ok(
        await post<{ deadlineAtMs: number | null }>(served, 'intents.hold', { id: first?.id }),
      );
      expect(held.deadlineAtMs).toBeGreaterThanOrEqual(before + INTENT_HOLD_MS);
      ok(await post(served, 'intents.answer', { id: first?.id, outcome: 'deny' }));
      // Answered: a second answer is refused, clearly.
      const again = await post(served, 'intents.answer', { id: first?.id, outcome: 'allow' });
      expect(again.status).toBe(404);
      expect(again.reply).toMatchObject({ ok: false, error: { code: 'not-found' } });
      // A hold that comes after the answer (a UI's timer racing the click) is
      // not an error: the reply says the intent no longer waits.
      const late = await post(served, 'intents.hold', { id: first?.id });
      expect(late.status).toBe(200);
      expect(late.reply).toEqual({ ok: true, result: { id: first?.id, deadlineAtMs: null } });

      const second = (await waitForIntents(served, 1)).find((i) => i.id !== first?.id);
      expect(second).toBeDefined();
      ok(await post(served, 'intents.answer', { id: second?.id, outcome: 'allow' }));
      expect((await waitForFile(result, 30_000)).split('\n')).toEqual([
        expect.stringMatching(
          /^first refused: .*denied in the Hookscope inspector \(asked by rule 0\)/,
        ),
        'second ran',
      ]);
    } finally {
      await served.stop();
    }
  });

  it('refuses bad answers and bad policies with a clear error, starting nothing', async () => {
    const dir = tempDir('hookscope-intents-api-');
    const served = await serveIn(dir);
    try {
      const bad = path.join(dir, 'bad.json');
      fs.writeFileSync(bad, '{ "version": 1, "default": "maybe" }\n');
      const r = await post(served, 'run.start', {
        command: python.path,
        args: [],
        policyPath: bad,
      });
      expect(r.status).toBe(400);
      expect(r.reply).toMatchObject({
        ok: false,
        error: { message: expect.stringContaining(`${bad}:1:28: default: unknown action "maybe"`) },
      });
      const scope = await post(served, 'intents.answer', {
        id: 'x/1.1',
        outcome: 'allow',
        scope: 'forever',
      });
      expect(scope.status).toBe(400);
      expect(scope.reply).toMatchObject({
        error: { message: 'request.scope must be one of once, process, session, always' },
      });
      const unknown = await post(served, 'intents.answer', { id: 'nope/1.1', outcome: 'deny' });
      expect(unknown.status).toBe(404);
      // An id naming no run was never an intent: that hold is refused.
      const hold = await post(served, 'intents.hold', { id: 'nope/1.1' });
      expect(hold.status).toBe(404);
      expect(hold.reply).toMatchObject({ ok: false, error: { code: 'not-found' } });
    } finally {
      await served.stop();
    }
  });

  it('"always" writes an exact rule into the policy file above the asking rule', async () => {
    const dir = tempDir('hookscope-intents-api-');
    const served = await serveIn(dir);
    try {
      const policy = writePolicy(dir, {
        default: 'allow',
        ask: { timeoutMs: 60_000, timeoutAction: 'deny' },
        rules: [{ action: 'ask', event: 'hookscope.test.*' }],
      });
      const result = path.join(dir, 'result.txt');
      ok(
        await post<RunStatus>(served, 'run.start', {
          command: python.path,
          args: [
            '-c',
            [
              'import sys',
              'sys.audit("hookscope.test.ask", "/srv/data", 3)',
              'sys.audit("hookscope.test.ask", "/srv/data", 3)',
              `open(${JSON.stringify(result)}, "w").write("done")`,
            ].join('\n'),
          ],
          policyPath: policy,
        }),
      );
      const [pending] = await waitForIntents(served, 1);
      ok(
        await post(served, 'intents.answer', {
          id: pending?.id,
          outcome: 'allow',
          scope: 'always',
        }),
      );
      expect(await waitForFile(result, 30_000)).toBe('done');
      const written = JSON.parse(fs.readFileSync(policy, 'utf8')) as { rules: unknown[] };
      expect(written.rules).toEqual([
        {
          action: 'allow',
          event: 'hookscope.test.ask',
          args: { '0': '/srv/data', '1': 3 },
          comment: expect.stringMatching(/^allowed in the inspector on \d{4}-/),
        },
        { action: 'ask', event: 'hookscope.test.*' },
      ]);
      // The second, identical event was answered from memory: one prompt only.
      expect(ok(await post<{ intents: unknown[] }>(served, 'intents.list', {})).intents).toEqual(
        [],
      );
    } finally {
      await served.stop();
    }
  });

  it('"always" by name: the rule covers any arguments, and the agent answers the next one itself', async () => {
    const dir = tempDir('hookscope-intents-api-');
    const served = await serveIn(dir);
    try {
      const policy = writePolicy(dir, {
        default: 'allow',
        ask: { timeoutMs: 60_000, timeoutAction: 'deny' },
        rules: [{ action: 'ask', event: 'hookscope.test.*' }],
      });
      const result = path.join(dir, 'result.txt');
      const go = path.join(dir, 'go');
      const run = ok(
        await post<RunStatus>(served, 'run.start', {
          command: python.path,
          args: [
            '-c',
            [
              'import os, sys, time',
              'sys.audit("hookscope.test.ask", "/srv/one", 1)',
              'end = time.monotonic() + 30',
              `while not os.path.exists(${JSON.stringify(go)}) and time.monotonic() < end:`,
              '    time.sleep(0.02)',
              // Other arguments: the exact rule would ask again, the name rule does not.
              'sys.audit("hookscope.test.ask", "/srv/two", 2)',
              `open(${JSON.stringify(result)}, "w").write("done")`,
            ].join('\n'),
          ],
          policyPath: policy,
        }),
      );
      const [pending] = await waitForIntents(served, 1);
      // A match that does not fit an event is refused before anything is answered.
      const refused = await post(served, 'intents.answer', {
        id: pending?.id,
        outcome: 'allow',
        scope: 'always',
        match: 'hash',
      });
      expect(refused.reply).toMatchObject({
        ok: false,
        error: { message: expect.stringMatching(/matched exactly or by its name/) },
      });
      ok(
        await post(served, 'intents.answer', {
          id: pending?.id,
          outcome: 'allow',
          scope: 'always',
          match: 'name',
        }),
      );
      const written = JSON.parse(fs.readFileSync(policy, 'utf8')) as { rules: unknown[] };
      expect(written.rules).toEqual([
        {
          action: 'allow',
          event: 'hookscope.test.ask',
          comment: expect.stringMatching(/^allowed in the inspector on /),
        },
        { action: 'ask', event: 'hookscope.test.*' },
      ]);
      // The new policy reached the agent (the session says so); then the second event.
      const deadline = Date.now() + 20_000;
      while (!fs.readFileSync(run.sessionPath).includes('live process updated')) {
        if (Date.now() > deadline) throw new Error('the policy was not sent to the agent');
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      fs.writeFileSync(go, '');
      expect(await waitForFile(result, 30_000)).toBe('done');
      expect(ok(await post<{ intents: unknown[] }>(served, 'intents.list', {})).intents).toEqual(
        [],
      );
    } finally {
      await served.stop();
    }
  });

  it('a killed inspector: the waiting thread gets the offline answer at once, not at the timeout', async () => {
    const dir = tempDir('hookscope-intents-api-');
    const served = await serveIn(dir);
    try {
      const policy = writePolicy(dir, {
        default: 'allow',
        offline: 'deny',
        ask: { timeoutMs: 600_000, timeoutAction: 'allow' },
        rules: [{ action: 'ask', event: 'subprocess.Popen' }],
      });
      const result = path.join(dir, 'result.txt');
      ok(
        await post<RunStatus>(served, 'run.start', {
          command: python.path,
          args: popenScript(result),
          policyPath: policy,
        }),
      );
      await waitForIntents(served, 1);
      served.process.kill('SIGKILL');
      // The ask timeout is 10 minutes: the answer must come from the
      // agent noticing the inspector is gone, long before that.
      const lines = (await waitForFile(result, 60_000)).split('\n');
      expect(lines).toEqual([
        expect.stringMatching(/^first refused: .*no inspector to ask \(asked by rule 0\)/),
        expect.stringMatching(/^second refused: .*no inspector to ask/),
      ]);
    } finally {
      await served.stop();
    }
  });
});
