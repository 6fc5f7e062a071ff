// The native events checker (native/addon/src/events-check.cc) accepts
// exactly the payloads validateEventsPayload accepts, with the same count:
// on valid payloads of every record and value kind, on the same payloads
// damaged (bytes changed, lengths rewritten, cut anywhere), on bytes at
// random, on every limit records.test.ts checks, and on the bench
// generator's whole session.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { writeBenchSession } from '../../test-support/bench-session.js';
import { tempDir } from '../../test-support/cli.js';
import { args, text } from '../../test-support/record-arbitraries.js';
import {
  encodeAuditRecord,
  encodeDecisionRecord,
  encodeOpenCodeRecord,
  v,
} from '../../test-support/wire-encoder.js';
import { SessionReader } from '../session-file.js';
import { checkEventsPayload, nativeEventsCheck } from './native-check.js';
import { ProtocolError } from './frame.js';
import {
  NATIVE_LOAD_EVENT,
  OPEN_CODE_EVENT,
  OPEN_CODE_INTENTS,
  validateEventsPayload,
} from './records.js';

const RUNS = Number(process.env['FAST_CHECK_RUNS'] ?? 300);

const native = nativeEventsCheck();

/** What validateEventsPayload says: the count, or -1 for a ProtocolError. */
function typescriptCount(payload: Buffer): number {
  try {
    return validateEventsPayload(payload);
  } catch (error) {
    if (error instanceof ProtocolError) return -1;
    throw error;
  }
}

function expectSameAnswer(payload: Buffer): void {
  expect(native!(payload)).toBe(typescriptCount(payload));
}

const eventName = fc.oneof(
  fc.stringMatching(/^[a-z_.]{0,12}$/),
  fc.constantFrom(OPEN_CODE_EVENT, NATIVE_LOAD_EVENT),
);

const frame = fc.tuple(text, text, fc.nat(), fc.option(text));

/** Records of every kind, within the limits, some at their edges. */
const record = fc.oneof(
  fc
    .tuple(eventName, args, fc.nat({ max: 3 }))
    .map(([event, a, flags]) => encodeAuditRecord({ event, args: a, flags })),
  fc
    .record({
      native: fc.boolean(),
      intent: fc.constantFrom(...OPEN_CODE_INTENTS),
      status: fc.nat({ max: 1 }),
      path: fc.oneof(
        text.map((t) => v.str(t)),
        fc.constant(v.strFs(Buffer.from([0x2f, 0xff]), '/\udcff')),
      ),
      real: text,
      size: fc.constantFrom(0, 2 ** 53 - 1),
    })
    .map((r) =>
      encodeOpenCodeRecord({
        event: r.native ? NATIVE_LOAD_EVENT : OPEN_CODE_EVENT,
        intent: r.intent,
        status: r.status,
        size: r.size,
        path: r.path,
        realPath: r.real,
        sha256: Buffer.alloc(32, 7),
      }),
    ),
  fc
    .record({
      event: eventName,
      outcome: fc.constantFrom('allowed' as const, 'denied' as const),
      action: fc.constantFrom('allow' as const, 'deny' as const, 'ask' as const),
      by: fc.constantFrom('rule' as const, 'default' as const, 'user' as const, 'timeout' as const),
      ruleIndex: fc.option(fc.nat({ max: 9 })),
      stack: fc.option(fc.array(frame, { maxLength: 3 })),
    })
    .map((d) =>
      encodeDecisionRecord({
        event: d.event,
        eventSeq: 1,
        outcome: d.outcome,
        action: d.action,
        by: d.by,
        ruleIndex: d.ruleIndex,
        stack: d.stack ?? undefined,
      }),
    ),
);
const payload = fc.array(record, { minLength: 1, maxLength: 4 }).map((r) => Buffer.concat(r));

