// Discovery against real processes: every CPython on the machine, renamed
// and symlinked copies, programs that are not Python, another user's
// process, a zombie, a container-like mount namespace and a chroot.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from 'vitest';

import { findOnPath, readAttacherContext } from './attacher-context.js';
import {
  inspectProcess,
  listProcesses,
  listProcessesYielding,
  NoSuchProcessError,
  type ProcessInfo,
} from './discovery.js';
import { readPythonBuild } from './python-build.js';
import { agentLibraryPath } from './runtime-paths.js';
import { tempDir } from '../test-support/cli.js';
import { childrenOf } from '../test-support/processes.js';
import { auditCapableInterpreters } from '../test-support/pythons.js';

const interpreters = auditCapableInterpreters();
const HOST_PATH = process.env.PATH ?? '/usr/local/bin:/usr/bin:/bin';
const gdb = findOnPath('gdb', HOST_PATH);
const lldb = findOnPath('lldb', HOST_PATH);
const expectedDebugger = gdb
  ? { method: 'gdb', debugger: gdb }
  : lldb
    ? { method: 'lldb', debugger: lldb }
    : null;

/** Prints "ready" once the interpreter runs, then sleeps; valid Python 2 and 3. */
const SLEEPER =
  'import sys, time\nsys.stdout.write("ready\\n")\nsys.stdout.flush()\ntime.sleep(120)';

/** A clean environment: no preload, no Hookscope variables. */
function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k !== 'LD_PRELOAD' && !k.startsWith('HOOKSCOPE_')) env[k] = v;
  }
  return { ...env, ...extra };
}

const children: ChildProcess[] = [];
/** Processes that are not our children (reparented): killed by pid. */
const strays: number[] = [];

function killAll(): void {
  for (const child of children.splice(0)) {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  }
  for (const pid of strays.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
}
afterEach(killAll);
afterAll(killAll);

/** Starts `command` and resolves once it prints `ready`; gives its pid and output lines. */
function startUntilReady(
  command: string,
  args: string[],
  env: NodeJS.ProcessEnv = cleanEnv(),
): Promise<{ child: ChildProcess; lines: string[] }> {
  const child = spawn(command, args, { env, cwd: '/', stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stderr!.on('data', (b: Buffer) => (err += b.toString()));
    child.stdout!.on('data', (b: Buffer) => {
      out += b.toString();
      const lines = out.split('\n');
      if (lines.includes('ready')) resolve({ child, lines });
    });
    child.on('error', reject);
    child.on('exit', (code, signal) =>
      reject(new Error(`${command} ended (${code ?? signal}) before it was ready: ${err}`)),
    );
  });
}

/** Starts a program that prints nothing and waits until it has exec'd `exe`. */
async function startUntilExec(command: string, args: string[], exe: string): Promise<number> {
  const child = spawn(command, args, { env: cleanEnv(), cwd: '/', stdio: 'ignore' });
  children.push(child);
  const want = fs.realpathSync(exe);
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      throw new Error(`${command} ended before running ${exe}`);
    }
    try {
      if (fs.readlinkSync(`/proc/${child.pid}/exe`) === want) return child.pid!;
    } catch {
      // not there yet
    }
    await new Promise((r) => setTimeout(r, 20));
  }
}

function codesOf(info: ProcessInfo): string[] {
  return info.attach.reasons.map((r) => r.code);
}

/** Drops a pre-release suffix ("3.14.0rc1" → "3.14.0") to compare with sys.version_info. */
function numericVersion(version: string): string {
  return version.replace(/(a|b|rc)\d+$/, '');
}

/** pyenv interpreters older than 3.8 (no audit hooks), with their own sys.version_info. */
function oldPyenvInterpreters(): Array<{ path: string; version: string }> {
  const root = process.env.PYENV_ROOT ?? path.join(os.homedir(), '.pyenv');
  let names: string[];
  try {
    names = fs.readdirSync(path.join(root, 'versions'));
  } catch {
    return [];
  }
  const found: Array<{ path: string; version: string }> = [];
  for (const name of names) {
    const exe = path.join(root, 'versions', name, 'bin', 'python');
    if (!fs.existsSync(exe)) continue;
    try {
      const version = execFileSync(
        exe,
        ['-c', 'import sys; print("%d.%d.%d" % tuple(sys.version_info[:3]))'],
        { encoding: 'utf8', env: cleanEnv() },
      ).trim();
      const [major, minor] = version.split('.').map(Number);
      if (major! < 3 || (major === 3 && minor! < 8)) found.push({ path: exe, version });
    } catch {
      continue;
    }
  }
  return found.sort((a, b) => a.version.localeCompare(b.version));
}

