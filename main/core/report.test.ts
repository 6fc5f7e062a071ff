// Reports from a session file: golden outputs on the small enforced sample
// session (checked in under report-golden/), their structure, the filters,
// and every refusal leaving no file behind.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import { REPO_ROOT, runCli, tempDir } from '../test-support/cli.js';
import { writeEnforcedSampleSession, writeSampleSession } from '../test-support/sample-session.js';
import { writeBareRun } from '../test-support/wire-arbitraries.js';
import Ajv from 'ajv';
import fc from 'fast-check';

import { auditCapableInterpreters } from '../test-support/pythons.js';
import {
  encodeAuditRecord,
  encodeDecisionRecord,
  encodeOpenCodeRecord,
  v,
} from '../test-support/wire-encoder.js';
import { blockToPlain, jsonReportBlock } from './json-report.js';
import { parsePolicy } from './policy/load-policy.js';
import { formatValue, toJsonValue, type Value } from './protocol/records.js';
import { withCommas } from './html-report.js';
import { CSV_COLUMNS, csvCell } from './report.js';
import { csvJsonCell, formatArgs, jsonString, jsonValueText } from './report-text.js';
import { SessionWriter, readSessionBlocks } from './session-file.js';

const GOLDEN = path.join(__dirname, 'report-golden');

function session(): { dir: string; file: string } {
  const dir = tempDir('hookscope-report-');
  const file = path.join(dir, 'enforced.hks');
  writeEnforcedSampleSession(file, { withStack: true });
  return { dir, file };
}

/**
 * One process whose subprocess.Popen was asked by the policy's default and
 * allowed by the user, called from a file whose path has a space and
 * non-ASCII letters (its SARIF URI must be percent-encoded).
 */
function writeDefaultDenialSession(file: string): void {
  const w = SessionWriter.create(file, { overwrite: true });
  w.writeRun({
    hookscopeVersion: '0.1.0',
    command: ['python3', 'app.py'],
    cwd: '/srv',
    startedAtMs: 1_700_000_000_000,
    socketDir: '/tmp/x',
  });
  w.writePolicy({
    file: '/srv/policy.json',
    sha256: 'ab'.repeat(32),
    text: '{"rules": []}',
    askAnswer: 'deny',
  });
  w.writeProcess({
    session: 1,
    pid: 300,
    ppid: 1,
    parentSession: null,
    uid: 1000,
    exe: '/usr/bin/python3',
    argv: ['python3', 'app.py'],
    cwd: '/srv',
    pythonVersion: '3.12.3',
    agentVersion: '0.1.0',
    startMonotonicNs: '1000000000',
    startRealtimeNs: '1700000000000000000',
    flags: { preInit: true, initializedAtStart: false, auditHook: true, openCodeHook: true },
  });
  w.writeEvents(
    1,
    Buffer.concat([
      encodeAuditRecord({
        seq: 0,
        tid: 300,
        timeNs: 1_001_000_000n,
        event: 'subprocess.Popen',
        args: v.tuple([v.str('/bin/true'), v.list([v.str('true')]), v.none(), v.none()]),
      }),
      encodeDecisionRecord({
        seq: 1,
        tid: 300,
        timeNs: 1_002_000_000n,
        event: 'subprocess.Popen',
        eventSeq: 0,
        outcome: 'allowed',
        action: 'ask',
        by: 'user',
        ruleIndex: null,
        stack: [['/srv/my app/été.py', 'main', 3, '__main__']],
      }),
    ]),
  );
  w.close();
}

