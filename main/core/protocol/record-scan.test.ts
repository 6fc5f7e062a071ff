// The record scan (record-scan.ts, native/addon/src/record-scan.cc) gives
// every record of a payload, in order, with the id of its kind and name
// and, for the names that want them, one body id per distinct bytes after
// the name: checked against the records themselves on generated payloads,
// across batches and blocks, at the tables' bounds, and on bad input.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { anyRecord, offsetsOf } from '../../test-support/wire-arbitraries.js';
import { encodeAuditRecord, encodeOpenCodeRecord, v } from '../../test-support/wire-encoder.js';
import { FineTimeline } from '../html-timeline.js';
import { nativeAddon } from '../native-addon.js';
import { RECORD_HEADER_SIZE, RecordKind, recordEventAt, u16, u32 } from './records.js';
import { RecordScan, scanWithAddon } from './record-scan.js';

const RUNS = Number(process.env['FAST_CHECK_RUNS'] ?? 300);

interface Scanned {
  p: number;
  nameId: number;
  bodyId: number;
}

function scanAll(scan: RecordScan, src: Buffer): Scanned[] {
  const seen: Scanned[] = [];
  for (let n = scan.first(src); n > 0; n = scan.next()) {
    for (let i = 0; i < 3 * n; i += 3) {
      seen.push({
        p: scan.out[i] as number,
        nameId: scan.out[i + 1] as number,
        bodyId: scan.out[i + 2] as number,
      });
    }
  }
  return seen;
}

/** `run` with new scans made as without the addon. */
function withoutAddon<T>(run: () => T): T {
  scanWithAddon(false);
  try {
    return run();
  } finally {
    scanWithAddon(true);
  }
}

/** How many records each batch of a scan of `src` held. */
function batchSizes(scan: RecordScan, src: Buffer): number[] {
  const sizes: number[] = [];
  for (let n = scan.first(src); n > 0; n = scan.next()) sizes.push(n);
  return sizes;
}

/** A record's bytes after its name. */
function bodyOf(src: Buffer, p: number): string {
  return src.subarray(p + RECORD_HEADER_SIZE + u16(src, p + 6), p + u32(src, p)).toString('hex');
}

const wantsOpenAndCode = (kind: RecordKind, event: string): boolean =>
  kind === RecordKind.OPEN_CODE || (kind === RecordKind.AUDIT && event === 'open');

/**
 * Holds a scan's results over several payloads to what the records say:
 * offsets in order, names by id, and one body id per distinct (name id,
 * bytes after the name) for the names that want bodies, -1 for the others.
 */
function expectFaithful(
  scan: RecordScan,
  payloads: Buffer[],
  wants: (kind: RecordKind, event: string) => boolean,
): void {
  const kindOfId = new Map<number, RecordKind>();
  const bodyKeyOfId = new Map<number, string>();
  const idOfBodyKey = new Map<string, number>();
  for (const src of payloads) {
    const seen = scanAll(scan, src);
    expect(seen.map((s) => s.p)).toEqual(offsetsOf(src));
    for (const { p, nameId, bodyId } of seen) {
      const kind = src[p + 4] as RecordKind;
      const event = recordEventAt(src, p);
      expect(nameId).toBeGreaterThanOrEqual(0);
      expect(scan.events[nameId]).toBe(event);
      // One id per kind and name.
      const kindBefore = kindOfId.get(nameId);
      if (kindBefore !== undefined) expect(kindBefore).toBe(kind);
      kindOfId.set(nameId, kind);
      if (!wants(kind, event)) {
        expect(bodyId).toBe(-1);
        continue;
      }
      expect(bodyId).toBeGreaterThanOrEqual(0);
      const key = `${nameId}:${bodyOf(src, p)}`;
      const keyBefore = bodyKeyOfId.get(bodyId);
      if (keyBefore !== undefined) expect(keyBefore).toBe(key);
      bodyKeyOfId.set(bodyId, key);
      const idBefore = idOfBodyKey.get(key);
      if (idBefore !== undefined) expect(idBefore).toBe(bodyId);
      idOfBodyKey.set(key, bodyId);
    }
  }
}

/** An audit record of `event` whose one argument is `arg`. */
function audit(event: string, arg: string, seq = 0): Buffer {
  return encodeAuditRecord({ event, args: v.tuple([v.str(arg)]), seq });
}

