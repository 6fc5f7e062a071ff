// What was worked out from a record, remembered by its bytes after the
// header (its name, then its arguments or fields): everything that does
// not change from one load of the same file, or one run of the same
// command, to the next. A large session repeats itself, and deciding from
// the bytes whether a record was seen is far cheaper than decoding it
// again. The header (sequence number, time, thread) is not part of the
// key, so nothing remembered may depend on it; the name's length, which
// the header holds, is.
//
// Bounded, since the bytes are whatever the target chose: in entries, in
// bytes kept, and in entries per hash value, so that records crafted to
// share one hash cost a few comparisons each, not a scan of thousands.
// Past a bound, nothing new is remembered and the caller works it out.

import { RECORD_HEADER_SIZE, u16, u32 } from './records.js';

/** Entries kept per hash value. */
const MAX_PER_HASH = 8;

interface Entry<T> {
  nameLength: number;
  bytes: Buffer;
  value: T;
}

export class BytesMemo<T> {
  private readonly buckets = new Map<number, Entry<T>[]>();
  private entries = 0;
  private bytesKept = 0;

  constructor(
    private readonly maxEntries = 65_536,
    private readonly maxBytes = 8 * 1024 * 1024,
  ) {}

  /** What was set for a record like the one at `p` of a checked payload, if anything. */
  get(src: Buffer, p: number): T | undefined {
    const nameLength = u16(src, p + 6);
    const start = p + RECORD_HEADER_SIZE;
    const end = p + u32(src, p);
    const bucket = this.buckets.get(hashOf(src, start, end, nameLength));
    if (bucket === undefined) return undefined;
    for (let e = 0; e < bucket.length; e++) {
      const entry = bucket[e] as Entry<T>;
      if (
        entry.nameLength === nameLength &&
        entry.bytes.length === end - start &&
        entry.bytes.compare(src, start, end) === 0
      ) {
        return entry.value;
      }
    }
    return undefined;
  }

  /** Remembers `value` for records like the one at `p` (not already set), within the bounds. */
  set(src: Buffer, p: number, value: T): void {
    const nameLength = u16(src, p + 6);
    const start = p + RECORD_HEADER_SIZE;
    const end = p + u32(src, p);
    if (this.entries >= this.maxEntries || this.bytesKept + (end - start) > this.maxBytes) return;
    const hash = hashOf(src, start, end, nameLength);
    let bucket = this.buckets.get(hash);
    if (bucket === undefined) this.buckets.set(hash, (bucket = []));
    if (bucket.length >= MAX_PER_HASH) return;
    bucket.push({ nameLength, bytes: Buffer.from(src.subarray(start, end)), value });
    this.entries++;
    this.bytesKept += end - start;
  }
}

function hashOf(src: Buffer, start: number, end: number, nameLength: number): number {
  let hash = (end - start) * 65_537 + nameLength;
  for (let i = start; i < end; i++) hash = (Math.imul(hash, 31) + (src[i] as number)) | 0;
  return hash;
}