/** Audit records carrying every kind of value, and the awkward texts, through the real decoder. */
function writeEveryValueSession(file: string): void {
  const awkward = [
    '',
    'plain',
    "it's",
    'say "hi"',
    'both \' and "',
    'back\\slash',
    'line\nbreak\r\ttab',
    '<script>',
    '\u2028\u2029',
    '=SUM(A1)',
    '-1',
    '@x',
    'é ü 😀',
    'x'.repeat(250),
    'y'.repeat(350),
    '\u0001\u007f\u0085',
  ];
  const values: Value[] = [
    v.none(),
    v.bool(true),
    v.bool(false),
    v.int(0),
    v.int(-5),
    v.int(2n ** 53n),
    v.int(-(2n ** 63n)),
    v.intApprox(1.2e30),
    v.intApprox(Infinity),
    v.float(1.5),
    v.float(-0),
    v.float(1e16),
    v.float(NaN),
    v.float(-Infinity),
    v.str('cut short', 5000),
    v.strFs(Buffer.from([0x2f, 0xff, 0x61]), '/\udcffa'),
    v.strFs(Buffer.from([0xc3]), '\udcc3', 9),
    v.bytes(Buffer.from([0, 0x27, 0x22, 0x5c, 0x41, 0xff])),
    v.bytes(Buffer.alloc(100, 0x61), 300),
    v.bytearray(Buffer.from('ab')),
    v.tuple([]),
    v.tuple([], 3),
    v.tuple([v.int(1)]),
    v.tuple([v.int(1)], 2),
    v.list([v.str('a'), v.list([v.none()], 4)]),
    v.code('/srv/mod.py', 'f', 3),
    v.code("<weird 'file'>", 'g"h', 1),
    v.other('socket', 0xdeadn),
    v.other('é"x', 0n),
    ...awkward.map((text) => v.str(text)),
  ];
  const w = SessionWriter.create(file, { overwrite: true });
  writeBareRun(w);
  const records = values.map((value, i) =>
    encodeAuditRecord({
      seq: i,
      tid: 7,
      timeNs: 5n + BigInt(i),
      event: awkward[i % awkward.length] || 'open',
      args: v.tuple([value, value]),
    }),
  );
  records.push(
    encodeOpenCodeRecord({
      seq: values.length,
      tid: 7,
      timeNs: 99n,
      intent: 'bytecode',
      size: 3,
      sha256: Buffer.alloc(32, 1),
      path: v.strFs(Buffer.from([0x2f, 0xfe]), '/\udcfe'),
      realPath: '/srv/"x",y',
    }),
    encodeDecisionRecord({
      seq: values.length + 1,
      tid: 7,
      timeNs: 100n,
      event: 'io.open_code',
      eventSeq: values.length,
      ruleIndex: null,
      by: 'default',
      stack: [['/srv/a "b".py', 'f\n', 2, null]],
    }),
  );
  w.writeEvents(1, Buffer.concat(records));
  w.close();
}

/** RFC 4180 rows (quoted cells may hold commas, quotes and line breaks). */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      row.push(cell);
      cell = '';
    } else if (c === '\r' && text[i + 1] === '\n') {
      row.push(cell);
      rows.push(row);
      row = [];
      cell = '';
      i++;
    } else cell += c;
  }
  return rows;
}

/** Records `code` run by the newest CPython found into `out` (a real session). */
async function recordReal(out: string, code: string, cwd?: string): Promise<void> {
  const python = auditCapableInterpreters().at(-1);
  if (python === undefined) throw new Error('no CPython with audit hooks found');
  const rec = await runCli(
    ['run', '--out', out, '--no-summary', '--', python.path, '-c', code],
    cwd === undefined ? {} : { cwd },
  );
  expect(rec.code, rec.stderr).toBe(0);
}

