// The native json and csv writer gives exactly formatBlock's bytes: on
// generated blocks of every record kind and value (ASCII with every
// character that needs care, non-ASCII and invalid UTF-8, integers at the
// 2^53 and 2^63 edges, cut strs and tuples, failed opens, decisions) with
// any subset of their records, on the bench generator's session and the
// sample sessions, with an output that must grow many times and with more
// event names than its table holds; malformed input throws. Likewise the
// Perfetto report's native audit instants: a trace from the session's bytes
// equals the trace from its decoded records.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import v8 from 'node:v8';
import { runInNewContext } from 'node:vm';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { tempDir } from '../test-support/cli.js';
import {
  anyRecord,
  auditRecord,
  decisionRecord,
  eventName,
  INT_EDGES,
  nativeArgs,
  offsetsOf,
  openCodeRecord,
  perfettoBothWays,
  sequenceBytes,
  wireArgs,
  wireStr,
  writeOneProcessSession,
  writeReportSessions,
} from '../test-support/wire-arbitraries.js';
import {
  encodeAuditRecord,
  encodeDecisionRecord,
  encodeOpenCodeRecord,
  encodeValue,
  v,
} from '../test-support/wire-encoder.js';
import {
  NativeFormat,
  Stop,
  formatBlockNative,
  formatBlockNativeAsync,
  newFormatTables,
  loadReportAddon,
  type NativeFormatStats,
  type NativeInstantStats,
} from './native-report.js';
import { validateEventsPayload } from './protocol/records.js';
import { formatBlock, type FormatTask } from './report-bytes.js';
import { addonPath } from './runtime-paths.js';
import { SessionReader } from './session-file.js';

const RUNS = Number(process.env['FAST_CHECK_RUNS'] ?? 300);
const JSON_HEAD = '{"type":"events","session":3,"records":[';
const OWNER = ',3,4242,';

function task(format: 'json' | 'csv', records: Buffer, offsets: number[]): FormatTask {
  return {
    format,
    records,
    offsets: Int32Array.from(offsets),
    head: format === 'json' ? JSON_HEAD : OWNER,
  };
}

const NO_BYTES = Buffer.alloc(0);

function newStats(): NativeFormatStats {
  return { calls: 0, fallbacks: 0, names: 0, refused: 0, grown: 0 };
}

/** Native and TypeScript bytes of one task agree (shown as text when not). */
function expectSame(t: FormatTask, outSize?: number, stats?: NativeFormatStats): Buffer {
  const expected = formatBlock(t);
  const actual = formatBlockNative(t, { outSize, stats });
  if (!actual.equals(expected)) expect(actual.toString('latin1')).toBe(expected.toString('latin1'));
  return actual;
}

/** Every events block of a session file, with all its records and with every third. */
async function compareSession(
  file: string,
  stats: NativeFormatStats,
): Promise<{ records: number; blocks: number }> {
  let records = 0;
  let blocks = 0;
  for await (const block of (await SessionReader.open(file)).rawBlocks()) {
    if (block.type !== 'events') continue;
    blocks++;
    const offsets = offsetsOf(block.records);
    records += offsets.length;
    for (const format of ['json', 'csv'] as const) {
      expectSame(task(format, block.records, offsets), undefined, stats);
      expectSame(
        task(
          format,
          block.records,
          offsets.filter((_, i) => i % 3 === 1),
        ),
      );
    }
  }
  return { records, blocks };
}

