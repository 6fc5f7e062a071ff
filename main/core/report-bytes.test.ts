// The byte-level report writers give exactly the bytes of the string
// writers they stand in for, record by record, on generated records of
// every kind and value (text with quotes, controls, formula characters,
// non-ASCII and invalid UTF-8; integers at the 2^53 edges; failed opens;
// decisions), on the bench generator's session and on a real recording;
// and whole reports through writeReport equal the reports the string
// writers make from decoded blocks, filters included.
import fs from 'node:fs';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { writeBenchSession } from '../test-support/bench-session.js';
import { runCli, tempDir } from '../test-support/cli.js';
import { auditCapableInterpreters } from '../test-support/pythons.js';
import { writeEnforcedSampleSession, writeSampleSession } from '../test-support/sample-session.js';
import { processInfo } from '../test-support/session-blocks.js';
import {
  anyRecord,
  perfettoBothWays,
  writeBareRun,
  writeOneProcessSession,
  writeReportSessions,
} from '../test-support/wire-arbitraries.js';
import { encodeAuditRecord, encodeOpenCodeRecord, v } from '../test-support/wire-encoder.js';
import { JSON_REPORT_TAIL, jsonReportBlock, jsonReportHead } from './json-report.js';
import { decodeRecordAt, validateEventsPayload, type Value } from './protocol/records.js';
import { scanWithAddon } from './protocol/record-scan.js';
import { CSV_COLUMNS, writeReport, type Filter } from './report.js';
import { RecentSeqs } from './recent-seqs.js';
import { ByteOut, NameBytes, writeCsvRow, writePlainRecord } from './report-bytes.js';
import { csvRow, plainRecordJson } from './report-text.js';
import { HTML_MAX_EVENTS, htmlReport } from './html-report.js';
import { SessionReader, SessionWriter, type SessionBlock } from './session-file.js';
import { eventMatcher } from './event-glob.js';
import { HOOKSCOPE_VERSION } from './version.js';

const RUNS = Number(process.env['FAST_CHECK_RUNS'] ?? 300);
const OWNER = ',3,4242,';

/** Byte writer output and string writer output for every record of a payload. */
function compareRecords(payload: Buffer): number {
  const count = validateEventsPayload(payload);
  const owner = Buffer.from(OWNER, 'latin1');
  let p = 0;
  for (let i = 0; i < count; i++) {
    const record = decodeRecordAt(payload, p);
    const json = new ByteOut(16);
    writePlainRecord(json, payload, p);
    expect(json.finish().toString('utf8')).toBe(plainRecordJson(record));
    const csv = new ByteOut(16);
    writeCsvRow(csv, payload, p, OWNER, owner);
    expect(csv.finish().toString('utf8')).toBe(csvRow(record, OWNER));
    p += payload.readUInt32LE(p);
  }
  return count;
}

/**
 * The filter over decoded records, as the string writers applied it: the
 * reference the byte path's selection is checked against.
 */
async function* filterBlocks(
  blocks: AsyncIterable<SessionBlock>,
  filter: Filter,
): AsyncGenerator<SessionBlock> {
  const pids = new Map<number, number>();
  const keepEvent = filter.keepEvent;
  let position = 0;
  // Kept events per process: a decision goes with the event it decided.
  const kept = new Map<number, RecentSeqs>();
  for await (const block of blocks) {
    if (block.type === 'process') pids.set(block.process.session, block.process.pid);
    if (block.type !== 'events') {
      yield block;
      continue;
    }
    if (filter.pid !== undefined && pids.get(block.sessionId) !== filter.pid) {
      if (keepEvent !== null) {
        for (const r of block.records) if (r.kind !== 'decision') position++;
      }
      continue;
    }
    let records = block.records;
    if (keepEvent !== null) {
      let seqs = kept.get(block.sessionId);
      if (seqs === undefined) kept.set(block.sessionId, (seqs = new RecentSeqs()));
      const keptSeqs = seqs;
      records = records.filter((r) => {
        if (r.kind === 'decision') return keptSeqs.find(Number(r.eventSeq)) !== undefined;
        if (!keepEvent(position++)) return false;
        keptSeqs.add(r.seq, 1);
        return true;
      });
    }
    if (filter.match !== null) records = records.filter((r) => filter.match!(r.event));
    if (records.length > 0) yield { ...block, records };
  }
}

