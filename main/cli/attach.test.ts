// `hookscope attach` against real running CPython processes: a loopback
// http.server, a sleeping main thread, another user's process, a killed
// inspector, a second inspector, and every refusal the preflight gives.
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { runCli, showJson, tempDir } from '../test-support/cli.js';
import {
  agentThreads,
  childrenOf,
  startCli,
  startProcess,
  startPython,
  until,
  Watched,
} from '../test-support/processes.js';
import { auditCapableInterpreters, preAuditInterpreters } from '../test-support/pythons.js';
import { readBlocks } from '../test-support/session-blocks.js';
import { ensureSidChroot, sidChrootSkipReason, spawnInChroot } from '../test-support/sid-chroot.js';

const all = auditCapableInterpreters();
const debian = all.filter((p) => p.path.startsWith('/usr/'));
const pyenv = all.filter((p) => !p.path.startsWith('/usr/'));
/** Debian's python3 and the oldest and newest pyenv builds. */
const serverPythons = [...debian.slice(0, 1), ...pyenv.slice(0, 1), ...pyenv.slice(-1)].filter(
  (p, i, list) => list.findIndex((q) => q.path === p.path) === i,
);

const running: Watched[] = [];
afterEach(() => {
  for (const w of running.splice(0)) w.kill();
});
function track(w: Watched): Watched {
  running.push(w);
  return w;
}

function get(port: number, file: string): Promise<string> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path: `/${file}`, agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (s: string) => (body += s));
        res.on('end', () => resolve(body));
      })
      .on('error', reject);
  });
}

function httpServer(python: string, dir: string): Watched {
  return track(
    startPython(
      python,
      [
        'import runpy, sys',
        `sys.argv = ["http.server", "0", "--bind", "127.0.0.1", "--directory", ${JSON.stringify(dir)}]`,
        'runpy.run_module("http.server", run_name="__main__")',
      ].join('\n'),
    ),
  );
}

async function attach(pid: number, out: string): Promise<Watched> {
  const cli = track(startCli(['attach', String(pid), '--out', out, '--no-summary']));
  await cli.waitFor(/recording/);
  return cli;
}

async function detach(cli: Watched): Promise<void> {
  cli.child.kill('SIGINT');
  const exit = await cli.exit;
  expect(exit.code, cli.stderr).toBe(0);
}

describe.each(serverPythons)('attach to http.server on $path ($version)', (py) => {
  it('records requests after the attach, nothing after detach, and re-attaches', async () => {
    const dir = tempDir();
    for (const name of ['during.txt', 'between.txt', 'again.txt']) {
      fs.writeFileSync(path.join(dir, name), name);
    }
    const server = httpServer(py.path, dir);
    const port = Number((await server.waitFor(/port (\d+)/))[1]);
    expect(await get(port, 'during.txt')).toBe('during.txt'); // before any attach

    const first = path.join(dir, 'first.hks');
    const cli = await attach(server.pid, first);
    expect(cli.stderr).toMatch(/via gdb/);
    expect(await get(port, 'during.txt')).toBe('during.txt');
    await detach(cli);
    // Pass-through now: the agent's thread is gone, the server serves on.
    await until(() => agentThreads(server.pid) === 0, 10_000, 'the agent thread to end');
    expect(await get(port, 'between.txt')).toBe('between.txt');

    const second = path.join(dir, 'second.hks');
    const again = await attach(server.pid, second);
    expect(again.stderr).toMatch(/re-arming the agent already loaded/);
    expect(await get(port, 'again.txt')).toBe('again.txt');
    await detach(again);
    expect(await get(port, 'between.txt')).toBe('between.txt');

    const opened = (events: Awaited<ReturnType<typeof showJson>>): string[] =>
      events
        .filter((e) => e.event === 'open')
        .map((e) => String(e.args[0]))
        .filter((p) => p.startsWith(dir));
    const one = await showJson(first);
    expect(one[0]?.event).toBe('hookscope.attached');
    expect(one.some((e) => e.event.startsWith('socket.'))).toBe(true);
    expect(opened(one)).toEqual([path.join(dir, 'during.txt')]);
    const two = await showJson(second);
    expect(opened(two)).toEqual([path.join(dir, 'again.txt')]);

    const blocks = await readBlocks(second);
    const attachBlock = blocks.find((b) => b.type === 'attach');
    expect(attachBlock?.type === 'attach' && attachBlock.attach.reattached).toBe(true);
    const proc = blocks.find((b) => b.type === 'process');
    expect(proc?.type === 'process' && proc.process.flags.attached).toBe(true);
    const end = blocks.find((b) => b.type === 'process-end');
    expect(end?.type === 'process-end' && end.processEnd.reason).toBe('detached');

    const shown = await runCli(['show', second]);
    expect(shown.stdout).toMatch(/were not seen/);
  });
});