describe('the record scan', () => {
  it('the addon has it', () => {
    expect(new RecordScan(() => false).isNative).toBe(true);
  });

  it('gives every record with its name id and a body id per distinct bytes, over many payloads', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(anyRecord, { maxLength: 20 }), { maxLength: 4 }),
        fc.array(fc.nat({ max: 19 }), { maxLength: 10 }),
        (blocks, repeats) => {
          // Records repeated with a new seq: the same body, another header.
          const payloads = blocks.map((records) => {
            const again = repeats
              .filter((r) => r < records.length)
              .map((r) => {
                const copy = Buffer.from(records[r] as Buffer);
                copy.writeUInt32LE((copy.readUInt32LE(12) + 1) >>> 0, 12);
                return copy;
              });
            return Buffer.concat([...records, ...again]);
          });
          expectFaithful(new RecordScan(wantsOpenAndCode), payloads, wantsOpenAndCode);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('tells apart bodies that differ in one byte, and the same bytes under another name', () => {
    const scan = new RecordScan(
      (kind, event) => kind === RecordKind.AUDIT && (event === 'open' || event === 'exec'),
    );
    const src = Buffer.concat([
      audit('open', '/a', 1),
      audit('open', '/b', 2),
      audit('open', '/a', 3),
      audit('exec', '/a', 4),
      audit('import', '/a', 5),
    ]);
    const seen = scanAll(scan, src);
    expect(seen.map((s) => scan.events[s.nameId])).toEqual([
      'open',
      'open',
      'open',
      'exec',
      'import',
    ]);
    const [a, b, again, exec, other] = seen.map((s) => s.bodyId);
    expect(again).toBe(a);
    expect(b).not.toBe(a);
    expect(exec).not.toBe(a);
    expect(other).toBe(-1);
  });

  it('goes on across batches, and keeps its ids from one payload to the next', () => {
    const records = Array.from({ length: 20_000 }, (_, i) =>
      audit(`e${i % 300}`, `/f${i % 50}`, i),
    );
    const first = Buffer.concat(records.slice(0, 12_000));
    const second = Buffer.concat(records.slice(12_000));
    expectFaithful(new RecordScan(() => true), [first, second], () => true);
  });

  it('past 4096 names, and past 65,536 bodies, gives -1: the caller works those out', () => {
    const scan = new RecordScan((kind) => kind === RecordKind.AUDIT);
    const names = Buffer.concat(Array.from({ length: 4200 }, (_, i) => audit(`n${i}`, 'x')));
    // A name the table cannot take costs no call of its own: once full, the
    // rest of a payload comes in one batch (the last name taken and the 104
    // after it).
    expect(batchSizes(scan, names).at(-1)).toBe(1 + 4200 - 4096);
    const seen = scanAll(scan, names);
    expect(seen).toHaveLength(4200);
    expect(seen.slice(0, 4096).every((s) => s.nameId >= 0)).toBe(true);
    expect(seen.slice(4096).every((s) => s.nameId === -1 && s.bodyId === -1)).toBe(true);
    // The first names still get ids, and their new bodies too, up to the bound.
    const bodies = Buffer.concat(Array.from({ length: 70_000 }, (_, i) => audit('n0', `/${i}`, i)));
    const withBodies = scanAll(scan, bodies);
    expect(withBodies.every((s) => s.nameId === 0)).toBe(true);
    const ids = withBodies.map((s) => s.bodyId);
    // 4096 bodies were taken by the names above (one each), the rest here.
    expect(ids.filter((id) => id >= 0)).toHaveLength(65_536 - 4096);
    expect(ids.slice(65_536 - 4096).every((id) => id === -1)).toBe(true);
    expect(new Set(ids.filter((id) => id >= 0)).size).toBe(65_536 - 4096);
  });

  it('once the names fill their 4 MiB, a new name gets -1 in the same batch as its neighbours', () => {
    const scan = new RecordScan(() => true);
    // 64 names of 65,535 bytes and one of 62 leave 2 bytes: 'open' does not fit.
    const long = Array.from({ length: 64 }, (_, i) =>
      audit(String(i).padStart(2, '0') + 'x'.repeat(65_533), '/a'),
    );
    const fill = Buffer.concat([...long, audit('y'.repeat(62), '/a')]);
    expect(scanAll(scan, fill).every((s) => s.nameId >= 0)).toBe(true);
    const opens = Buffer.concat(Array.from({ length: 1000 }, (_, i) => audit('open', '/a', i)));
    expect(batchSizes(scan, opens)).toEqual([1000]);
    expect(scanAll(scan, opens).every((s) => s.nameId === -1 && s.bodyId === -1)).toBe(true);
    // A short name still fits.
    expect(scanAll(scan, audit('ab', '/a'))[0]?.nameId).toBe(65);
  });

  it('counts the records of quiet names instead of giving them, the rest as before', () => {
    fc.assert(
      fc.property(
        fc.array(fc.array(anyRecord, { maxLength: 30 }), { maxLength: 4 }),
        fc.integer({ min: 0, max: 3 }),
        (blocks, pick) => {
          const payloads = blocks.map((records) => Buffer.concat(records));
          // Quiet: audit events whose name's length has this remainder.
          const quiet = (kind: RecordKind, event: string): boolean =>
            kind === RecordKind.AUDIT && event.length % 4 === pick;
          const scan = new RecordScan(wantsOpenAndCode, quiet);
          const plain = new RecordScan(wantsOpenAndCode);
          const expected = new Map<string, number>();
          for (const payload of payloads) {
            const listed = scanAll(scan, payload).map((r) => r.p);
            const all = scanAll(plain, payload);
            const loud = all.filter((r) => {
              const event = recordEventAt(payload, r.p);
              const isQuiet = quiet(payload[r.p + 4] as RecordKind, event) && r.nameId >= 0;
              if (isQuiet) expected.set(event, (expected.get(event) ?? 0) + 1);
              return !isQuiet;
            });
            expect(listed).toEqual(loud.map((r) => r.p));
          }
          const counted = new Map<string, number>();
          scan.quietCounts().forEach((n, id) => {
            if (n > 0) counted.set(scan.events[id] as string, n);
          });
          expect(counted).toEqual(expected);
        },
      ),
      { numRuns: RUNS },
    );
    // Without the addon nothing is quiet: every record is given.
    const payload = Buffer.concat([audit('open', '/a'), audit('open', '/b')]);
    const quietAll = (): boolean => true;
    expect(
      withoutAddon(() => scanAll(new RecordScan(() => false, quietAll), payload)),
    ).toHaveLength(2);
    expect(Array.from(new RecordScan(() => false, quietAll).quietCounts())).toEqual([]);
  });

  it('counts a record of a counted-by-bytes name when its bytes were last listed in the same epoch', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            epoch: fc.integer({ min: 0, max: 2 }),
            // Generated records, and a few that repeat (names of each length remainder).
            records: fc.array(
              fc.oneof(
                anyRecord,
                fc.constantFrom(
                  audit('open', '/a'),
                  audit('open', '/b'),
                  audit('a', '/a'),
                  audit('ab', '/a'),
                  audit('abc', '/a'),
                ),
              ),
              { maxLength: 30 },
            ),
          }),
          { maxLength: 5 },
        ),
        fc.integer({ min: 0, max: 3 }),
        (blocks, pick) => {
          // Counted by bytes: audit events whose name's length has this remainder.
          const byBytes = (kind: RecordKind, event: string): boolean =>
            kind === RecordKind.AUDIT && event.length % 4 === pick;
          const scan = new RecordScan(wantsOpenAndCode, () => false, byBytes);
          const plain = new RecordScan(() => true);
          // What the scan must do, from every record with its body: count
          // a record when the last one of its (name, bytes) listed came in
          // the same epoch, list the rest.
          const listedIn = new Map<string, number>();
          const expectedByName = new Map<string, number>();
          const expectedByBody = new Map<string, number>();
          const bodyKeyOfId = new Map<number, string>();
          for (const { epoch, records } of blocks) {
            const payload = Buffer.concat(records);
            scan.setEpoch(epoch);
            const listed = scanAll(scan, payload);
            const expected = scanAll(plain, payload).filter((r) => {
              const event = recordEventAt(payload, r.p);
              if (!byBytes(payload[r.p + 4] as RecordKind, event) || r.nameId < 0) return true;
              const body = `${event}\0${bodyOf(payload, r.p)}`;
              if (listedIn.get(body) !== epoch) {
                listedIn.set(body, epoch);
                return true;
              }
              expectedByName.set(event, (expectedByName.get(event) ?? 0) + 1);
              expectedByBody.set(body, (expectedByBody.get(body) ?? 0) + 1);
              return false;
            });
            expect(listed.map((r) => r.p)).toEqual(expected.map((r) => r.p));
            for (const r of listed) {
              const event = recordEventAt(payload, r.p);
              if (byBytes(payload[r.p + 4] as RecordKind, event)) {
                bodyKeyOfId.set(r.bodyId, `${event}\0${bodyOf(payload, r.p)}`);
              }
            }
          }
          const byName = new Map<string, number>();
          scan.quietCounts().forEach((n, id) => {
            if (n > 0) byName.set(scan.events[id] as string, n);
          });
          expect(byName).toEqual(expectedByName);
          const byBody = new Map<string, number>();
          scan.bodyCounts().forEach((n, id) => {
            if (n > 0) byBody.set(bodyKeyOfId.get(id) as string, n);
          });
          expect(byBody).toEqual(expectedByBody);
        },
      ),
      { numRuns: RUNS },
    );
    // Without the addon every record is given, and none counted.
    const payload = Buffer.concat([audit('open', '/a'), audit('open', '/a')]);
    const all = (): boolean => true;
    expect(
      withoutAddon(() => scanAll(new RecordScan(all, () => false, all), payload)),
    ).toHaveLength(2);
    const scan = new RecordScan(all, () => false, all);
    expect(scanAll(scan, payload)).toHaveLength(1);
    expect(Array.from(scan.bodyCounts())).toEqual([1]);
  });

  it('counts the records of timed names into a timeline as adding their times does', () => {
    // Times of every kind: close together, spread, past 2^53, falling.
    const timed = fc.tuple(
      fc.constantFrom('open', 'exec', 'import', 'socket.connect', 'compile', 'e'),
      fc.oneof(
        fc.bigInt({ min: 0n, max: 5000n }),
        // Spread over several times the steps' span: records of a block
        // before and after one the steps must be changed for.
        { arbitrary: fc.bigInt({ min: 0n, max: 100_000n }), weight: 3 },
        fc.bigInt({ min: 10n ** 12n, max: 10n ** 12n + 10n ** 9n }),
        fc.bigInt({ min: 2n ** 53n - 100n, max: 2n ** 64n - 1n }),
      ),
    );
    fc.assert(
      fc.property(
        fc.array(fc.array(timed, { maxLength: 40 }), { maxLength: 5 }),
        fc.constantFrom(0, 1, 7),
        fc.integer({ min: 0, max: 3 }),
        (blocks, held, switchAfter) => {
          const rows = 3;
          // Row by name: 'e' in no row (only counted), open never counted.
          const rowOf = (kind: RecordKind, event: string): number | null =>
            kind !== RecordKind.AUDIT || event === 'open'
              ? null
              : event === 'e'
                ? -1
                : event.length % rows;
          const scanned = new FineTimeline(rows, held);
          const added = new FineTimeline(rows, held);
          const scan = new RecordScan(() => false);
          let quiet = 0;
          let listedCountable = 0;
          blocks.forEach((records, b) => {
            const payload = Buffer.concat(
              records.map(([event, timeNs], seq) =>
                encodeAuditRecord({ event, args: v.tuple([]), seq, timeNs }),
              ),
            );
            // The reference: every record's time added at its row.
            for (const [event, timeNs] of records) {
              const row = event === 'open' || event === 'e' ? -1 : event.length % rows;
              if (row >= 0) added.add(row, Number(timeNs));
            }
            if (b === switchAfter) scan.countInto(scanned, rowOf);
            // Each batch taken in before the next is asked for, as the
            // html report does: the scan counts the next one into the
            // steps the batch left.
            for (let n = scan.first(payload); n > 0; n = scan.next()) {
              for (let i = 0; i < 3 * n; i += 3) {
                const p = scan.out[i] as number;
                const row = rowOf(RecordKind.AUDIT, recordEventAt(payload, p));
                if (b >= switchAfter && row !== null) listedCountable++;
                // Listed: a name not counted, or a time outside the steps.
                if (row !== null && row >= 0) {
                  scanned.add(
                    row,
                    payload.readUInt32LE(p + 24) * 2 ** 32 + payload.readUInt32LE(p + 20),
                  );
                }
              }
            }
          });
          expect(scanned.range).toEqual(added.range);
          expect(scanned.buckets(120)).toEqual(added.buckets(120));
          scan.quietCounts().forEach((n) => (quiet += n));
          const countable = blocks
            .slice(switchAfter)
            .flat()
            .filter(([event]) => event !== 'open').length;
          // Each countable record after the switch counted or listed, once.
          expect(quiet + listedCountable).toBe(countable);
        },
      ),
      {
        numRuns: RUNS,
        // A block whose first record is past the steps, and records after
        // it that are in them: counted before the steps change, they moved
        // the range the change is made for (a review found this).
        examples: [0, 1, 7].flatMap((held) =>
          [0, 1].map(
            (switchAfter) =>
              [
                [
                  [['exec', 27369n]],
                  [
                    ['socket.connect', 1772n],
                    ['exec', 39656n],
                    ['compile', 87529n],
                  ],
                ],
                held,
                switchAfter,
              ] as [[string, bigint][][], number, number],
          ),
        ),
      },
    );
    // A name taken before the switch is counted after it; one whose time
    // falls outside the steps is listed.
    const timeline = new FineTimeline(1, 0);
    timeline.add(0, 1000);
    const scan = new RecordScan(() => false);
    const at = (timeNs: bigint): Buffer =>
      encodeAuditRecord({ event: 'import', args: v.tuple([]), timeNs });
    expect(scanAll(scan, at(1000n))).toHaveLength(1);
    scan.countInto(timeline, () => 0);
    expect(scanAll(scan, Buffer.concat([at(1001n), at(1002n), at(10n ** 15n)]))).toHaveLength(1);
    expect(Array.from(scan.quietCounts())).toEqual([2]);
    expect(timeline.range).toEqual({ firstNs: 1000, lastNs: 1002 });
    expect(() => scan.countInto(timeline, () => 0)).toThrow(/once/);
  });

  it('without the addon gives every record with -1 ids', () => {
    const src = Buffer.concat([audit('open', '/a'), audit('open', '/a')]);
    const seen = withoutAddon(() => scanAll(new RecordScan(() => true), src));
    expect(seen).toEqual([
      { p: 0, nameId: -1, bodyId: -1 },
      { p: src.length / 2, nameId: -1, bodyId: -1 },
    ]);
  });

  it('refuses malformed records and bad arguments clearly', () => {
    const good = Buffer.concat([
      audit('open', '/a'),
      encodeOpenCodeRecord({ path: v.str('/x'), realPath: '/x' }),
    ]);
    const cut = good.subarray(0, good.length - 1);
    expect(() => scanAll(new RecordScan(() => true), cut)).toThrow(
      /malformed record data: record length runs past the end of the payload \(record at offset \d+\)/,
    );
    expect(() => withoutAddon(() => scanAll(new RecordScan(() => true), cut))).toThrow(
      /malformed record data/,
    );
    const badKind = Buffer.from(good);
    badKind[4] = 9;
    expect(() => scanAll(new RecordScan(() => true), badKind)).toThrow(/unknown record kind/);
    const longName = Buffer.from(good);
    longName.writeUInt16LE(0xffff, 6);
    expect(() => scanAll(new RecordScan(() => true), longName)).toThrow(
      /event name runs past the end of the record/,
    );
    const raw = nativeAddon<{
      newRecordScan(): unknown;
      addScanName(...args: unknown[]): number;
      scanRecords(...args: unknown[]): number;
    }>();
    const handle = raw.newRecordScan();
    const state = new Float64Array(2);
    const out = new Int32Array(30);
    expect(() => raw.scanRecords({}, good, 0, out, state)).toThrow(TypeError);
    expect(() => raw.scanRecords(handle, good, good.length + 1, out, state)).toThrow(RangeError);
    expect(() => raw.scanRecords(handle, good, Number.NaN, out, state)).toThrow(RangeError);
    expect(() => raw.scanRecords(handle, good, 0, new Float64Array(3), state)).toThrow(TypeError);
    expect(() => raw.scanRecords(handle, good, 0, out, new Float64Array(1))).toThrow(TypeError);
    expect(() => raw.addScanName(handle, 0, Buffer.from('x'), true)).toThrow(RangeError);
    expect(() => raw.addScanName(handle, 1, 'x', true)).toThrow(TypeError);
    expect(() => raw.addScanName(handle, 1, Buffer.from('x'), true, 1)).toThrow(TypeError);
    const counts = raw as unknown as { scanCounts(...args: unknown[]): number };
    expect(() => counts.scanCounts(handle, new Int32Array(4))).toThrow(TypeError);
    expect(() => counts.scanCounts({}, new Float64Array(4))).toThrow(TypeError);
    // A timeline must fit its counts; rows are small integers; ids are the scan's.
    const timedRaw = raw as unknown as {
      setScanQuiet(...args: unknown[]): boolean;
      scanRecords(...args: unknown[]): number;
    };
    const steps = (rowsAndSteps: [number, number], base = 0, perStep = 1): Float64Array =>
      Float64Array.from([base, perStep, ...rowsAndSteps, Infinity, -Infinity]);
    expect(() =>
      timedRaw.scanRecords(handle, good, 0, out, state, new Float64Array(8), steps([3, 3])),
    ).toThrow(/does not fit its counts/);
    expect(() =>
      timedRaw.scanRecords(handle, good, 0, out, state, new Float64Array(8), steps([1.5, 2])),
    ).toThrow(RangeError);
    expect(() =>
      timedRaw.scanRecords(handle, good, 0, out, state, new Float64Array(8), steps([1, 8], NaN)),
    ).toThrow(RangeError);
    expect(() =>
      timedRaw.scanRecords(handle, good, 0, out, state, new Float64Array(8), new Float64Array(5)),
    ).toThrow(TypeError);
    expect(() => timedRaw.scanRecords(handle, good, 0, out, state, new Float64Array(8))).toThrow(
      TypeError,
    );
    expect(
      timedRaw.scanRecords(handle, good, 0, out, state, new Float64Array(8), steps([1, 8])),
    ).toBe(2);
    expect(() => raw.addScanName(handle, 1, Buffer.from('x'), true, true, 65536)).toThrow(
      /integer from -1 to 65535/,
    );
    expect(() => raw.addScanName(handle, 1, Buffer.from('x'), true, true, 0.5)).toThrow(TypeError);
    expect(() =>
      timedRaw.scanRecords(handle, good, 0, out, state, undefined, steps([1, 8])),
    ).toThrow(TypeError);
    expect(timedRaw.setScanQuiet(handle, 0, true, 0)).toBe(false);
    expect(timedRaw.setScanQuiet(handle, -1, true)).toBe(false);
    const named = raw.newRecordScan();
    expect(raw.addScanName(named, 1, Buffer.from('a'), false)).toBe(0);
    expect(raw.addScanName(named, 1, Buffer.from('b'), false)).toBe(1);
    expect(timedRaw.setScanQuiet(named, 0.5, true)).toBe(false);
    expect(timedRaw.setScanQuiet(named, 1, true, 2)).toBe(true);
    expect(() => timedRaw.setScanQuiet(handle, 0, 'yes')).toThrow(TypeError);
    // Epochs are whole numbers below 2^32; body counts go to a Float64Array.
    const bodies = raw as unknown as {
      setScanEpoch(...args: unknown[]): void;
      scanBodyCounts(...args: unknown[]): number;
    };
    for (const bad of [-1, 0.5, 2 ** 32, Number.NaN, '1']) {
      expect(() => bodies.setScanEpoch(named, bad)).toThrow(/integer from 0 to 2\^32 - 1/);
    }
    expect(() => bodies.setScanEpoch({}, 1)).toThrow(TypeError);
    bodies.setScanEpoch(named, 2 ** 32 - 1);
    expect(() => bodies.scanBodyCounts(named, new Int32Array(2))).toThrow(TypeError);
    expect(() => bodies.scanBodyCounts({}, new Float64Array(2))).toThrow(TypeError);
    expect(bodies.scanBodyCounts(named, new Float64Array(2))).toBe(0);
    expect(() => raw.addScanName(named, 1, Buffer.from('c'), true, false, -1, 'yes')).toThrow(
      TypeError,
    );
    expect(() => timedRaw.setScanQuiet(handle, 0, true, -2)).toThrow(TypeError);
    // An output with room for no record: nothing written, nothing past it.
    expect(raw.scanRecords(handle, good, 0, new Int32Array(2), state)).toBe(3);
    expect(state[1]).toBe(0);
  });
});
