// The preflight as a pure function: each refusal from the inputs a user's
// machine would give (another uid, no CAP_SYS_PTRACE, Yama, 3.14's switches),
// none of which this test machine has.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import { findOnPath, hasCapability, readPtraceScope } from './attacher-context.js';
import type { AttachReason, PythonRuntime } from './discovery.js';
import {
  CAP_SYS_PTRACE,
  interpreterOptions,
  planAttach,
  type AttacherContext,
  type TargetFacts,
} from './preflight.js';
import { tempDir } from '../test-support/cli.js';

function runtime(version: string): PythonRuntime {
  const [major, minor] = version.split('.').map(Number);
  return {
    version,
    major: major!,
    minor: minor!,
    source: `/usr/lib/libpython${major}.${minor}.so.1.0`,
    freeThreaded: false,
  };
}

function attacher(overrides: Partial<AttacherContext> = {}): AttacherContext {
  return {
    pid: 100,
    uid: 1000,
    gid: 1000,
    canPtraceAnyone: false,
    mountNamespace: 'mnt:[4026531841]',
    pidNamespace: 'pid:[4026531836]',
    ptraceScope: null,
    debuggers: { gdb: '/usr/bin/gdb', lldb: null },
    ...overrides,
  };
}

function target(overrides: Partial<TargetFacts> = {}): TargetFacts {
  return {
    pid: 4242,
    state: 'S',
    kernelThread: false,
    vanished: false,
    uids: [1000, 1000, 1000],
    gids: [1000, 1000, 1000],
    user: 'alice',
    dumpable: true,
    mountNamespace: 'mnt:[4026531841]',
    pidNamespace: 'pid:[4026531836]',
    python: runtime('3.11.2'),
    pythonUnknown: null,
    environ: new Map(),
    cmdline: ['python3', 'app.py'],
    isDescendant: () => false,
    ...overrides,
  };
}

function codes(reasons: AttachReason[]): string[] {
  return reasons.map((r) => r.code);
}

function onlyReason(t: TargetFacts, a: AttacherContext): AttachReason {
  const plan = planAttach(t, a);
  expect(plan.ok).toBe(false);
  expect(plan.method).toBeNull();
  expect(plan.reasons).toHaveLength(1);
  return plan.reasons[0]!;
}

