// sys.remote_exec against real processes: CPython 3.14 from the Debian sid
// chroot, and the host's older interpreters, which must be refused clearly.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { REPO_ROOT } from '../test-support/cli.js';
import { auditCapableInterpreters } from '../test-support/pythons.js';
import {
  ensureSidChroot,
  sidChrootSkipReason,
  spawnInChroot,
  type SidChroot,
  type SpawnInChrootOptions,
} from '../test-support/sid-chroot.js';
import {
  describeTarget,
  hostPathForTarget,
  pathInTarget,
  remoteExec,
  RemoteExecError,
} from './remote-exec.js';
import { agentLibraryPath } from './runtime-paths.js';
import { until } from '../test-support/waiting.js';

const children: ChildProcess[] = [];
const dirs: string[] = [];

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

async function killAll(): Promise<void> {
  await Promise.all(
    children.splice(0).map(async (c) => {
      if (c.exitCode === null && c.signalCode === null) {
        const gone = new Promise((r) => c.once('exit', r));
        c.kill('SIGKILL');
        await gone;
      }
    }),
  );
}

/** What remoteExec rejected with. */
async function failure(p: Promise<void>): Promise<RemoteExecError> {
  const e: unknown = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(RemoteExecError);
  return e as RemoteExecError;
}

