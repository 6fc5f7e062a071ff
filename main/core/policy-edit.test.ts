// The rules editor's core: `policy.read` / `policy.parse` / `policy.write`
// through the real UiApi, and a live policy change reaching a real CPython
// process that keeps running under the agent.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import type {
  ApiReply,
  PolicyDocument,
  PolicyReadResult,
  PolicyWriteResult,
  RunStatus,
} from '../common/ipc-contract.js';
import { tempDir } from '../test-support/cli.js';
import { until } from '../test-support/processes.js';
import { auditCapableInterpreters, type Interpreter } from '../test-support/pythons.js';
import { CaptureRun } from './capture-run.js';
import { compilePolicy } from './policy/compile.js';
import { parsePolicy } from './policy/load-policy.js';
import { summarizeSession } from './summary.js';
import { UiApi } from './ui-api.js';
import { HOOKSCOPE_VERSION } from './version.js';

const python = auditCapableInterpreters().at(-1) as Interpreter;

function result<T>(reply: ApiReply<unknown>): T {
  expect(reply.ok, JSON.stringify(reply)).toBe(true);
  return (reply as { ok: true; result: T }).result;
}

const BASE: PolicyDocument = {
  $schema: '../main/core/policy/policy-schema.json',
  version: 1,
  comment: 'the editor test',
  default: 'allow',
  ask: { timeoutMs: 5000, timeoutAction: 'deny' },
  offline: 'allow',
  rules: [
    { action: 'deny', event: 'hookscope.test.live', comment: 'the live rule' },
    { action: 'allow', event: 'open', disabled: true },
  ],
};

/**
 * A target that raises `hookscope.test.live` every 20 ms and appends
 * "denied" or "allowed" to `out`, until `stop` exists.
 */
function writeLiveTarget(dir: string): { script: string; out: string; stop: string } {
  const out = path.join(dir, 'outcomes.txt');
  const stop = path.join(dir, 'stop');
  const script = path.join(dir, 'live.py');
  fs.writeFileSync(
    script,
    [
      'import os, sys, time',
      `OUT, STOP = ${JSON.stringify(out)}, ${JSON.stringify(stop)}`,
      'deadline = time.monotonic() + 60',
      'while not os.path.exists(STOP) and time.monotonic() < deadline:',
      '    try:',
      '        sys.audit("hookscope.test.live", 1)',
      '        outcome = "allowed"',
      '    except PermissionError:',
      '        outcome = "denied"',
      '    with open(OUT, "a") as f:',
      '        f.write(outcome + "\\n")',
      '    time.sleep(0.02)',
      '',
    ].join('\n'),
  );
  return { script, out, stop };
}

