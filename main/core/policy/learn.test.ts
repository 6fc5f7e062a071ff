import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import fc from 'fast-check';

import { runCli, tempDir } from '../../test-support/cli.js';
import { auditCapableInterpreters } from '../../test-support/pythons.js';
import {
  SAMPLE,
  writeEnforcedSampleSession,
  writeSampleSession,
} from '../../test-support/sample-session.js';
import {
  encodeAuditRecord,
  encodeDecisionRecord,
  encodeOpenCodeRecord,
  v,
} from '../../test-support/wire-encoder.js';
import { NATIVE_LOAD_EVENT, decodeRecordAt, type OpenCodeIntent } from '../protocol/records.js';
import { scanWithAddon } from '../protocol/record-scan.js';
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

describe('learnPolicy from bytes', () => {
  it('learns the files of open-code records exactly as from decoded records', async () => {
    // A few files loaded over and over (the bytes-keyed memory is hit), with
    // the same path under other intents and digests, real paths that are
    // not UTF-8, failed opens, and denials taking some back.
    const realPaths = [
      Buffer.from('/srv/app/a.py'),
      Buffer.from('/srv/app/b.py'),
      Buffer.from([0x2f, 0x73, 0xff, 0xfe, 0x2e, 0x70, 0x79]),
      Buffer.from('/srv/app/é.py'),
      Buffer.from(''),
    ];
    const intents: OpenCodeIntent[] = ['pythoncode', 'bytecode', 'zipimport', 'nativecode'];
    const record = fc.oneof(
      fc.record({
        kind: fc.constant('code' as const),
        intent: fc.constantFrom(...intents),
        status: fc.constantFrom(0, 0, 0, 1),
        real: fc.nat(realPaths.length - 1),
        digest: fc.nat(2),
        mtime: fc.bigInt(-(2n ** 63n), 2n ** 63n - 1n),
      }),
      fc.record({ kind: fc.constant('audit' as const), event: fc.constantFrom('open', 'import') }),
      fc.record({ kind: fc.constant('deny' as const), back: fc.nat(4) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(record, { maxLength: 60 }), async (specs) => {
        const parts = specs.map((spec, seq) => {
          if (spec.kind === 'audit') {
            return encodeAuditRecord({ seq, event: spec.event, args: v.tuple([]) });
          }
          if (spec.kind === 'deny') {
            return encodeDecisionRecord({
              seq,
              event: 'open',
              eventSeq: Math.max(0, seq - 1 - spec.back),
            });
          }
          const real = realPaths[spec.real] as Buffer;
          return encodeOpenCodeRecord({
            seq,
            event: spec.intent === 'nativecode' ? NATIVE_LOAD_EVENT : undefined,
            intent: spec.intent,
            status: spec.status,
            errno: spec.status === 0 ? 0 : 2,
            mtimeNs: spec.mtime,
            sha256: Buffer.alloc(32, spec.digest),
            path: v.str(real.toString('utf8')),
            realPath: real,
          });
        });
        const records = Buffer.concat(parts);
        const offsets: number[] = [];
        for (let p = 0; p < records.length; p += records.readUInt32LE(p)) offsets.push(p);
        const raw = [
          { type: 'events' as const, offset: 16, sessionId: 1, records, count: offsets.length },
        ];
        const fromBytes = learnPolicy(raw);
        // And as without the addon's record scan: every record worked out in TypeScript.
        scanWithAddon(false);
        const withoutScan = learnPolicy(raw).finally(() => scanWithAddon(true));
        const decoded = learnPolicy([
          {
            type: 'events',
            offset: 16,
            sessionId: 1,
            records: offsets.map((p) => decodeRecordAt(records, p)),
          },
        ]);
        expect(await fromBytes).toEqual(await decoded);
        expect(await withoutScan).toEqual(await decoded);
      }),
      { numRuns: Number(process.env['FAST_CHECK_RUNS'] ?? 300) },
    );
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
