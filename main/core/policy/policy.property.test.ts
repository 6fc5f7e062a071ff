// Property tests of the policy parser and compiler (docs/policy.md):
// any text or JSON either loads or is refused with PolicyError (every
// problem with a position), never another exception; generated valid
// policies load, format back to themselves, compile, and their compiled
// form is loaded by the agent's own C parser and judged as evaluate()
// judges (the agent side: native/agent/tests/policy-judge.c, as in
// agent-parity.test.ts).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';

import { REPO_ROOT, tempDir } from '../../test-support/cli.js';
import {
  PolicyError,
  compilePolicy,
  evaluate,
  formatPolicy,
  parsePolicy,
  type IntentClass,
} from './index.js';

/** Bounded: seconds, not minutes (FAST_CHECK_RUNS raises it for a longer local run). */
const RUNS = Number(process.env['FAST_CHECK_RUNS'] ?? 300);
/** No lone surrogates: policies and the wire carry UTF-8. */
const wellFormed = (s: string): boolean => Buffer.from(s, 'utf8').toString('utf8') === s;
const JUDGE = path.join(REPO_ROOT, 'native', 'agent', 'build', 'policy-judge');
const CLASSES: IntentClass[] = [
  'pythoncode',
  'bytecode',
  'zipimport',
  'nativecode',
  'ctypes',
  'unknown',
];

function parseOrPolicyError(text: string): void {
  try {
    parsePolicy(text, 'p.json');
  } catch (error) {
    if (!(error instanceof PolicyError)) throw error;
    expect(error.issues.length).toBeGreaterThan(0);
    for (const issue of error.issues) {
      expect(issue.line).toBeGreaterThanOrEqual(1);
      expect(issue.column).toBeGreaterThanOrEqual(1);
    }
  }
}

// ---- generators of valid policies -----------------------------------------

const piece = fc.constantFrom('srv', 'app', 'lib', 'tmp', 'é', 'x.py', 'a.pyc', 'zip', '😀', 'b');
const pathText = fc.array(piece, { minLength: 1, maxLength: 4 }).map((p) => `/${p.join('/')}`);
const pathGlob = fc
  .array(fc.oneof(piece, fc.constantFrom('*', '?', '*.py', 'x?')), { minLength: 1, maxLength: 4 })
  .chain((parts) =>
    fc.boolean().map((dirs) => `/${parts.join('/')}`.replace(/^\/([^/]+)/, dirs ? '/**' : '/$1')),
  );
const prefix = fc.array(piece, { minLength: 1, maxLength: 3 }).map((p) => `/${p.join('/')}/`);
const eventGlob = fc.constantFrom('open', 'socket.*', 'os.system', '**', 'sub*.Popen', 'i?port');
const sha = fc.constantFrom('a'.repeat(64), '0123456789abcdef'.repeat(4));
const scalar = fc.oneof(
  fc.string({ maxLength: 8 }).filter(wellFormed),
  fc.integer({ min: -1000, max: 1000 }),
  fc.constantFrom(true, false, null, 1.5),
  pathGlob.map((g) => ({ glob: g })),
  prefix.map((p) => ({ prefix: p })),
);
const position = fc.oneof(
  fc.nat(5).map(String),
  fc.tuple(fc.nat(5), fc.nat(5)).map(([a, b]) => `${a}.${b}`),
);
const eventRule = fc.record(
  {
    action: fc.constantFrom('allow', 'deny'),
    event: fc.oneof(eventGlob, fc.array(eventGlob, { minLength: 1, maxLength: 3 })),
    args: fc.dictionary(position, scalar, { maxKeys: 3 }),
    executable: fc.constantFrom('/usr/bin/python3*', '/**'),
    module: fc.constantFrom('app', 'app.**', 'req*'),
    comment: fc.string({ maxLength: 10 }).filter(wellFormed),
  },
  { requiredKeys: ['action', 'event'] },
);
const intentRule = fc
  .record(
    {
      action: fc.constantFrom('allow', 'deny', 'ask'),
      intent: fc.oneof(
        fc.constantFrom<string>('*', ...CLASSES),
        fc.uniqueArray(fc.constantFrom(...CLASSES), { minLength: 1, maxLength: 3 }),
      ),
      path: pathGlob,
      realpathPrefix: prefix,
      sha256: sha,
    },
    { requiredKeys: ['action', 'intent'] },
  )
  .map((r) => (r.action === 'ask' ? { ...r, scope: 'process' } : r));
