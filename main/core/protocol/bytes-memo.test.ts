// BytesMemo remembers by a record's bytes after its header and its name's
// length, never gives one record's value for another's, and keeps at most
// a few entries per hash value: records crafted to share one hash are
// mostly not remembered, instead of making every lookup scan them all.
import { describe, expect, it } from 'vitest';

import { encodeAuditRecord, v } from '../../test-support/wire-encoder.js';
import { BytesMemo } from './bytes-memo.js';

/** "Aa" and "BB" hash alike under h * 31 + byte: strings of them all collide. */
function collidingText(n: number, width: number): string {
  let text = '';
  for (let bit = 0; bit < width; bit++) text += (n >> bit) & 1 ? 'Aa' : 'BB';
  return text;
}

describe('BytesMemo', () => {
  it('remembers by the bytes after the header, whatever the header holds', () => {
    const memo = new BytesMemo<string>();
    const a = encodeAuditRecord({ event: 'open', seq: 1, tid: 5, args: v.tuple([v.str('/a')]) });
    const again = encodeAuditRecord({
      event: 'open',
      seq: 9,
      tid: 6,
      args: v.tuple([v.str('/a')]),
    });
    const other = encodeAuditRecord({
      event: 'open',
      seq: 1,
      tid: 5,
      args: v.tuple([v.str('/b')]),
    });
    memo.set(a, 0, 'a');
    expect(memo.get(again, 0)).toBe('a');
    expect(memo.get(other, 0)).toBeUndefined();
  });

  it('tells apart records whose bytes differ only in where the name ends', () => {
    const memo = new BytesMemo<string>();
    const record = encodeAuditRecord({ event: 'ab', args: v.tuple([]) });
    memo.set(record, 0, 'name ab');
    // The same bytes, the name one byte shorter (the rest is then arguments
    // no checker would accept, but the memo must not care).
    const shorter = Buffer.from(record);
    shorter.writeUInt16LE(1, 6);
    expect(memo.get(shorter, 0)).toBeUndefined();
    expect(memo.get(record, 0)).toBe('name ab');
  });

  it('keeps a few records per hash value, and gives none for another', () => {
    const memo = new BytesMemo<number>();
    const records = Array.from({ length: 1024 }, (_, n) =>
      encodeAuditRecord({ event: 'open', args: v.tuple([v.str(collidingText(n, 10))]) }),
    );
    for (const [n, record] of records.entries()) {
      expect(memo.get(record, 0)).toBeUndefined();
      memo.set(record, 0, n);
    }
    const remembered = records.map((record) => memo.get(record, 0));
    // Each record that is remembered is remembered as itself.
    for (const [n, value] of remembered.entries()) if (value !== undefined) expect(value).toBe(n);
    expect(remembered.filter((value) => value !== undefined)).toHaveLength(8);
  });
});