/** The json and csv reports the string writers make from decoded blocks. */
async function stringReports(file: string, filter: Filter): Promise<{ json: string; csv: string }> {
  const reader = await SessionReader.open(file);
  let json = jsonReportHead({
    path: path.basename(file),
    generatedBy: `Hookscope ${HOOKSCOPE_VERSION}`,
  });
  let csv = `${CSV_COLUMNS.join(',')}\r\n`;
  const pids = new Map<number, number>();
  let first = true;
  for await (const block of filterBlocks(reader.blocks(), filter)) {
    json += jsonReportBlock(block, first);
    first = false;
    if (block.type === 'process') pids.set(block.process.session, block.process.pid);
    if (block.type !== 'events') continue;
    const owner = `,${block.sessionId},${pids.get(block.sessionId) ?? ''},`;
    for (const r of block.records) csv += csvRow(r, owner);
  }
  return { json: json + JSON_REPORT_TAIL, csv };
}

/** The html report of `file` made from decoded blocks and from bytes, `rowLimit` rows in its table. */
async function htmlBothWays(
  file: string,
  rowLimit: number,
): Promise<{ decoded: string; raw: string }> {
  const collect = async (raw: boolean): Promise<string> => {
    let text = '';
    const blocks = async function* () {
      const reader = await SessionReader.open(file);
      yield* raw ? reader.rawBlocks() : reader.blocks();
    };
    await htmlReport(
      file,
      blocks(),
      async (chunk) => {
        text += chunk;
      },
      rowLimit,
    );
    return text;
  };
  return { decoded: await collect(false), raw: await collect(true) };
}

