// `hookscope run` against every CPython 3.8+ on the machine: real processes,
// the real agent, the real socket, read back with `hookscope show`.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import { runCli, showJson, tempDir } from '../test-support/cli.js';
import { auditCapableInterpreters, preAuditInterpreters } from '../test-support/pythons.js';

const interpreters = auditCapableInterpreters();

describe('interpreters', () => {
  it('finds at least one CPython with audit hooks', () => {
    expect(interpreters.length).toBeGreaterThan(0);
  });
});

describe.each(interpreters.map((i) => [`${i.version} (${i.path})`, i] as const))(
  'run with %s',
  (_name, py) => {
    it('records run_command, import, exec and subprocess.Popen, and exits with the target code', async () => {
      const dir = tempDir();
      const out = path.join(dir, 's.hks');
      const r = await runCli([
        'run',
        '--out',
        out,
        '--',
        py.path,
        '-c',
        "import json, subprocess, sys; subprocess.run(['true']); sys.exit(7)",
      ]);
      expect(r.stderr).toContain('session written to');
      expect(r.code).toBe(7);
      const events = await showJson(out);
      const names = new Set(events.map((e) => e.event));
      for (const expected of [
        'cpython.run_command',
        'import',
        'exec',
        'subprocess.Popen',
        'io.open_code',
      ]) {
        expect(names, `missing ${expected}`).toContain(expected);
      }
      const popen = events.find((e) => e.event === 'subprocess.Popen');
      expect(JSON.stringify(popen?.args)).toContain('true');
      const imp = events.find((e) => e.event === 'import' && (e.args as unknown[])[0] === 'json');
      expect(imp).toBeDefined();
      // `true` is not Python: it must not appear as a session of its own.
      const pids = new Set(events.map((e) => e.pid));
      expect(pids.size).toBe(1);
      // Sequence numbers of one process have no gaps when nothing was dropped.
      const seqs = events.filter((e) => e.pid === events[0]!.pid).map((e) => e.seq);
      expect(seqs).toEqual(seqs.map((_, i) => i));
      // The summary names what happened.
      expect(r.stderr).toMatch(/subprocess/i);
    });

    it('gives the SHA-256 of the file on disk and the real path through a symlinked directory', async () => {
      const dir = tempDir();
      fs.mkdirSync(path.join(dir, 'real'));
      const source = `VALUE = ${crypto.randomInt(1e9)}\n`;
      fs.writeFileSync(path.join(dir, 'real', 'hs_probe_mod.py'), source);
      fs.symlinkSync(path.join(dir, 'real'), path.join(dir, 'link'));
      const out = path.join(dir, 's.hks');
      const r = await runCli(
        [
          'run',
          '--out',
          out,
          '--',
          py.path,
          '-B',
          '-c',
          "import sys; sys.path.insert(0, 'link'); import hs_probe_mod",
        ],
        { cwd: dir },
      );
      expect(r.code).toBe(0);
      const events = await showJson(out, ['--event', 'io.open_code']);
      const rec = events.find((e) => String(e.path).endsWith('hs_probe_mod.py'));
      expect(rec, JSON.stringify(events.map((e) => e.path))).toBeDefined();
      expect(String(rec!.path)).toContain(`link${path.sep}hs_probe_mod.py`);
      expect(rec!.real_path).toBe(fs.realpathSync(path.join(dir, 'real', 'hs_probe_mod.py')));
      expect(rec!.sha256).toBe(crypto.createHash('sha256').update(source).digest('hex'));
      expect(rec!.size).toBe(Buffer.byteLength(source));
      expect(rec!.intent).toBe('pythoncode');
    });

    it('runs and records a script with a non-UTF-8 file name and a zip import', async () => {
      const dir = tempDir();
      const zipPath = path.join(dir, 'bundle.zip');
      execFileSync(py.path, [
        '-c',
        'import sys, zipfile\nwith zipfile.ZipFile(sys.argv[1], "w") as z:\n    z.writestr("hs_zipped.py", "ANSWER = 42\\n")',
        zipPath,
      ]);
      // A file name with a byte that is not valid UTF-8.
      const scriptName = Buffer.concat([
        Buffer.from(`${dir}/script-`),
        Buffer.from([0xff]),
        Buffer.from('.py'),
      ]);
      fs.writeFileSync(
        scriptName,
        `import sys\nsys.path.insert(0, ${JSON.stringify(zipPath)})\nimport hs_zipped\nprint("zip", hs_zipped.ANSWER)\n`,
      );
      const out = path.join(dir, 's.hks');
      // Pass the raw file name through a shell glob: Node argv must be strings.
      const r = await runCli([
        'run',
        '--out',
        out,
        '--',
        '/bin/sh',
        '-c',
        `exec "$0" "${dir}"/script-*.py`,
        py.path,
      ]);
      expect(r.code, r.stderr).toBe(0);
      const events = await showJson(out);
      const zipOpens = events.filter((e) => e.event === 'io.open_code' && e.intent === 'zipimport');
      expect(zipOpens.length).toBeGreaterThan(0);
      expect(zipOpens[0]!.real_path).toBe(zipPath);
      expect(zipOpens[0]!.sha256).toBe(
        crypto.createHash('sha256').update(fs.readFileSync(zipPath)).digest('hex'),
      );
      expect(events.some((e) => e.event === 'zipimport.find_module' || e.event === 'import')).toBe(
        true,
      );
      // The script itself went through the open-code hook under its raw name.
      const script = events.find(
        (e) => e.event === 'io.open_code' && String(e.real_path).includes('script-'),
      );
      expect(script, 'script open-code record').toBeDefined();
      expect(Buffer.from(script!.real_path!, 'latin1').length).toBeGreaterThan(0);
      expect(script!.sha256).toBe(
        crypto.createHash('sha256').update(fs.readFileSync(scriptName)).digest('hex'),
      );
    });

    it('records a Python child as its own session with its parent, once', async () => {
      const dir = tempDir();
      const out = path.join(dir, 's.hks');
      const r = await runCli([
        'run',
        '--out',
        out,
        '--',
        py.path,
        '-c',
        "import subprocess, sys; subprocess.run([sys.executable, '-c', 'import json; print(1)'], check=True)",
      ]);
      expect(r.code).toBe(0);
      const events = await showJson(out);
      const sessions = new Map<number, Set<number>>();
      for (const e of events) {
        if (!sessions.has(e.session)) sessions.set(e.session, new Set());
        sessions.get(e.session)!.add(e.pid);
      }
      expect(sessions.size).toBe(2);
      const parentPid = events.find((e) => e.event === 'subprocess.Popen')!.pid;
      const child = events.find((e) => e.pid !== parentPid)!;
      // The child's start event is recorded once: one hook, not two.
      const childRunCommands = events.filter(
        (e) => e.pid === child.pid && e.event === 'cpython.run_command',
      );
      expect(childRunCommands).toHaveLength(1);
      const text = await runCli(['show', out]);
      expect(text.stdout).toMatch(
        new RegExp(`process ${child.pid}.*parent ${parentPid}|ppid ${parentPid}`),
      );
    });
  },
);

