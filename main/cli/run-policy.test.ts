// `hookscope run --policy / --ask / --learn`: real CLI runs of real CPython.
// The enforcement tests at the end need an agent that enforces policies
// (it exports hookscope_agent_policy_version); they are skipped until then.
import { execFileSync } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import { compilePolicy } from '../core/policy/compile.js';
import { loadPolicy, parsePolicy } from '../core/policy/load-policy.js';
import { readSessionBlocks, type PolicyInfo } from '../core/session-file.js';
import { agentEnforces } from '../test-support/agent-features.js';
import { runCli, showJson, tempDir, type ShownEvent } from '../test-support/cli.js';
import { auditCapableInterpreters, type Interpreter } from '../test-support/pythons.js';

const interpreters = auditCapableInterpreters();
const newest = interpreters[interpreters.length - 1] as Interpreter;
/** The oldest and the newest CPython with audit hooks (one if they are the same). */
const ends = [...new Set([interpreters[0], newest])].filter(
  (i): i is Interpreter => i !== undefined,
);

function writeJson(file: string, value: unknown): void {
  fs.writeFileSync(file, `${JSON.stringify(value, null, 2)}\n`);
}

async function policyBlock(session: string): Promise<PolicyInfo | null> {
  for await (const block of readSessionBlocks(session)) {
    if (block.type === 'policy') return block.policy;
  }
  return null;
}

interface DecidedEvent extends ShownEvent {
  decision?: { outcome: string; by: string; rule: number | null; comment?: string };
}

describe('hookscope run --policy, refused before anything starts', () => {
  it('lists every problem of a malformed policy as file:line:col, exits 2, starts nothing', async () => {
    const dir = tempDir();
    const policy = path.join(dir, 'bad.json');
    fs.writeFileSync(
      policy,
      [
        '{',
        '  "version": 1,',
        '  "default": "maybe",',
        '  "rules": [',
        '    { "action": "deny", "event": "socket.[x]" },',
        '    { "action": "allow", "intent": "pythoncode", "class": "x" }',
        '  ]',
        '}',
        '',
      ].join('\n'),
    );
    const marker = path.join(dir, 'started');
    const out = path.join(dir, 's.hks');
    const r = await runCli(
      [
        'run',
        '--out',
        out,
        '--policy',
        policy,
        '--',
        newest.path,
        '-c',
        `open(${JSON.stringify(marker)}, "w")`,
      ],
      { cwd: dir },
    );
    expect(r.code).toBe(2);
    const lines = r.stderr.trim().split('\n');
    expect(lines).toEqual([
      `hookscope run: ${policy}: invalid policy, 3 problems; nothing was started`,
      `${policy}:3:14: default: unknown action "maybe"; one of allow, deny, ask`,
      expect.stringMatching(
        new RegExp(
          `^${policy}:5:42: rules\\[0\\]\\.event: bad glob "socket\\.\\[x\\]": "\\[" is reserved`,
        ),
      ),
      expect.stringMatching(
        new RegExp(`^${policy}:6:50: rules\\[1\\]\\.class: unknown key "class"`),
      ),
    ]);
    expect(fs.existsSync(marker)).toBe(false);
    expect(fs.existsSync(out)).toBe(false);
    expect(fs.readdirSync(dir).sort()).toEqual(['bad.json']);
  });

  it('says a missing policy file cannot be read', async () => {
    const dir = tempDir();
    const r = await runCli(
      [
        'run',
        '--out',
        path.join(dir, 's.hks'),
        '--policy',
        'nope.json',
        '--',
        newest.path,
        '-c',
        'pass',
      ],
      { cwd: dir },
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/^nope\.json:1:1: cannot read the file: ENOENT/m);
    expect(fs.readdirSync(dir)).toEqual([]);
  });

  it('refuses a policy the agent format cannot carry', async () => {
    const dir = tempDir();
    const policy = path.join(dir, 'deep.json');
    writeJson(policy, {
      version: 1,
      default: 'allow',
      rules: [{ action: 'deny', event: 'e', args: { '1.0.2': 'x' } }],
    });
    const r = await runCli(
      [
        'run',
        '--out',
        path.join(dir, 's.hks'),
        '--policy',
        policy,
        '--',
        newest.path,
        '-c',
        'pass',
      ],
      { cwd: dir },
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(
      'rules[0].args["1.0.2"]: the agent matches arguments at most two levels deep',
    );
    expect(fs.readdirSync(dir)).toEqual(['deep.json']);
  });

  it('refuses --ask without --policy, and a bad --ask', async () => {
    const dir = tempDir();
    const noPolicy = await runCli(['run', '--ask', 'allow', '--', newest.path, '-c', 'pass'], {
      cwd: dir,
    });
    expect(noPolicy.code).toBe(2);
    expect(noPolicy.stderr).toContain('--ask answers the ask rules of a --policy');
    const bad = await runCli(['run', '--ask', 'maybe', '--', newest.path, '-c', 'pass'], {
      cwd: dir,
    });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--ask.*maybe.*allow, deny/);
  });
});

