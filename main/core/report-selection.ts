// What a report keeps of a session (--pid, --event, the UI's current
// filter) and where it writes: shared by the formats, each of which the
// report loads only when it is asked for (report.ts).
import { RecordKind, recordEventAt } from './protocol/records.js';
import { RecentSeqs } from './recent-seqs.js';
import type { RawEventsBlock, RawSessionBlock } from './session-file.js';

/** Where the report goes: a stream, written in chunks, with backpressure. */
export interface Sink {
  /**
   * Resolves when the stream takes the chunk (at once unless it is full);
   * `written` is called once the chunk is written out, when its buffer
   * may be used again (never, when the write fails or the stream may keep
   * the chunk).
   */
  write(chunk: string | Buffer, written?: () => void): Promise<void>;
}

export interface Filter {
  pid: number | undefined;
  match: ((event: string) => boolean) | null;
  keepEvent: ((position: number) => boolean) | null;
}

/**
 * The filter over records left as bytes: which records of each events
 * block it keeps, by their offsets in the block. A decision goes with the
 * event it decided; event positions count every event of the session
 * that is not a decision, in file order.
 */
export class RawSelection {
  private readonly pids = new Map<number, number>();
  private position = 0;
  private readonly kept = new Map<number, RecentSeqs>();
  private readonly matched = new Map<string, boolean>();

  constructor(private readonly filter: Filter) {}

  /** Every block passes through here, in file order. */
  see(block: RawSessionBlock): void {
    if (block.type === 'process') this.pids.set(block.process.session, block.process.pid);
  }

  /** The offsets of the records of `block` the filter keeps (often none). */
  records(block: RawEventsBlock): number[] {
    const { pid, keepEvent, match } = this.filter;
    const src = block.records;
    const offsets: number[] = [];
    if (pid !== undefined && this.pids.get(block.sessionId) !== pid) {
      if (keepEvent !== null) {
        for (let p = 0; p < src.length; p += src.readUInt32LE(p)) {
          if (src[p + 4] !== RecordKind.DECISION) this.position++;
        }
      }
      return offsets;
    }
    let seqs: RecentSeqs | undefined;
    if (keepEvent !== null) {
      seqs = this.kept.get(block.sessionId);
      if (seqs === undefined) this.kept.set(block.sessionId, (seqs = new RecentSeqs()));
    }
    for (let p = 0; p < src.length; p += src.readUInt32LE(p)) {
      if (seqs !== undefined && keepEvent !== null) {
        if (src[p + 4] === RecordKind.DECISION) {
          // The decided event's seq follows the name (docs/protocol.md).
          const q = p + 28 + src.readUInt16LE(p + 6);
          const eventSeq = src.readUInt32LE(q) + src.readUInt32LE(q + 4) * 0x1_0000_0000;
          if (seqs.find(eventSeq) === undefined) continue;
        } else {
          if (!keepEvent(this.position++)) continue;
          seqs.add(src.readUInt32LE(p + 12) + src.readUInt32LE(p + 16) * 0x1_0000_0000, 1);
        }
      }
      if (match !== null && !this.matches(recordEventAt(src, p))) continue;
      offsets.push(p);
    }
    return offsets;
  }

  private matches(event: string): boolean {
    let yes = this.matched.get(event);
    if (yes === undefined) {
      yes = this.filter.match!(event);
      if (this.matched.size < 4096) this.matched.set(event, yes);
    }
    return yes;
  }
}

/** Blocks with events narrowed to the filter: the kept records, still bytes. */
export async function* filterRawBlocks(
  blocks: AsyncIterable<RawSessionBlock>,
  filter: Filter,
): AsyncGenerator<RawSessionBlock> {
  if (filter.pid === undefined && filter.match === null && filter.keepEvent === null) {
    yield* blocks;
    return;
  }
  const selection = new RawSelection(filter);
  for await (const block of blocks) {
    selection.see(block);
    if (block.type !== 'events') {
      yield block;
      continue;
    }
    const kept = selection.records(block);
    if (kept.length === block.count) yield block;
    else if (kept.length > 0) {
      const src = block.records;
      const parts = kept.map((p) => src.subarray(p, p + src.readUInt32LE(p)));
      yield { ...block, records: Buffer.concat(parts), count: kept.length };
    }
  }
}