describe('the native events checker', () => {
  it('is built into the addon', () => {
    expect(native).not.toBeNull();
  });

  it('accepts the valid payloads, with their record count', () => {
    fc.assert(
      fc.property(payload, (bytes) => expectSameAnswer(bytes)),
      { numRuns: RUNS },
    );
  });

  it('gives the same answer on damaged payloads: bytes changed, lengths rewritten, cut', () => {
    const damaged = fc
      .tuple(
        payload,
        // Changes land in the first bytes (headers, tags, lengths) half the time.
        fc.array(fc.tuple(fc.oneof(fc.nat({ max: 40 }), fc.nat()), fc.nat({ max: 255 })), {
          maxLength: 4,
        }),
        fc.option(fc.tuple(fc.nat(), fc.nat({ max: 0xffff }))),
        fc.option(fc.nat()),
      )
      .map(([bytes, flips, length, cut]) => {
        let b = Buffer.from(bytes);
        for (const [at, value] of flips) b[at % b.length] = value;
        if (length !== null) {
          const at = length[0] % Math.max(1, b.length - 3);
          b.writeUInt32LE(length[1], at);
        }
        if (cut !== null) b = b.subarray(0, cut % (b.length + 1));
        return b;
      });
    fc.assert(
      fc.property(damaged, (bytes) => expectSameAnswer(bytes)),
      { numRuns: RUNS * 10 },
    );
  });

  it('gives the same answer on bytes at random', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) =>
        expectSameAnswer(Buffer.from(bytes)),
      ),
      { numRuns: RUNS * 3 },
    );
  });

  it('gives the same answer at every limit and every cut', () => {
    const edges = [
      v.tuple([v.str('x'.repeat(4096), 9999), v.bytes(Buffer.alloc(256), 256)]),
      v.tuple([v.str('x'.repeat(4097), 5000)]),
      v.tuple([v.str('abc', 2)]),
      v.tuple([v.bytes(Buffer.alloc(257), 300)]),
      v.tuple([v.list(Array.from({ length: 64 }, () => v.none()))]),
      v.tuple([v.list(Array.from({ length: 65 }, () => v.none()))]),
      v.tuple([v.list([v.tuple([v.int(1)])])]),
      v.tuple([v.list([v.tuple([v.list([])])])]),
      v.list([]),
    ];
    for (const a of edges) expectSameAnswer(encodeAuditRecord({ event: 'e', args: a }));
    // A record's length past its size limit, and every cut of a sample.
    const big = encodeAuditRecord({ event: 'e', args: v.tuple([v.str('x'.repeat(4096))]) });
    expectSameAnswer(Buffer.concat([big, big, big, big]));
    const records = Buffer.concat([
      encodeAuditRecord({ event: 'open', args: v.tuple([v.str('/a'), v.float(1.5), v.none()]) }),
      encodeOpenCodeRecord({ path: v.str('/m.py'), realPath: '/m.py', sha256: Buffer.alloc(32) }),
      encodeDecisionRecord({ event: 'open', eventSeq: 0, stack: [['/a.py', 'f', 3, 'a']] }),
    ]);
    for (let cut = 0; cut <= records.length; cut++) expectSameAnswer(records.subarray(0, cut));
    // The empty payload is refused by both.
    expect(native!(Buffer.alloc(0))).toBe(-1);
  });

  it('counts the blocks of a whole session as the TypeScript checker does', async () => {
    const file = `${tempDir()}/bench.hks`;
    writeBenchSession(file, 20_000);
    let blocks = 0;
    for await (const block of (await SessionReader.open(file)).rawBlocks()) {
      if (block.type !== 'events') continue;
      expect(native!(block.records)).toBe(validateEventsPayload(block.records));
      expect(checkEventsPayload(block.records)).toBe(block.count);
      blocks++;
    }
    expect(blocks).toBeGreaterThan(0);
  });

  it('leaves naming the fault to the TypeScript checker', () => {
    const bad = encodeAuditRecord({ event: 'e', args: v.tuple([v.str('abc', 2)]) });
    expect(() => checkEventsPayload(bad)).toThrow(/keeps 3 bytes but says it has only 2/);
  });
});