describe('hookscope run --policy with the recording', () => {
  it('hands the target the compiled policy through HOOKSCOPE_POLICY and records the policy block', async () => {
    const dir = tempDir();
    const policyFile = path.join(dir, 'policy.json');
    const text = `${JSON.stringify(
      {
        version: 1,
        comment: 'allow all, but say so',
        default: 'allow',
        rules: [{ action: 'ask', event: 'socket.*', comment: 'network' }],
      },
      null,
      2,
    )}\n`;
    fs.writeFileSync(policyFile, text);
    const out = path.join(dir, 's.hks');
    const report = path.join(dir, 'seen.json');
    const r = await runCli(
      [
        'run',
        '--out',
        out,
        '--policy',
        'policy.json',
        '--ask',
        'allow',
        '--',
        newest.path,
        '-c',
        [
          'import json, os, stat, sys',
          'p = os.environ["HOOKSCOPE_POLICY"]',
          'st = os.stat(p)',
          'data = open(p, "rb").read()',
          `json.dump({"path": p, "mode": stat.S_IMODE(st.st_mode), "hex": data.hex(), "socket": os.environ["HOOKSCOPE_SOCKET"]}, open(${JSON.stringify(report)}, "w"))`,
        ].join('\n'),
      ],
      { cwd: dir },
    );
    expect(r.code, r.stderr).toBe(0);
    const seen = JSON.parse(fs.readFileSync(report, 'utf8')) as {
      path: string;
      mode: number;
      hex: string;
      socket: string;
    };
    expect(path.basename(seen.path)).toBe('policy.bin');
    expect(path.dirname(seen.path)).toBe(path.dirname(seen.socket));
    expect(seen.mode).toBe(0o600);
    expect(seen.hex).toBe(
      compilePolicy(parsePolicy(text, 'policy.json'), { askAnswer: 'allow' }).toString('hex'),
    );
    // The private directory goes away with the run.
    expect(fs.existsSync(seen.path)).toBe(false);
    expect(await policyBlock(out)).toEqual({
      file: policyFile,
      sha256: crypto.createHash('sha256').update(text).digest('hex'),
      text,
      askAnswer: 'allow',
    });
    expect(r.stderr).toMatch(
      /^ {2}policy {4}.*policy\.json \(sha256 [0-9a-f]{16}…, ask rules answered allow\)$/m,
    );
    expect(r.stderr).toContain('Denied (0)');
  });

  it('does not pass an inherited HOOKSCOPE_POLICY to a run without a policy', async () => {
    const dir = tempDir();
    const r = await runCli(
      [
        'run',
        '--out',
        path.join(dir, 's.hks'),
        '--no-summary',
        '--',
        newest.path,
        '-c',
        'import os, sys; sys.exit(5 if "HOOKSCOPE_POLICY" in os.environ else 0)',
      ],
      { cwd: dir, env: { ...process.env, HOOKSCOPE_POLICY: path.join(dir, 'outer.bin') } },
    );
    expect(r.code, r.stderr).toBe(0);
  });
});

