import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { runCli, tempDir } from '../../test-support/cli.js';
import { auditCapableInterpreters } from '../../test-support/pythons.js';
import {
  SAMPLE,
  writeEnforcedSampleSession,
  writeSampleSession,
} from '../../test-support/sample-session.js';
import { SessionReader } from '../session-file.js';
import { learnPolicy } from './learn.js';
import { parsePolicy } from './load-policy.js';
import { evaluate } from './match.js';
import { formatPolicy } from './policy.js';

describe('learnPolicy from a written session', () => {
  it('allows exactly what ran, sorted, and denies the rest', async () => {
    const file = path.join(tempDir(), 's.hks');
    writeSampleSession(file);
    const policy = await learnPolicy(file);
    expect(policy.default).toBe('deny');
    expect(policy.comment).toBe('Learned from a recorded session of: python3 app.py');
    expect(policy.rules).toEqual([
      {
        action: 'allow',
        intent: 'pythoncode',
        realpath: '/usr/lib/python3.12/json/__init__.py',
        sha256: SAMPLE.sha256.toString('hex'),
      },
      // The failed open of /srv/missing.py ran nothing: no rule.
      ...[
        'ctypes.dlopen',
        'import',
        'open',
        'os.system',
        'socket.bind',
        'socket.connect',
        'socket.getaddrinfo',
        'subprocess.Popen',
      ].map((event) => ({ action: 'allow', event })),
    ]);
    // Same session, same text; and the text loads back to the same policy.
    const again = await learnPolicy(await SessionReader.open(file));
    expect(formatPolicy(again)).toBe(formatPolicy(policy));
    const decoded = await learnPolicy((await SessionReader.open(file)).blocks());
    expect(decoded).toEqual(policy);
    expect(parsePolicy(formatPolicy(policy), 'learned.json')).toEqual(policy);
    expect(evaluate(policy, { kind: 'audit', event: 'os.fork', args: [] }).action).toBe('deny');
  });
});

describe('learnPolicy from a run under a policy', () => {
  it('leaves out what the policy denied: it did not happen', async () => {
    const file = path.join(tempDir(), 's.hks');
    writeEnforcedSampleSession(file);
    const policy = await learnPolicy(file);
    // The .pyc, subprocess.Popen and socket.connect were denied; open was allowed.
    expect(policy.rules).toEqual([{ action: 'allow', event: 'open' }]);
    // Decoded blocks (what the UI holds) teach the same as the bytes.
    const decoded = await learnPolicy((await SessionReader.open(file)).blocks());
    expect(decoded).toEqual(policy);
  });
});

const interpreters = auditCapableInterpreters();
const chosen = [
  ...new Map(
    [interpreters[0], interpreters[interpreters.length - 1]]
      .filter((i) => i !== undefined)
      .map((i) => [i.path, i]),
  ).values(),
];

describe.each(chosen.map((i) => [`${i.version} (${i.path})`, i] as const))(
  'learnPolicy from a real run of %s',
  (_name, py) => {
    it('pins the imported module by SHA-256 and denies the same path with other bytes', async () => {
      const dir = tempDir();
      const source = `VALUE = ${crypto.randomInt(1e9)}\n`;
      const module = path.join(dir, 'hs_learn_mod.py');
      fs.writeFileSync(module, source);
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
          `import sys; sys.path.insert(0, ${JSON.stringify(dir)}); import hs_learn_mod`,
        ],
        { cwd: dir },
      );
      expect(r.code, r.stderr).toBe(0);

      const policy = await learnPolicy(out);
      const text = formatPolicy(policy);
      expect(parsePolicy(text, 'learned.json')).toEqual(policy);

      const realpath = fs.realpathSync(module);
      const sha256 = crypto.createHash('sha256').update(source).digest('hex');
      const rule = policy.rules.findIndex((x) => x.realpath === realpath);
      expect(policy.rules[rule]).toEqual({
        action: 'allow',
        intent: 'pythoncode',
        realpath,
        sha256,
      });

      const subject = {
        kind: 'intent' as const,
        intent: 'pythoncode' as const,
        path: module,
        realpath,
        sha256,
      };
      expect(evaluate(policy, subject)).toMatchObject({ action: 'allow', ruleIndex: rule });
      const changed = crypto.createHash('sha256').update(`${source}# changed\n`).digest('hex');
      expect(evaluate(policy, { ...subject, sha256: changed })).toEqual({
        action: 'deny',
        ruleIndex: null,
        reason: 'no rule matched; the default is deny',
      });
      // What the run raised is allowed by name; what it never did is not.
      expect(evaluate(policy, { kind: 'audit', event: 'import', args: [] }).action).toBe('allow');
      expect(evaluate(policy, { kind: 'audit', event: 'subprocess.Popen', args: [] }).action).toBe(
        'deny',
      );
    });
  },
);