describe('hookscope report', () => {
  it("html: counts are grouped as toLocaleString('en') groups them", () => {
    for (const n of [0, 7, 999, 1000, 12_345, 200_000, 1_000_000, -1234, 2 ** 53 - 1]) {
      expect(withCommas(n)).toBe(n.toLocaleString('en'));
    }
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 53) + 1, max: 2 ** 53 - 1 }), (n) => {
        expect(withCommas(n)).toBe(n.toLocaleString('en'));
      }),
    );
  });

  for (const [format, golden] of [
    ['json', 'enforced.json'],
    ['csv', 'enforced.csv'],
    ['sarif', 'enforced.sarif'],
    ['policy', 'enforced.policy.json'],
  ] as const) {
    it(`${format}: matches the golden output`, async () => {
      const { dir, file } = session();
      const out = path.join(dir, `out.${format}`);
      const r = await runCli(['report', file, '--format', format, '--out', out]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toBe(`hookscope: report written to ${out}\n`);
      expect(fs.readFileSync(out, 'utf8')).toBe(fs.readFileSync(path.join(GOLDEN, golden), 'utf8'));
      // Only the report is left in the directory: no temporary file.
      expect(fs.readdirSync(dir).sort()).toEqual(['enforced.hks', `out.${format}`]);
    });
  }

  it('runs its work off the main thread on one libuv pool thread, unless UV_THREADPOOL_SIZE says otherwise', async () => {
    const { dir, file } = session();
    // The process's threads, counted as it exits: libuv starts every pool
    // thread at once, on the pool's first use.
    const preload = path.join(dir, 'threads.cjs');
    fs.writeFileSync(
      preload,
      "process.on('exit', () => require('node:fs').writeFileSync(process.env.THREADS_OUT, String(require('node:fs').readdirSync('/proc/self/task').length)));\n",
    );
    const threads = async (poolSize: string | undefined): Promise<number> => {
      const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: `--require ${preload}` };
      env.THREADS_OUT = path.join(dir, `threads-${poolSize ?? 'default'}`);
      delete env.UV_THREADPOOL_SIZE;
      if (poolSize !== undefined) env.UV_THREADPOOL_SIZE = poolSize;
      const out = path.join(dir, `pool-${poolSize ?? 'default'}.json`);
      const r = await runCli(['report', file, '--format', 'json', '--out', out], { env });
      expect(r.code, r.stderr).toBe(0);
      return Number(fs.readFileSync(env.THREADS_OUT, 'utf8'));
    };
    const four = await threads('4');
    expect(await threads(undefined)).toBe(four - 3);
    expect(await threads('2')).toBe(four - 2);
  });

  it('csv: one row per record, the documented columns, cells quoted as RFC 4180 says', async () => {
    const { file } = session();
    const r = await runCli(['report', file, '--format', 'csv']);
    const rows = parseCsv(r.stdout);
    expect(rows[0]).toEqual([...CSV_COLUMNS]);
    expect(rows).toHaveLength(1 + 7);
    for (const row of rows) expect(row).toHaveLength(CSV_COLUMNS.length);
    const popen = rows.find((row) => row[0] === 'audit' && row[6] === 'subprocess.Popen');
    expect(JSON.parse(popen?.[8] ?? 'null')).toEqual(['/bin/ls', ['ls'], null, null]);
    const denial = rows.find((row) => row[0] === 'decision' && row[6] === 'subprocess.Popen');
    expect(denial?.slice(15)).toEqual(['denied', 'deny', 'rule', '1', '2500000', '3', '__main__']);
  });

  it('csv: a cell a spreadsheet would run as a formula is neutralised', () => {
    expect(csvCell('=HYPERLINK("x")')).toBe('"\'=HYPERLINK(""x"")"');
    expect(csvCell('-1')).toBe("'-1");
    expect(csvCell(-1)).toBe('-1');
    expect(csvCell('a,b')).toBe('"a,b"');
    expect(csvCell(null)).toBe('');
  });

  it('sarif: version 2.1.0, every result names a rule the driver lists, located at the caller', async () => {
    const { file } = session();
    const r = await runCli(['report', file, '--format', 'sarif']);
    const sarif = JSON.parse(r.stdout) as {
      version: string;
      runs: Array<{
        tool: { driver: { name: string; rules: Array<{ id: string }> } };
        results: Array<{
          ruleId: string;
          level: string;
          message: { text: string };
          locations: Array<{
            physicalLocation: { artifactLocation: { uri: string }; region: { startLine: number } };
          }>;
        }>;
      }>;
    };
    expect(sarif.version).toBe('2.1.0');
    const [run] = sarif.runs;
    expect(run?.tool.driver.name).toBe('Hookscope');
    const ruleIds = new Set(run?.tool.driver.rules.map((x) => x.id));
    expect(run?.results.map((x) => x.ruleId)).toEqual([
      'hookscope/rule-0',
      'hookscope/rule-1',
      'hookscope/rule-2',
    ]);
    for (const result of run?.results ?? []) expect(ruleIds.has(result.ruleId)).toBe(true);
    const popen = run?.results[1];
    expect(popen?.message.text).toBe(
      'subprocess.Popen: denied by rule 1 (no subprocesses) in process 100',
    );
    // The frame outside the standard library, not subprocess.py.
    expect(popen?.locations[0]?.physicalLocation).toEqual({
      artifactLocation: { uri: 'file:///srv/app.py' },
      region: { startLine: 12 },
    });
  });

  it('sarif: valid against the SARIF 2.1.0 schema (vendored from OASIS)', async () => {
    const schema = JSON.parse(
      fs.readFileSync(path.join(__dirname, 'test-data', 'sarif-schema-2.1.0.json'), 'utf8'),
    ) as object;
    // The schema is draft-07, Ajv's default. Ajv knows no formats of its own
    // (ajv-formats is not a dependency), so the three the schema uses are
    // given here rather than ignored: a location's URI must parse.
    const parses = (text: string, base?: string): boolean => URL.canParse(text, base);
    const validate = new Ajv({
      allErrors: true,
      strict: false,
      formats: {
        uri: (text: string) => parses(text),
        'uri-reference': (text: string) => parses(text, 'file:///'),
        'date-time': (text: string) => !Number.isNaN(Date.parse(text)),
      },
    }).compile(schema);
    const dir = tempDir('hookscope-report-');
    const enforced = path.join(dir, 'enforced.hks');
    writeEnforcedSampleSession(enforced, { withStack: true });
    const sample = path.join(dir, 'sample.hks');
    writeSampleSession(sample);
    // A decision by the policy's default, from a file whose name needs escaping in a URI.
    const odd = path.join(dir, 'odd.hks');
    writeDefaultDenialSession(odd);
    for (const file of [enforced, sample, odd]) {
      const r = await runCli(['report', file, '--format', 'sarif']);
      expect(r.code, r.stderr).toBe(0);
      const sarif = JSON.parse(r.stdout) as unknown;
      expect(validate(sarif), JSON.stringify(validate.errors?.slice(0, 3))).toBe(true);
    }
    const oddRun = (
      JSON.parse((await runCli(['report', odd, '--format', 'sarif'])).stdout) as {
        runs: Array<{
          results: Array<{
            ruleId: string;
            level: string;
            locations: Array<{ physicalLocation: { artifactLocation: { uri: string } } }>;
          }>;
        }>;
      }
    ).runs[0];
    expect(oddRun?.results.map((x) => [x.ruleId, x.level])).toEqual([
      ['hookscope/default', 'warning'],
    ]);
    expect(oddRun?.results[0]?.locations[0]?.physicalLocation.artifactLocation.uri).toBe(
      'file:///srv/my%20app/%C3%A9t%C3%A9.py',
    );
    // And the schema does catch what is not SARIF.
    expect(validate({ version: '2.1.0', runs: [{ results: [] }] })).toBe(false);
  });

  it('the direct text writers give exactly the bytes of the generic code they stand for', async () => {
    const dir = tempDir('hookscope-report-');
    const every = path.join(dir, 'every.hks');
    writeEveryValueSession(every);
    const enforced = path.join(dir, 'enforced.hks');
    writeEnforcedSampleSession(enforced, { withStack: true });
    // And a real recording: whatever CPython hands the agent.
    const real = path.join(dir, 'real.hks');
    await recordReal(
      real,
      'import json, pickle, os; pickle.loads(pickle.dumps({"a": b"\\xff" * 3, "b": 2**70, "c": 1.5})); open(os.devnull, "w"); exec(compile("x=1", "<s>", "exec"))',
    );
    let records = 0;
    for (const file of [every, enforced, real]) {
      for await (const block of readSessionBlocks(file)) {
        if (block.type !== 'events') continue;
        expect(jsonReportBlock(block, true)).toBe(JSON.stringify(blockToPlain(block)));
        for (const r of block.records) {
          records++;
          expect(jsonString(r.event)).toBe(JSON.stringify(r.event));
          if (r.kind !== 'audit') continue;
          const json = JSON.stringify(toJsonValue(r.args));
          expect(jsonValueText(r.args)).toBe(json);
          expect(csvJsonCell(r.args)).toBe(csvCell(json));
          for (const options of [
            { maxStringLength: 200, maxBytesLength: 32 },
            { maxStringLength: 300, maxBytesLength: 64 },
          ]) {
            expect(formatArgs(r.args, options)).toBe(formatValue(r.args, options));
          }
        }
      }
    }
    expect(records).toBeGreaterThan(60);
  });

  it('policy: the learned policy parses, and leaves out what was denied', async () => {
    const { file } = session();
    const r = await runCli(['report', file, '--format', 'policy']);
    const policy = parsePolicy(r.stdout, 'learned.json');
    expect(policy.rules).toEqual([{ action: 'allow', event: 'open' }]);
  });

  it('filters by event glob and by process', async () => {
    const dir = tempDir('hookscope-report-');
    const file = path.join(dir, 'sample.hks');
    writeSampleSession(file);
    const sockets = parseCsv(
      (await runCli(['report', file, '--format', 'csv', '--event', 'socket.*'])).stdout,
    );
    expect(sockets.length).toBeGreaterThan(1);
    for (const row of sockets.slice(1)) expect(row[6]).toMatch(/^socket\./);
    const child = parseCsv(
      (await runCli(['report', file, '--format', 'csv', '--pid', '200'])).stdout,
    );
    expect(child.length).toBeGreaterThan(1);
    for (const row of child.slice(1)) expect(row[2]).toBe('200');
    const nobody = parseCsv(
      (await runCli(['report', file, '--format', 'csv', '--pid', '9'])).stdout,
    );
    expect(nobody).toEqual([[...CSV_COLUMNS]]);
  });

  it('refuses bad input with one line, exit 2, and writes nothing', async () => {
    const { dir, file } = session();
    const out = path.join(dir, 'r.csv');
    const cases: Array<[string[], RegExp]> = [
      [
        ['--format', 'xml', '--out', out],
        /unknown format "xml"; one of json, html, csv, perfetto, sarif, policy/,
      ],
      [['--out', out], /--format is required/],
      [['--format', 'csv', '--event', '', '--out', out], /bad --event glob/],
      [['--format', 'csv', '--out', path.join(dir, 'no', 'such', 'dir', 'r.csv')], /cannot write/],
    ];
    for (const [args, message] of cases) {
      const r = await runCli(['report', file, ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(fs.existsSync(out)).toBe(false);
    fs.writeFileSync(out, 'keep me');
    const exists = await runCli(['report', file, '--format', 'csv', '--out', out]);
    expect(exists.code).toBe(2);
    expect(exists.stderr).toMatch(/exists; it is not overwritten/);
    expect(fs.readFileSync(out, 'utf8')).toBe('keep me');
    const notSession = path.join(dir, 'not.hks');
    fs.writeFileSync(notSession, 'hello');
    const bad = await runCli([
      'report',
      notSession,
      '--format',
      'csv',
      '--out',
      path.join(dir, 'x.csv'),
    ]);
    expect(bad.code).toBe(1);
    expect(fs.existsSync(path.join(dir, 'x.csv'))).toBe(false);
    expect(fs.readdirSync(dir).filter((n) => n.endsWith('.tmp'))).toEqual([]);
  });

  it('json: valid against its schema, and `show` of the report equals `show` of the session', async () => {
    const dir = tempDir('hookscope-report-');
    const sample = path.join(dir, 'sample.hks');
    writeSampleSession(sample);
    const enforced = path.join(dir, 'enforced.hks');
    writeEnforcedSampleSession(enforced, { withStack: true });
    // And a real recording, with every kind of value CPython hands the agent.
    const real = path.join(dir, 'real.hks');
    await recordReal(
      real,
      'import json, pickle; pickle.loads(pickle.dumps({"a": b"\\xff" * 3, "b": 2**70}))',
    );
    const schema = JSON.parse(
      fs.readFileSync(path.join(REPO_ROOT, 'main', 'core', 'report-schema.json'), 'utf8'),
    ) as object;
    const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
    // And every kind of value with its awkward cases (NaN, -0, big ints,
    // text that is not UTF-8, containers cut short): lossless both ways.
    const every = path.join(dir, 'every.hks');
    writeEveryValueSession(every);
    for (const file of [sample, enforced, real, every]) {
      const out = `${file}.json`;
      const r = await runCli(['report', file, '--format', 'json', '--out', out]);
      expect(r.code, r.stderr).toBe(0);
      const doc = JSON.parse(fs.readFileSync(out, 'utf8')) as unknown;
      expect(validate(doc), JSON.stringify(validate.errors?.slice(0, 3))).toBe(true);
      for (const extra of [[], ['--json']]) {
        const a = await runCli(['show', file, ...extra]);
        const b = await runCli(['show', out, ...extra]);
        expect(b.code, b.stderr).toBe(0);
        expect(b.stdout).toBe(a.stdout);
      }
    }
    // A report cut short is refused by show, naming the problem.
    const cut = path.join(dir, 'cut.json');
    const whole = fs.readFileSync(`${sample}.json`, 'utf8');
    fs.writeFileSync(cut, whole.slice(0, whole.length - 4));
    const bad = await runCli(['show', cut]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/the JSON report is cut short/);
  });

  it('json: a version 1 report is still read, as the session it came from', async () => {
    // enforced.v1.json is what version 1 wrote for this session; it is
    // valid against the version 1 schema, kept beside the current one.
    const { file } = session();
    const v1 = path.join(GOLDEN, 'enforced.v1.json');
    const schema = JSON.parse(
      fs.readFileSync(path.join(REPO_ROOT, 'main', 'core', 'report-schema-v1.json'), 'utf8'),
    ) as object;
    const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
    expect(validate(JSON.parse(fs.readFileSync(v1, 'utf8')))).toBe(true);
    for (const extra of [[], ['--json']]) {
      const a = await runCli(['show', file, ...extra]);
      const b = await runCli(['show', v1, ...extra]);
      expect(b.code, b.stderr).toBe(0);
      expect(b.stdout).toBe(a.stdout);
    }
    // Version 2 is smaller: the values that fill a session are bare.
    const out = path.join(path.dirname(file), 'out.json');
    expect((await runCli(['report', file, '--format', 'json', '--out', out])).code).toBe(0);
    expect(fs.statSync(out).size).toBeLessThan(fs.statSync(v1).size);
  });

  it('json: a report with a value or field that is not one is refused, naming its line', async () => {
    const { dir, file } = session();
    const out = path.join(dir, 'out.json');
    expect((await runCli(['report', file, '--format', 'json', '--out', out])).code).toBe(0);
    const lines = fs.readFileSync(out, 'utf8').split('\n');
    const lineOf = (text: string): number => {
      const at = lines.findIndex((line) => line.includes(text));
      expect(at, text).toBeGreaterThan(0);
      return at;
    };
    const cases: Array<[string, string, RegExp]> = [
      ['"args":[', '"args":[1.5,', /a bare number must be an int within 2\^53, found 1\.5/],
      ['"args":[', '"args":[{"type":"set"},', /a value of unknown type "set"/],
      [
        '"args":[',
        '"args":{"type":"list","items":[],"fullCount":0,"truncated":false},"x":[',
        /audit arguments must be a tuple, found list/,
      ],
      [
        '"args":[',
        '"args":[{"type":"str","text":5,"fullLength":1,"truncated":false},',
        /"text" must be a string/,
      ],
      [
        '"args":[',
        '"args":[{"type":"int","value":1.5},',
        /an? int value: "value" must be \{"\$bigint"/,
      ],
      [
        '"args":[',
        '"args":[{"type":"tuple","items":[],"fullCount":-7,"truncated":true},',
        /"fullCount" must be a whole number of at least 0/,
      ],
      [
        '"args":[',
        '"args":[{"type":"tuple","items":[1],"fullCount":3,"truncated":false},',
        /"truncated" does not match "fullCount"/,
      ],
      ['{"kind":"audit",', '{', /a record: "kind" must be one of audit, open-code, decision/],
      [
        '"by":"rule","ruleIndex":',
        '"by":"rule","ruleIndex":"x","y":',
        /"ruleIndex" must be a whole number/,
      ],
      ['"intent":"bytecode"', '"intent":"nope"', /"intent" must be one of/],
      ['"pid":100,', '"pid":"x",', /process block: "pid" must be a number/],
      [
        '"type":"run-end","offset":',
        '"type":"run-end","offset":-1,"o":',
        /run-end block without a whole "offset"/,
      ],
    ];
    for (const [find, bad, message] of cases) {
      const at = lineOf(find);
      const broken = path.join(dir, 'broken.json');
      fs.writeFileSync(
        broken,
        lines.map((line, i) => (i === at ? line.replace(find, bad) : line)).join('\n'),
      );
      const r = await runCli(['show', broken]);
      expect(r.code, `${bad}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain(`broken.json:${at + 1}: `);
      expect(r.stderr).toMatch(message);
    }
  });

  it('perfetto: trace event JSON that parses, with tracks, instants, waits and load → exec flows', async () => {
    const dir = tempDir('hookscope-report-');
    const real = path.join(dir, 'real.hks');
    const mod = path.join(dir, 'traced_mod.py');
    fs.writeFileSync(mod, 'VALUE = 1\n');
    await recordReal(real, 'import traced_mod', dir);
    const enforced = path.join(dir, 'enforced.hks');
    writeEnforcedSampleSession(enforced, { withStack: true });
    for (const file of [real, enforced]) {
      const out = `${file}.trace.json`;
      const r = await runCli(['report', file, '--format', 'perfetto', '--out', out]);
      expect(r.code, r.stderr).toBe(0);
      const trace = JSON.parse(fs.readFileSync(out, 'utf8')) as {
        traceEvents: Array<Record<string, unknown>>;
      };
      const events = trace.traceEvents;
      // The trace event format, as a viewer reads it.
      for (const e of events) {
        expect(['i', 'X', 's', 'f', 'M']).toContain(e.ph);
        expect(typeof e.name).toBe('string');
        expect(Number.isInteger(e.pid) && Number.isInteger(e.tid)).toBe(true);
        if (e.ph !== 'M') expect(typeof e.ts === 'number' && (e.ts as number) >= 0).toBe(true);
        if (e.ph === 'X') expect((e.dur as number) > 0).toBe(true);
      }
      const ends = new Set(events.filter((e) => e.ph === 'f').map((e) => e.id));
      const starts = new Set(events.filter((e) => e.ph === 's').map((e) => e.id));
      for (const id of ends) expect(starts.has(id)).toBe(true);
      expect(events.some((e) => e.name === 'process_name')).toBe(true);
      expect(events.some((e) => e.name === 'thread_name')).toBe(true);
      if (file === real) {
        // The module's load is joined to the exec of its code.
        const load = events.find(
          (e) => e.ph === 'X' && (e.args as { path?: string } | undefined)?.path === mod,
        );
        expect(load).toBeDefined();
        const flow = events.find((e) => e.ph === 's' && e.ts === load?.ts);
        expect(flow && ends.has(flow.id)).toBe(true);
      } else {
        // The 2.5 ms the Popen waited for its decision is a slice.
        const wait = events.find((e) => e.name === 'waited for a decision: subprocess.Popen');
        expect(wait).toMatchObject({ ph: 'X', dur: 2500, cat: 'intent' });
      }
    }
  });

  it('run --report writes the report the name asks for, and refuses a bad name before starting', async () => {
    const dir = tempDir('hookscope-report-');
    const py = auditCapableInterpreters().at(-1)?.path ?? 'python3';
    const marker = path.join(dir, 'ran');
    const refused = await runCli([
      'run',
      '--out',
      path.join(dir, 'a.hks'),
      '--report',
      path.join(dir, 'r.txt'),
      '--',
      py,
      '-c',
      `open(${JSON.stringify(marker)}, "w")`,
    ]);
    expect(refused.code).toBe(2);
    expect(refused.stderr).toMatch(/--report .*r\.txt: the file name says no format/);
    expect(fs.existsSync(marker)).toBe(false);
    const report = path.join(dir, 'findings.sarif');
    const ok = await runCli([
      'run',
      '--out',
      path.join(dir, 'b.hks'),
      '--no-summary',
      '--report',
      report,
      '--',
      py,
      '-c',
      'import json',
    ]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toContain(`hookscope: sarif report written to ${report}`);
    expect((JSON.parse(fs.readFileSync(report, 'utf8')) as { version: string }).version).toBe(
      '2.1.0',
    );
  });
});