describe('hookscope run --learn', () => {
  it('refuses an existing file before starting anything', async () => {
    const dir = tempDir();
    const existing = path.join(dir, 'learned.json');
    fs.writeFileSync(existing, 'keep me\n');
    const marker = path.join(dir, 'started');
    const r = await runCli(
      [
        'run',
        '--out',
        path.join(dir, 's.hks'),
        '--learn',
        existing,
        '--',
        newest.path,
        '-c',
        `open(${JSON.stringify(marker)}, "w")`,
      ],
      { cwd: dir },
    );
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`--learn ${existing} already exists; not overwriting it`);
    expect(fs.readFileSync(existing, 'utf8')).toBe('keep me\n');
    expect(fs.readdirSync(dir).sort()).toEqual(['learned.json']);
  });

  it.each(ends.map((py) => [py.version, py] as const))(
    'writes a policy learned from a real run of CPython %s that loads back',
    async (_version, py) => {
      const dir = tempDir();
      const source = `VALUE = ${crypto.randomInt(1e9)}\n`;
      fs.writeFileSync(path.join(dir, 'hs_learn_mod.py'), source);
      const learned = path.join(dir, 'learned.json');
      const r = await runCli(
        [
          'run',
          '--out',
          path.join(dir, 's.hks'),
          '--learn',
          'learned.json',
          '--',
          py.path,
          '-B',
          '-c',
          'import sys; sys.path.insert(0, "."); import hs_learn_mod, json',
        ],
        { cwd: dir },
      );
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toMatch(
        new RegExp(`hookscope: learned policy \\(\\d+ rules\\) written to ${learned}\\n`),
      );
      const policy = loadPolicy(learned);
      expect(policy.default).toBe('deny');
      expect(policy.rules).toContainEqual({
        action: 'allow',
        intent: 'pythoncode',
        realpath: fs.realpathSync(path.join(dir, 'hs_learn_mod.py')),
        sha256: crypto.createHash('sha256').update(source).digest('hex'),
      });
      expect(policy.rules).toContainEqual({ action: 'allow', event: 'import' });
      // And the agent format can carry it.
      expect(compilePolicy(policy, { askAnswer: 'deny' }).length).toBeGreaterThan(16);
    },
  );
});

// ---------------------------------------------------------------------------
// Enforcement by the agent. Run by whoever builds an agent that exports
// hookscope_agent_policy_version; skipped (not failed) before that.