describe('every CPython 3.8+ on this machine', () => {
  it('finds at least one interpreter', () => {
    expect(interpreters.length).toBeGreaterThan(0);
  });

  describe.each(interpreters.map((i) => [`${i.version} (${i.path})`, i] as const))(
    '%s',
    (_name, py) => {
      it('is detected with its own sys.version_info, no agent, and attachable', async () => {
        const { child } = await startUntilReady(py.path, ['-c', SLEEPER]);
        const info = inspectProcess(child.pid!);
        expect(info.pid).toBe(child.pid);
        expect(info.ppid).toBe(process.pid);
        expect(info.python).not.toBeNull();
        expect(numericVersion(info.python!.version)).toBe(py.version);
        expect([info.python!.major, info.python!.minor]).toEqual([py.major, py.minor]);
        expect(info.python!.freeThreaded).toBe(false);
        expect(info.exe).toBe(fs.realpathSync(py.path));
        expect(info.cmdline).toEqual([py.path, '-c', SLEEPER]);
        expect(info.agentLoaded).toBe(false);
        expect(info.root).toBe('/');
        expect(info.uid).toBe(process.getuid!());
        // The start time is a valid ISO 8601 date.
        expect(new Date(info.startTime).toISOString()).toBe(info.startTime);
        expect(expectedDebugger, 'gdb or lldb must be on PATH for this test').not.toBeNull();
        expect(info.attach).toEqual({ ok: true, ...expectedDebugger, reasons: [] });
        // The version came from the file named as its source, by content alone.
        const fromFile = readPythonBuild(info.python!.source);
        expect(fromFile?.version).toBe(info.python!.version);
      });

      it('is still detected through a symlink and a renamed copy', async () => {
        const dir = tempDir();
        const link = path.join(dir, 'not-a-snake');
        fs.symlinkSync(py.path, link);
        const copy = path.join(dir, 'renamed-tool');
        fs.copyFileSync(fs.realpathSync(py.path), copy);
        fs.chmodSync(copy, 0o755);
        for (const exe of [link, copy]) {
          const { child } = await startUntilReady(exe, ['-c', SLEEPER]);
          const info = inspectProcess(child.pid!);
          expect(numericVersion(info.python?.version ?? '')).toBe(py.version);
          expect(info.attach.ok).toBe(true);
        }
      });

      it('shows the agent as loaded when it is preloaded (inert without HOOKSCOPE_*)', async () => {
        const env = cleanEnv({ LD_PRELOAD: agentLibraryPath() });
        const { child } = await startUntilReady(py.path, ['-c', SLEEPER], env);
        const info = inspectProcess(child.pid!);
        expect(info.agentLoaded).toBe(true);
        expect(numericVersion(info.python?.version ?? '')).toBe(py.version);
      });
    },
  );
});

describe('CPython older than 3.8', () => {
  const old = oldPyenvInterpreters();
  const wanted = old.filter((o) => /^(2\.7|3\.6|3\.7)\./.test(o.version));

  it.skipIf(wanted.length === 0)(
    'is detected with its version and refused as too old',
    async () => {
      for (const py of wanted) {
        const { child } = await startUntilReady(py.path, ['-c', SLEEPER]);
        const info = inspectProcess(child.pid!);
        expect(info.python?.version, py.path).toBe(py.version);
        expect(codesOf(info)).toEqual(['python-too-old']);
        expect(info.attach.reasons[0]!.message).toBe(
          `Process ${child.pid} runs CPython ${py.version}, which has no audit hooks (they came in 3.8).`,
        );
      }
    },
  );

  it.runIf(wanted.length === 0)('is skipped: no pyenv 2.7, 3.6 or 3.7 here', () => {
    console.log('no pyenv 2.7/3.6/3.7 under ~/.pyenv/versions: too-old detection not tested');
  });
});

