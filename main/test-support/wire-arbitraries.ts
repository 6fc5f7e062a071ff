// Generated report material shared by the tests of the byte writers
// (report-bytes.test.ts) and of the addon's writers (native-report.test.ts):
// encoded values and records of every kind, with text that needs every
// escape, invalid UTF-8, integers at the 2^53 and 2^63 edges and values
// cut short; a one-process session holding them; and the perfetto trace
// of a session made both ways, from decoded blocks and from bytes.
import path from 'node:path';
import fc from 'fast-check';

import type { NativeInstantStats } from '../core/native-report.js';
import { perfettoReport } from '../core/perfetto-report.js';
import { ValueTag } from '../core/protocol/records.js';
import { SessionReader, SessionWriter } from '../core/session-file.js';
import { writeBenchSession } from './bench-session.js';
import { args as argTuples, leaf, sequenceOf } from './record-arbitraries.js';
import { writeEnforcedSampleSession, writeSampleSession } from './sample-session.js';
import {
  encodeAuditRecord,
  encodeDecisionRecord,
  encodeOpenCodeRecord,
  encodeValue,
  v,
} from './wire-encoder.js';

/** ASCII with every character the escapes and the csv quoting care about. */
export const asciiText = fc.string({
  unit: fc.oneof(
    fc.constantFrom('"', '\\', ',', '\r', '\n', '\t', '\b', '\f', '\x00', '\x01', '\x1f', '\x7f'),
    // What a <script> element and HTML care about, too.
    fc.constantFrom('=', '+', '-', '@', "'", ' ', 'a', 'Z', '0', '<', '>', '&', '/', '.', '{', '}'),
    fc.string({ unit: 'binary-ascii', minLength: 1, maxLength: 1 }),
  ),
  maxLength: 30,
});
/** Bytes a str may hold though it should not: anything at all. */
export const anyBytes = fc.oneof(
  fc.uint8Array({ maxLength: 24 }).map((a) => Buffer.from(a)),
  fc.constantFrom(
    Buffer.from('café', 'utf8'),
    Buffer.from([0x61, 0xff, 0x22]),
    Buffer.from('€"'),
    // Line and paragraph separators end a line inside a <script>.
    Buffer.from('a\u2028b\u2029</script>', 'utf8'),
    Buffer.from('é<', 'utf8'),
    // Beyond U+FFFF with a low surrogate in U+DC80..U+DCFF, the range that
    // stands in for an invalid byte: valid text, not an escape.
    Buffer.from('\u{1F480}\u{10480}', 'utf8'),
    Buffer.concat([Buffer.from('\u{1F480}', 'utf8'), Buffer.from([0x80, 0xf0, 0x9f, 0x92])]),
  ),
);

export function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0, 0);
  return b;
}

/** An encoded str (or str_fs) of exactly these bytes, cut short when `extra` > 0. */
export function wireStr(bytes: Buffer, extra: number, tag = ValueTag.STR): Buffer {
  return Buffer.concat([Buffer.from([tag]), u32(bytes.length + extra), u32(bytes.length), bytes]);
}

export const INT_EDGES = [
  0n,
  1n,
  -1n,
  9n,
  10n,
  -10n,
  2n ** 31n,
  -(2n ** 31n),
  2n ** 32n - 1n,
  2n ** 32n,
  2n ** 53n - 1n,
  2n ** 53n,
  2n ** 53n + 1n,
  -(2n ** 53n) + 1n,
  -(2n ** 53n),
  -(2n ** 53n) - 1n,
  -(2n ** 53n) + 2n ** 32n,
  -(2n ** 53n) + 2n ** 32n - 1n,
  2n ** 63n - 1n,
  -(2n ** 63n),
  -(2n ** 63n) + 1n,
  (1n << 52n) + 12345n,
];