describe('planAttach', () => {
  it('attaches a same-user CPython 3.8–3.13 with gdb, else lldb', () => {
    expect(planAttach(target(), attacher())).toEqual({
      ok: true,
      method: 'gdb',
      debugger: '/usr/bin/gdb',
      reasons: [],
    });
    const lldbOnly = attacher({ debuggers: { gdb: null, lldb: '/opt/llvm/bin/lldb' } });
    expect(planAttach(target({ python: runtime('3.8.18') }), lldbOnly)).toMatchObject({
      ok: true,
      method: 'lldb',
      debugger: '/opt/llvm/bin/lldb',
    });
  });

  it('uses sys.remote_exec for 3.14+, with no debugger needed', () => {
    const none = attacher({ debuggers: { gdb: null, lldb: null } });
    expect(planAttach(target({ python: runtime('3.14.0') }), none)).toEqual({
      ok: true,
      method: 'remote_exec',
      debugger: null,
      reasons: [],
    });
  });

  it('refuses a program that is not CPython', () => {
    const r = onlyReason(target({ python: null }), attacher());
    expect(r.code).toBe('not-python');
    expect(r.message).toBe(
      'Process 4242 is not running CPython (no libpython is mapped and its executable does not contain the interpreter).',
    );
    expect(r.fix).toBe('Choose the process id of a CPython 3.8 or newer program.');
  });

  it('refuses CPython older than 3.8, naming the version', () => {
    for (const version of ['2.7.18', '3.6.15', '3.7.16']) {
      const r = onlyReason(target({ python: runtime(version) }), attacher());
      expect(r.code).toBe('python-too-old');
      expect(r.message).toBe(
        `Process 4242 runs CPython ${version}, which has no audit hooks (they came in 3.8).`,
      );
      expect(r.fix).toBe('Run the program with CPython 3.8 or newer.');
    }
  });

  it('refuses another user’s process without CAP_SYS_PTRACE, and allows it with', () => {
    const other = target({
      uids: [65534, 65534, 65534],
      gids: [65534, 65534, 65534],
      user: 'nobody',
    });
    const r = onlyReason(other, attacher());
    expect(r.code).toBe('permission');
    expect(r.message).toBe(
      'Process 4242 belongs to user nobody (uid 65534/65534/65534) while Hookscope runs as uid 1000 gid 1000 without CAP_SYS_PTRACE.',
    );
    expect(r.fix).toBe('Run Hookscope as nobody or as root (with CAP_SYS_PTRACE).');
    expect(planAttach(other, attacher({ canPtraceAnyone: true })).ok).toBe(true);
  });

  it('refuses a setuid-like process whose saved uid differs, and an undumpable one', () => {
    const setuid = target({ uids: [1000, 0, 0], user: 'alice' });
    expect(onlyReason(setuid, attacher()).code).toBe('permission');
    const undumpable = onlyReason(target({ dumpable: false }), attacher());
    expect(undumpable.code).toBe('permission');
    expect(undumpable.message).toBe(
      'Process 4242 is not dumpable (it changed credentials or turned dumping off), so only a tracer with CAP_SYS_PTRACE may attach.',
    );
    expect(planAttach(target({ dumpable: false }), attacher({ canPtraceAnyone: true })).ok).toBe(
      true,
    );
  });

  it('says when it cannot tell whether a process is CPython, rather than guessing', () => {
    const unknown = target({
      python: null,
      pythonUnknown: 'its memory maps cannot be read (EACCES)',
      uids: [0, 0, 0],
      gids: [0, 0, 0],
      user: 'root',
    });
    const r = onlyReason(unknown, attacher());
    expect(r.code).toBe('permission');
    expect(r.message).toBe(
      'Process 4242 belongs to user root (uid 0/0/0) while Hookscope runs as uid 1000 gid 1000 without CAP_SYS_PTRACE, and its memory maps cannot be read (EACCES).',
    );
    expect(r.fix).toBe('Run Hookscope as root (with CAP_SYS_PTRACE).');
  });

  describe('Yama ptrace_scope', () => {
    it('0 or absent: no restriction', () => {
      expect(planAttach(target(), attacher({ ptraceScope: 0 })).ok).toBe(true);
      expect(planAttach(target(), attacher({ ptraceScope: null })).ok).toBe(true);
    });

    it('1: refused without CAP_SYS_PTRACE, even for descendants (the tracer is not their ancestor)', () => {
      const r = onlyReason(target({ isDescendant: () => true }), attacher({ ptraceScope: 1 }));
      expect(r.code).toBe('ptrace-scope');
      expect(r.message).toBe(
        'kernel.yama.ptrace_scope is 1: a process may only be attached by its own ancestors, and the debugger Hookscope starts is not an ancestor of process 4242.',
      );
      expect(r.fix).toBe(
        'Record the program from its start with `hookscope run`, run Hookscope as root (with CAP_SYS_PTRACE), or allow attaching with `sudo sysctl kernel.yama.ptrace_scope=0`.',
      );
      expect(planAttach(target(), attacher({ ptraceScope: 1, canPtraceAnyone: true })).ok).toBe(
        true,
      );
    });

    it('2: only with CAP_SYS_PTRACE, even for descendants', () => {
      const r = onlyReason(target({ isDescendant: () => true }), attacher({ ptraceScope: 2 }));
      expect(r.code).toBe('ptrace-scope');
      expect(r.message).toBe(
        'kernel.yama.ptrace_scope is 2: only a tracer with CAP_SYS_PTRACE may attach to process 4242.',
      );
      expect(r.fix).toBe(
        'Run Hookscope as root (with CAP_SYS_PTRACE), or start the program with `hookscope run`.',
      );
      expect(planAttach(target(), attacher({ ptraceScope: 2, canPtraceAnyone: true })).ok).toBe(
        true,
      );
    });

    it('3: nobody, not even root, until reboot', () => {
      const r = onlyReason(target(), attacher({ ptraceScope: 3, canPtraceAnyone: true, uid: 0 }));
      expect(r.code).toBe('ptrace-scope');
      expect(r.message).toBe(
        'kernel.yama.ptrace_scope is 3: attaching to any process, 4242 included, is disabled until the next reboot.',
      );
      expect(r.fix).toBe(
        'Start the program with `hookscope run` instead (the setting cannot be lowered before a reboot).',
      );
    });

    it('reads the setting from the file it is pointed at', () => {
      const dir = tempDir();
      const file = path.join(dir, 'ptrace_scope');
      for (const level of [0, 1, 2, 3]) {
        fs.writeFileSync(file, `${level}\n`);
        expect(readPtraceScope(file)).toBe(level);
      }
      expect(readPtraceScope(path.join(dir, 'absent'))).toBeNull();
    });
  });

  describe('CPython 3.14 remote debugging switches', () => {
    const py314 = runtime('3.14.0');

    it('refuses when PYTHON_DISABLE_REMOTE_DEBUG is set non-empty', () => {
      const environ = new Map([['PYTHON_DISABLE_REMOTE_DEBUG', '1']]);
      const r = onlyReason(target({ python: py314, environ }), attacher());
      expect(r.code).toBe('remote-debug-disabled');
      expect(r.message).toBe(
        'Process 4242 (CPython 3.14.0) has PYTHON_DISABLE_REMOTE_DEBUG set, which turns sys.remote_exec off.',
      );
      expect(r.fix).toBe(
        'Restart the program without PYTHON_DISABLE_REMOTE_DEBUG in its environment, or start it with `hookscope run`.',
      );
      const empty = new Map([['PYTHON_DISABLE_REMOTE_DEBUG', '']]);
      expect(planAttach(target({ python: py314, environ: empty }), attacher()).ok).toBe(true);
    });

    it('ignores the variable under -E or -I, as CPython does', () => {
      const environ = new Map([['PYTHON_DISABLE_REMOTE_DEBUG', '1']]);
      for (const flag of ['-E', '-I', '-sI']) {
        const t = target({ python: py314, environ, cmdline: ['python3.14', flag, 'app.py'] });
        expect(planAttach(t, attacher()).ok).toBe(true);
      }
    });

    it('refuses -X disable-remote-debug in either spelling', () => {
      for (const cmdline of [
        ['python3.14', '-X', 'disable-remote-debug', 'app.py'],
        ['python3.14', '-Xdisable-remote-debug', '-m', 'app'],
        ['python3.14', '-IX', 'disable-remote-debug', 'app.py'],
      ]) {
        const r = onlyReason(target({ python: py314, cmdline }), attacher());
        expect(r.code).toBe('remote-debug-disabled');
        expect(r.message).toBe(
          'Process 4242 (CPython 3.14.0) was started with -X disable-remote-debug, which turns sys.remote_exec off.',
        );
        expect(r.fix).toBe(
          'Restart the program without -X disable-remote-debug, or start it with `hookscope run`.',
        );
      }
      // The script's own arguments are not interpreter options.
      const scriptArg = ['python3.14', 'app.py', '-X', 'disable-remote-debug'];
      expect(planAttach(target({ python: py314, cmdline: scriptArg }), attacher()).ok).toBe(true);
    });

    it('says so when the environment cannot be read', () => {
      const r = onlyReason(target({ python: py314, environ: null }), attacher());
      expect(r.code).toBe('permission');
      expect(r.message).toBe(
        'Cannot read the environment of process 4242, so cannot tell whether PYTHON_DISABLE_REMOTE_DEBUG turns sys.remote_exec off.',
      );
    });
  });

  it('needs gdb or lldb for 3.8–3.13', () => {
    const r = onlyReason(target(), attacher({ debuggers: { gdb: null, lldb: null } }));
    expect(r.code).toBe('no-debugger');
    expect(r.message).toBe(
      'Process 4242 runs CPython 3.11.2, which can only be attached through a debugger, and neither gdb nor lldb is on PATH.',
    );
    expect(r.fix).toBe(
      'Install gdb (for example `apt-get install gdb`) or lldb, or make sure it is on PATH.',
    );
  });

  it('refuses another pid namespace (a container), not a mount namespace alone', () => {
    expect(planAttach(target({ mountNamespace: 'mnt:[4026532999]' }), attacher()).ok).toBe(true);
    const r = onlyReason(target({ pidNamespace: 'pid:[4026532998]' }), attacher());
    expect(r.code).toBe('container');
    expect(r.message).toBe(
      'Process 4242 runs in another PID namespace (a container); attaching into containers is not supported.',
    );
    expect(r.fix).toBe('Run Hookscope inside the container, next to the program.');
  });

  it('refuses zombies, kernel threads, itself and vanished processes, each alone', () => {
    expect(codes(planAttach(target({ state: 'Z', python: null }), attacher()).reasons)).toEqual([
      'zombie',
    ]);
    expect(
      codes(planAttach(target({ kernelThread: true, python: null }), attacher()).reasons),
    ).toEqual(['kernel-thread']);
    expect(codes(planAttach(target({ pid: 100 }), attacher()).reasons)).toEqual(['self']);
    expect(codes(planAttach(target({ vanished: true }), attacher()).reasons)).toEqual([
      'no-such-process',
    ]);
  });

  it('lists every reason that applies, not just the first', () => {
    const t = target({
      uids: [65534, 65534, 65534],
      user: 'nobody',
      pidNamespace: 'pid:[4026532999]',
    });
    const a = attacher({ ptraceScope: 2, debuggers: { gdb: null, lldb: null } });
    expect(codes(planAttach(t, a).reasons)).toEqual([
      'container',
      'permission',
      'ptrace-scope',
      'no-debugger',
    ]);
  });
});