describe('attach with lldb', () => {
  it.runIf(fs.existsSync('/usr/bin/lldb'))(
    'attaches with --debugger lldb and records',
    async () => {
      const py = all[0]!;
      const dir = tempDir();
      const target = track(
        startPython(
          py.path,
          'import time\nprint("up")\nwhile True:\n    open("/dev/null").close(); time.sleep(0.02)',
        ),
      );
      await target.waitFor(/up/);
      const out = path.join(dir, 's.hks');
      const cli = track(
        startCli([
          'attach',
          String(target.pid),
          '--out',
          out,
          '--debugger',
          'lldb',
          '--no-summary',
        ]),
      );
      await cli.waitFor(/recording/);
      expect(cli.stderr).toMatch(/via lldb/);
      await new Promise((r) => setTimeout(r, 200));
      await detach(cli);
      expect(
        (await showJson(out)).some((e) => e.event === 'open' && e.args[0] === '/dev/null'),
      ).toBe(true);
    },
  );
});

describe.each(all)('attach while the main thread sleeps, $path ($version)', (py) => {
  it('registers at once, not when the sleep ends', async () => {
    const dir = tempDir();
    const target = track(
      startPython(py.path, 'import time\nprint("asleep")\ntime.sleep(30)\nprint("woke")'),
    );
    await target.waitFor(/asleep/);
    const out = path.join(dir, 's.hks');
    const cli = await attach(target.pid, out);
    // Hooks are active (the probe arrived) while the 30 s sleep goes on.
    expect(target.stdout).not.toMatch(/woke/);
    expect(target.child.exitCode).toBeNull();
    await detach(cli);
    const blocks = await readBlocks(out);
    const a = blocks.find((b) => b.type === 'attach');
    expect(a?.type === 'attach' && a.attach.method).toBe('gdb');
    expect(a?.type === 'attach' && a.attach.longestPauseMs).toBeGreaterThan(0);
  });
});