describe('native json and csv records', () => {
  it('write generated blocks, any subset of their records, exactly as formatBlock', () => {
    fc.assert(
      fc.property(
        fc
          .array(anyRecord, { minLength: 1, maxLength: 12 })
          .chain((records) =>
            fc.tuple(
              fc.constant(Buffer.concat(records)),
              fc.subarray([...records.keys()]),
              fc.constantFrom(undefined, 16, 300),
            ),
          ),
        ([payload, picked, outSize]) => {
          validateEventsPayload(payload);
          const all = offsetsOf(payload);
          const offsets = picked.map((i) => all[i] as number);
          for (const format of ['json', 'csv'] as const) {
            expectSame(task(format, payload, offsets), outSize);
          }
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('write the same in the background (formatBlockNativeAsync), blocks one after another', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(anyRecord, { minLength: 1, maxLength: 12 }), {
          minLength: 1,
          maxLength: 4,
        }),
        fc.constantFrom(undefined, 16, 300),
        async (blocks, outSize) => {
          // One report's tables across its blocks, as report.ts uses them.
          const tables = newFormatTables();
          for (const records of blocks) {
            const payload = Buffer.concat(records);
            const offsets = offsetsOf(payload).filter((_, i) => i % 4 !== 3);
            for (const format of ['json', 'csv'] as const) {
              const t = task(format, payload, offsets);
              const actual = await formatBlockNativeAsync(t, { tables, outSize });
              expect(actual.toString('latin1')).toBe(formatBlock(t).toString('latin1'));
            }
          }
        },
      ),
      { numRuns: RUNS / 3 },
    );
  });

  it('in the background: malformed records reject, bad arguments throw at once, the table waits', async () => {
    const good = encodeAuditRecord({ event: 'open', args: v.tuple([v.str('/a')]) });
    const badKind = Buffer.from(good);
    badKind[4] = 9;
    const tables = newFormatTables();
    await expect(formatBlockNativeAsync(task('csv', badKind, [0]), { tables })).rejects.toThrow(
      /malformed record data: unknown record kind \(record at offset 0\)/,
    );
    await expect(
      formatBlockNativeAsync(task('json', good, [good.length]), { tables }),
    ).rejects.toThrow(RangeError);
    const addon = loadReportAddon();
    const table = addon.newNameTable();
    const state = new Float64Array(3);
    const call = (...args: unknown[]): unknown =>
      (addon.writeRecordsAsync as (...a: unknown[]) => unknown)(...args);
    const out = Buffer.alloc(4096);
    expect(() => call(0, good, [0], 0, out, 0, table, NO_BYTES, state)).toThrow(TypeError);
    expect(() => call(0, good, Int32Array.of(0), 0, out, 0, {}, NO_BYTES, state)).toThrow(
      TypeError,
    );
    expect(() => call(0, good, Int32Array.of(0), 2, out, 0, table, NO_BYTES, state)).toThrow(
      RangeError,
    );
    // While a job reads the table, it takes no new name; after, it does.
    const name = Buffer.from('open');
    const writeGood = (): Promise<Stop> =>
      addon.writeRecordsAsync(
        NativeFormat.JSON,
        good,
        Int32Array.of(0),
        0,
        out,
        0,
        table,
        NO_BYTES,
        state,
      );
    const job = writeGood();
    expect(() => addon.setName(table, name, Buffer.from('"open"'))).toThrow(
      /a writeRecordsAsync job is reading this table/,
    );
    expect(await job).toBe(Stop.NAME);
    expect(state[0]).toBe(0);
    expect(addon.setName(table, name, Buffer.from('"open"'))).toBe(true);
    expect(await writeGood()).toBe(Stop.DONE);
    const t = task('json', good, [0]);
    expect(`${t.head}${out.subarray(0, state[1]).toString()}]}`).toBe(formatBlock(t).toString());
  });

  it('in the background: what a job uses outlives every reference the caller dropped', async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const addon = loadReportAddon();
    const record = encodeAuditRecord({ event: 'open', args: v.tuple([v.str('/srv/a')]) });
    const count = 100_000;
    // Room for the last record by the addon's bound (32 bytes a record byte, and more).
    const out = Buffer.alloc(count * 400 + 65_536);
    const state = new Float64Array(3);
    let job: Promise<Stop> | null = null;
    (() => {
      // Source, offsets and table are the job's alone from here.
      const table = addon.newNameTable();
      addon.setName(table, Buffer.from('open'), Buffer.from('"open"'));
      job = addon.writeRecordsAsync(
        NativeFormat.JSON,
        Buffer.from(record),
        new Int32Array(count),
        0,
        out,
        0,
        table,
        NO_BYTES,
        state,
      );
    })();
    for (let i = 0; i < 3; i++) {
      gc();
      Buffer.alloc(20_000_000).fill(1);
    }
    expect(await (job as unknown as Promise<Stop>)).toBe(Stop.DONE);
    const one = formatBlock(task('json', record, [0]));
    const text = one.toString().slice(JSON_HEAD.length, -2);
    expect(out.subarray(0, state[1]).toString()).toBe(Array(count).fill(text).join(','));
  });

  it('in the background: a thread that ends with a job in flight ends cleanly', () => {
    // Its environment goes away before the job's promise can settle: that
    // must not abort the process (binding.gyp swallows what cannot be thrown).
    const dir = tempDir('hookscope-native-teardown-');
    const script = path.join(dir, 'teardown.cjs');
    const record = encodeAuditRecord({ event: 'open', args: v.tuple([v.str('/srv/a')]) });
    fs.writeFileSync(path.join(dir, 'record.bin'), record);
    fs.writeFileSync(
      script,
      [
        "const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads');",
        "const fs = require('node:fs');",
        'if (isMainThread) {',
        `  const worker = new Worker(__filename, { workerData: ${JSON.stringify(addonPath())} });`,
        "  worker.on('message', () => setTimeout(() => worker.terminate().then(() => console.log('terminated')), 5));",
        '} else {',
        '  const addon = require(workerData);',
        `  const record = fs.readFileSync(${JSON.stringify(path.join(dir, 'record.bin'))});`,
        '  const table = addon.newNameTable();',
        "  addon.setName(table, Buffer.from('open'), Buffer.from('\"open\"'));",
        '  const count = 300_000;',
        '  const out = Buffer.alloc(count * 400);',
        '  addon.writeRecordsAsync(0, record, new Int32Array(count), 0, out, 0, table, Buffer.alloc(0), new Float64Array(3));',
        "  parentPort.postMessage('queued');",
        '}',
      ].join('\n'),
    );
    const run = spawnSync(process.execPath, [script], { encoding: 'utf8', timeout: 60_000 });
    expect(run.stderr).not.toContain('FATAL');
    expect(run.stdout).toBe('terminated\n');
    expect(run.status).toBe(0);
  });

  it('write the bench session and the sample sessions exactly, natively for the most part', async () => {
    const dir = tempDir('hookscope-native-report-');
    const { bench, sample, enforced } = writeReportSessions(dir, 20_000);
    const stats = newStats();
    const { records, blocks } = await compareSession(bench, stats);
    expect(records).toBeGreaterThan(20_000);
    // Decisions (one in 5,000 events) and the odd float are TypeScript's.
    expect(stats.fallbacks).toBeLessThan(200);
    expect(stats.grown).toBe(0);
    // A second time round the names are known: a call per block, and one per fallback.
    const again = newStats();
    await compareSession(bench, again);
    expect(again.names).toBe(0);
    expect(again.calls).toBeLessThanOrEqual(2 * blocks + again.fallbacks);
    for (const file of [sample, enforced]) {
      expect((await compareSession(file, newStats())).records).toBeGreaterThan(3);
    }
  });

  it('writes hand-picked edge records exactly', () => {
    const records = [
      // Every control character, and what JSON and csv escape or quote.
      encodeAuditRecord({
        event: 'open',
        args: v.tuple([
          v.str(Array.from({ length: 0x80 }, (_, c) => String.fromCharCode(c)).join('')),
          v.str('"q" \\ , \r\n'),
          v.str('=1+2', 99),
          v.str(''),
        ]),
      }),
      encodeAuditRecord({ event: 'exec', args: v.tuple([v.str('plain')]) }),
      encodeAuditRecord({ event: 'exec', args: v.tuple([]) }),
      encodeAuditRecord({ event: 'exec', args: v.tuple([], 5) }),
      encodeAuditRecord({ event: 'exec', args: v.tuple([v.none(), v.list([v.tuple([])], 3)], 4) }),
      encodeAuditRecord({ event: 'x', args: v.tuple(INT_EDGES.map((n) => v.int(n))) }),
      encodeAuditRecord({
        event: 'x',
        args: v.tuple([v.other('', 0n), v.other('a"b', 2n ** 64n - 1n), v.bytes(Buffer.alloc(0))]),
      }),
      encodeOpenCodeRecord({ intent: 'pythoncode', path: v.str('-rm,"x"'), realPath: '=/srv' }),
      encodeOpenCodeRecord({ intent: 'bytecode', path: v.str('/a'), realPath: '', mtimeNs: -1n }),
      encodeOpenCodeRecord({
        intent: 'zipimport',
        status: 1,
        errno: 2,
        path: v.str('/b'),
        realPath: '',
      }),
      encodeOpenCodeRecord({ intent: 'unknown', path: v.str('é'), realPath: '/é' }),
    ];
    const payload = Buffer.concat(records);
    validateEventsPayload(payload);
    for (const format of ['json', 'csv'] as const) {
      for (const outSize of [undefined, 1, 64]) {
        expectSame(task(format, payload, offsetsOf(payload)), outSize);
      }
    }
  });

  it('grows a small output many times, each record whole', () => {
    const payload = Buffer.concat(
      Array.from({ length: 4000 }, (_, seq) =>
        encodeAuditRecord({
          event: 'open',
          seq,
          args: v.tuple([v.str(`/srv/file-${seq}.py`), v.str('r'), v.int(seq), v.none()]),
        }),
      ),
    );
    for (const format of ['json', 'csv'] as const) {
      const stats = newStats();
      expectSame(task(format, payload, offsetsOf(payload)), 1, stats);
      expect(stats.grown).toBeGreaterThan(5);
      expect(stats.fallbacks).toBe(0);
    }
  });

  it('answers with the next record, the output position and the room needed', () => {
    const addon = loadReportAddon();
    const table = addon.newNameTable();
    const payload = Buffer.concat([
      encodeAuditRecord({ event: 'open', seq: 1, args: v.tuple([v.str('/a')]) }),
      encodeAuditRecord({ event: 'open', seq: 2, args: v.tuple([v.float(1.5)]) }),
    ]);
    const offsets = Int32Array.from(offsetsOf(payload));
    const out = Buffer.alloc(4096);
    const state = new Float64Array(3);
    const write = (from: number, size = out.length): Stop =>
      addon.writeRecords(
        NativeFormat.JSON,
        payload,
        offsets,
        from,
        out.subarray(0, size),
        0,
        table,
        Buffer.alloc(0),
        state,
      );
    expect(write(0)).toBe(Stop.NAME);
    expect([...state]).toEqual([0, 0, 0]);
    expect(addon.setName(table, Buffer.from('open'), Buffer.from('"open"'))).toBe(true);
    expect(write(0, 100)).toBe(Stop.ROOM);
    expect(state[0]).toBe(0);
    expect(state[2]).toBeGreaterThan(100);
    expect(write(0)).toBe(Stop.FALLBACK);
    expect(state[0]).toBe(1);
    expect(out.toString('latin1', 0, state[1])).toMatch(/^\{"kind":"audit","seq":1,.*\}$/);
    expect(write(2)).toBe(Stop.DONE);
  });

  it('throws on malformed records and offsets out of range, and does not crash', () => {
    const good = encodeAuditRecord({ event: 'open', args: v.tuple([v.str('/a')]) });
    const cut = Buffer.from(good);
    cut.writeUInt32LE(good.length + 10, 0);
    const short = Buffer.from(good);
    short.writeUInt32LE(10, 0);
    const longName = Buffer.from(good);
    longName.writeUInt16LE(good.length, 6);
    const badKind = Buffer.from(good);
    badKind[4] = 9;
    // A str whose length runs past the record.
    const strPast = Buffer.from(good);
    strPast.writeUInt32LE(1000, strPast.length - 2 - 4);
    strPast.writeUInt32LE(1000, strPast.length - 2 - 8);
    // Containers four levels deep.
    const deep = encodeAuditRecord({
      event: 'open',
      args: v.tuple([v.tuple([v.tuple([v.tuple([])])])]),
    });
    const badTag = Buffer.from(good);
    badTag[badTag.length - 11] = 99;
    for (const format of ['json', 'csv'] as const) {
      for (const bad of [cut, short, longName, badKind, strPast, deep, badTag]) {
        expect(() => formatBlockNative(task(format, bad, [0]))).toThrow(/malformed record data/);
      }
      for (const offset of [-1, good.length, good.length - 3, 2 ** 31 - 1]) {
        expect(() => formatBlockNative(task(format, good, [offset]))).toThrow(/out of range/);
      }
      expect(() => formatBlockNative(task(format, Buffer.alloc(0), [0]))).toThrow(/out of range/);
    }
    const addon = loadReportAddon();
    const state = new Float64Array(3);
    const table = addon.newNameTable();
    const call = (...args: unknown[]): unknown =>
      (addon.writeRecords as (...a: unknown[]) => unknown)(...args);
    const empty = Buffer.alloc(0);
    expect(() => call(0, good, [0], 0, empty, 0, table, empty, state)).toThrow(TypeError);
    expect(() => call(0, good, Int32Array.of(0), 0, empty, 0, {}, empty, state)).toThrow(TypeError);
    expect(() => call(0, good, Int32Array.of(0), 0, empty, 1, table, empty, state)).toThrow(
      RangeError,
    );
    expect(() => call(0, good, Int32Array.of(0), 2, empty, 0, table, empty, state)).toThrow(
      RangeError,
    );
    expect(() => addon.setName(state as never, empty, empty)).toThrow(TypeError);
    // Typed arrays of the wrong kind, and too short a state.
    expect(() => call(0, good, Uint32Array.of(0), 0, empty, 0, table, empty, state)).toThrow(
      TypeError,
    );
    expect(() =>
      call(0, new Int8Array(8), Int32Array.of(0), 0, empty, 0, table, empty, state),
    ).toThrow(TypeError);
    expect(() =>
      call(0, good, Int32Array.of(0), 0, empty, 0, table, empty, new Float64Array(2)),
    ).toThrow(TypeError);
    expect(() => call(0, good, Int32Array.of(0), 0, empty, 0, table, 'x', state)).toThrow(
      TypeError,
    );
    // Html rows: a format past the last, a state without the process's
    // start, and a start that is not one.
    expect(() => call(3, good, Int32Array.of(0), 0, empty, 0, table, empty, state)).toThrow(
      TypeError,
    );
    const html = NativeFormat.HTML_ROWS;
    expect(() => call(html, good, Int32Array.of(0), 0, empty, 0, table, empty, state)).toThrow(
      TypeError,
    );
    for (const start of [-3, 1.5, 2 ** 53, Number.NaN]) {
      const rowState = Float64Array.of(0, 0, 0, start);
      expect(() => call(html, good, Int32Array.of(0), 0, empty, 0, table, empty, rowState)).toThrow(
        /state\[3\] is not a process start/,
      );
    }
    // A code load's row: its arguments given as text, in range, or the
    // row is TypeScript's (-1).
    const load = encodeOpenCodeRecord({ seq: 1, tid: 5, path: v.str('/a.py'), realPath: '/a.py' });
    const loadName = load.subarray(28, 28 + load.readUInt16LE(6));
    expect(addon.setName(table, loadName, Buffer.from('"open_code"'))).toBe(true);
    const rowOut = Buffer.alloc(64 * 1024);
    const rowState = Float64Array.of(0, 0, 0, -1);
    const texts = Buffer.from('"x""pythoncode /a.py"');
    const rows = (at: Int32Array, t: unknown = texts): unknown =>
      call(html, load, Int32Array.of(0), 0, rowOut, 0, table, Buffer.from('7'), rowState, t, at);
    expect(rows(Int32Array.of(3, 21))).toBe(0);
    expect(rowOut.subarray(0, rowState[1]).toString()).toBe(
      '[7,5,null,"open_code","pythoncode /a.py"]',
    );
    expect(rows(Int32Array.of(-1, -1))).toBe(1); // FALLBACK: TypeScript's row
    expect(rowState[0]).toBe(0);
    for (const at of [Int32Array.of(3, 22), Int32Array.of(3, 2), Int32Array.of(30, 31)]) {
      expect(() => rows(at)).toThrow(/textAt of row 0 is out of range/);
    }
    expect(() => rows(Int32Array.of(3))).toThrow(TypeError);
    expect(() =>
      call(html, load, Int32Array.of(0), 0, rowOut, 0, table, Buffer.from('7'), rowState, texts),
    ).toThrow(TypeError);
    expect(() => rows(Int32Array.of(3, 21), 'text')).toThrow(TypeError);
  });

  // Last: it fills this thread's name tables.
  it('writes more distinct event names than the table holds', () => {
    const names = 5_000;
    const payload = Buffer.concat(
      Array.from({ length: names + 50 }, (_, seq) =>
        encodeAuditRecord({
          event: `ev.${seq % names}${seq % 7 === 0 ? ',x' : ''}`,
          seq,
          args: v.tuple([v.int(seq)]),
        }),
      ),
    );
    for (const format of ['json', 'csv'] as const) {
      const stats = newStats();
      expectSame(task(format, payload, offsetsOf(payload)), undefined, stats);
      expect(stats.refused).toBeGreaterThan(0);
      expectSame(task(format, payload, offsetsOf(payload).reverse()));
    }
  });
});