describe('programs that are not CPython', () => {
  const sleep = findOnPath('sleep', HOST_PATH)!;

  it('sleep is not Python, even when its file is named python3.11', async () => {
    const dir = tempDir();
    const fake = path.join(dir, 'python3.11');
    fs.copyFileSync(sleep, fake);
    fs.chmodSync(fake, 0o755);
    for (const exe of [sleep, fake]) {
      const pid = await startUntilExec(exe, ['60'], exe);
      const info = inspectProcess(pid);
      expect(info.python).toBeNull();
      expect(info.agentLoaded).toBe(false);
      expect(info.attach.ok).toBe(false);
      expect(codesOf(info)).toEqual(['not-python']);
      expect(info.attach.reasons[0]!.message).toBe(
        `Process ${pid} is not running CPython (no libpython is mapped and its executable does not contain the interpreter).`,
      );
    }
  });

  it('Hookscope itself is refused as self', () => {
    const info = inspectProcess(process.pid);
    expect(codesOf(info)).toEqual(['self']);
    expect(info.attach.reasons[0]!.message).toBe(`Process ${process.pid} is Hookscope itself.`);
  });

  it('kernel threads are refused as such', () => {
    const kthreads = listProcesses().filter((p) => codesOf(p)[0] === 'kernel-thread');
    expect(kthreads.length).toBeGreaterThan(0);
    for (const k of kthreads) {
      expect(k.exe).toBeNull();
      expect(k.cmdline).toEqual([]);
    }
    const kthreadd = fs.existsSync('/proc/2/comm') && fs.readFileSync('/proc/2/comm', 'utf8');
    if (kthreadd === 'kthreadd\n') expect(codesOf(inspectProcess(2))).toEqual(['kernel-thread']);
  });

  it('a zombie is refused as a zombie', async () => {
    const py = interpreters[0]!;
    const script =
      'import os, sys, time\npid = os.fork()\nif pid == 0:\n    os._exit(0)\n' +
      'while open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()[0] != "Z":\n    time.sleep(0.01)\n' +
      'sys.stdout.write("%d\\nready\\n" % pid)\nsys.stdout.flush()\ntime.sleep(120)';
    const { lines } = await startUntilReady(py.path, ['-c', script]);
    const zombie = Number(lines[0]);
    const info = inspectProcess(zombie);
    expect(codesOf(info)).toEqual(['zombie']);
    expect(info.attach.reasons[0]!.message).toBe(
      `Process ${zombie} has exited and is waiting for its parent to collect it (a zombie).`,
    );
  });
});

describe('processes that do not exist', () => {
  it('inspectProcess throws a clear error', () => {
    const pidMax = Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8'));
    let pid = pidMax - 1;
    while (fs.existsSync(`/proc/${pid}`)) pid--;
    expect(() => inspectProcess(pid)).toThrow(NoSuchProcessError);
    expect(() => inspectProcess(pid)).toThrow(`no process with pid ${pid}`);
    expect(() => inspectProcess(0)).toThrow('no process with pid 0');
  });
});

describe('listProcesses', () => {
  it('lists visible processes sorted by pid, including ours', async () => {
    const py = interpreters[0]!;
    const { child } = await startUntilReady(py.path, ['-c', SLEEPER]);
    const all = listProcesses();
    const pids = all.map((p) => p.pid);
    expect(pids).toEqual([...pids].sort((a, b) => a - b));
    expect(new Set(pids).size).toBe(pids.length);
    expect(all.find((p) => p.pid === child.pid)?.python?.major).toBe(3);
    expect(all.find((p) => p.pid === process.pid)).toBeDefined();
    // Nothing that ended during the scan is reported.
    expect(all.flatMap(codesOf)).not.toContain('no-such-process');
  });

  it('gives the same answer when it lets other work run between processes (the server scan)', async () => {
    const py = interpreters[0]!;
    const { child } = await startUntilReady(py.path, ['-c', SLEEPER]);
    let turns = 0;
    const ticker = setInterval(() => turns++, 0);
    // Slices of no time at all: a turn between every two processes.
    const scanned = await listProcessesYielding({ sliceMs: 0 });
    clearInterval(ticker);
    const found = scanned.find((p) => p.pid === child.pid);
    expect(found?.python?.major).toBe(3);
    expect(found).toEqual(listProcesses().find((p) => p.pid === child.pid));
    const pids = scanned.map((p) => p.pid);
    expect(pids).toEqual([...pids].sort((a, b) => a - b));
    // Other work ran while it scanned (a timer fired between its slices).
    expect(turns).toBeGreaterThan(0);
  });
});

describe('another user', () => {
  const setpriv = findOnPath('setpriv', HOST_PATH);
  const asRoot = process.getuid!() === 0 && readAttacherContext().canPtraceAnyone;
  // The user's interpreter must be readable by nobody: not one under /root.
  const shared = interpreters.find((i) => i.path.startsWith('/usr/'));
  const asNobody = ['--reuid=65534', '--regid=65534', '--clear-groups'];

  it.runIf(setpriv !== null && asRoot)(
    'a process of uid 65534 is seen with its user; with CAP_SYS_PTRACE only not-python stands',
    async () => {
      const sleep = findOnPath('sleep', HOST_PATH)!;
      const pid = await startUntilExec(setpriv!, [...asNobody, sleep, '30'], sleep);
      const info = inspectProcess(pid);
      expect(info.uid).toBe(65534);
      expect(codesOf(info)).toEqual(['not-python']);
    },
  );

  it.runIf(setpriv !== null && asRoot && shared !== undefined)(
    'a CPython of uid 65534 is attachable as root, refused to an ordinary user',
    async () => {
      const { child } = await startUntilReady(setpriv!, [...asNobody, shared!.path, '-c', SLEEPER]);
      const info = inspectProcess(child.pid!);
      expect(info.uid).toBe(65534);
      expect(numericVersion(info.python?.version ?? '')).toBe(shared!.version);
      expect(info.attach.ok).toBe(true);

      // The same real process, judged for a user without CAP_SYS_PTRACE.
      const ordinary = { ...readAttacherContext(), uid: 1000, gid: 1000, canPtraceAnyone: false };
      const refused = inspectProcess(child.pid!, { attacher: ordinary });
      expect(codesOf(refused)).toEqual(['permission']);
      expect(refused.attach.reasons[0]!.message).toBe(
        `Process ${child.pid} belongs to user ${refused.user} (uid 65534/65534/65534) while Hookscope runs as uid 1000 gid 1000 without CAP_SYS_PTRACE.`,
      );
    },
  );
});

