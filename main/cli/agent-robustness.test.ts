// The agent runs inside other people's processes: odd but legal programs
// must behave exactly as they do without it, and capture must go on.
// Each case is a real CPython under `hookscope run`.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import { runCli, showJson, tempDir } from '../test-support/cli.js';
import { auditCapableInterpreters } from '../test-support/pythons.js';

const interpreters = auditCapableInterpreters();

async function runPython(
  py: string,
  code: string,
  env: NodeJS.ProcessEnv = {},
  pyArgs: string[] = [],
) {
  const dir = tempDir();
  const out = path.join(dir, 's.hks');
  fs.writeFileSync(path.join(dir, 'prog.py'), code);
  const r = await runCli(['run', '--no-summary', '--out', out, '--', py, ...pyArgs, 'prog.py'], {
    cwd: dir,
    env: { ...process.env, ...env },
    timeoutMs: 60_000,
  });
  return { ...r, out, dir };
}

describe.each(interpreters.map((i) => [i.version, i] as const))(
  'agent robustness on %s',
  (_v, py) => {
    it.each([
      ['dev mode (PYTHONDEVMODE=1)', { PYTHONDEVMODE: '1' }, []],
      ['the debug allocator (PYTHONMALLOC=debug)', { PYTHONMALLOC: 'debug' }, []],
      ['-X dev', {}, ['-X', 'dev']],
    ] as const)('exits cleanly and records under %s', async (_name, env, args) => {
      const r = await runPython(py.path, 'import json\nprint("ok")\n', env, [...args]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).not.toMatch(/Fatal Python error|Aborted|Segmentation/);
      expect((await showJson(r.out)).some((e) => e.event === 'import')).toBe(true);
    });

    it('lets a child forked from a thread end when its thread returns', async () => {
      const code = [
        'import os, sys, threading',
        'def forker():',
        '    pid = os.fork()',
        '    if pid == 0:',
        '        sys.audit("hookscope.test.child")',
        '        return',
        '    os.waitpid(pid, 0)',
        '    print("reaped")',
        't = threading.Thread(target=forker); t.start(); t.join()',
      ].join('\n');
      const r = await runPython(py.path, code, { PYTHONWARNINGS: 'ignore' });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('reaped\n');
      const events = await showJson(r.out);
      expect(events.some((e) => e.event === 'hookscope.test.child')).toBe(true);
    });

    it('imports on a thread with a small stack', async () => {
      const dir = tempDir();
      const code = [
        'import sys, threading',
        `sys.path.insert(0, ${JSON.stringify(dir)})`,
        `open(${JSON.stringify(path.join(dir, 'hs_small_stack.py'))}, "w").write("X = 1\\n")`,
        'threading.stack_size(32768)',
        'def work():',
        '    import hs_small_stack',
        '    print("imported", hs_small_stack.X)',
        't = threading.Thread(target=work); t.start(); t.join()',
      ].join('\n');
      const r = await runPython(py.path, code);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('imported 1\n');
    });

    it('does not hold the GIL while opening a FIFO for code', async () => {
      const code = [
        'import io, os, shutil, threading, tempfile',
        'd = tempfile.mkdtemp(); p = os.path.join(d, "code.py"); os.mkfifo(p)',
        'def writer():',
        '    with open(p, "w") as f: f.write("print(\'from fifo\')\\n")',
        'threading.Thread(target=writer, daemon=True).start()',
        'try:',
        '    with io.open_code(p) as f:',
        '        exec(f.read())',
        'finally:',
        '    shutil.rmtree(d)',
      ].join('\n');
      const r = await runPython(py.path, code);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('from fifo\n');
    });

    it('refuses a path with an embedded NUL as CPython does', async () => {
      const code = [
        'import io',
        'try:',
        '    io.open_code("prog.py\\0.evil")',
        'except ValueError as e:',
        '    print("ValueError", e)',
      ].join('\n');
      const r = await runPython(py.path, code);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toMatch(/^ValueError .*null/);
    });

    it('keeps capturing after a code object with an unencodable file name', async () => {
      const code = [
        'import sys',
        'exec(compile("x = 1", "\\ud800", "exec"))',
        'sys.audit("hookscope.test.after")',
      ].join('\n');
      const r = await runPython(py.path, code);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).not.toMatch(/refused|protocol error/);
      expect((await showJson(r.out)).some((e) => e.event === 'hookscope.test.after')).toBe(true);
    });

    it('records a long non-ASCII string by its first characters only', async () => {
      const code = 'import sys\nsys.audit("hookscope.test.long", "é" * 100000)\n';
      const r = await runPython(py.path, code);
      expect(r.code, r.stderr).toBe(0);
      const rec = (await showJson(r.out)).find((e) => e.event === 'hookscope.test.long')!;
      const arg = rec.args[0] as { str: string; len: number };
      expect(arg.len).toBe(100000);
      expect(arg.str).toBe('é'.repeat(arg.str.length));
      expect(arg.str.length).toBeGreaterThan(1000);
    });

    it.runIf(py.minor >= 12)('survives sub-interpreters opening code concurrently', async () => {
      const code = [
        'import io, threading',
        'try:',
        '    import _xxsubinterpreters as si',
        'except ImportError:',
        '    import _interpreters as si',
        'run = si.run_string if hasattr(si, "run_string") else si.exec',
        'open("m.py", "w").write("X = 1\\n")',
        'body = "import io\\nfor i in range(500):\\n    f = io.open_code(\'m.py\'); f.read(); del f\\n"',
        'def sub():',
        '    i = si.create(); run(i, body); si.destroy(i)',
        'ts = [threading.Thread(target=sub) for _ in range(3)]',
        '[t.start() for t in ts]',
        'for i in range(500):',
        '    f = io.open_code("m.py"); f.read(); del f',
        '[t.join() for t in ts]',
        'print("done")',
      ].join('\n');
      const r = await runPython(py.path, code);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe('done\n');
    });
  },
);