function newInstantStats(): NativeInstantStats {
  return { calls: 0, fallbacks: 0, names: 0, refused: 0, grown: 0 };
}

/** Times near the origins the tests use and at the edges of the native range. */
const instantTime = fc.oneof(
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  fc.bigInt({ min: 0n, max: 10n ** 15n + 2_000n }),
  fc.bigInt({ min: 0n, max: 5_000n }),
  fc.bigInt({ min: 2n ** 53n - 2_000n, max: 2n ** 53n + 2_000n }),
  fc.constantFrom(
    0n,
    999n,
    1_000n,
    1_001n,
    1_010n,
    1_100n,
    10n ** 15n - 1n,
    10n ** 15n,
    10n ** 15n + 999n,
    10n ** 15n + 1_000n,
    2n ** 53n - 1n,
    2n ** 53n,
    2n ** 53n + 7n,
    2n ** 64n - 1n,
  ),
);
/** Exec records: of a code object (TypeScript's, for its flow) or of anything else. */
const execArgs = fc.oneof(
  fc.constant(encodeValue(v.tuple([v.code('/srv/m.py', '<module>', 1), v.none()]))),
  fc.constant(encodeValue(v.tuple([v.str('x = 1'), v.none()]))),
  fc.constant(encodeValue(v.tuple([]))),
  fc.constant(encodeValue(v.tuple([v.list([v.code('/srv/m.py', 'f', 2)])]))),
);
/** Strs about as long as the instants keep (maxStringLength 200), and one cut short. */
const longStrArgs = fc
  .tuple(fc.constantFrom(199, 200, 201, 250), fc.constantFrom(0, 0, 1), fc.constantFrom('a', '"'))
  .map(([n, extra, c]) => sequenceBytes([wireStr(Buffer.from(c.repeat(n), 'latin1'), extra)], 0));