/** Until the session being recorded at `file` holds a process: its agent's handshake is done. */
async function untilRecorded(file: string): Promise<void> {
  const end = Date.now() + 30_000;
  for (;;) {
    const summary = await summarizeSession(file).catch(() => null);
    if (summary !== null && summary.processes.length > 0) return;
    if (Date.now() > end) throw new Error(`timed out waiting for a process in ${file}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function lastOutcome(out: string): string | null {
  try {
    const lines = fs.readFileSync(out, 'utf8').trim().split('\n');
    return lines.at(-1) ?? null;
  } catch {
    return null;
  }
}

describe('policy.read, policy.parse and policy.write', () => {
  it('round-trips a policy, keeping $schema, the comment and disabled rules', async () => {
    const dir = tempDir('hookscope-policy-edit-');
    const file = path.join(dir, 'policy.json');
    const api = new UiApi({ sessionDir: path.join(dir, 'sessions'), log: () => {} });

    const created = result<PolicyWriteResult>(
      await api.call('policy.write', { path: file, policy: BASE }, 'test'),
    );
    expect(created).toMatchObject({ saved: true, problems: [], live: { runs: 0 } });
    expect((fs.statSync(file).mode & 0o777).toString(8)).toBe('600');

    const read = result<PolicyReadResult>(await api.call('policy.read', { path: file }, 'test'));
    expect(read.problems).toEqual([]);
    expect(read.policy).toEqual(BASE);
    expect(read.sha256).toBe(created.sha256);
    expect(read.liveRuns).toBe(0);
    // The file is what the CLI loads: the disabled rule is kept, and matches nothing.
    const loaded = parsePolicy(read.text, file);
    expect(loaded.rules[1]).toEqual({ action: 'allow', event: 'open', disabled: true });

    // Edit: reorder, enable, change the default; saved over the opened file.
    const edited: PolicyDocument = {
      ...BASE,
      default: 'deny',
      rules: [{ action: 'allow', event: 'open' }, BASE.rules[0] as PolicyDocument['rules'][0]],
    };
    const saved = result<PolicyWriteResult>(
      await api.call(
        'policy.write',
        { path: file, policy: edited, overwrite: true, baseSha256: read.sha256 },
        'test',
      ),
    );
    expect(saved.saved).toBe(true);
    const again = result<PolicyReadResult>(await api.call('policy.read', { path: file }, 'test'));
    expect(again.policy).toEqual(edited);
    expect(again.text.startsWith('{\n  "$schema": "../main/core/policy/policy-schema.json",')).toBe(
      true,
    );
    // No temporary file is left behind.
    expect(fs.readdirSync(dir).sort()).toEqual(['policy.json']);

    // Import by pasting: checked the same way, no file involved.
    const pasted = result<PolicyReadResult>(
      await api.call('policy.parse', { text: again.text }, 'test'),
    );
    expect(pasted).toMatchObject({ path: null, problems: [], policy: edited });
    await api.close();
  });

  it('refuses a bad policy with every problem, placed on its rule, and writes nothing', async () => {
    const dir = tempDir('hookscope-policy-edit-');
    const file = path.join(dir, 'policy.json');
    fs.writeFileSync(file, `${JSON.stringify(BASE, null, 2)}\n`);
    const before = fs.readFileSync(file, 'utf8');
    const api = new UiApi({ sessionDir: path.join(dir, 'sessions'), log: () => {} });
    const bad = {
      ...BASE,
      ask: { timeoutMs: 0, timeoutAction: 'deny' },
      rules: [
        { action: 'allow', event: 'socket.[x]' },
        { action: 'deny', intent: 'pythoncode', scope: 'session' },
        { action: 'allow', event: 'open', clas: 'x' },
      ],
    };
    const refused = result<PolicyWriteResult>(
      await api.call('policy.write', { path: file, policy: bad, overwrite: true }, 'test'),
    );
    expect(refused.saved).toBe(false);
    const byPlace = refused.problems.map((p) => [p.ruleIndex, p.field, p.code]);
    expect(byPlace).toEqual([
      [null, 'timeoutMs', 'bad-value'],
      [0, 'event', 'bad-glob'],
      [1, 'scope', 'conflict'],
      [2, 'clas', 'unknown-key'],
    ]);
    // file:line:col: where: message, pointing into the text that would be written.
    expect(refused.problems[1]?.text).toMatch(
      new RegExp(
        `^${file.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}:\\d+:\\d+: rules\\[0\\]\\.event: bad glob`,
      ),
    );
    expect(fs.readFileSync(file, 'utf8')).toBe(before);

    // An existing file is kept unless the caller confirms replacing it.
    const exists = await api.call('policy.write', { path: file, policy: BASE }, 'test');
    expect(exists).toMatchObject({ ok: false, error: { code: 'refused' } });
    // A file changed since it was opened is not overwritten.
    const changed = await api.call(
      'policy.write',
      { path: file, policy: BASE, overwrite: true, baseSha256: '0'.repeat(64) },
      'test',
    );
    expect(changed).toMatchObject({ ok: false, error: { code: 'refused' } });
    expect((changed as { error: { message: string } }).error.message).toMatch(/changed since/);
    expect(fs.readFileSync(file, 'utf8')).toBe(before);

    // Reading a broken file gives the document and its problems, to be fixed.
    fs.writeFileSync(file, '{"version": 1, "default": "maybe", "rules": []}');
    const broken = result<PolicyReadResult>(await api.call('policy.read', { path: file }, 'test'));
    expect(broken.policy).toMatchObject({ default: 'maybe' });
    expect(broken.problems.map((p) => p.field)).toEqual(['default']);
    const missing = await api.call('policy.read', { path: path.join(dir, 'nope.json') }, 'test');
    expect(missing).toMatchObject({ ok: false, error: { code: 'not-found' } });
    const relative = await api.call('policy.read', { path: 'policy.json' }, 'test');
    expect(relative).toMatchObject({ ok: false, error: { code: 'bad-request' } });
    // Only .json files: the editor is no way to read or replace any other file.
    fs.writeFileSync(path.join(dir, 'secret'), 'key');
    for (const reply of [
      await api.call('policy.read', { path: path.join(dir, 'secret') }, 'test'),
      await api.call(
        'policy.write',
        { path: path.join(dir, 'secret'), policy: BASE, overwrite: true },
        'test',
      ),
    ]) {
      expect(reply).toMatchObject({ ok: false, error: { code: 'refused' } });
    }
    expect(fs.readFileSync(path.join(dir, 'secret'), 'utf8')).toBe('key');
    await api.close();
  });
});

describe('a live run under the written policy', () => {
  it('changes what a running target may do, without a restart', async () => {
    const dir = tempDir('hookscope-policy-live-');
    const file = path.join(dir, 'policy.json');
    fs.writeFileSync(file, `${JSON.stringify(BASE, null, 2)}\n`);
    const target = writeLiveTarget(dir);
    const api = new UiApi({ sessionDir: path.join(dir, 'sessions'), log: () => {} });
    const run = result<RunStatus>(
      await api.call(
        'run.start',
        { command: python.path, args: [target.script], policyPath: file },
        'test',
      ),
    );
    try {
      await until(() => lastOutcome(target.out) === 'denied', 30_000, 'the first denial');
      // The agent judges by the policy file from its first event, before
      // its handshake is done; only a process past the handshake counts
      // as updated (one still in it is sent the policy after WELCOME).
      await untilRecorded(run.sessionPath);
      const read = result<PolicyReadResult>(await api.call('policy.read', { path: file }, 'test'));
      expect(read.liveRuns).toBe(1);
      const policy = read.policy as PolicyDocument;
      // Disable the deny rule: the same process is allowed from now on.
      const disabled: PolicyDocument = {
        ...policy,
        rules: policy.rules.map((r, i) => (i === 0 ? { ...r, disabled: true } : r)),
      };
      const saved = result<PolicyWriteResult>(
        await api.call(
          'policy.write',
          { path: file, policy: disabled, overwrite: true, baseSha256: read.sha256 },
          'test',
        ),
      );
      expect(saved).toMatchObject({
        saved: true,
        live: { runs: 1, processesUpdated: 1, notUpdated: [] },
      });
      await until(() => lastOutcome(target.out) === 'allowed', 10_000, 'an allowed event');
      const status = result<RunStatus>(await api.call('run.status', { runId: run.runId }, 'test'));
      expect(status.state).toBe('running');
    } finally {
      fs.writeFileSync(target.stop, '');
      await api.close();
    }
    // Before the change every event was denied; after it, every one allowed.
    const outcomes = fs.readFileSync(target.out, 'utf8').trim().split('\n');
    const firstAllowed = outcomes.indexOf('allowed');
    expect(firstAllowed).toBeGreaterThan(0);
    expect(outcomes.slice(0, firstAllowed).every((o) => o === 'denied')).toBe(true);
    expect(outcomes.slice(firstAllowed).every((o) => o === 'allowed')).toBe(true);
    // The session records the new policy (later decisions refer to its
    // rules) and how the replacement went.
    const summary = await summarizeSession(run.sessionPath);
    expect(summary.policy?.text).toContain('"disabled": true');
    expect(summary.notices.map((n) => n.message)).toContain(
      'the policy was replaced while recording: 1 live process updated',
    );
  });

  it('reaches an attached process too (attach mode)', async () => {
    const dir = tempDir('hookscope-policy-live-');
    const file = path.join(dir, 'policy.json');
    fs.writeFileSync(file, `${JSON.stringify(BASE, null, 2)}\n`);
    const target = writeLiveTarget(dir);
    const child = spawn(python.path, [target.script], { stdio: 'ignore' });
    const api = new UiApi({ sessionDir: path.join(dir, 'sessions'), log: () => {} });
    try {
      await until(() => lastOutcome(target.out) === 'allowed', 30_000, 'the target to run');
      const run = result<RunStatus>(
        await api.call('attach.start', { pid: child.pid, policyPath: file }, 'test'),
      );
      await until(() => lastOutcome(target.out) === 'denied', 30_000, 'the attach policy');
      const read = result<PolicyReadResult>(await api.call('policy.read', { path: file }, 'test'));
      const policy = read.policy as PolicyDocument;
      const saved = result<PolicyWriteResult>(
        await api.call(
          'policy.write',
          {
            path: file,
            policy: { ...policy, rules: [{ ...policy.rules[0], disabled: true }] },
            overwrite: true,
            baseSha256: read.sha256,
          },
          'test',
        ),
      );
      expect(saved).toMatchObject({ saved: true, live: { runs: 1, processesUpdated: 1 } });
      await until(() => lastOutcome(target.out) === 'allowed', 10_000, 'an allowed event');
      result<RunStatus>(await api.call('attach.detach', { runId: run.runId }, 'test'));
      expect(child.exitCode).toBeNull(); // it runs on
    } finally {
      child.kill('SIGKILL');
      await api.close();
    }
  });

  it('an agent refuses a malformed POLICY frame, keeps its policy and keeps running', async () => {
    const dir = tempDir('hookscope-policy-live-');
    const target = writeLiveTarget(dir);
    const text = JSON.stringify(BASE);
    const parsed = parsePolicy(text, 'policy.json');
    const run = await CaptureRun.start({
      command: python.path,
      args: [target.script],
      cwd: dir,
      outPath: path.join(dir, 'live.hks'),
      stdio: 'ignore',
      hookscopeVersion: HOOKSCOPE_VERSION,
      policy: {
        file: path.join(dir, 'policy.json'),
        compiled: compilePolicy(parsed, { askAnswer: 'deny' }),
        text,
        askAnswer: 'deny',
      },
    });
    try {
      await until(() => lastOutcome(target.out) === 'denied', 30_000, 'the first denial');
      const good = compilePolicy(parsed, { askAnswer: 'deny' });
      const malformed = [
        Buffer.from('not a policy at all'),
        good.subarray(0, good.length - 3), // cut short
        Buffer.concat([good, Buffer.from([0])]), // trailing byte
        Buffer.from(good).fill(0xff, 4, 8), // bad header codes
      ];
      for (const bytes of malformed) {
        const deliveries = await run.server.replacePolicy(bytes);
        expect(deliveries.map((d) => d.status)).toEqual(['malformed']);
      }
      // Still running, still connected, still under the old policy.
      const lines = fs.readFileSync(target.out, 'utf8').split('\n').length;
      await until(
        () => fs.readFileSync(target.out, 'utf8').split('\n').length > lines + 3,
        10_000,
        'more events',
      );
      expect(lastOutcome(target.out)).toBe('denied');
      expect(run.server.openConnections).toBe(1);

      // A good one is taken, and the cap on replacements holds: each
      // replaced policy stays allocated in the target.
      const allow = compilePolicy(parsePolicy(JSON.stringify({ ...BASE, rules: [] }), 'p'), {
        askAnswer: 'deny',
      });
      let applied = 0;
      let last = 'applied';
      while (last === 'applied' && applied < 300) {
        const deliveries = await run.server.replacePolicy(allow);
        last = deliveries[0]?.status ?? 'none';
        if (last === 'applied') applied++;
      }
      expect([applied, last]).toEqual([256, 'too-many']);
      await until(() => lastOutcome(target.out) === 'allowed', 10_000, 'an allowed event');
      expect(run.server.openConnections).toBe(1);
    } finally {
      fs.writeFileSync(target.stop, '');
      await run.finish();
    }
    const notices = fs
      .readFileSync(path.join(dir, 'live.hks'))
      .includes('refused a replacement policy');
    expect(notices).toBe(true);
  });

  it('a process started without a policy stays capture only', async () => {
    const dir = tempDir('hookscope-policy-live-');
    const target = writeLiveTarget(dir);
    const run = await CaptureRun.start({
      command: python.path,
      args: [target.script],
      cwd: dir,
      outPath: path.join(dir, 'capture.hks'),
      stdio: 'ignore',
      hookscopeVersion: HOOKSCOPE_VERSION,
    });
    const deny = compilePolicy(parsePolicy(JSON.stringify(BASE), 'p.json'), { askAnswer: 'deny' });
    try {
      await until(() => run.server.openConnections === 1, 30_000, 'the agent');
      await until(() => lastOutcome(target.out) === 'allowed', 30_000, 'the target to run');
      // The run refuses, and the server does not send it to such an agent.
      await expect(
        run.replacePolicy({ file: 'p.json', compiled: deny, text: '', askAnswer: 'deny' }),
      ).rejects.toThrow(/without a policy/);
      expect((await run.server.replacePolicy(deny)).map((d) => d.status)).toEqual([
        'not-enforcing',
      ]);
      // Sent anyway (through the server's own sender), the agent refuses it.
      const server = run.server as unknown as {
        sessions: Map<number, unknown>;
        sendPolicy(id: number, socket: unknown, compiled: Buffer): Promise<string>;
      };
      const [[sessionId, socket]] = [...server.sessions] as [[number, unknown]];
      expect(await server.sendPolicy(sessionId, socket, deny)).toBe('not-enforcing');
      const lines = fs.readFileSync(target.out, 'utf8').split('\n').length;
      await until(
        () => fs.readFileSync(target.out, 'utf8').split('\n').length > lines + 3,
        10_000,
        'more events',
      );
      expect(lastOutcome(target.out)).toBe('allowed');
      expect(run.server.openConnections).toBe(1);
    } finally {
      fs.writeFileSync(target.stop, '');
      await run.finish();
    }
  });
});
