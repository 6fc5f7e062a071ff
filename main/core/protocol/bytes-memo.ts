// What was worked out from a run of record bytes, remembered by those
// bytes. A large session repeats itself: the same few files load over and
// over, the same commands run, the same names are raised. Deciding again
// from the bytes whether they were seen is far cheaper than decoding them
// again. Bounded by entries and by bytes kept, since the bytes are
// whatever the target chose; past the bound, nothing new is remembered.

export class BytesMemo<T> {
  private readonly buckets = new Map<number, { bytes: Buffer; value: T }[]>();
  private entries = 0;
  private bytesKept = 0;

  constructor(
    private readonly maxEntries = 65_536,
    private readonly maxBytes = 8 * 1024 * 1024,
  ) {}

  /** What was set for exactly the bytes src[start, end), if anything. */
  get(src: Buffer, start: number, end: number): T | undefined {
    const bucket = this.buckets.get(hashOf(src, start, end));
    if (bucket === undefined) return undefined;
    for (let e = 0; e < bucket.length; e++) {
      const entry = bucket[e] as { bytes: Buffer; value: T };
      if (entry.bytes.length === end - start && entry.bytes.compare(src, start, end) === 0) {
        return entry.value;
      }
    }
    return undefined;
  }

  /** Remembers `value` for src[start, end) (bytes not already set), within the bounds. */
  set(src: Buffer, start: number, end: number, value: T): void {
    if (this.entries >= this.maxEntries || this.bytesKept + (end - start) > this.maxBytes) return;
    const entry = { bytes: Buffer.from(src.subarray(start, end)), value };
    const hash = hashOf(src, start, end);
    const bucket = this.buckets.get(hash);
    if (bucket === undefined) this.buckets.set(hash, [entry]);
    else bucket.push(entry);
    this.entries++;
    this.bytesKept += end - start;
  }
}

function hashOf(src: Buffer, start: number, end: number): number {
  let hash = end - start;
  for (let i = start; i < end; i++) hash = (Math.imul(hash, 31) + (src[i] as number)) | 0;
  return hash;
}