export const wireLeaf: fc.Arbitrary<Buffer> = fc.oneof(
  leaf.map(encodeValue),
  fc.tuple(asciiText, fc.nat(3)).map(([t, extra]) => wireStr(Buffer.from(t, 'latin1'), extra)),
  fc.tuple(anyBytes, fc.nat(2)).map(([b, extra]) => wireStr(b, extra)),
  anyBytes.map((b) => wireStr(b, 0, ValueTag.STR_FS)),
  fc.constantFrom(...INT_EDGES).map((n) => encodeValue(v.int(n))),
  fc
    .tuple(
      fc.oneof(asciiText, fc.constant('café')),
      fc.oneof(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), fc.constantFrom(0n, 15n, 16n)),
    )
    .map(([name, id]) => encodeValue(v.other(name, id))),
  fc
    .tuple(fc.uint8Array({ maxLength: 12 }), fc.nat(3), fc.boolean())
    .map(([b, extra, array]) =>
      wireStr(Buffer.from(b), extra, array ? ValueTag.BYTEARRAY : ValueTag.BYTES),
    ),
);
/** Leaves the native writer writes itself. */
export const nativeLeaf: fc.Arbitrary<Buffer> = fc.oneof(
  fc.constantFrom(v.none(), v.bool(true), v.bool(false)).map(encodeValue),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map((n) => encodeValue(v.int(n))),
  fc.constantFrom(...INT_EDGES).map((n) => encodeValue(v.int(n))),
  fc.tuple(asciiText, fc.nat(3)).map(([t, extra]) => wireStr(Buffer.from(t, 'latin1'), extra)),
  fc
    .tuple(asciiText, fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }))
    .map(([name, id]) => encodeValue(v.other(name, id))),
);
/** An encoded tuple (or list) of these encoded items, `extra` more said to be cut. */
export function sequenceBytes(items: Buffer[], extra: number, tag = ValueTag.TUPLE): Buffer {
  return Buffer.concat([
    Buffer.from([tag]),
    u32(items.length + extra),
    u32(items.length),
    ...items,
  ]);
}
export function wireSequence(item: fc.Arbitrary<Buffer>): fc.Arbitrary<Buffer> {
  return fc
    .tuple(fc.array(item, { maxLength: 5 }), fc.boolean(), fc.nat(4))
    .map(([items, list, extra]) =>
      sequenceBytes(items, extra, list ? ValueTag.LIST : ValueTag.TUPLE),
    );
}
/** Argument tuples: containers three levels deep, the most the wire allows. */
export const wireArgs = fc.oneof(
  fc
    .tuple(
      fc.array(
        fc.oneof(
          wireLeaf,
          wireSequence(fc.oneof(wireLeaf, wireSequence(wireLeaf))),
          sequenceOf(leaf).map(encodeValue),
        ),
        { maxLength: 5 },
      ),
      fc.nat(2),
    )
    .map(([items, extra]) => sequenceBytes(items, extra)),
  argTuples.map(encodeValue),
);

/** Argument tuples of what the native writer writes itself, nested three deep. */
export const nativeArgs = fc
  .tuple(
    fc.array(fc.oneof(nativeLeaf, wireSequence(fc.oneof(nativeLeaf, wireSequence(nativeLeaf)))), {
      maxLength: 6,
    }),
    fc.nat(2),
  )
  .map(([items, extra]) => sequenceBytes(items, extra));

export const eventName = fc.oneof(
  fc.constantFrom('open', 'import', 'socket.connect', 'exec', 'os.system', 'io.open_code'),
  asciiText.filter((t) => t.length > 0),
  fc.constantFrom('évènement', '=cmd', 'a,b', 'x"y', '-x', '\t'),
);
export const seqNumber = fc.oneof(fc.nat(), fc.constantFrom(0, 2 ** 32 - 1, 2 ** 32, 2 ** 53 - 1));
export const time = fc.oneof(
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
  fc.constantFrom(0n, 2n ** 53n - 1n, 2n ** 53n, 2n ** 64n - 1n),
);

export const auditRecord = fc
  .tuple(
    eventName,
    fc.oneof(wireArgs, nativeArgs, nativeArgs, nativeArgs),
    seqNumber,
    time,
    fc.nat(),
    fc.boolean(),
  )
  .map(([event, args, seq, timeNs, tid, cut]) =>
    encodeAuditRecord({ event, args, seq, timeNs, tid: tid >>> 0, flags: cut ? 1 : 0 }),
  );