describe.skipIf(!agentEnforces())('enforcement by the agent', () => {
  describe.each(ends.map((py) => [`${py.version} (${py.path})`, py] as const))(
    'with %s',
    (_name, py) => {
      it('denies subprocess.Popen: the target catches PermissionError, exits 0, the CLI exits 3', async () => {
        const dir = tempDir();
        const policy = path.join(dir, 'policy.json');
        writeJson(policy, {
          version: 1,
          default: 'allow',
          rules: [{ action: 'deny', event: 'subprocess.Popen', comment: 'no subprocesses' }],
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
              'import subprocess',
              'try:',
              '    subprocess.run(["true"])',
              '    print("ran")',
              'except PermissionError:',
              '    print("denied")',
            ].join('\n'),
          ],
          { cwd: dir },
        );
        expect(r.stdout.trim()).toBe('denied');
        expect(r.code, r.stderr).toBe(3);
        expect(r.stderr).toContain('Denied (1)');
        expect(r.stderr).toMatch(/pid \d+ +subprocess\.Popen +by rule 0 \(no subprocesses\)/);
        expect(r.stderr).toContain('the policy denied 1 event or intent; exit code 3');
        const events = (await showJson(out)) as DecidedEvent[];
        const popen = events.find((e) => e.event === 'subprocess.Popen');
        expect(popen?.decision).toMatchObject({
          outcome: 'denied',
          by: 'rule',
          rule: 0,
          comment: 'no subprocesses',
          // Raised inside subprocess.py; it comes from the -c code.
          module: '__main__',
          package: '__main__',
        });
        const stack = (popen?.decision as { stack?: Array<{ file: string; function: string }> })
          .stack;
        expect(stack?.[0]?.file).toMatch(/\/subprocess\.py$/);
        expect(stack?.at(-1)).toMatchObject({ file: '<string>', function: '<module>' });
        expect(r.stderr).toMatch(/\n {6}from __main__\n {6}at \S+subprocess\.py:\d+ in /);
      });

      it('judges by the raising package: the same event is denied from one package, allowed from another', async () => {
        const dir = fs.realpathSync(tempDir());
        fs.mkdirSync(path.join(dir, 'vendorlib'));
        fs.writeFileSync(path.join(dir, 'vendorlib', '__init__.py'), '');
        fs.writeFileSync(
          path.join(dir, 'vendorlib', 'net.py'),
          'import subprocess\ndef spawn():\n    subprocess.run(["true"])\n',
        );
        fs.writeFileSync(
          path.join(dir, 'app.py'),
          [
            'import subprocess, vendorlib.net',
            'def attempt(f):',
            '    try:',
            '        f()',
            '        return "ran"',
            '    except PermissionError:',
            '        return "denied"',
            'print(attempt(vendorlib.net.spawn), attempt(lambda: subprocess.run(["true"])))',
          ].join('\n'),
        );
        const policy = path.join(dir, 'policy.json');
        writeJson(policy, {
          version: 1,
          default: 'allow',
          rules: [
            {
              action: 'deny',
              event: 'subprocess.Popen',
              package: 'vendorlib',
              comment: 'vendored code spawns nothing',
            },
            { action: 'deny', event: 'hookscope.never', module: 'app' },
          ],
        });
        const out = path.join(dir, 's.hks');
        const r = await runCli(
          ['run', '--out', out, '--no-summary', '--policy', policy, '--', py.path, 'app.py'],
          { cwd: dir },
        );
        expect(r.stdout.trim(), r.stderr).toBe('denied ran');
        expect(r.code).toBe(3);
        const popen = ((await showJson(out)) as DecidedEvent[]).find(
          (e) => e.event === 'subprocess.Popen' && e.decision !== undefined,
        );
        expect(popen?.decision).toMatchObject({
          rule: 0,
          module: 'vendorlib.net',
          package: 'vendorlib',
        });
      });

      it('judges arguments on every call of a repeated event: glob, prefix, exact, ask', async () => {
        const dir = tempDir();
        const policy = path.join(dir, 'policy.json');
        writeJson(policy, {
          version: 1,
          default: 'allow',
          rules: [
            { action: 'allow', event: 'open', args: { '0': { prefix: '/etc/host' } } },
            { action: 'deny', event: 'open', args: { '0': { glob: '/etc/*ad*' } } },
            { action: 'ask', event: 'hookscope.test.*', args: { '0': 42 } },
            { action: 'deny', event: 'hookscope.test.*', args: { '1.1': 'no' } },
          ],
        });
        const r = await runCli(
          [
            'run',
            '--out',
            path.join(dir, 's.hks'),
            '--no-summary',
            '--policy',
            policy,
            '--ask',
            'deny',
            '--',
            py.path,
            '-c',
            [
              'import sys',
              'def attempt(f):',
              '    try:',
              '        f()',
              '        return "ok"',
              '    except PermissionError:',
              '        return "denied"',
              'out = []',
              'for _ in range(3):',
              '    out.append(attempt(lambda: open("/etc/hostname").close()))',
              '    out.append(attempt(lambda: open("/etc/shadow").close()))',
              '    out.append(attempt(lambda: sys.audit("hookscope.test.x", 42)))',
              '    out.append(attempt(lambda: sys.audit("hookscope.test.x", 42.0)))',
              '    out.append(attempt(lambda: sys.audit("hookscope.test.y", 1, ("a", "no"))))',
              '    out.append(attempt(lambda: sys.audit("hookscope.test.y", 1, ("a", "yes"))))',
              'print(" ".join(out))',
            ].join('\n'),
          ],
          { cwd: dir },
        );
        const round = 'ok denied denied denied denied ok';
        expect(r.stdout.trim(), r.stderr).toBe([round, round, round].join(' '));
        expect(r.code).toBe(3);
      });

      it('denies a module by SHA-256: an edit changes the decision, a stale .pyc does not get it in', async () => {
        const dir = fs.realpathSync(tempDir());
        const module = path.join(dir, 'hs_gate_mod.py');
        const denied = 'VALUE = "denied version"\n';
        fs.writeFileSync(module, denied);
        // A .pyc of the denied source, as an earlier unguarded run leaves it.
        execFileSync(py.path, ['-m', 'py_compile', module], { cwd: dir });
        const cache = path.join(dir, '__pycache__');
        expect(fs.readdirSync(cache).some((f) => f.startsWith('hs_gate_mod.'))).toBe(true);

        const policy = path.join(dir, 'policy.json');
        writeJson(policy, {
          version: 1,
          default: 'allow',
          rules: [
            {
              action: 'deny',
              intent: 'bytecode',
              realpathPrefix: `${dir}/`,
              comment: 'no bytecode of our own: the source is what is vetted',
            },
            {
              action: 'deny',
              intent: 'pythoncode',
              sha256: crypto.createHash('sha256').update(denied).digest('hex'),
              comment: 'the bad version',
            },
          ],
        });
        const program = [
          'import sys',
          'sys.path.insert(0, ".")',
          'try:',
          '    import hs_gate_mod',
          '    print("imported", hs_gate_mod.VALUE)',
          'except (ImportError, PermissionError) as e:',
          '    print("blocked", type(e).__name__)',
        ].join('\n');
        const run = (name: string): ReturnType<typeof runCli> =>
          runCli(
            [
              'run',
              '--out',
              path.join(dir, name),
              '--policy',
              policy,
              '--',
              py.path,
              '-B',
              '-c',
              program,
            ],
            {
              cwd: dir,
            },
          );

        const blocked = await run('blocked.hks');
        expect(blocked.stdout.trim()).toBe('blocked PermissionError');
        expect(blocked.code, blocked.stderr).toBe(3);
        expect(blocked.stderr).toMatch(
          /bytecode .*__pycache__\/hs_gate_mod\.[^ ]*\.pyc +by rule 0/,
        );
        expect(blocked.stderr).toMatch(
          /pythoncode .*hs_gate_mod\.py +by rule 1 \(the bad version\)/,
        );

        // Another content is another file as far as the policy goes.
        fs.writeFileSync(module, 'VALUE = "reviewed version"\n');
        fs.rmSync(cache, { recursive: true, force: true });
        const allowed = await run('allowed.hks');
        expect(allowed.stdout.trim()).toBe('imported reviewed version');
        expect(allowed.code, allowed.stderr).toBe(0);
        expect(allowed.stderr).toContain('Denied (0)');
      });

      it('--learn, then enforce: the same run passes, a new import is denied', async () => {
        const dir = tempDir();
        fs.writeFileSync(path.join(dir, 'hs_known.py'), 'A = 1\n');
        fs.writeFileSync(path.join(dir, 'hs_new.py'), 'B = 2\n');
        // A .pyc beside the known module, as the standard library has: without
        // one, each run's import first tries to open a missing .pyc, a failed
        // open that a learned policy (default deny) has no rule for.
        execFileSync(py.path, ['-m', 'py_compile', path.join(dir, 'hs_known.py')]);
        const learned = path.join(dir, 'learned.json');
        const same = 'import sys; sys.path.insert(0, "."); import hs_known, json; print("ok")';
        // -B everywhere: a .pyc written by the first run would be new code in the second.
        const first = await runCli(
          [
            'run',
            '--out',
            path.join(dir, '1.hks'),
            '--learn',
            learned,
            '--',
            py.path,
            '-B',
            '-c',
            same,
          ],
          { cwd: dir },
        );
        expect(first.code, first.stderr).toBe(0);

        const again = await runCli(
          [
            'run',
            '--out',
            path.join(dir, '2.hks'),
            '--policy',
            learned,
            '--',
            py.path,
            '-B',
            '-c',
            same,
          ],
          { cwd: dir },
        );
        expect(again.stdout.trim()).toBe('ok');
        expect(again.code, again.stderr).toBe(0);
        expect(again.stderr).toContain('Denied (0)');

        const added = [
          'import sys; sys.path.insert(0, "."); import hs_known, json; print("ok")',
          'try:',
          '    import hs_new',
          'except (ImportError, PermissionError):',
          '    print("new import denied")',
        ].join('\n');
        const grown = await runCli(
          [
            'run',
            '--out',
            path.join(dir, '3.hks'),
            '--policy',
            learned,
            '--',
            py.path,
            '-B',
            '-c',
            added,
          ],
          { cwd: dir },
        );
        expect(grown.stdout.trim().split('\n')).toEqual(['ok', 'new import denied']);
        expect(grown.code, grown.stderr).toBe(3);
        expect(grown.stderr).toMatch(/pythoncode .*hs_new\.py +by the default/);
      });
    },
  );
});
