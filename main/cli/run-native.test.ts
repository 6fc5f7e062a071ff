// Native code as intents: the agent's dlopen (launch mode) records every
// extension module and ctypes library loaded by path, and the policy gates
// them: ImportError for an extension module, OSError for ctypes.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import { runCli, showJson, tempDir, type ShownEvent } from '../test-support/cli.js';
import { auditCapableInterpreters } from '../test-support/pythons.js';

const interpreters = auditCapableInterpreters();

interface DecidedEvent extends ShownEvent {
  decision?: { outcome: string; by: string; rule: number | null };
}

function writeJson(file: string, value: unknown): void {
  fs.writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}

/** Where this interpreter keeps `_json`, when it is an extension module. */
function jsonExtension(python: string, dir: string): Promise<string | null> {
  return runCli(
    [
      'run',
      '--out',
      path.join(dir, 'probe.hks'),
      '--no-summary',
      '--',
      python,
      '-c',
      'import _json; print(getattr(_json, "__file__", ""))',
    ],
    { cwd: dir },
  ).then((r) => (r.code === 0 && r.stdout.trim() !== '' ? r.stdout.trim() : null));
}

describe.each(interpreters.map((i) => [i.version, i] as const))('native code on %s', (_v, py) => {
  it('records each extension module as a nativecode intent with its identity', async () => {
    const dir = tempDir();
    const out = path.join(dir, 's.hks');
    const ext = await jsonExtension(py.path, dir);
    if (ext === null) return; // _json is built in here: nothing is loaded
    const r = await runCli(
      ['run', '--out', out, '--no-summary', '--', py.path, '-c', 'import _json'],
      { cwd: dir },
    );
    expect(r.code, r.stderr).toBe(0);
    const loads = (await showJson(out)).filter((e) => e.event === 'dlopen');
    const json = loads.find((e) => e.real_path === fs.realpathSync(ext));
    expect(json).toMatchObject({
      intent: 'nativecode',
      size: fs.statSync(ext).size,
      sha256: expect.stringMatching(/^[0-9a-f]{64}$/),
    });
  });

  it('a denied extension module raises ImportError; json falls back to pure Python; exit 3', async () => {
    const dir = tempDir();
    const ext = await jsonExtension(py.path, dir);
    if (ext === null) return;
    const policy = path.join(dir, 'policy.json');
    writeJson(policy, {
      version: 1,
      default: 'allow',
      rules: [
        { action: 'deny', intent: 'nativecode', realpath: '/**/_json.*.so', comment: 'no C json' },
      ],
    });
    const out = path.join(dir, 's.hks');
    const r = await runCli(
      [
        'run',
        '--out',
        out,
        '--policy',
        policy,
        '--',
        py.path,
        '-c',
        [
          'try:',
          '    import _json',
          '    print("loaded")',
          'except ImportError as e:',
          '    print("ImportError:", e)',
          'import json',
          'print(json.dumps({"still": "works"}))',
        ].join('\n'),
      ],
      { cwd: dir },
    );
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(
      /^ImportError: \/\S*_json\.\S*\.so: denied by the Hookscope policy \(rule 0\)$/,
    );
    expect(lines[1]).toBe('{"still": "works"}');
    expect(r.code, r.stderr).toBe(3);
    expect(r.stderr).toMatch(/nativecode \S*_json\.\S*\.so +by rule 0 \(no C json\)/);
    const events = (await showJson(out)) as DecidedEvent[];
    const load = events.find((e) => e.event === 'dlopen' && e.real_path?.includes('_json'));
    expect(load?.decision).toMatchObject({ outcome: 'denied', by: 'rule', rule: 0 });
  });

  it('ctypes loading a library by path is a ctypes intent; denied, ctypes raises OSError', async () => {
    const dir = tempDir();
    const policy = path.join(dir, 'policy.json');
    writeJson(policy, {
      version: 1,
      default: 'allow',
      rules: [{ action: 'deny', intent: 'ctypes', realpath: '/**/libc.so.6' }],
    });
    const out = path.join(dir, 's.hks');
    const r = await runCli(
      [
        'run',
        '--out',
        out,
        '--no-summary',
        '--policy',
        policy,
        '--',
        py.path,
        '-c',
        [
          'import ctypes',
          'libc = next(l.split()[-1] for l in open("/proc/self/maps") if "/libc.so.6" in l or "/libc-" in l)',
          'try:',
          '    ctypes.CDLL(libc)',
          '    print("loaded")',
          'except OSError as e:',
          '    print("OSError:", e)',
          // A native library the rule does not name still loads.
          'import _ctypes; print("ok")',
        ].join('\n'),
      ],
      { cwd: dir },
    );
    const lines = r.stdout.trim().split('\n');
    expect(lines[0]).toMatch(/^OSError: \/\S+: denied by the Hookscope policy \(rule 0\)$/);
    expect(lines[1]).toBe('ok');
    expect(r.code).toBe(3);
    const events = (await showJson(out)) as DecidedEvent[];
    const load = events.find((e) => e.event === 'dlopen' && e.intent === 'ctypes');
    expect(load?.real_path).toMatch(/libc(\.so\.6|-[\d.]+\.so)$/);
    expect(load?.decision).toMatchObject({ outcome: 'denied', rule: 0 });
  });
});

describe('native libraries keep loading as they would without Hookscope', () => {
  it('a library whose RUNPATH uses $ORIGIN still finds its dependency (ctypes, by path)', async () => {
    const py = interpreters[interpreters.length - 1];
    if (py === undefined) return;
    const dir = fs.realpathSync(tempDir());
    fs.mkdirSync(path.join(dir, 'lib'));
    fs.mkdirSync(path.join(dir, 'sub'));
    fs.writeFileSync(path.join(dir, 'dep.c'), 'int dep_value(void) { return 42; }\n');
    fs.writeFileSync(
      path.join(dir, 'top.c'),
      'int dep_value(void);\nint top_value(void) { return dep_value() + 1; }\n',
    );
    const lib = path.join(dir, 'lib', 'libhsdep.so');
    const top = path.join(dir, 'sub', 'libhstop.so');
    execFileSync('cc', ['-shared', '-fPIC', path.join(dir, 'dep.c'), '-o', lib]);
    execFileSync('cc', [
      '-shared',
      '-fPIC',
      path.join(dir, 'top.c'),
      '-o',
      top,
      `-L${path.join(dir, 'lib')}`,
      '-lhsdep',
      '-Wl,-rpath,$ORIGIN/../lib',
    ]);
    const out = path.join(dir, 's.hks');
    const r = await runCli(
      [
        'run',
        '--out',
        out,
        '--no-summary',
        '--',
        py.path,
        '-c',
        `import ctypes; print(ctypes.CDLL(${JSON.stringify(top)}).top_value())`,
      ],
      { cwd: dir },
    );
    expect(r.stdout.trim(), r.stderr).toBe('43');
    const loads = (await showJson(out)).filter((e) => e.event === 'dlopen');
    // Judged and recorded: the library itself, by path. Its dependency is the loader's.
    expect(loads.map((e) => [e.intent, e.real_path])).toContainEqual(['ctypes', top]);
    expect(loads.some((e) => e.real_path === lib)).toBe(false);
  });
});