describe.each([...new Set([all[0], all[all.length - 1]])].filter((p) => p !== undefined))(
  'attach with a policy on $path ($version)',
  (py) => {
    it('enforces from the attach on, and stops enforcing at detach', async () => {
      const dir = tempDir();
      const log = path.join(dir, 'outcomes.txt');
      const target = track(
        startPython(
          py!.path,
          [
            'import subprocess, time',
            'print("looping", flush=True)',
            'while True:',
            '    try:',
            '        subprocess.run(["true"])',
            '        outcome = "ran"',
            '    except PermissionError as e:',
            '        outcome = "denied: " + str(e)',
            `    with open(${JSON.stringify(log)}, "a") as f:`,
            '        f.write(outcome + "\\n")',
            '    time.sleep(0.02)',
          ].join('\n'),
        ),
      );
      await target.waitFor(/looping/);
      await until(
        () => fs.existsSync(log) && fs.readFileSync(log, 'utf8').includes('ran'),
        20_000,
        'the loop to run',
      );
      const policy = path.join(dir, 'policy.json');
      fs.writeFileSync(
        policy,
        JSON.stringify({
          version: 1,
          default: 'allow',
          rules: [
            { action: 'deny', event: 'subprocess.Popen', comment: 'no processes while attached' },
          ],
        }),
      );
      const out = path.join(dir, 's.hks');
      const cli = track(
        startCli(['attach', String(target.pid), '--out', out, '--no-summary', '--policy', policy]),
      );
      await cli.waitFor(/recording/);
      const lines = (): string[] => fs.readFileSync(log, 'utf8').trim().split('\n');
      const deniedAt = lines().length;
      await until(
        () =>
          lines()
            .slice(deniedAt)
            .some((l) => l.startsWith('denied')),
        20_000,
        'a denial',
      );
      expect(
        lines()
          .slice(deniedAt)
          .find((l) => l.startsWith('denied')),
      ).toMatch(/^denied: subprocess\.Popen denied by the Hookscope policy \(rule 0\)$/);
      await detach(cli);
      const detachedAt = lines().length;
      await until(() => lines().length > detachedAt + 3, 20_000, 'calls after the detach');
      // After the detach (and the few calls in flight at it) the target runs freely again.
      expect(lines().slice(-2)).toEqual(['ran', 'ran']);
      const blocks = await readBlocks(out);
      expect(blocks.some((b) => b.type === 'policy')).toBe(true);
      const popen = (await showJson(out)).find(
        (e) =>
          e.event === 'subprocess.Popen' && (e as { decision?: unknown }).decision !== undefined,
      ) as { decision?: { outcome: string; rule: number } } | undefined;
      expect(popen?.decision).toMatchObject({ outcome: 'denied', rule: 0 });
    });

    it('refuses a malformed policy before touching the process', async () => {
      const dir = tempDir();
      const target = track(startPython(py!.path, 'import time\nprint("up")\ntime.sleep(60)'));
      await target.waitFor(/up/);
      const policy = path.join(dir, 'bad.json');
      fs.writeFileSync(policy, '{"version": 1}');
      const r = await runCli(['attach', String(target.pid), '--policy', policy]);
      expect(r.code).toBe(2);
      expect(r.stderr).toContain(
        `hookscope attach: ${policy}: invalid policy, 1 problem; nothing was started`,
      );
      expect(fs.readFileSync(`/proc/${target.pid}/maps`, 'utf8')).not.toContain('hookscope-agent');
    });
  },
);