describe('byte-level report writers', () => {
  it('write every generated record exactly as the string writers do', () => {
    fc.assert(
      fc.property(fc.array(anyRecord, { minLength: 1, maxLength: 4 }), (records) => {
        compareRecords(Buffer.concat(records));
      }),
      { numRuns: RUNS * 3 },
    );
  });

  it('write a generated session, a sample session and a real recording exactly', async () => {
    const dir = tempDir('hookscope-report-bytes-');
    const bench = path.join(dir, 'bench.hks');
    writeBenchSession(bench, 20_000);
    const enforced = path.join(dir, 'enforced.hks');
    writeEnforcedSampleSession(enforced, { withStack: true });
    const real = path.join(dir, 'real.hks');
    const python = auditCapableInterpreters().at(-1);
    if (python === undefined) throw new Error('no CPython with audit hooks found');
    const rec = await runCli([
      'run',
      '--out',
      real,
      '--no-summary',
      '--',
      python.path,
      '-c',
      'import json, pickle, os; pickle.loads(pickle.dumps({"a": b"\\xff", "b": 2**70, "c": 1.5})); open(os.devnull, "w"); os.listdir("/"); exec(compile("x=1", "<s>", "exec"))',
    ]);
    expect(rec.code, rec.stderr).toBe(0);
    let records = 0;
    for (const file of [bench, enforced, real]) {
      for await (const block of (await SessionReader.open(file)).rawBlocks()) {
        if (block.type === 'events') records += compareRecords(block.records);
      }
      const trace = await perfettoBothWays(file);
      expect(trace.raw).toBe(trace.decoded);
      expect(trace.raw.length).toBeGreaterThan(1000);
    }
    expect(records).toBeGreaterThan(20_000);
  });

  it('perfetto from bytes equals perfetto from decoded records, on generated records', async () => {
    const dir = tempDir('hookscope-report-bytes-');
    const file = path.join(dir, 'gen.hks');
    // Code loads the same but for one field, each twice: what is worked out
    // once per distinct bytes must not be taken for another's.
    const pyc = '/srv/__pycache__/m.cpython-312.pyc';
    const base = { path: v.str(pyc), realPath: pyc, sha256: Buffer.alloc(32, 1), size: 10 };
    const variants = [
      base,
      { ...base, size: 11 },
      { ...base, intent: 'bytecode' as const },
      { ...base, status: 1, errno: 2 },
      { ...base, status: 1, errno: 13 },
      { ...base, realPath: '/srv/other.pyc' },
      { ...base, sha256: Buffer.alloc(32, 2) },
      { ...base, mtimeNs: 5n },
    ];
    writeOneProcessSession(
      file,
      [
        Buffer.concat(
          [...variants, ...variants].map((spec, seq) =>
            encodeOpenCodeRecord({ ...spec, seq, timeNs: 2_000n + BigInt(seq) }),
          ),
        ),
      ],
      1_000n,
    );
    const loads = await perfettoBothWays(file);
    expect(loads.raw).toBe(loads.decoded);
    await fc.assert(
      fc.asyncProperty(
        fc.array(anyRecord, { minLength: 1, maxLength: 5 }),
        fc.constantFrom(0n, 1_000n, 2n ** 53n + 7n),
        async (records, startNs) => {
          writeOneProcessSession(file, [Buffer.concat(records)], startNs);
          const trace = await perfettoBothWays(file);
          expect(trace.raw).toBe(trace.decoded);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('html from bytes equals html from decoded records, within and past the row limit', async () => {
    const dir = tempDir('hookscope-report-bytes-');
    const { bench, sample, enforced } = writeReportSessions(dir, 15_000);
    for (const file of [bench, enforced, sample]) {
      for (const rowLimit of [0, 3, 5_000, 200_000]) {
        const html = await htmlBothWays(file, rowLimit);
        expect(html.raw).toBe(html.decoded);
      }
      // The chart, counted in the same pass as the summary, charts each
      // category's events as often as the summary counts them.
      const page = (await htmlBothWays(file, 3)).raw;
      const charted = new Map<string, number>();
      for (const [, label, n] of page.matchAll(/<rect [^>]*><title>([^<]*): (\d+)<\/title>/g)) {
        charted.set(label as string, (charted.get(label as string) ?? 0) + Number(n));
      }
      const categories =
        /<th>Category<\/th><th>Events<\/th><\/tr><\/thead><tbody>(.*?)<\/tbody>/.exec(page);
      const counted = new Map(
        [...(categories?.[1] ?? '').matchAll(/<tr><td>([^<]*)<\/td><td>(\d+)<\/td><\/tr>/g)]
          .map(([, label, n]) => [label as string, Number(n)] as const)
          .filter(([, n]) => n > 0),
      );
      expect(counted.size).toBeGreaterThan(0);
      expect(charted).toEqual(counted);
      // And as without the addon's record scan: every record worked out in TypeScript.
      scanWithAddon(false);
      try {
        const html = await htmlBothWays(file, 3);
        expect(html.raw).toBe(html.decoded);
      } finally {
        scanWithAddon(true);
      }
    }
    // What must not end the <script> the rows are in, or a line of it.
    const markup = path.join(dir, 'markup.hks');
    writeOneProcessSession(
      markup,
      [
        Buffer.concat([
          ...['</script>', 'import'].map((event, seq) =>
            encodeAuditRecord({
              event,
              seq,
              timeNs: 5_000_000n + BigInt(seq),
              args: v.tuple([
                v.str('</script><b>x</b>'),
                v.other('a<b', 1n),
                v.str('é<'),
                v.str('x\u2028y\u2029z'),
                v.list([v.str('<')]),
              ]),
            }),
          ),
          // ASCII only: the addon's row, with a string at the row's limit
          // of 300 characters; then one past it (cut by TypeScript).
          encodeAuditRecord({
            event: 'open',
            seq: 2,
            timeNs: 5_000_002n,
            args: v.tuple([
              v.str('</script><b>y</b>'),
              v.other('c<d', 2n),
              v.list([v.str('<'), v.str('<'.repeat(300))]),
            ]),
          }),
          encodeAuditRecord({
            event: 'open',
            seq: 3,
            timeNs: 5_000_003n,
            args: v.tuple([v.str('x'.repeat(350))]),
          }),
        ]),
      ],
      1_000n,
    );
    const html = await htmlBothWays(markup, 10);
    expect(html.raw).toBe(html.decoded);
    expect(html.raw).toContain('\\u003c/script>\\u003cb>x\\u003c/b>');
    expect(html.raw).toContain(
      "'\\u003c/script>\\u003cb>y\\u003c/b>', \\u003cc\\u003cd object at 0x2>",
    );
    expect(html.raw.match(/<\/script>/g)?.length).toBe(2); // the page's own two
    // Rows of a process the session never described: no pid, no time.
    const orphan = path.join(dir, 'orphan.hks');
    const w = SessionWriter.create(orphan, { overwrite: false });
    w.writeEvents(
      9,
      Buffer.concat([
        encodeAuditRecord({ event: 'open', seq: 0, tid: 7, args: v.tuple([v.str('/a<b')]) }),
        encodeOpenCodeRecord({
          seq: 1,
          tid: 7,
          path: v.str('/srv/app.py'),
          realPath: '/srv/app.py',
        }),
      ]),
    );
    w.close();
    const orphanHtml = await htmlBothWays(orphan, 10);
    expect(orphanHtml.raw).toBe(orphanHtml.decoded);
    expect(orphanHtml.raw).toContain(`[null,7,null,"open","('/a\\u003cb',)"]`);
    // Past the table, a block whose first event is after the chart's steps
    // and whose next ones are before them: the steps chosen for the first
    // must not see the others yet (the scan counts those itself).
    const order = path.join(dir, 'order.hks');
    const exec = (timeNs: bigint, seq: number): Buffer =>
      encodeAuditRecord({ event: 'exec', args: v.tuple([]), seq, timeNs });
    writeOneProcessSession(
      order,
      [
        Buffer.concat(Array.from({ length: 4097 }, (_, i) => exec(1_000_000n + BigInt(i), i))),
        Buffer.concat([exec(1_032_760n, 5000), exec(996_000n, 5001), exec(996_308n, 5002)]),
      ],
      0n,
    );
    const orderHtml = await htmlBothWays(order, 0);
    expect(orderHtml.raw).toBe(orderHtml.decoded);
    // Files opened for writing, the same bytes twice (remembered) and once
    // more by flags, listed whether their rows are shown or not.
    const writes = path.join(dir, 'writes.hks');
    const opens: Array<[string, number]> = [
      ['/srv/out.txt', 0],
      ['/srv/out.txt', 0],
      ['/srv/log.txt', 1],
      ['/srv/in.txt', 0],
    ];
    writeOneProcessSession(
      writes,
      [
        Buffer.concat(
          opens.map(([file, flags], seq) =>
            encodeAuditRecord({
              event: 'open',
              seq,
              timeNs: 5_000_000n + BigInt(seq),
              args: v.tuple([
                v.str(file),
                v.str(flags === 0 && file !== '/srv/in.txt' ? 'w' : 'r'),
                v.int(flags),
              ]),
            }),
          ),
        ),
      ],
      1_000n,
    );
    for (const [rowLimit, scan] of [
      [0, true],
      [10, true],
      [0, false],
    ] as const) {
      scanWithAddon(scan);
      const written = await htmlBothWays(writes, rowLimit).finally(() => scanWithAddon(true));
      expect(written.raw).toBe(written.decoded);
      expect(written.raw).toContain('/srv/out.txt');
      expect(written.raw).toContain('/srv/log.txt');
      if (rowLimit === 0) expect(written.raw).not.toContain('/srv/in.txt');
    }
    const gen = path.join(dir, 'gen.hks');
    await fc.assert(
      fc.asyncProperty(
        fc.array(anyRecord, { minLength: 1, maxLength: 6 }),
        fc.constantFrom(0n, 2n ** 53n + 7n),
        fc.nat(4),
        async (records, startNs, rowLimit) => {
          writeOneProcessSession(gen, [Buffer.concat(records)], startNs);
          const html = await htmlBothWays(gen, rowLimit);
          expect(html.raw).toBe(html.decoded);
        },
      ),
      { numRuns: RUNS / 3 },
    );
  });

  it('whole json and csv reports equal the string writers’, with and without filters', async () => {
    const dir = tempDir('hookscope-report-bytes-');
    const bench = path.join(dir, 'bench.hks');
    writeBenchSession(bench, 12_000);
    const sample = path.join(dir, 'sample.hks');
    writeSampleSession(sample);
    const cases = [
      { file: bench, options: {} },
      { file: bench, options: { pid: 4002 } },
      { file: bench, options: { eventGlob: 'sub*' } },
      // Every third event, with the decisions of those kept.
      { file: bench, options: { keepEvent: (i: number) => i % 3 === 0 } },
      { file: bench, options: { pid: 4001, eventGlob: 'io.*', keepEvent: (i: number) => i > 50 } },
      { file: sample, options: {} },
      { file: sample, options: { pid: 200 } },
    ];
    let n = 0;
    for (const { file, options } of cases) {
      const o = options as { pid?: number; eventGlob?: string; keepEvent?: (i: number) => boolean };
      const expected = await stringReports(file, {
        pid: o.pid,
        match: o.eventGlob === undefined ? null : eventMatcher(o.eventGlob),
        keepEvent: o.keepEvent ?? null,
      });
      for (const format of ['json', 'csv'] as const) {
        const out = path.join(dir, `out-${n++}.${format}`);
        await writeReport(file, out, { format, ...o });
        expect(fs.readFileSync(out, 'utf8')).toBe(expected[format]);
      }
    }
  });

  it('json and csv passing over many blocks (a filter, other blocks) are whole while the reader reuses its buffers', async () => {
    // A kept block the addon stops in often (new names, floats), then many
    // blocks the filter passes over: its formatting must end before the
    // reader reuses its chunk buffer (FormattedOutput.skip).
    const dir = tempDir('hookscope-report-bytes-');
    const file = path.join(dir, 'skips.hks');
    const w = SessionWriter.create(file, { overwrite: false });
    writeBareRun(w);
    for (const [session, pid] of [
      [1, 100],
      [2, 200],
    ] as const) {
      w.writeProcess(processInfo(session, pid));
    }
    let seq = 0;
    const record = (tid: number, event: string, args: Value): Buffer =>
      encodeAuditRecord({ seq: seq++, tid, timeNs: 1_001_000_000n + BigInt(seq), event, args });
    for (let round = 0; round < 6; round++) {
      // About 1.5 MB of another process's events: chunks go by.
      for (let i = 0; i < 25; i++) {
        w.writeEvents(
          2,
          Buffer.concat(
            Array.from({ length: 60 }, () =>
              record(200, 'os.listdir', v.tuple([v.str('y'.repeat(1000))])),
            ),
          ),
        );
        if (i % 10 === 0) w.writeNotice({ timeMs: i, level: 'info', message: `n${i}` });
      }
      w.writeEvents(
        1,
        Buffer.concat(
          Array.from({ length: 40 }, (_, i) =>
            record(
              100,
              `my.ev${(i % 8) + 8 * round}`,
              i % 2 ? v.tuple([v.float(i + 0.5), v.str('p'.repeat(200))]) : v.tuple([v.str('q')]),
            ),
          ),
        ),
      );
    }
    w.close();
    let n = 0;
    for (const options of [{ pid: 100 }, { eventGlob: 'my.*' }, {}]) {
      const expected = await stringReports(file, {
        pid: options.pid,
        match: options.eventGlob === undefined ? null : eventMatcher(options.eventGlob),
        keepEvent: null,
      });
      for (const format of ['json', 'csv'] as const) {
        const out = path.join(dir, `skips-${n++}.${format}`);
        await writeReport(file, out, { format, ...options });
        expect(fs.readFileSync(out, 'utf8'), `${format} ${JSON.stringify(options)}`).toBe(
          expected[format],
        );
      }
    }
  });

  it('the CLI writes the same json and csv as the string writers', async () => {
    const dir = tempDir('hookscope-report-bytes-');
    const bench = path.join(dir, 'bench.hks');
    writeBenchSession(bench, 40_000);
    const cases: Array<{ args: string[]; filter: Filter }> = [
      { args: [], filter: { pid: undefined, match: null, keepEvent: null } },
      { args: ['--pid', '4002'], filter: { pid: 4002, match: null, keepEvent: null } },
      {
        args: ['--event', 'io.*'],
        filter: { pid: undefined, match: eventMatcher('io.*'), keepEvent: null },
      },
    ];
    let n = 0;
    for (const { args, filter } of cases) {
      const expected = await stringReports(bench, filter);
      for (const format of ['json', 'csv'] as const) {
        const out = path.join(dir, `cli-${n++}.${format}`);
        const r = await runCli(['report', bench, '--format', format, '--out', out, ...args]);
        expect(r.code, r.stderr).toBe(0);
        expect(fs.readFileSync(out, 'utf8')).toBe(expected[format]);
      }
    }
  });

  it('perfetto and html reports written to a file, their buffers used again once written, equal the decoded ones', async () => {
    const dir = tempDir('hookscope-report-bytes-');
    const bench = path.join(dir, 'bench.hks');
    // About 70 chunks of output: each buffer is used many times.
    writeBenchSession(bench, 40_000);
    const out = path.join(dir, 'trace.json');
    await writeReport(bench, out, { format: 'perfetto' });
    expect(fs.readFileSync(out, 'utf8')).toBe((await perfettoBothWays(bench)).decoded);
    // The html table's rows, a buffer a block.
    const page = path.join(dir, 'page.html');
    await writeReport(bench, page, { format: 'html' });
    expect(fs.readFileSync(page, 'utf8')).toBe(
      (await htmlBothWays(bench, HTML_MAX_EVENTS)).decoded,
    );
  });

  it('a report to a stream that keeps its chunks (a PassThrough read late) is whole: its buffers are not used again', async () => {
    const dir = tempDir('hookscope-report-bytes-');
    const bench = path.join(dir, 'bench.hks');
    writeBenchSession(bench, 40_000);
    for (const format of ['json', 'csv', 'perfetto', 'html'] as const) {
      const file = path.join(dir, `file.${format}`);
      await writeReport(bench, file, { format });
      // Room for the whole report on its readable side: each write is
      // done at once, and nothing is read until the report is.
      const held = new PassThrough({
        readableHighWaterMark: 1 << 30,
        writableHighWaterMark: 1 << 30,
      });
      await writeReport(bench, null, { format }, held);
      held.end();
      const chunks: Buffer[] = [];
      for await (const chunk of held) chunks.push(chunk as Buffer);
      expect(Buffer.concat(chunks).equals(fs.readFileSync(file)), format).toBe(true);
    }
  });

  it('NameBytes keeps a few names per hash value, and writes every name right', () => {
    // "Aa" and "BB" hash alike: names made of them all share one hash value.
    const names = Array.from({ length: 256 }, (_, n) =>
      Array.from({ length: 8 }, (_, bit) => ((n >> bit) & 1 ? 'Aa' : 'BB')).join(''),
    );
    const records = Buffer.concat(
      names.map((event) => encodeAuditRecord({ event, args: v.tuple([]) })),
    );
    let rendered = 0;
    const bytes = new NameBytes((event) => {
      rendered++;
      return `<${event}>`;
    });
    for (const pass of [1, 2]) {
      const out = new ByteOut(16);
      for (let p = 0; p < records.length; p += records.readUInt32LE(p))
        bytes.write(out, records, p);
      expect(out.finish().toString('latin1'), `pass ${pass}`).toBe(
        names.map((n) => `<${n}>`).join(''),
      );
    }
    // The second pass renders again all but the few kept.
    expect(rendered).toBe(256 + 256 - 8);
  });

  it('numbers: decimal, hex and microseconds as String and toString write them', () => {
    const take = (write: (out: ByteOut) => void): string => {
      const out = new ByteOut(4);
      write(out);
      return out.finish().toString('latin1');
    };
    fc.assert(
      fc.property(
        fc.oneof(
          fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
          fc.constantFrom(0n, 1n, 15n, 16n, 255n, 256n, 2n ** 32n - 1n, 2n ** 64n - 1n),
        ),
        fc.oneof(fc.maxSafeNat(), fc.constantFrom(0, 999, 1000, 1001, 10 ** 15 - 1, 10 ** 15)),
        fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }),
        (u, n, small) => {
          const bytes = Buffer.alloc(8);
          bytes.writeBigUInt64LE(u);
          expect(take((out) => out.hexU64(bytes, 0))).toBe(u.toString(16));
          expect(take((out) => out.u64(bytes, 0))).toBe(u.toString());
          expect(take((out) => out.i64(bytes, 0))).toBe(BigInt.asIntN(64, u).toString());
          expect(take((out) => out.uint(n))).toBe(String(n));
          expect(take((out) => out.micros(n))).toBe(String(n / 1000));
          expect(take((out) => out.micros(small))).toBe(String(small / 1000));
        },
      ),
      { numRuns: RUNS * 10 },
    );
  });

  it('a value written as bytes and as text differ in nothing for hand-picked edge cases', () => {
    const values: Value[] = [
      v.str('=SUM(A1)'),
      v.str('tab\there "q" \\ back'),
      v.str('x'.repeat(5), 4096),
      v.bytes(Buffer.from([0, 255, 16])),
      v.bytearray(Buffer.alloc(0), 9),
      v.float(Number.NaN),
      v.intApprox(1e30),
      v.code('/srv/a.py', '<module>', 1),
      v.tuple([], 3),
      v.list([v.none(), v.bool(true)], 70),
    ];
    const payload = Buffer.concat(
      values.map((value, i) =>
        encodeAuditRecord({ event: 'open', seq: i, args: v.tuple([value, v.tuple([value])]) }),
      ),
    );
    expect(compareRecords(payload)).toBe(values.length);
  });
});