const policyDoc = fc.record({
  version: fc.constant(1),
  default: fc.constantFrom('allow', 'deny', 'ask'),
  offline: fc.constantFrom('allow', 'deny'),
  rules: fc.array(fc.oneof(eventRule, intentRule), { maxLength: 8 }),
});
const subject = fc.record({
  intent: fc.constantFrom(...CLASSES),
  path: pathText,
  realpath: fc.oneof(
    pathText,
    prefix.chain((p) => piece.map((x) => p + x)),
  ),
  sha: fc.oneof(sha, fc.constant('f'.repeat(64))),
});

describe('policy parser on untrusted text', () => {
  it('any text loads or is refused with PolicyError', () => {
    fc.assert(fc.property(fc.string({ maxLength: 200 }), parseOrPolicyError), {
      numRuns: RUNS * 3,
    });
  });

  it('any JSON value, and policy-shaped documents with wrong parts, load or are refused with PolicyError', () => {
    const anyJson = fc.jsonValue({ maxDepth: 4 }).map((j) => JSON.stringify(j));
    const wrongParts = fc
      .tuple(policyDoc, fc.dictionary(fc.string({ maxLength: 12 }), fc.jsonValue({ maxDepth: 2 })))
      .map(([doc, extra]) => JSON.stringify({ ...doc, ...extra, rules: [...doc.rules, extra] }));
    fc.assert(
      fc.property(fc.oneof(anyJson, wrongParts), (text) => {
        parseOrPolicyError(text);
        // Truncated text too: an editor saves half-typed documents.
        parseOrPolicyError(text.slice(0, Math.floor(text.length / 2)));
      }),
      { numRuns: RUNS * 2 },
    );
  });
});

describe('generated valid policies', () => {
  beforeAll(() => {
    execFileSync('make', [
      '-s',
      '-C',
      path.join(REPO_ROOT, 'native', 'agent'),
      'build/policy-judge',
    ]);
  });

  it('load, format back to themselves and compile', () => {
    fc.assert(
      fc.property(policyDoc, fc.constantFrom('allow', 'deny', 'interactive'), (doc, askAnswer) => {
        const policy = parsePolicy(JSON.stringify(doc), 'gen.json');
        expect(parsePolicy(formatPolicy(policy), 'again.json')).toEqual(policy);
        const compiled = compilePolicy(policy, { askAnswer: askAnswer as 'allow' });
        expect(compiled.subarray(0, 4).toString('latin1')).toBe('HSP1');
      }),
      { numRuns: RUNS },
    );
  });

  it('are loaded by the agent and judged on intents as evaluate() judges them', () => {
    const dir = tempDir();
    const file = path.join(dir, 'policy.bin');
    fc.assert(
      fc.property(
        policyDoc,
        fc.array(subject, { minLength: 1, maxLength: 20 }),
        (doc, subjects) => {
          const policy = parsePolicy(JSON.stringify(doc), 'gen.json');
          fs.writeFileSync(file, compilePolicy(policy, { askAnswer: 'deny' }));
          const input = subjects
            .map((s) => `${CLASSES.indexOf(s.intent)}\t${s.path}\t${s.realpath}\t${s.sha}\n`)
            .join('');
          // Exits 2 when the agent refuses to load the policy: that fails here.
          const lines = execFileSync(JUDGE, [file], { input, encoding: 'utf8' }).trim().split('\n');
          subjects.forEach((s, i) => {
            const [action, rule] = lines[i]!.split('\t');
            const ts = evaluate(policy, {
              kind: 'intent',
              intent: s.intent,
              path: s.path,
              realpath: s.realpath,
              sha256: s.sha,
            });
            expect(
              {
                action: ['allow', 'deny', 'ask'][Number(action)],
                rule: rule === '-1' ? null : Number(rule),
              },
              JSON.stringify({ doc, s }),
            ).toEqual({ action: ts.action, rule: ts.ruleIndex });
          });
        },
      ),
      // One agent process per policy: fewer runs keep this to seconds.
      { numRuns: Math.max(10, Math.floor(RUNS / 6)) },
    );
  });
});