describe('non-Python processes and old interpreters', () => {
  it('leaves a shell and coreutils alone and still records the Python inside', async () => {
    const py = interpreters[0]!;
    const dir = tempDir();
    const out = path.join(dir, 's.hks');
    const r = await runCli([
      'run',
      '--out',
      out,
      '--',
      '/bin/sh',
      '-c',
      `ls / >/dev/null; "${py.path}" -c pass; exit 3`,
    ]);
    expect(r.code).toBe(3);
    const events = await showJson(out);
    expect(new Set(events.map((e) => e.pid)).size).toBe(1);
    expect(events.some((e) => e.event === 'cpython.run_command')).toBe(true);
  });

  it.each(preAuditInterpreters())(
    'runs %s (no audit hooks) untouched and records nothing',
    async (exe) => {
      const dir = tempDir();
      const out = path.join(dir, 's.hks');
      const r = await runCli([
        'run',
        '--out',
        out,
        '--',
        exe,
        '-c',
        'import json; print(json.dumps([1]))',
      ]);
      expect(r.code).toBe(0);
      expect(await showJson(out)).toEqual([]);
    },
  );
});

describe('large code files', () => {
  it('hashes a zip archive over 64 MiB through the descriptor and imports from it', async () => {
    const py = interpreters[interpreters.length - 1]!;
    const dir = tempDir();
    const zipPath = path.join(dir, 'big.zip');
    execFileSync(py.path, [
      '-c',
      [
        'import sys, zipfile, os',
        'with zipfile.ZipFile(sys.argv[1], "w", zipfile.ZIP_STORED) as z:',
        '    z.writestr("padding.bin", os.urandom(65 << 20))',
        '    z.writestr("hs_big_zipped.py", "ANSWER = 7\\n")',
      ].join('\n'),
      zipPath,
    ]);
    const out = path.join(dir, 's.hks');
    const r = await runCli([
      'run',
      '--out',
      out,
      '--',
      py.path,
      '-c',
      `import sys; sys.path.insert(0, ${JSON.stringify(zipPath)}); import hs_big_zipped; assert hs_big_zipped.ANSWER == 7`,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const zipOpens = (await showJson(out, ['--event', 'io.open_code'])).filter(
      (e) => e.real_path === zipPath,
    );
    expect(zipOpens.length).toBeGreaterThan(0);
    const digest = crypto.createHash('sha256').update(fs.readFileSync(zipPath)).digest('hex');
    for (const rec of zipOpens) {
      expect(rec.sha256).toBe(digest);
      expect(rec.size).toBe(fs.statSync(zipPath).size);
      expect(rec.intent).toBe('zipimport');
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });
});

describe('bad input', () => {
  it('refuses a missing command', async () => {
    const r = await runCli(['run']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/no command given/);
  });

  it('refuses a command that does not exist, before creating anything', async () => {
    const dir = tempDir();
    const out = path.join(dir, 's.hks');
    const r = await runCli(['run', '--out', out, '--', 'hookscope-no-such-command']);
    expect(r.code).toBe(127);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/hookscope-no-such-command: command not found/);
    expect(fs.existsSync(out)).toBe(false);
  });

  it('refuses an unwritable --out without running the command', async () => {
    const dir = tempDir();
    const marker = path.join(dir, 'ran');
    const r = await runCli([
      'run',
      '--out',
      path.join(dir, 'missing-dir', 's.hks'),
      '--',
      '/bin/sh',
      '-c',
      `touch ${marker}`,
    ]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/missing-dir/);
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('never overwrites an existing session file', async () => {
    const dir = tempDir();
    const out = path.join(dir, 'kept.hks');
    fs.writeFileSync(out, 'earlier recording');
    const r = await runCli(['run', '--out', out, '--', '/bin/true']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/already exists/);
    expect(fs.readFileSync(out, 'utf8')).toBe('earlier recording');
  });

  it('says a file is not a session', async () => {
    const dir = tempDir();
    const file = path.join(dir, 'not-a-session.hks');
    fs.writeFileSync(file, 'hello world, this is not a session file at all');
    const r = await runCli(['show', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/not a Hookscope session/);
  });

  it('recovers a truncated session and says what was cut', async () => {
    const py = interpreters[0]!;
    const dir = tempDir();
    const out = path.join(dir, 's.hks');
    await runCli(['run', '--out', out, '--', py.path, '-c', 'import json, email']);
    const whole = await showJson(out);
    const size = fs.statSync(out).size;
    fs.truncateSync(out, size - 7);
    const r = await runCli(['show', out, '--json']);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/cut|truncated/i);
    const partial = r.stdout.split('\n').filter((l) => l.trim()).length;
    expect(partial).toBeGreaterThan(0);
    expect(partial).toBeLessThanOrEqual(whole.length);
  });

  it('rejects a bad --pid', async () => {
    const r = await runCli(['show', 'x.hks', '--pid', 'abc']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/process id/);
  });
});