describe('our side of the preflight', () => {
  it('with an empty PATH, CPython 3.8–3.13 has no debugger', async () => {
    const py = interpreters.find((i) => i.minor < 14);
    if (!py) return;
    const { child } = await startUntilReady(py.path, ['-c', SLEEPER]);
    const info = inspectProcess(child.pid!, { attacher: readAttacherContext({ pathEnv: '' }) });
    expect(codesOf(info)).toEqual(['no-debugger']);
  });

  it('under Yama scope 1, even our own child is refused: the debugger is not its ancestor', async () => {
    const py = interpreters[0]!;
    const dir = tempDir();
    const scopeFile = path.join(dir, 'ptrace_scope');
    fs.writeFileSync(scopeFile, '1\n');
    const yama = {
      ...readAttacherContext({ ptraceScopePath: scopeFile }),
      canPtraceAnyone: false,
    };
    expect(yama.ptraceScope).toBe(1);
    const { child } = await startUntilReady(py.path, ['-c', SLEEPER]);
    expect(codesOf(inspectProcess(child.pid!, { attacher: yama }))).toEqual(['ptrace-scope']);
    expect(
      inspectProcess(child.pid!, { attacher: { ...yama, canPtraceAnyone: true } }).attach.ok,
    ).toBe(true);
  });
});

describe('namespaces and chroots', () => {
  const unshare = findOnPath('unshare', HOST_PATH);
  const chroot = findOnPath('chroot', HOST_PATH);
  const isRoot = process.getuid!() === 0;

  it.runIf(unshare !== null && isRoot)(
    'another mount namespace alone is attachable; another pid namespace is a container',
    async () => {
      const py = interpreters[0]!;
      const { child } = await startUntilReady(unshare!, ['--mount', py.path, '-c', SLEEPER]);
      const info = inspectProcess(child.pid!);
      expect(info.python?.major).toBe(3);
      expect(info.separateMountNamespace).toBe(true);
      expect(info.attach.ok).toBe(true);

      const { child: boxed } = await startUntilReady(unshare!, [
        '--pid',
        '--fork',
        '--mount-proc',
        py.path,
        '-c',
        SLEEPER,
      ]);
      // unshare --fork: the interpreter is unshare's child, in the new pid namespace.
      const inner = childrenOf(boxed.pid!);
      strays.push(...inner);
      expect(inner.length).toBe(1);
      expect(codesOf(inspectProcess(inner[0]!))).toEqual(['container']);
    },
  );

  it.runIf(chroot !== null && isRoot)('a chroot is reported as the root, not refused', async () => {
    // A minimal root holding `sleep` and the libraries it needs.
    const sleep = fs.realpathSync(findOnPath('sleep', HOST_PATH)!);
    const dir = fs.realpathSync(tempDir());
    const needed = execFileSync('ldd', [sleep], { encoding: 'utf8' })
      .split('\n')
      .map((l) => /(\/\S+)/.exec(l)?.[1])
      .filter((f): f is string => f !== undefined);
    for (const file of [sleep, ...needed]) {
      const dest = path.join(dir, file);
      fs.mkdirSync(path.dirname(dest), { recursive: true });
      fs.copyFileSync(file, dest);
      fs.chmodSync(dest, 0o755);
    }
    const child = spawn(chroot!, [dir, sleep, '60'], { env: cleanEnv(), stdio: 'ignore' });
    children.push(child);
    let info: ProcessInfo;
    for (;;) {
      info = inspectProcess(child.pid!);
      if (info.root === dir) break;
      if (child.exitCode !== null) throw new Error('chroot ended early');
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(codesOf(info)).toEqual(['not-python']);
    expect(codesOf(info)).not.toContain('container');
  });
});
