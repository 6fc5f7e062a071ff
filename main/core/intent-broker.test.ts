// Interactive asks end to end on real CPython processes: the agent's ASK,
// the broker's pending list and answers, the waits in the target.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import { tempDir } from '../test-support/cli.js';
import { auditCapableInterpreters, type Interpreter } from '../test-support/pythons.js';
import { CaptureRun } from './capture-run.js';
import type { IntentUpdate, PendingIntent } from './intent-broker.js';
import { compilePolicy } from './policy/compile.js';
import { parsePolicy } from './policy/load-policy.js';
import type { DecisionRecord } from './protocol/records.js';
import { readSessionBlocks } from './session-file.js';
import { HOOKSCOPE_VERSION } from './version.js';

const interpreters = auditCapableInterpreters();
const newest = interpreters[interpreters.length - 1] as Interpreter;

interface AskRun {
  run: CaptureRun;
  stdout: () => string;
  session: string;
  dir: string;
}

async function startAskRun(
  python: Interpreter,
  script: string,
  policy: Record<string, unknown>,
): Promise<AskRun> {
  const dir = tempDir('hookscope-ask-');
  const text = JSON.stringify({ version: 1, ...policy }, null, 2);
  const parsed = parsePolicy(text, path.join(dir, 'policy.json'));
  const scriptPath = path.join(dir, 'target.py');
  fs.writeFileSync(scriptPath, script);
  const session = path.join(dir, 'session.hks');
  const run = await CaptureRun.start({
    command: python.path,
    args: [scriptPath],
    cwd: dir,
    outPath: session,
    stdio: ['ignore', 'pipe', 'pipe'],
    hookscopeVersion: HOOKSCOPE_VERSION,
    policy: {
      file: path.join(dir, 'policy.json'),
      compiled: compilePolicy(parsed, { askAnswer: 'interactive' }),
      text,
      askAnswer: 'interactive',
    },
  });
  let out = '';
  run.child.stdout?.on('data', (b: Buffer) => (out += b.toString('utf8')));
  run.child.stderr?.on('data', (b: Buffer) => (out += b.toString('utf8')));
  return { run, stdout: () => out, session, dir };
}

async function decisions(session: string): Promise<DecisionRecord[]> {
  const found: DecisionRecord[] = [];
  for await (const block of readSessionBlocks(session)) {
    if (block.type !== 'events') continue;
    for (const record of block.records) if (record.kind === 'decision') found.push(record);
  }
  return found;
}

/** Resolves when `predicate` holds for the pending list (checked on every update). */
function waitForPending(
  run: CaptureRun,
  predicate: (pending: PendingIntent[]) => boolean,
  timeoutMs = 30_000,
): Promise<PendingIntent[]> {
  const broker = run.intents;
  if (broker === null) throw new Error('not an interactive run');
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      const pending = broker.list();
      if (!predicate(pending)) return false;
      stop();
      clearTimeout(timer);
      resolve(pending);
      return true;
    };
    const stop = broker.subscribe(() => void check());
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`pending intents never matched: ${JSON.stringify(broker.list())}`));
    }, timeoutMs);
    check();
  });
}

function argOf(intent: PendingIntent): unknown {
  return intent.subject.kind === 'audit' ? (intent.subject.args as unknown[])[0] : null;
}

const ASK_RULE = { action: 'ask', event: 'hookscope.test.ask', comment: 'ask the tester' };

