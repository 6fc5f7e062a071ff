// The agent judges code about to run with its own C matcher; the inspector
// explains decisions (and learns policies) with evaluate(). Both read the
// same compiled glob tokens, and must agree on every subject: this runs
// thousands of generated paths through both.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import { REPO_ROOT, tempDir } from '../../test-support/cli.js';
import { compilePolicy, evaluate, parsePolicy, type IntentClass } from './index.js';

const JUDGE = path.join(REPO_ROOT, 'native', 'agent', 'build', 'policy-judge');
const CLASSES: IntentClass[] = [
  'pythoncode',
  'bytecode',
  'zipimport',
  'nativecode',
  'ctypes',
  'unknown',
];
const SHA_A = 'a'.repeat(64);
const SHA_B = '0123456789abcdef'.repeat(4);

const POLICY = {
  version: 1,
  default: 'allow',
  rules: [
    { action: 'deny', intent: 'pythoncode', path: '/srv/app/**/secret*.py' },
    { action: 'ask', intent: ['bytecode', 'zipimport'], realpath: '/opt/?i?/*.pyc' },
    { action: 'allow', intent: '*', sha256: SHA_A },
    { action: 'deny', intent: 'pythoncode', realpathPrefix: '/tmp/' },
    { action: 'deny', intent: 'unknown', path: '/srv/é*/x' },
    { action: 'ask', intent: 'pythoncode', path: '/srv/**' },
    { action: 'deny', intent: 'bytecode', pathPrefix: '/srv/app/' },
    { action: 'allow', intent: 'pythoncode', realpath: '/lib/\\*literal\\?.py' },
    { action: 'deny', intent: '*', sha256: SHA_B },
    { action: 'deny', intent: 'zipimport', path: '/a/**' },
  ],
};

/** Deterministic pseudo-random paths from pieces that exercise the globs. */
function subjects(
  count: number,
): { intent: IntentClass; path: string; realpath: string; sha: string }[] {
  const pieces = [
    'srv',
    'app',
    'opt',
    'lib',
    'tmp',
    'a',
    'bin',
    'é',
    'éx',
    'x',
    'secret',
    'secret1.py',
    'secretx.py',
    'mod.py',
    'm.pyc',
    '*literal?.py',
    'zip',
    'bin.pyc',
    'b',
    '',
  ];
  let seed = 42;
  const next = (n: number): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return Math.floor(seed / 65536) % n; // the low bits of this generator cycle fast
  };
  // Paths aimed at each rule, mixed with random ones.
  const aimed = [
    '/srv/app/secret1.py',
    '/srv/app/x/y/secretz.py',
    '/srv/app/secret.pyc',
    '/srv/app/m.pyc',
    '/opt/bin/m.pyc',
    '/opt/lib/a.pyc',
    '/opt/bin/x/m.pyc',
    '/tmp/x.py',
    '/srv/é1/x',
    '/srv/éx/x',
    '/srv/ex/x',
    '/srv/other.py',
    '/lib/*literal?.py',
    '/lib/xliteralx.py',
    '/a/b/c.zip',
    '/a',
  ];
  const randomPath = (): string => {
    if (next(2) === 0) return aimed[next(aimed.length)]!;
    const depth = 1 + next(5);
    const parts = [];
    for (let i = 0; i < depth; i++) parts.push(pieces[next(pieces.length)]!);
    return `/${parts.join('/')}`;
  };
  const out = [];
  for (let i = 0; i < count; i++) {
    const p = randomPath();
    out.push({
      intent: CLASSES[next(CLASSES.length)]!,
      path: p,
      realpath: next(3) === 0 ? randomPath() : p,
      sha: [SHA_A, SHA_B, 'f'.repeat(64)][next(3)]!,
    });
  }
  return out;
}

describe('the agent and the inspector judge code alike', () => {
  it('agrees on thousands of generated intents', () => {
    execFileSync('make', [
      '-s',
      '-C',
      path.join(REPO_ROOT, 'native', 'agent'),
      'build/policy-judge',
    ]);
    const policy = parsePolicy(JSON.stringify(POLICY), 'parity.json');
    const dir = tempDir();
    const compiled = path.join(dir, 'policy.bin');
    fs.writeFileSync(compiled, compilePolicy(policy, { askAnswer: 'deny' }));
    const cases = subjects(5000);
    const input = cases
      .map((c) => `${CLASSES.indexOf(c.intent)}\t${c.path}\t${c.realpath}\t${c.sha}`)
      .join('\n');
    const lines = execFileSync(JUDGE, [compiled], { input: `${input}\n`, encoding: 'utf8' })
      .trim()
      .split('\n');
    expect(lines.length).toBe(cases.length);
    const actions = ['allow', 'deny', 'ask'];
    const seen = new Set<string>();
    cases.forEach((c, i) => {
      const [action, rule] = lines[i]!.split('\t');
      const ts = evaluate(policy, {
        kind: 'intent',
        intent: c.intent,
        path: c.path,
        realpath: c.realpath,
        sha256: c.sha,
      });
      const agent = {
        action: actions[Number(action)],
        ruleIndex: rule === '-1' ? null : Number(rule),
      };
      expect(agent, JSON.stringify(c)).toEqual({ action: ts.action, ruleIndex: ts.ruleIndex });
      seen.add(String(ts.ruleIndex));
    });
    // The generated subjects reach every rule and the default.
    expect(seen.size).toBe(POLICY.rules.length + 1);
  });
});