afterEach(killAll);
afterAll(() => {
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

describe('path translation between host and a chrooted target', () => {
  it('maps both ways and refuses paths outside the root', () => {
    expect(pathInTarget('/', '/tmp/x.py')).toBe('/tmp/x.py');
    expect(pathInTarget('/srv/root', '/srv/root/tmp/x.py')).toBe('/tmp/x.py');
    expect(pathInTarget('/srv/root/', '/srv/root')).toBe('/');
    expect(() => pathInTarget('/srv/root', '/srv/rootless/x')).toThrow(/outside/);
    expect(hostPathForTarget('/', '/tmp/x.py')).toBe('/tmp/x.py');
    expect(hostPathForTarget('/proc/42/root', '/tmp/../tmp/x.py')).toBe('/proc/42/root/tmp/x.py');
    expect(() => hostPathForTarget('/srv/root', 'tmp/x.py')).toThrow(/absolute/);
  });
});

describe('remoteExec on interpreters without sys.remote_exec', () => {
  const older = auditCapableInterpreters().filter((p) => p.minor < 14);

  it.each(older.map((p) => [p.version, p.path]))(
    'CPython %s is refused: sys.remote_exec needs 3.14+',
    async (_version, exe) => {
      const child = spawn(exe, ['-c', 'import time; time.sleep(60)'], { stdio: 'ignore' });
      children.push(child);
      const target = describeTarget(child.pid!);
      expect(target.root).toBe('/');
      const e = await failure(remoteExec(target, '/nonexistent.py'));
      expect(e.reason).toBe('unsupported-version');
      expect(e.message).toMatch(/sys\.remote_exec needs CPython 3\.14 or newer/);
      expect(alive(child.pid!)).toBe(true);
    },
  );

  it('a helper that hangs is killed at the timeout', async () => {
    const target = spawn('/bin/sleep', ['60'], { stdio: 'ignore' });
    children.push(target);
    // Stands in for an interpreter that never returns; records its pid so
    // the test can check it was killed.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hookscope-remote-exec-'));
    dirs.push(dir);
    const hang = path.join(dir, 'hang');
    fs.writeFileSync(hang, `#!/bin/sh\necho $$ > ${dir}/pid\nexec sleep 60\n`, { mode: 0o755 });
    const e = await failure(
      remoteExec({ pid: target.pid!, root: '/', exe: hang }, '/x.py', { timeoutMs: 500 }),
    );
    expect(e.reason).toBe('timeout');
    expect(e.message).toMatch(/did not finish within 500 ms/);
    const helper = Number(fs.readFileSync(path.join(dir, 'pid'), 'utf8'));
    expect(alive(helper)).toBe(false);
  });

  it('a process that does not exist is reported as gone', async () => {
    const child = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
    await new Promise((r) => child.once('exit', r));
    const pid = child.pid!;
    expect(() => describeTarget(pid)).toThrow(/does not exist/);
    const e = await failure(remoteExec({ pid, root: '/', exe: '/usr/bin/python3' }, '/x.py'));
    expect(e.reason).toBe('process-gone');
    expect(e.message).toMatch(`process ${pid} does not exist`);
  });
});

const skipReason = sidChrootSkipReason();
if (skipReason) console.warn(`skipping sys.remote_exec tests on CPython 3.14+: ${skipReason}`);

describe.skipIf(skipReason !== null)('remoteExec on CPython 3.14+ in a Debian sid chroot', () => {
  let sid: SidChroot;

  beforeAll(async () => {
    sid = await ensureSidChroot();
  }, 15 * 60_000);

  /** A fresh 0700 directory under the chroot's /tmp: [host path, path inside]. */
  function privateDir(): { host: string; inside: string } {
    const tmp = path.join(sid.root, 'tmp');
    // We write into the chroot as root: never through a symlink it contains.
    expect(fs.lstatSync(tmp).isDirectory()).toBe(true);
    const host = fs.mkdtempSync(path.join(tmp, 'hookscope-test-'));
    fs.chmodSync(host, 0o700);
    dirs.push(host);
    return { host, inside: pathInTarget(sid.root, host) };
  }

  /**
   * Starts `body` in the chroot's interpreter after it has written `ready`
   * into `dir`; resolves with the child once that file exists.
   */
  async function startTarget(
    dir: { host: string; inside: string },
    body: string,
    opts: { args?: readonly string[]; spawn?: SpawnInChrootOptions } = {},
  ): Promise<ChildProcess> {
    const code = [
      'import time',
      `open(${JSON.stringify(dir.inside + '/ready')}, "w").close()`,
      body,
    ].join('\n');
    const child = spawnInChroot(sid, [sid.python, ...(opts.args ?? []), '-c', code], opts.spawn);
    children.push(child);
    await until(() => fs.existsSync(path.join(dir.host, 'ready')), 30_000, 'the target to start');
    return child;
  }

  /** Writes the script through /proc/PID/root, as the attach path does. */
  function writeScript(pid: number, dirInside: string, source: string): string {
    const scriptInside = `${dirInside}/x.py`;
    const hostPath = hostPathForTarget(`/proc/${pid}/root`, scriptInside);
    fs.writeFileSync(hostPath, source, { mode: 0o600 });
    return scriptInside;
  }

  function markerScript(markerInside: string): string {
    return `import time\nopen(${JSON.stringify(markerInside)}, "w").write(repr(time.time()))\n`;
  }

  it('runs a script in a running target, which keeps running', async () => {
    expect(Number(sid.version.split('.')[1])).toBeGreaterThanOrEqual(14);
    const dir = privateDir();
    const child = await startTarget(dir, 'while True:\n    time.sleep(0.01)');
    const pid = child.pid!;
    // The host pid is the interpreter itself (same pid namespace).
    expect(fs.readlinkSync(`/proc/${pid}/exe`)).toBe(path.join(sid.root, sid.python));

    const target = describeTarget(pid);
    expect(target).toEqual({ pid, root: sid.root, exe: sid.python });
    const script = writeScript(pid, dir.inside, markerScript(`${dir.inside}/marker`));
    await remoteExec(target, script);
    await until(() => fs.existsSync(path.join(dir.host, 'marker')), 20_000, 'the marker');
    await new Promise((r) => setTimeout(r, 200));
    expect(alive(pid)).toBe(true);
    expect(child.exitCode).toBeNull();
  });

  it('measures when the script runs: target in time.sleep(10) vs a busy loop', async () => {
    const results: string[] = [];
    for (const [label, body] of [
      ['busy loop', 'while True:\n    pass'],
      [
        'time.sleep(10)',
        `time.sleep(10)\nopen("WOKE", "w").close()\nwhile True:\n    time.sleep(0.01)`,
      ],
    ] as const) {
      const dir = privateDir();
      const child = await startTarget(dir, body.replace('WOKE', `${dir.inside}/woke`));
      const pid = child.pid!;
      const script = writeScript(pid, dir.inside, markerScript(`${dir.inside}/marker`));
      const t0 = performance.now();
      await remoteExec(describeTarget(pid), script);
      const placedMs = performance.now() - t0;
      await until(() => fs.existsSync(path.join(dir.host, 'marker')), 20_000, 'the marker');
      const ranMs = performance.now() - t0;
      const wokeFirst = fs.existsSync(path.join(dir.host, 'woke'));
      results.push(
        `${label}: remoteExec returned after ${placedMs.toFixed(1)} ms, script ran after ${ranMs.toFixed(1)} ms` +
          (label.startsWith('time') ? ` (sleep had ${wokeFirst ? '' : 'not '}ended)` : ''),
      );
      await killAll();
    }
    console.log(`sys.remote_exec timing on CPython ${sid.version}:\n  ${results.join('\n  ')}`);
  });

  it.each([
    ['PYTHON_DISABLE_REMOTE_DEBUG=1', { spawn: { env: { PYTHON_DISABLE_REMOTE_DEBUG: '1' } } }],
    ['-X disable-remote-debug', { args: ['-X', 'disable-remote-debug'] }],
  ] as const)('a target started with %s is refused clearly', async (_label, opts) => {
    const dir = privateDir();
    const child = await startTarget(dir, 'time.sleep(60)', opts);
    const pid = child.pid!;
    const script = writeScript(pid, dir.inside, markerScript(`${dir.inside}/marker`));
    const e = await failure(remoteExec(describeTarget(pid), script));
    expect(e.reason).toBe('remote-debug-disabled');
    expect(e.message).toMatch(/remote debugging is disabled in process \d+/);
    expect(alive(pid)).toBe(true);
  });

  it('a chroot without /proc is reported, not misread', async () => {
    const dir = privateDir();
    const child = await startTarget(dir, 'time.sleep(60)', { spawn: { proc: false } });
    const pid = child.pid!;
    const script = writeScript(pid, dir.inside, markerScript(`${dir.inside}/marker`));
    const e = await failure(remoteExec(describeTarget(pid), script));
    expect(e.reason).toBe('no-proc-in-root');
    expect(e.message).toMatch(/has no \/proc mounted/);
  });

  it('an unprivileged caller is refused with the reason', async () => {
    const dir = privateDir();
    const child = await startTarget(dir, 'time.sleep(60)');
    const pid = child.pid!;
    const script = writeScript(pid, dir.inside, markerScript(`${dir.inside}/marker`));
    // remoteExec as user nobody, in a separate Node process running the
    // compiled module (as the CLI tests do).
    // The checkout may sit where nobody cannot read (a 0700 home or temp
    // directory): the module (Node built-ins only) is copied somewhere it can.
    const readable = fs.mkdtempSync(path.join(os.tmpdir(), 'hookscope-nobody-'));
    dirs.push(readable);
    fs.chmodSync(readable, 0o755);
    const compiled = path.join(readable, 'remote-exec.js');
    fs.copyFileSync(
      path.join(REPO_ROOT, 'app', 'dist', 'main', 'core', 'remote-exec.js'),
      compiled,
    );
    fs.chmodSync(compiled, 0o644);
    const probe = [
      `const { remoteExec } = require(${JSON.stringify(compiled)});`,
      `remoteExec(${JSON.stringify({ pid, root: sid.root, exe: sid.python })}, ${JSON.stringify(script)})`,
      '  .then(() => console.log("{}"), (e) => console.log(JSON.stringify({ reason: e.reason, message: e.message })));',
    ].join('\n');
    const out = await new Promise<string>((resolve, reject) => {
      const node = spawn(process.execPath, ['-e', probe], {
        uid: 65534,
        gid: 65534,
        cwd: '/',
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent' },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      children.push(node);
      let text = '';
      node.stdout.on('data', (b: Buffer) => (text += b.toString()));
      node.on('error', reject);
      node.on('close', () => resolve(text));
    });
    const result = JSON.parse(out.trim()) as { reason?: string; message?: string };
    expect(result.reason).toBe('permission-denied');
    expect(result.message).toMatch(/not permitted/);
    expect(fs.existsSync(path.join(dir.host, 'marker'))).toBe(false);
  });

  it('a script path that does not exist in the target is reported', async () => {
    const dir = privateDir();
    const child = await startTarget(dir, 'time.sleep(60)');
    const e = await failure(remoteExec(describeTarget(child.pid!), `${dir.inside}/missing.py`));
    expect(e.reason).toBe('script-missing');
  });

  it('the host-built agent library loads into the chroot interpreter', async () => {
    const dir = privateDir();
    const child = await startTarget(dir, 'while True:\n    time.sleep(0.01)');
    const pid = child.pid!;
    const agentInside = `${dir.inside}/hookscope-agent.so`;
    fs.copyFileSync(agentLibraryPath(), hostPathForTarget(`/proc/${pid}/root`, agentInside));
    fs.chmodSync(hostPathForTarget(`/proc/${pid}/root`, agentInside), 0o600);
    const script = writeScript(
      pid,
      dir.inside,
      `import ctypes\nctypes.CDLL(${JSON.stringify(agentInside)})\n` +
        markerScript(`${dir.inside}/marker`),
    );
    await remoteExec(describeTarget(pid), script);
    await until(() => fs.existsSync(path.join(dir.host, 'marker')), 20_000, 'the marker');
    const maps = fs.readFileSync(`/proc/${pid}/maps`, 'utf8');
    expect(maps).toContain(`${path.basename(dir.host)}/hookscope-agent.so`);
    expect(alive(pid)).toBe(true);
  });
});