export const pathBytes = fc.oneof(
  asciiText.map((t) => Buffer.from(`/srv/${t}`, 'latin1')),
  asciiText.map((t) => Buffer.from(t, 'latin1')),
  asciiText.map((t) => Buffer.from(t, 'latin1')),
  anyBytes,
);
export const openCodeRecord = fc
  .tuple(
    fc.constantFrom('unknown', 'pythoncode', 'bytecode', 'zipimport') as fc.Arbitrary<
      'unknown' | 'pythoncode' | 'bytecode' | 'zipimport'
    >,
    fc.constantFrom(0, 0, 0, 1),
    pathBytes,
    fc.constantFrom(false, false, false, true),
    pathBytes,
    fc.tuple(
      fc.oneof(fc.nat(), fc.constantFrom(0, 2 ** 53 - 1)),
      time,
      time,
      fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }),
    ),
    seqNumber,
  )
  .map(([intent, status, p, fsPath, real, [size, dev, ino, mtimeNs], seq]) => {
    // The path as a str value (or str_fs), written over a placeholder of its size.
    const record = encodeOpenCodeRecord({
      intent,
      status,
      errno: status === 1 ? 2 : 0,
      size,
      dev,
      ino,
      mtimeNs,
      seq,
      sha256: Buffer.alloc(32, size % 256),
      path: v.str('x'.repeat(p.length)),
      realPath: real,
    });
    const at = 28 + 'io.open_code'.length + 72;
    if (fsPath) record[at] = ValueTag.STR_FS;
    p.copy(record, at + 9);
    return record;
  });
export const decisionRecord = fc
  .tuple(eventName, seqNumber, fc.option(asciiText, { nil: null }))
  .map(([event, eventSeq, module]) =>
    encodeDecisionRecord({
      event,
      eventSeq,
      stack: [['/srv/a.py', 'f', 3, module]],
      ...(eventSeq % 3 === 0 ? { ruleIndex: null, by: 'default' as const } : { ruleIndex: 2 }),
    }),
  );
export const anyRecord = fc.oneof(
  { arbitrary: auditRecord, weight: 6 },
  { arbitrary: openCodeRecord, weight: 2 },
  { arbitrary: decisionRecord, weight: 1 },
);

/** Where each record of a payload starts. */
export function offsetsOf(payload: Buffer): number[] {
  const offsets: number[] = [];
  for (let p = 0; p < payload.length; p += payload.readUInt32LE(p)) offsets.push(p);
  return offsets;
}

/** A session file of one process (or of records alone) holding `payloads` as its events blocks. */
/** The run block of a session made for a test: `python3` in `/`, nothing else to it. */
export function writeBareRun(w: SessionWriter): void {
  w.writeRun({
    hookscopeVersion: '0.1.0',
    command: ['python3'],
    cwd: '/',
    startedAtMs: 1,
    socketDir: '/tmp/x',
  });
}

export function writeOneProcessSession(
  file: string,
  payloads: Buffer[],
  startNs: bigint,
  withProcess = true,
): void {
  const w = SessionWriter.create(file, { overwrite: true });
  writeBareRun(w);
  if (withProcess) {
    w.writeProcess({
      session: 1,
      pid: 77,
      ppid: 1,
      parentSession: null,
      uid: 0,
      exe: '/usr/bin/python3',
      argv: ['python3'],
      cwd: '/',
      pythonVersion: '3.12.0',
      agentVersion: 't',
      startMonotonicNs: startNs.toString(),
      startRealtimeNs: '1',
      flags: { preInit: true, initializedAtStart: false, auditHook: true, openCodeHook: true },
    });
  }
  for (const payload of payloads) w.writeEvents(1, payload);
  w.close();
}

/**
 * The perfetto trace of `file` from decoded blocks (no addon) and from
 * bytes (the addon), the latter with an output of `outSize` to start.
 */
export async function perfettoBothWays(
  file: string,
  outSize?: number,
  stats?: NativeInstantStats,
  flowsPerCall?: number,
): Promise<{ decoded: string; raw: string }> {
  const collect = async (raw: boolean): Promise<string> => {
    const chunks: Buffer[] = [];
    const reader = await SessionReader.open(file);
    await perfettoReport(
      raw ? reader.rawBlocks() : reader.blocks(),
      async (chunk) => {
        chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk, 'utf8'));
      },
      raw ? { outSize, stats, flowsPerCall } : {},
    );
    return Buffer.concat(chunks).toString('utf8');
  };
  return { decoded: await collect(false), raw: await collect(true) };
}

/**
 * The sessions the report writers are checked on: the bench generator's
 * (`benchEvents` events), the sample run, and the run under a policy with
 * stacks, written into `dir`.
 */
export function writeReportSessions(
  dir: string,
  benchEvents: number,
): { bench: string; sample: string; enforced: string } {
  const bench = path.join(dir, 'bench.hks');
  writeBenchSession(bench, benchEvents);
  const sample = path.join(dir, 'sample.hks');
  writeSampleSession(sample);
  const enforced = path.join(dir, 'enforced.hks');
  writeEnforcedSampleSession(enforced, { withStack: true });
  return { bench, sample, enforced };
}