describe('attach ends and refusals', () => {
  const py = all[all.length - 1]!;

  it('stops when the target exits, and the session says so', async () => {
    const dir = tempDir();
    const go = path.join(dir, 'go');
    // Exits on its own once told to, after the attach is complete.
    const target = track(
      startPython(
        py.path,
        [
          'import os, time',
          'print("ready")',
          `while not os.path.exists(${JSON.stringify(go)}):`,
          '    time.sleep(0.02)',
          'open("/dev/null").close()',
        ].join('\n'),
      ),
    );
    await target.waitFor(/ready/);
    const out = path.join(dir, 's.hks');
    const cli = await attach(target.pid, out);
    fs.writeFileSync(go, '');
    const exit = await cli.exit;
    expect(exit.code, cli.stderr).toBe(0);
    expect(cli.stderr).toMatch(/process \d+ exited/);
    const blocks = await readBlocks(out);
    const end = blocks.find((b) => b.type === 'process-end');
    expect(end?.type === 'process-end' && end.processEnd.reason).toBe('exited');
    expect((await showJson(out)).some((e) => e.event === 'open' && e.args[0] === '/dev/null')).toBe(
      true,
    );
  });

  it('detaches after --duration', async () => {
    const dir = tempDir();
    const target = track(startPython(py.path, 'import time\nprint("up")\ntime.sleep(60)'));
    await target.waitFor(/up/);
    const cli = track(
      startCli(['attach', String(target.pid), '--out', path.join(dir, 's.hks'), '--duration', '1']),
    );
    expect((await cli.exit).code, cli.stderr).toBe(0);
    expect(cli.stderr).toMatch(/detached from process/);
    expect(target.child.exitCode).toBeNull();
  });

  it('refuses a second inspector, and survives the first being killed', async () => {
    const dir = tempDir();
    const target = track(
      startPython(
        py.path,
        'import time\nprint("up")\nwhile True:\n    open("/dev/null").close(); time.sleep(0.01)',
      ),
    );
    await target.waitFor(/up/);
    const first = await attach(target.pid, path.join(dir, 'a.hks'));
    const second = await runCli(['attach', String(target.pid), '--out', path.join(dir, 'b.hks')]);
    expect(second.code).toBe(1);
    expect(second.stderr).toMatch(/another Hookscope inspector is recording this process/);

    // kill -9 of the inspector: the agent sees EOF and goes pass-through.
    first.kill('SIGKILL');
    await first.exit;
    await until(() => agentThreads(target.pid) === 0, 10_000, 'the agent to notice');
    expect(target.child.exitCode).toBeNull();
    const third = await attach(target.pid, path.join(dir, 'c.hks'));
    await detach(third);
    expect(target.child.exitCode).toBeNull();
  });

  it('refuses a process recorded by `hookscope run`', async () => {
    const dir = tempDir();
    const run = track(
      startCli([
        'run',
        '--out',
        path.join(dir, 'run.hks'),
        '--no-summary',
        '--',
        py.path,
        '-u',
        '-c',
        'import time\nprint("up", flush=True)\ntime.sleep(30)',
      ]),
    );
    await run.waitFor(/up/);
    const [pythonPid] = childrenOf(run.pid);
    expect(pythonPid).toBeDefined();
    const r = await runCli(['attach', String(pythonPid), '--out', path.join(dir, 'b.hks')]);
    expect(r.code, r.stderr).toBe(1);
    expect(r.stderr).toMatch(/another Hookscope inspector is recording this process/);
  });

  it("attaches to another user's process (as root)", async () => {
    if (process.getuid?.() !== 0) return; // needs root to create the other user's process
    const system = debian[0] ?? py;
    const dir = tempDir();
    fs.chmodSync(dir, 0o755);
    const target = track(
      startProcess('/usr/bin/setpriv', [
        '--reuid=65534',
        '--regid=65534',
        '--clear-groups',
        system.path,
        '-u',
        '-c',
        'import time\nprint("up")\nwhile True:\n    open("/dev/null").close(); time.sleep(0.05)',
      ]),
    );
    await target.waitFor(/up/);
    const out = path.join(dir, 's.hks');
    const cli = await attach(target.pid, out);
    // What the target can reach is ours and not writable by it: the agent
    // library in a root-owned 0711 directory; the socket is abstract.
    const maps = fs.readFileSync(`/proc/${target.pid}/maps`, 'utf8');
    const agentPath = /\s(\/tmp\/hookscope-attach-[0-9a-f]+\/hookscope-agent\.so)$/m.exec(
      maps,
    )?.[1];
    expect(agentPath).toBeDefined();
    const dirStat = fs.lstatSync(path.dirname(agentPath!));
    expect([dirStat.uid, dirStat.mode & 0o777]).toEqual([0, 0o711]);
    const fileStat = fs.lstatSync(agentPath!);
    expect([fileStat.uid, fileStat.mode & 0o777]).toEqual([0, 0o755]);
    await new Promise((r) => setTimeout(r, 300));
    await detach(cli);
    const events = await showJson(out);
    expect(events.some((e) => e.event === 'open' && e.args[0] === '/dev/null')).toBe(true);
    // A second attach loads the same library again, not another copy.
    const again = await attach(target.pid, path.join(dir, 't.hks'));
    await detach(again);
    const copies = new Set(
      [
        ...fs.readFileSync(`/proc/${target.pid}/maps`, 'utf8').matchAll(/\S*hookscope-agent\.so/g),
      ].map((m) => m[0]),
    );
    expect(copies.size).toBe(1);
  });

  it('leaves a child forked while the agent was arming free, and attachable', async () => {
    const dir = tempDir();
    const pidFile = path.join(dir, 'child');
    // The main thread holds the GIL in a C call for 3 s, so the agent's arm
    // thread waits; then the process forks.
    const target = track(
      startPython(
        py.path,
        [
          'import ctypes, os, time',
          'print("up")',
          'time.sleep(0.5)',
          'ctypes.PyDLL(None).sleep(3)',
          'pid = os.fork()',
          'if pid == 0:',
          '    while True:',
          '        open("/dev/null").close(); time.sleep(0.02)',
          `open(${JSON.stringify(pidFile)}, "w").write(str(pid))`,
          'while True:',
          '    time.sleep(0.05)',
        ].join('\n'),
      ),
    );
    await target.waitFor(/up/);
    const parentRun = track(
      startCli(['attach', String(target.pid), '--out', path.join(dir, 'p.hks'), '--no-summary']),
    );
    await until(() => fs.existsSync(pidFile) && fs.readFileSync(pidFile, 'utf8') !== '', 20_000);
    const child = Number(fs.readFileSync(pidFile, 'utf8'));
    try {
      await parentRun.waitFor(/recording/);
      // Forked after the hooks were armed, the child is recorded by the
      // parent's inspector as its own session; forked while arming, it is
      // free. Either way, once the parent's inspector lets go, the child
      // must be attachable (a slot held over from the fork would refuse it
      // as "busy" forever).
      await detach(parentRun);
      const out = path.join(dir, 'c.hks');
      const attachChild = await attach(child, out);
      await detach(attachChild);
      expect((await showJson(out)).some((e) => e.event === 'open')).toBe(true);
    } finally {
      process.kill(child, 'SIGKILL');
    }
  });

  it('survives signals that arrive while the debugger holds it', async () => {
    const dir = tempDir();
    const target = track(
      startPython(
        py.path,
        [
          'import signal, time',
          'hits = 0',
          'def on_usr1(signum, frame):',
          '    global hits',
          '    hits += 1',
          'signal.signal(signal.SIGUSR1, on_usr1)',
          'signal.signal(signal.SIGTERM, on_usr1)',
          'print("up")',
          'while True:',
          '    time.sleep(0.01)',
        ].join('\n'),
      ),
    );
    await target.waitFor(/up/);
    const pelt = setInterval(() => {
      try {
        process.kill(target.pid, 'SIGUSR1');
        process.kill(target.pid, 'SIGTERM');
      } catch {
        // gone: the assertions below say so
      }
    }, 2);
    try {
      const cli = await attach(target.pid, path.join(dir, 's.hks'));
      await detach(cli);
    } finally {
      clearInterval(pelt);
    }
    expect(target.child.exitCode).toBeNull();
    expect(target.child.signalCode).toBeNull();
  });

  it('re-arms the agent of a `hookscope run` whose inspector was killed', async () => {
    const dir = tempDir();
    const run = track(
      startCli([
        'run',
        '--out',
        path.join(dir, 'run.hks'),
        '--no-summary',
        '--',
        py.path,
        '-u',
        '-c',
        'import time\nprint("up", flush=True)\nwhile True:\n    open("/dev/null").close(); time.sleep(0.02)',
      ]),
    );
    await run.waitFor(/up/);
    const [pythonPid] = childrenOf(run.pid);
    expect(pythonPid).toBeDefined();
    // 'exit', not 'close': the orphaned target still holds the pipes.
    const gone = new Promise((r) => run.child.once('exit', r));
    run.kill('SIGKILL');
    await gone;
    try {
      await until(() => agentThreads(pythonPid!) === 0, 10_000, 'the agent to notice');
      const out = path.join(dir, 'a.hks');
      const cli = await attach(pythonPid!, out);
      expect(cli.stderr).toMatch(/re-arming the agent already loaded/);
      await new Promise((r) => setTimeout(r, 200));
      await detach(cli);
      expect((await showJson(out)).some((e) => e.event === 'open')).toBe(true);
    } finally {
      process.kill(pythonPid!, 'SIGKILL');
    }
  });

  it('refuses what it cannot attach to, saying why and how to fix it', async () => {
    const gone = await runCli(['attach', '999999999']);
    expect(gone.code).toBe(2);
    expect(gone.stderr).toMatch(/999999999/);

    const sleeper = track(startProcess('/bin/sleep', ['30']));
    const notPython = await runCli(['attach', String(sleeper.pid)]);
    expect(notPython.code).toBe(2);
    expect(notPython.stderr).toMatch(/not .*CPython/i);
    expect(notPython.stderr).toMatch(/fix:/);

    const bad = await runCli(['attach', 'abc']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/process id/);

    for (const old of preAuditInterpreters()) {
      const t = track(startPython(old, 'import time\nprint("up")\ntime.sleep(30)'));
      await t.waitFor(/up/);
      const r = await runCli(['attach', String(t.pid)]);
      expect(r.code, old).toBe(2);
      expect(r.stderr).toMatch(/3\.8/);
    }
  });
});

