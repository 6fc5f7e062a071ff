// Property tests of the record and payload decoders (docs/protocol.md,
// "Records", "Values", "Asks"): whatever an agent sends in an EVENTS or
// ASK payload either decodes or fails with ProtocolError, never another
// exception; records the test encoder builds within the limits decode
// back to exactly what was encoded.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { args, text } from '../../test-support/record-arbitraries.js';
import {
  encodeAuditRecord,
  encodeDecisionRecord,
  encodeOpenCodeRecord,
  v,
} from '../../test-support/wire-encoder.js';
import { parseAsk } from './ask.js';
import { ProtocolError } from './frame.js';
import { parseBye, parseDrops, parseHello, parseWelcome } from './hello.js';
import { parsePolicyAck } from './policy-ack.js';
import { decodeRecords } from './records.js';

/** Bounded: seconds, not minutes (FAST_CHECK_RUNS raises it for a longer local run). */
const RUNS = Number(process.env['FAST_CHECK_RUNS'] ?? 300);
const eventName = fc.stringMatching(/^[a-z_.]{1,40}$/);

function expectOnlyProtocolErrors(fn: () => unknown): void {
  try {
    fn();
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
  }
}

describe('record decoding', () => {
  it('audit records round-trip through the test encoder', () => {
    fc.assert(
      fc.property(
        eventName,
        args,
        fc.nat(),
        fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
        fc.nat(),
        (event, a, seq, t, tid) => {
          const bytes = encodeAuditRecord({ event, args: a, seq, timeNs: t, tid: tid >>> 0 });
          const [record] = decodeRecords(bytes);
          expect(record).toMatchObject({ kind: 'audit', event, seq, timeNs: t, tid: tid >>> 0 });
          expect(record!.kind === 'audit' && record!.args).toEqual(a);
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('arbitrary bytes and damaged records throw only ProtocolError', () => {
    const valid = fc.oneof(
      fc.tuple(eventName, args).map(([event, a]) => encodeAuditRecord({ event, args: a })),
      fc
        .tuple(text, text)
        .map(([p, real]) =>
          encodeOpenCodeRecord({ path: v.str(p), realPath: real, sha256: Buffer.alloc(32, 7) }),
        ),
      eventName.map((event) =>
        encodeDecisionRecord({ event, eventSeq: 3, stack: [['/a.py', 'f', 1, null]] }),
      ),
    );
    const damaged = fc
      .tuple(
        fc.array(valid, { minLength: 1, maxLength: 3 }),
        fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
        fc.option(fc.nat()),
      )
      .map(([records, flips, cut]) => {
        let bytes = Buffer.concat(records);
        for (const [at, value] of flips) bytes[at % bytes.length] = value;
        if (cut !== null) bytes = bytes.subarray(0, cut % (bytes.length + 1));
        return bytes;
      });
    fc.assert(
      fc.property(
        fc.oneof(
          damaged,
          fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
        ),
        (bytes) => {
          expectOnlyProtocolErrors(() => decodeRecords(bytes));
          // The same bytes as an ASK body (16-byte header, then one record).
          const ask = Buffer.alloc(16 + bytes.length);
          ask.writeUInt32LE(1, 0);
          ask.writeUInt32LE(5000, 12);
          bytes.copy(ask, 16);
          expectOnlyProtocolErrors(() => parseAsk(ask));
          expectOnlyProtocolErrors(() => parseAsk(bytes));
        },
      ),
      { numRuns: RUNS * 3 },
    );
  });

  it('the other agent payloads throw only ProtocolError on arbitrary bytes', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 400 }), (array) => {
        const bytes = Buffer.from(array);
        for (const parse of [parseHello, parseWelcome, parseDrops, parseBye, parsePolicyAck]) {
          expectOnlyProtocolErrors(() => parse(bytes));
        }
      }),
      { numRuns: RUNS * 3 },
    );
  });
});
