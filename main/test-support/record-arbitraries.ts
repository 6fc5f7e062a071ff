// fast-check arbitraries for agent values and argument tuples within the
// agent's limits, shared by the decoder's and the report writers'
// property tests.
import fc from 'fast-check';

import type { SequenceValue, Value } from '../core/protocol/records.js';
import { v } from './wire-encoder.js';

/** No lone surrogates: policies and the wire carry UTF-8. */
export const wellFormed = (s: string): boolean => Buffer.from(s, 'utf8').toString('utf8') === s;

/** Values within the agent's limits (strings 4096 bytes, bytes 256, 64 items, 3 levels). */
export const text = fc.string({ unit: 'binary', maxLength: 40 }).filter(wellFormed);
export const leaf: fc.Arbitrary<Value> = fc.oneof(
  fc.constant(v.none()),
  fc.boolean().map(v.bool),
  fc.bigInt({ min: -(2n ** 63n), max: 2n ** 63n - 1n }).map(v.int),
  fc.double().map(v.float),
  fc.double().map(v.intApprox),
  text.map((s) => v.str(s)),
  fc
    .tuple(fc.uint8Array({ maxLength: 256 }), fc.nat(1000))
    .map(([b, extra]) => v.bytes(Buffer.from(b), b.length + (b.length === 256 ? extra : 0))),
  fc.uint8Array({ maxLength: 64 }).map((b) => v.bytearray(Buffer.from(b))),
  fc
    .tuple(text, text, fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 }))
    .map(([f, n, l]) => v.code(f, n, l)),
  fc
    .tuple(
      fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_.]{0,30}$/),
      fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }),
    )
    .map(([name, id]) => v.other(name, id)),
);
export function sequenceOf(item: fc.Arbitrary<Value>): fc.Arbitrary<SequenceValue> {
  return fc
    .tuple(fc.array(item, { maxLength: 6 }), fc.boolean(), fc.nat(100))
    .map(([items, list, extra]) => (list ? v.list(items, items.length + extra) : v.tuple(items)));
}
const level3 = sequenceOf(leaf);
const level2 = sequenceOf(fc.oneof(leaf, level3));
/** An argument tuple: containers nested at most three deep, as the agent writes them. */
export const args: fc.Arbitrary<SequenceValue> = fc
  .array(fc.oneof(leaf, level2), { maxLength: 6 })
  .map((items) => v.tuple(items));