const instantRecord = fc
  .tuple(
    fc.oneof(eventName, fc.constant('exec')),
    fc.oneof(wireArgs, nativeArgs, nativeArgs, execArgs, longStrArgs),
    instantTime,
    fc.constantFrom(1, 2, 77, 2 ** 32 - 1),
    fc.boolean(),
  )
  .map(([event, args, timeNs, tid, cut]) =>
    encodeAuditRecord({ event, args, timeNs, tid, flags: cut ? 1 : 0 }),
  );
/** A record at another time. */
function at(record: fc.Arbitrary<Buffer>): fc.Arbitrary<Buffer> {
  return fc.tuple(record, instantTime).map(([r, timeNs]) => {
    const moved = Buffer.from(r);
    moved.writeBigUInt64LE(timeNs, 20);
    return moved;
  });
}
const perfettoRecord = fc.oneof(
  { arbitrary: instantRecord, weight: 6 },
  { arbitrary: auditRecord, weight: 1 },
  { arbitrary: at(openCodeRecord), weight: 2 },
  { arbitrary: at(decisionRecord), weight: 1 },
);

describe('native perfetto instants', () => {
  it('write generated sessions exactly as the decoded records give them', async () => {
    const dir = tempDir('hookscope-native-perfetto-');
    const file = path.join(dir, 'gen.hks');
    const stats = newInstantStats();
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.array(perfettoRecord, { minLength: 1, maxLength: 6 }), {
          minLength: 1,
          maxLength: 3,
        }),
        fc.constantFrom(0n, 1_000n, 2n ** 53n + 7n),
        fc.constantFrom(undefined, 1, 64, 300),
        fc.boolean(),
        async (blocks, startNs, outSize, withProcess) => {
          writeOneProcessSession(
            file,
            blocks.map((records) => Buffer.concat(records)),
            startNs,
            withProcess,
          );
          const trace = await perfettoBothWays(file, outSize, stats);
          if (trace.raw !== trace.decoded) expect(trace.raw).toBe(trace.decoded);
        },
      ),
      { numRuns: RUNS },
    );
    // The addon wrote, grew the output and left records to TypeScript.
    expect(stats.calls).toBeGreaterThan(RUNS);
    expect(stats.grown).toBeGreaterThan(0);
    expect(stats.fallbacks).toBeGreaterThan(0);
    expect(stats.names).toBeGreaterThan(0);
  });

  it("write the bench and sample sessions' traces exactly, natively for the most part", async () => {
    const dir = tempDir('hookscope-native-perfetto-');
    const { bench, sample, enforced } = writeReportSessions(dir, 20_000);
    for (const file of [bench, sample, enforced]) {
      for (const outSize of [undefined, 1]) {
        const stats = newInstantStats();
        const trace = await perfettoBothWays(file, outSize, stats);
        if (trace.raw !== trace.decoded) expect(trace.raw).toBe(trace.decoded);
        if (file === bench) {
          expect(trace.raw.length).toBeGreaterThan(1_000_000);
          // Code loads are the addon's too (2,000 of them): only the
          // decisions (one in 5,000 records) are left over.
          expect(stats.fallbacks).toBeLessThan(20);
          // A call more per distinct slice and name met (before: one after each code load).
          if (outSize === undefined) expect(stats.calls).toBeLessThan(1_000);
          if (outSize === 1) expect(stats.grown).toBeGreaterThan(5);
        }
      }
    }
  });

  it('stop at each record they leave, with the next offset and the room needed', () => {
    const addon = loadReportAddon();
    const table = addon.newNameTable();
    const state = new Float64Array(3);
    const a = encodeAuditRecord({
      event: 'open',
      args: v.tuple([v.str('/a"b'), v.int(-5n)]),
      timeNs: 2_500n,
      tid: 9,
    });
    const b = encodeAuditRecord({ event: 'open', args: v.tuple([v.float(1.5)]), timeNs: 3_000n });
    const d = encodeDecisionRecord({ event: 'open', eventSeq: 1, stack: [], ruleIndex: 0 });
    const src = Buffer.concat([a, b, d, a]);
    const pidText = Buffer.from('"pid":7,"tid":');
    const head = Buffer.from('{H}');
    // A small output, a sentinel past its end that must stay.
    const whole = Buffer.alloc(400, 0xee);
    const write = (from: number, size: number, first: boolean): Stop =>
      addon.writeInstants(
        src,
        from,
        whole.subarray(0, size),
        0,
        table,
        pidText,
        1_000,
        first,
        state,
      );
    expect(write(0, 10, true)).toBe(Stop.NAME);
    expect([...state]).toEqual([0, 0, 0]);
    expect(addon.setName(table, Buffer.from('open'), head)).toBe(true);
    expect(write(0, 10, true)).toBe(Stop.ROOM);
    expect(state[0]).toBe(0);
    expect(state[1]).toBe(0);
    expect(state[2]).toBeGreaterThan(60);
    // Scratch within the output, nothing past it.
    expect(whole.subarray(10).every((c) => c === 0xee)).toBe(true);
    // A float is TypeScript's; so is a decision; the last one is written with its separator.
    expect(write(0, 300, true)).toBe(Stop.FALLBACK);
    const first = '{H}"pid":7,"tid":9,"ts":1.5,"args":{"args":"(\'/a\\"b\', -5)"}}';
    expect(state[0]).toBe(a.length);
    expect(whole.subarray(0, state[1]).toString()).toBe(first);
    expect(whole.subarray(300).every((c) => c === 0xee)).toBe(true);
    expect(write(a.length + b.length, 300, false)).toBe(Stop.FALLBACK);
    expect(state[0]).toBe(a.length + b.length);
    expect(write(a.length + b.length + d.length, 300, false)).toBe(Stop.DONE);
    expect(state[0]).toBe(src.length);
    expect(whole.subarray(0, state[1]).toString()).toBe(`,\n${first}`);
    expect(whole.subarray(300).every((c) => c === 0xee)).toBe(true);
    // Before the origin, and past 10^15 ns after it: String(ns / 1000)'s other forms.
    for (const timeNs of [999n, 10n ** 15n + 1_000n, 2n ** 53n]) {
      const late = encodeAuditRecord({ event: 'open', args: v.tuple([]), timeNs });
      expect(addon.writeInstants(late, 0, whole, 0, table, pidText, 1_000, true, state)).toBe(
        Stop.FALLBACK,
      );
    }
  });

  it('throw on malformed records and arguments, and do not crash', () => {
    const addon = loadReportAddon();
    const table = addon.newNameTable();
    addon.setName(table, Buffer.from('open'), Buffer.from('{H}'));
    const state = new Float64Array(3);
    const out = Buffer.alloc(4096);
    const pidText = Buffer.from('"pid":7,"tid":');
    const write = (src: Buffer, from = 0, origin = 0): Stop =>
      addon.writeInstants(src, from, out, 0, table, pidText, origin, true, state);
    const good = encodeAuditRecord({ event: 'open', args: v.tuple([v.str('abc'), v.int(1n)]) });
    expect(write(good)).toBe(Stop.DONE);
    const cases: Buffer[] = [];
    // Cut anywhere: in the header, the name or the value.
    for (let n = 1; n < good.length; n++) cases.push(good.subarray(0, n));
    // A length too short, too long, zero; a name past the record; an unknown kind.
    for (const [at, value, width] of [
      [0, 3, 4],
      [0, good.length + 1, 4],
      [0, 0, 4],
      [6, 0xffff, 2],
      [4, 9, 1],
    ] as const) {
      const bad = Buffer.from(good);
      bad.writeUIntLE(value, at, width);
      cases.push(bad);
    }
    // A value cut inside its record, nested too deep, an unknown tag.
    const inner = encodeValue(v.tuple([v.str('abc')]));
    cases.push(encodeAuditRecord({ event: 'open', args: inner.subarray(0, 12) }));
    cases.push(
      encodeAuditRecord({
        event: 'open',
        args: encodeValue(v.tuple([v.list([v.tuple([v.tuple([])])])])),
      }),
    );
    cases.push(encodeAuditRecord({ event: 'open', args: Buffer.from([99]) }));
    for (const bad of cases) {
      expect(() => write(bad), `${bad.toString('hex')}`).toThrow(/malformed record data/);
    }
    expect(() => write(good, good.length + 1)).toThrow(RangeError);
    expect(() => write(good, -1)).toThrow(RangeError);
    expect(() => write(good, 0.5)).toThrow(RangeError);
    expect(() => write(good, 0, -1)).toThrow(RangeError);
    expect(() => write(good, 0, 2 ** 53)).toThrow(RangeError);
    expect(() => write(good, 0, 1.5)).toThrow(RangeError);
    const call = (...args: unknown[]): unknown =>
      (addon.writeInstants as (...a: unknown[]) => unknown)(...args);
    expect(() => call(good, 0, out, out.length + 1, table, pidText, 0, true, state)).toThrow(
      RangeError,
    );
    expect(() => call(good, 0, out, 0.5, table, pidText, 0, true, state)).toThrow(RangeError);
    expect(() => call(good, 0, out, 0, {}, pidText, 0, true, state)).toThrow(TypeError);
    expect(() => call(good, 0, out, 0, table, pidText, 0, 1, state)).toThrow(TypeError);
    expect(() => call(good, 0, out, 0, table, pidText, 0, true, new Float64Array(2))).toThrow(
      TypeError,
    );
    expect(() => call([1], 0, out, 0, table, pidText, 0, true, state)).toThrow(TypeError);
    // Typed arrays of the wrong kind, and a detached output (no room at all).
    expect(() => call(new Uint16Array(4), 0, out, 0, table, pidText, 0, true, state)).toThrow(
      TypeError,
    );
    expect(() => call(good, 0, out, 0, table, pidText, 0, true, new Float32Array(3))).toThrow(
      TypeError,
    );
    expect(() => call(good, 0, out, 0, table, 'pid', 0, true, state)).toThrow(TypeError);
    const detached = new Uint8Array(new ArrayBuffer(64));
    structuredClone(detached.buffer, { transfer: [detached.buffer] });
    expect(call(good, 0, detached, 0, table, pidText, 0, true, state)).toBe(Stop.ROOM);
    expect(state[0]).toBe(0);
  });

  it('write flows started by the addon, a few a call, and the execs that end them', async () => {
    // A few files loaded over and over, loads of the same file next to each
    // other (the exec ends the newest flow), execs among them; two flow
    // starts a call, so the flows array fills again and again.
    const dir = tempDir('hookscope-native-flows-');
    const file = path.join(dir, 'flows.hks');
    const records: Buffer[] = [];
    let seq = 0;
    const at = (): bigint => 5_000n + BigInt(seq) * 250n;
    for (let round = 0; round < 300; round++) {
      const m = round % 7;
      for (let again = 0; again < 1 + (round % 3); again++) {
        records.push(
          encodeOpenCodeRecord({
            seq,
            timeNs: at(),
            tid: round % 2,
            intent: round % 4 === 0 ? 'bytecode' : 'pythoncode',
            path: v.str(
              round % 4 === 0 ? `/srv/__pycache__/m${m}.cpython-312.pyc` : `/srv/m${m}.py`,
            ),
            realPath: `/srv/m${m}.py`,
          }),
        );
        seq++;
      }
      if (round % 2 === 0) {
        records.push(
          encodeAuditRecord({
            event: 'exec',
            seq,
            timeNs: at(),
            args: v.tuple([v.code(`/srv/m${m}.py`, `m${m}`, 1)]),
          }),
        );
        seq++;
      }
      records.push(encodeAuditRecord({ event: 'import', seq, timeNs: at(), args: v.tuple([]) }));
      seq++;
    }
    writeOneProcessSession(file, [Buffer.concat(records)], 1_000n);
    const stats = { ...newInstantStats(), flowsFull: 0 };
    const trace = await perfettoBothWays(file, undefined, stats, 2);
    if (trace.raw !== trace.decoded) expect(trace.raw).toBe(trace.decoded);
    expect(trace.raw.match(/"ph":"f"/g)?.length).toBe(150);
    expect(stats.flowsFull).toBeGreaterThan(50);
  });

  it('write code loads past the slice table exactly', async () => {
    // 70,000 distinct code loads (sizes differ) in one block: the table
    // fills (its 8 MiB first), the rest are written by TypeScript, without
    // a stop at each; every successful load starts a flow.
    const dir = tempDir('hookscope-native-slices-');
    const file = path.join(dir, 'slices.hks');
    const loads = 70_000;
    const payload = Buffer.concat(
      Array.from({ length: loads }, (_, seq) =>
        encodeOpenCodeRecord({
          seq,
          timeNs: 2_000n + BigInt(seq) * 100n,
          tid: seq % 3,
          intent: seq % 5 === 0 ? 'bytecode' : 'pythoncode',
          status: seq % 11 === 0 ? 1 : 0,
          errno: seq % 11 === 0 ? 2 : 0,
          size: seq,
          path: v.str(
            seq % 5 === 0
              ? `/srv/__pycache__/m${seq % 97}.cpython-312.pyc`
              : `/srv/m${seq % 97}.py`,
          ),
          realPath: `/srv/m${seq % 97}.py`,
        }),
      ),
    );
    // Execs of the loaded code end flows: the addon's ids and TypeScript's agree.
    const execs = Buffer.concat(
      Array.from({ length: 200 }, (_, k) =>
        encodeAuditRecord({
          event: 'exec',
          seq: loads + k,
          timeNs: 2_000n + BigInt(loads + k) * 100n,
          args: v.tuple([v.code(`/srv/m${k % 97}.py`, `m${k % 97}`, 1)]),
        }),
      ),
    );
    writeOneProcessSession(file, [payload, execs], 1_000n);
    const stats = { ...newInstantStats(), newSlices: 0 };
    const trace = await perfettoBothWays(file, undefined, stats);
    if (trace.raw !== trace.decoded) expect(trace.raw).toBe(trace.decoded);
    expect(trace.raw).toContain('"ph":"f"');
    expect(stats.fallbacks).toBeGreaterThanOrEqual(loads - 65_536);
    // Once full, the table stops at no new load: each is a fallback (as
    // are the 200 execs), not a slice made for nothing as well.
    expect(stats.newSlices + stats.fallbacks).toBeLessThan(loads + 200 + 10);
  });

  it('refuse bad slice tables and arguments', () => {
    const addon = loadReportAddon();
    const table = addon.newSliceTable();
    const load = encodeOpenCodeRecord({ path: v.str('/srv/a.py'), realPath: '/srv/a.py' });
    const audit = encodeAuditRecord({ event: 'open', args: v.tuple([]) });
    const head = Buffer.from('{');
    const set = (...args: unknown[]): unknown =>
      (addon.setSlice as (...a: unknown[]) => unknown)(...args);
    expect(set(table, load, 0, head, head, 3)).toBe(true);
    // Known already: kept as it was.
    expect(set(table, load, 0, head, head, -1)).toBe(true);
    expect(() => set({}, load, 0, head, head, -1)).toThrow(TypeError);
    expect(() => set(table, load, 0, 'x', head, -1)).toThrow(TypeError);
    expect(() => set(table, load, 1, head, head, -1)).toThrow(RangeError);
    expect(() => set(table, load, load.length + 1, head, head, -1)).toThrow(RangeError);
    expect(() => set(table, load, 0, head, head, -2)).toThrow(RangeError);
    expect(() => set(table, load, 0, head, head, 0.5)).toThrow(RangeError);
    expect(() => set(table, audit, 0, head, head, -1)).toThrow(/no open-code record/);
    const out = Buffer.alloc(4096);
    const call = (...args: unknown[]): unknown =>
      (addon.writeInstants as (...a: unknown[]) => unknown)(...args);
    const names = addon.newNameTable();
    const pidText = Buffer.from('"pid":1,"tid":');
    // writeInstants of `src` from 0 into `out`, with a slice table and flows.
    const withSlices = (src: Buffer, state: unknown, slices: unknown, flows: unknown): unknown =>
      call(src, 0, out, 0, names, pidText, 0, true, state, slices, flows);
    // With a slice table, state has five places and state[3] holds the
    // next flow id; flows has room for a pair.
    expect(() => withSlices(load, new Float64Array(3), table, new Int32Array(8))).toThrow(
      TypeError,
    );
    expect(() => withSlices(load, Float64Array.of(0, 0, 0, 1), table, new Int32Array(8))).toThrow(
      TypeError,
    );
    expect(() =>
      withSlices(load, Float64Array.of(0, 0, 0, 1, 0), table, new Int32Array(1)),
    ).toThrow(TypeError);
    const state = Float64Array.of(0, 0, 0, 1.5, 0);
    expect(() => withSlices(load, state, table, new Int32Array(8))).toThrow(TypeError);
    state[3] = 7;
    expect(() => withSlices(load, state, {}, new Int32Array(8))).toThrow(TypeError);
    expect(() => withSlices(load, state, table, [0, 0])).toThrow(TypeError);
    // The slice is known: written, and with a source its flow starts with id 7.
    expect(withSlices(load, state, table, new Int32Array(8))).toBe(Stop.DONE);
    expect(state[3]).toBe(8);
    expect(state[4]).toBe(1);
    // Room for one flow: the second load stops before it is written.
    const two = Buffer.concat([load, load]);
    expect(withSlices(two, state, table, new Int32Array(2))).toBe(Stop.FLOWS);
    expect([state[0], state[4]]).toEqual([load.length, 1]);
    // The last flow id that fits is given; past it, the load is TypeScript's.
    state[3] = 2 ** 31 - 1;
    expect(withSlices(two, state, table, new Int32Array(8))).toBe(Stop.FALLBACK);
    expect([state[0], state[3], state[4]]).toEqual([load.length, 2 ** 31, 1]);
    // A table full of slices stops at no unknown load: it is left at once.
    const full = addon.newSliceTable();
    const tiny = Buffer.from('x');
    let taken = 0;
    for (let size = 0; ; size++) {
      const each = encodeOpenCodeRecord({ size, path: v.str('/a'), realPath: '/a' });
      if (!set(full, each, 0, tiny, tiny, -1)) break;
      taken++;
    }
    expect(taken).toBe(65_536);
    state[3] = 1;
    expect(withSlices(load, state, full, new Int32Array(8))).toBe(Stop.FALLBACK);
    expect(withSlices(load, state, table, new Int32Array(8))).toBe(Stop.DONE);
  });

  // Last: it fills this thread's instant table.
  it('write more distinct event names than the table holds', async () => {
    const dir = tempDir('hookscope-native-perfetto-');
    const file = path.join(dir, 'names.hks');
    const names = 5_000;
    const payload = Buffer.concat(
      Array.from({ length: names + 50 }, (_, seq) =>
        encodeAuditRecord({
          event: `ev.${seq % names}${seq % 7 === 0 ? '"x' : ''}`,
          seq,
          timeNs: 1_000n + BigInt(seq) * 333n,
          tid: seq % 5,
          args: v.tuple([v.int(BigInt(seq))]),
        }),
      ),
    );
    writeOneProcessSession(file, [payload, payload], 1_000n);
    const stats = newInstantStats();
    const trace = await perfettoBothWays(file, 256, stats);
    if (trace.raw !== trace.decoded) expect(trace.raw).toBe(trace.decoded);
    expect(stats.refused).toBeGreaterThan(0);
  });
});