// CPython 3.14 through sys.remote_exec, in the Debian sid chroot (built on
// first use, cached; never skipped in CI).
describe.skipIf(sidChrootSkipReason() !== null)('attach to CPython 3.14+ (sys.remote_exec)', () => {
  it('attaches, records, detaches and re-attaches; refuses when remote debugging is off', async () => {
    const sid = await ensureSidChroot();
    const loop = [
      'import time',
      'print("up", flush=True)',
      'while True:',
      '    open("/etc/hostname").close()',
      '    time.sleep(0.01)',
    ].join('\n');
    const target = track(
      new Watched(
        spawnInChroot(sid, [sid.python, '-u', '-c', loop], { stdio: ['ignore', 'pipe', 'pipe'] }),
      ),
    );
    await target.waitFor(/up/, 60_000);
    const dir = tempDir();
    const first = path.join(dir, 'a.hks');
    const cli = await attach(target.pid, first);
    expect(cli.stderr).toMatch(/CPython 3\.1[4-9].* via remote_exec/);
    await new Promise((r) => setTimeout(r, 300));
    await detach(cli);
    const events = await showJson(first);
    expect(events[0]?.event).toBe('hookscope.attached');
    expect(events.some((e) => e.event === 'open' && e.args[0] === '/etc/hostname')).toBe(true);
    await until(() => agentThreads(target.pid) === 0, 10_000, 'the agent thread to end');

    const second = path.join(dir, 'b.hks');
    const again = await attach(target.pid, second);
    expect(again.stderr).toMatch(/re-arming/);
    await detach(again);
    const blocks = await readBlocks(second);
    const a = blocks.find((b) => b.type === 'attach');
    expect(a?.type === 'attach' && a.attach.method).toBe('remote_exec');
    expect(target.child.exitCode).toBeNull();

    const closed = track(
      new Watched(
        spawnInChroot(sid, [sid.python, '-u', '-c', loop], {
          stdio: ['ignore', 'pipe', 'pipe'],
          env: { PYTHON_DISABLE_REMOTE_DEBUG: '1' },
        }),
      ),
    );
    await closed.waitFor(/up/, 60_000);
    const refused = await runCli(['attach', String(closed.pid), '--out', path.join(dir, 'c.hks')]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/PYTHON_DISABLE_REMOTE_DEBUG/);
    expect(refused.stderr).toMatch(/fix:/);
  }, 900_000);
});
