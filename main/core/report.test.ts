// Reports from a session file: golden outputs on the small enforced sample
// session (checked in under report-golden/), their structure, the filters,
// and every refusal leaving no file behind.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import { REPO_ROOT, runCli, tempDir } from '../test-support/cli.js';
import { writeEnforcedSampleSession, writeSampleSession } from '../test-support/sample-session.js';
import Ajv from 'ajv';

import { auditCapableInterpreters } from '../test-support/pythons.js';
import { parsePolicy } from './policy/load-policy.js';
import { CSV_COLUMNS, csvCell } from './report.js';

const GOLDEN = path.join(__dirname, 'report-golden');

function session(): { dir: string; file: string } {
  const dir = tempDir('hookscope-report-');
  const file = path.join(dir, 'enforced.hks');
  writeEnforcedSampleSession(file, { withStack: true });
  return { dir, file };
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

describe('hookscope report', () => {
  for (const [format, golden] of [
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
    const py = auditCapableInterpreters().at(-1);
    const rec = await runCli([
      'run',
      '--out',
      real,
      '--no-summary',
      '--',
      py?.path ?? 'python3',
      '-c',
      'import json, pickle; pickle.loads(pickle.dumps({"a": b"\\xff" * 3, "b": 2**70}))',
    ]);
    expect(rec.code, rec.stderr).toBe(0);
    const schema = JSON.parse(
      fs.readFileSync(path.join(REPO_ROOT, 'main', 'core', 'report-schema.json'), 'utf8'),
    ) as object;
    const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
    for (const file of [sample, enforced, real]) {
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

  it('perfetto: trace event JSON that parses, with tracks, instants, waits and load → exec flows', async () => {
    const dir = tempDir('hookscope-report-');
    const real = path.join(dir, 'real.hks');
    const py = auditCapableInterpreters().at(-1);
    const mod = path.join(dir, 'traced_mod.py');
    fs.writeFileSync(mod, 'VALUE = 1\n');
    const rec = await runCli(
      [
        'run',
        '--out',
        real,
        '--no-summary',
        '--',
        py?.path ?? 'python3',
        '-c',
        'import traced_mod',
      ],
      { cwd: dir },
    );
    expect(rec.code, rec.stderr).toBe(0);
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