describe('interpreterOptions', () => {
  it('reads clustered flags, attached values and stops at the script, -c or -m', () => {
    expect(interpreterOptions(['python', '-X', 'dev', '-Xutf8', 'app.py', '-E'])).toEqual({
      ignoresEnvironment: false,
      xOptions: ['dev', 'utf8'],
    });
    expect(interpreterOptions(['python', '-sIc', 'code', '-X', 'x'])).toEqual({
      ignoresEnvironment: true,
      xOptions: [],
    });
    expect(interpreterOptions(['python', '-W', 'error', '-m', 'mod', '-E'])).toEqual({
      ignoresEnvironment: false,
      xOptions: [],
    });
  });
});

describe('attacher context helpers', () => {
  it('decodes CAP_SYS_PTRACE from a CapEff mask', () => {
    expect(hasCapability('000001fffeffffff', CAP_SYS_PTRACE)).toBe(true);
    expect(hasCapability('0000000000000000', CAP_SYS_PTRACE)).toBe(false);
    expect(hasCapability((1 << CAP_SYS_PTRACE).toString(16), CAP_SYS_PTRACE)).toBe(true);
    expect(hasCapability('00000000a80425fb', CAP_SYS_PTRACE)).toBe(false); // Docker's default set
  });

  it('finds executables on PATH, skipping relative entries and non-executables', () => {
    const dir = tempDir();
    const tool = path.join(dir, 'lldb');
    fs.writeFileSync(tool, '#!/bin/sh\n', { mode: 0o644 });
    expect(findOnPath('lldb', dir)).toBeNull();
    fs.chmodSync(tool, 0o755);
    expect(findOnPath('lldb', `relative/bin::${dir}`)).toBe(tool);
    expect(findOnPath('lldb', '')).toBeNull();
  });
});