describe.each(interpreters.map((i) => [i.version, i] as const))(
  'interactive asks on %s',
  (_v, python) => {
    it('two threads wait at once, each gets its own answer, a third keeps running', async () => {
      const ticks = 'ticks.txt';
      const { run, stdout, session, dir } = await startAskRun(
        python,
        [
          'import sys, threading, time',
          'results = {}',
          'stop = threading.Event()',
          'def ticker():',
          `    with open(${JSON.stringify(ticks)}, "a") as f:`,
          '        while not stop.is_set():',
          '            f.write("t\\n"); f.flush(); time.sleep(0.01)',
          'def asker(name):',
          '    try:',
          '        sys.audit("hookscope.test.ask", name)',
          '        results[name] = "allowed"',
          '    except PermissionError as e:',
          '        results[name] = "denied: " + str(e)',
          'tick = threading.Thread(target=ticker); tick.start()',
          'askers = [threading.Thread(target=asker, args=(n,)) for n in ("A", "B")]',
          'for t in askers: t.start()',
          'for t in askers: t.join()',
          'stop.set(); tick.join()',
          'print("A", results["A"]); print("B", results["B"])',
        ].join('\n'),
        { default: 'allow', ask: { timeoutMs: 60_000, timeoutAction: 'deny' }, rules: [ASK_RULE] },
      );
      const pending = await waitForPending(run, (p) => p.length === 2);
      expect(pending.map(argOf).sort()).toEqual(['A', 'B']);
      for (const p of pending) {
        expect(p).toMatchObject({ pid: run.child.pid, ruleIndex: 0, scope: 'once' });
        expect(p.subject).toMatchObject({ kind: 'audit', event: 'hookscope.test.ask' });
        expect(p.deadlineAtMs - p.askedAtMs).toBe(60_000);
      }
      expect(new Set(pending.map((p) => p.tid)).size).toBe(2);
      // While both wait (GIL released), the ticker thread goes on writing.
      const ticksFile = path.join(dir, ticks);
      const countTicks = (): number =>
        fs.existsSync(ticksFile) ? fs.readFileSync(ticksFile, 'utf8').length / 2 : 0;
      const before = countTicks();
      const deadline = Date.now() + 20_000;
      while (countTicks() < before + 5 && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(countTicks()).toBeGreaterThanOrEqual(before + 5);
      expect(run.intents?.list()).toHaveLength(2);

      const byArg = new Map(pending.map((p) => [argOf(p), p]));
      run.intents?.answer((byArg.get('A') as PendingIntent).id, { outcome: 'allow' });
      run.intents?.answer((byArg.get('B') as PendingIntent).id, { outcome: 'deny' });
      const exit = await run.finish();
      expect(exit.code).toBe(0);
      expect(stdout()).toContain('A allowed');
      expect(stdout()).toMatch(
        /B denied: hookscope\.test\.ask denied in the Hookscope inspector \(asked by rule 0\)/,
      );
      const decided = await decisions(session);
      expect(decided.map((d) => [d.by, d.outcome, d.action]).sort()).toEqual([
        ['user', 'allowed', 'ask'],
        ['user', 'denied', 'ask'],
      ]);
      for (const d of decided) expect(d.waitedNs).toBeGreaterThan(0n);
    });

    it('an unanswered ask gets the timeout answer for that one intent, and is asked again next time', async () => {
      const { run, stdout, session } = await startAskRun(
        python,
        [
          'import sys',
          'for i in range(2):',
          '    try:',
          '        sys.audit("hookscope.test.ask", "same")',
          '        print("allowed")',
          '    except PermissionError:',
          '        print("denied")',
        ].join('\n'),
        {
          default: 'allow',
          offline: 'allow',
          ask: { timeoutMs: 300, timeoutAction: 'deny' },
          rules: [{ ...ASK_RULE, scope: 'session' }],
        },
      );
      const updates: IntentUpdate[] = [];
      run.intents?.subscribe((u) => updates.push(u));
      const exit = await run.finish();
      expect(exit.code).toBe(0);
      expect(stdout().trim().split('\n')).toEqual(['denied', 'denied']);
      expect(updates.filter((u) => u.type === 'pending')).toHaveLength(2);
      expect(
        updates.filter((u) => u.type === 'resolved').map((u) => u.type === 'resolved' && u.by),
      ).toEqual(['timeout', 'timeout']);
      const decided = await decisions(session);
      expect(decided.map((d) => d.by)).toEqual(['timeout', 'timeout']);
      for (const d of decided) expect(d.waitedNs).toBeGreaterThanOrEqual(250_000_000n);
    });

    it('an answer is remembered for its scope: once asks again, process does not', async () => {
      const { run, stdout, session } = await startAskRun(
        python,
        [
          'import sys',
          'out = []',
          'for arg in ["retry"] * 4 + ["other"]:',
          '    try:',
          '        sys.audit("hookscope.test.ask", arg)',
          '        out.append("y")',
          '    except PermissionError:',
          '        out.append("n")',
          'print("".join(out))',
        ].join('\n'),
        {
          default: 'allow',
          ask: { timeoutMs: 60_000, timeoutAction: 'allow' },
          rules: [{ ...ASK_RULE, scope: 'process' }],
        },
      );
      const asked: PendingIntent[] = [];
      run.intents?.subscribe((u) => {
        if (u.type !== 'pending') return;
        asked.push(u.intent);
        // First "retry": deny once (asked again); second: deny with the
        // rule's own scope (process): the two retries after it are not asked.
        const scope = asked.length === 1 ? 'once' : undefined;
        run.intents?.answer(u.intent.id, { outcome: 'deny', ...(scope ? { scope } : {}) });
      });
      const exit = await run.finish();
      expect(exit.code).toBe(0);
      expect(asked.map(argOf)).toEqual(['retry', 'retry', 'other']);
      expect(stdout().trim()).toBe('nnnnn');
      const decided = await decisions(session);
      expect(decided.map((d) => d.by)).toEqual([
        'user',
        'user',
        'remembered',
        'remembered',
        'user',
      ]);
    });
  },
);

describe('interactive asks across processes and files', () => {
  it('a session-scoped answer also answers a child process, with no second prompt', async () => {
    const { run, stdout } = await startAskRun(
      newest,
      [
        'import subprocess, sys',
        'sys.audit("hookscope.test.ask", "x")',
        'r = subprocess.run([sys.executable, "-c", "import sys; sys.audit(\\"hookscope.test.ask\\", \\"x\\"); print(\\"child ran\\")"])',
        'print("parent done", r.returncode)',
      ].join('\n'),
      {
        default: 'allow',
        ask: { timeoutMs: 60_000, timeoutAction: 'deny' },
        rules: [{ ...ASK_RULE, scope: 'session' }],
      },
    );
    const asked: PendingIntent[] = [];
    run.intents?.subscribe((u) => {
      if (u.type !== 'pending') return;
      asked.push(u.intent);
      run.intents?.answer(u.intent.id, { outcome: 'allow' });
    });
    const exit = await run.finish();
    expect(exit.code).toBe(0);
    expect(stdout()).toContain('child ran');
    expect(stdout()).toContain('parent done 0');
    // Only the parent's ask reached the broker's list; the child's was answered from memory.
    expect(asked).toHaveLength(1);
    expect(asked[0]?.pid).toBe(run.child.pid);
  });

  it('asks about code about to run: a denied import fails naming the file', async () => {
    const dir = tempDir('hookscope-ask-mod-');
    fs.writeFileSync(path.join(dir, 'asked_module.py'), 'VALUE = 42\n');
    const { run, stdout } = await startAskRun(
      newest,
      [
        'import sys',
        `sys.path.insert(0, ${JSON.stringify(dir)})`,
        'sys.dont_write_bytecode = True',
        'try:',
        '    import asked_module',
        '    print("imported")',
        'except PermissionError as e:',
        '    print("refused", e.filename)',
      ].join('\n'),
      {
        default: 'allow',
        ask: { timeoutMs: 60_000, timeoutAction: 'allow' },
        rules: [{ action: 'ask', intent: 'pythoncode', pathPrefix: `${dir}/` }],
      },
    );
    const asked: PendingIntent[] = [];
    run.intents?.subscribe((u) => {
      if (u.type !== 'pending') return;
      asked.push(u.intent);
      run.intents?.answer(u.intent.id, { outcome: 'deny' });
    });
    const exit = await run.finish();
    expect(exit.code).toBe(0);
    expect(stdout().trim()).toBe(`refused ${path.join(dir, 'asked_module.py')}`);
    expect(asked).toHaveLength(1);
    expect(asked[0]?.subject).toMatchObject({
      kind: 'intent',
      intent: 'pythoncode',
      path: path.join(dir, 'asked_module.py'),
      realPath: fs.realpathSync(path.join(dir, 'asked_module.py')),
      sizeBytes: 11,
    });
  });

  it('a held ask outlives its timeout while someone reads it, then takes the answer', async () => {
    const { run, stdout, session } = await startAskRun(
      newest,
      'import sys\ntry:\n    sys.audit("hookscope.test.ask", "held")\n    print("allowed")\nexcept PermissionError:\n    print("denied")\n',
      {
        default: 'allow',
        ask: { timeoutMs: 600, timeoutAction: 'deny' },
        rules: [ASK_RULE],
      },
    );
    const [pending] = await waitForPending(run, (p) => p.length === 1);
    const id = (pending as PendingIntent).id;
    // Read for four times the timeout, renewing the hold as a UI does.
    const readUntil = Date.now() + 2400;
    while (Date.now() < readUntil) {
      const deadline = run.intents?.hold(id, 700) ?? 0;
      expect(deadline).toBeGreaterThan(Date.now());
      await new Promise((r) => setTimeout(r, 250));
    }
    expect(run.intents?.list().map((p) => p.id)).toEqual([id]);
    run.intents?.answer(id, { outcome: 'allow' });
    expect((await run.finish()).code).toBe(0);
    expect(stdout().trim()).toBe('allowed');
    const [decision] = await decisions(session);
    expect(decision).toMatchObject({ by: 'user', outcome: 'allowed' });
    expect(decision?.waitedNs).toBeGreaterThan(2_000_000_000n);
  });

  it('an answer for an intent that is no longer pending is refused with a clear error', async () => {
    const { run } = await startAskRun(newest, 'import sys\nsys.audit("hookscope.test.ask", 1)\n', {
      default: 'allow',
      ask: { timeoutMs: 60_000, timeoutAction: 'deny' },
      rules: [ASK_RULE],
    });
    const [pending] = await waitForPending(run, (p) => p.length === 1);
    run.intents?.answer((pending as PendingIntent).id, { outcome: 'allow' });
    expect(() => run.intents?.answer((pending as PendingIntent).id, { outcome: 'deny' })).toThrow(
      /no pending intent .*: it was answered, timed out, or its process ended/,
    );
    expect((await run.finish()).code).toBe(0);
  });
});
