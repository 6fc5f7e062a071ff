// The records of events payloads with their event names and repeating
// bodies as small integer ids, worked out by the addon in one call per
// batch (native/addon/src/record-scan.h). What counts by name (the summary,
// policy learning, the html report's timeline) reads an id instead of
// decoding the name of every record, and what is worked out from a
// record's bytes (the file an open-code record loaded, the command a
// subprocess event ran) is kept by body id instead of hashing the bytes in
// TypeScript each time: a session loads the same files over and over.
//
// An id of -1 means "work it out from the bytes": a name or body the
// bounded tables did not take, or every record when the addon is missing
// (a renderer test, a broken build): the same results, slower.

import { nativeAddon } from '../native-addon.js';
import { RECORD_HEADER_SIZE, RecordKind, recordEventAt, u16, u32 } from './records.js';

declare const recordScanBrand: unique symbol;
interface NativeScan {
  readonly [recordScanBrand]: true;
}

interface ScanAddon {
  newRecordScan(): NativeScan;
  /**
   * The name's id among records of `kind`; -1 when the table does not take
   * it. A `quiet` name's records are counted (scanCounts), not listed. A
   * `countBodies` name's record whose body's last record listed came in
   * the scan's epoch (setScanEpoch) is counted by body (scanBodyCounts).
   */
  addScanName(
    scan: NativeScan,
    kind: number,
    name: Uint8Array,
    bodies: boolean,
    quiet?: boolean,
    row?: number,
    countBodies?: boolean,
  ): number;
  setScanEpoch(scan: NativeScan, epoch: number): void;
  /** out[id] = the records of body `id` counted by body; returns the scan's body count. */
  scanBodyCounts(scan: NativeScan, out: Float64Array): number;
  /** From now on the records of name `id` are quiet (or not), counted by time at `row` (≥ 0). */
  setScanQuiet(scan: NativeScan, id: number, quiet: boolean, row?: number): boolean;
  /** out[id] = the records of quiet name `id` scanned so far; returns the scan's name count. */
  scanCounts(scan: NativeScan, out: Float64Array): number;
  /**
   * Triples (offset, name id, body id) of the records of `src` from byte
   * offset `from` into `out`; state[0] = next offset, state[1] = records
   * written. Throws on a malformed record.
   */
  scanRecords(
    scan: NativeScan,
    src: Uint8Array,
    from: number,
    out: Int32Array,
    state: Float64Array,
    counts?: Float64Array,
    timeline?: Float64Array,
  ): ScanStop;
}

/** A timeline's steps as a scan counts into them (ScanTimeline). */
export interface TimelineSteps {
  /** rows × steps counts, row-major. */
  counts: Float64Array;
  rows: number;
  steps: number;
  baseNs: number;
  perStep: number;
}

/**
 * What a scan counts the records of timed names into (countInto): the
 * html report's FineTimeline. An event at time t (ns, as the nearest
 * double) goes to step x = (t - baseNs) * perStep, truncated, of its row,
 * counts[row * steps + x], when 0 ≤ x < steps; the scan gives the others
 * as any record, for the caller to count (and make room for). A batch
 * ends after any record it gives whose time is outside the steps: the
 * caller changes the steps before anything after that record is counted,
 * as it would taking the records one by one (the steps chosen depend on
 * the times seen before).
 */
export interface ScanTimeline {
  /** The steps as they are now; null while the timeline cannot be counted into. */
  countable(): TimelineSteps | null;
  /** Takes in the first and last times the scan counted. */
  counted(firstNs: number, lastNs: number): void;
}

/** Why scanRecords returned (record-scan.h). */
const enum ScanStop {
  DONE = 0,
  NAME = 2,
  ROOM = 3,
  /** With a timeline: the last record given has its time outside the steps. */
  OUTSIDE = 5,
}

/** Records per batch: a few hundred KiB of output, reused. */
const BATCH_RECORDS = 8192;

let addon: ScanAddon | null | undefined;
/** False: new scans run as without the addon (tests of the fallback paths). */
let useAddon = true;

/**
 * Makes the scans created from now on work as they do when the addon is
 * missing (every id -1) or, with true, use it again: the readers' fallback
 * paths are tested this way.
 */
export function scanWithAddon(use: boolean): void {
  useAddon = use;
}

function scanAddon(): ScanAddon | null {
  if (addon === undefined) {
    try {
      const loaded = nativeAddon<Partial<ScanAddon>>();
      addon =
        typeof loaded.scanRecords === 'function' &&
        typeof loaded.scanCounts === 'function' &&
        typeof loaded.setScanQuiet === 'function' &&
        typeof loaded.scanBodyCounts === 'function'
          ? (loaded as ScanAddon)
          : null;
    } catch {
      addon = null;
    }
  }
  return addon;
}

/**
 * Scans events payloads (checked ones: validateEventsPayload or the
 * reader's check) batch by batch:
 *
 *     for (let n = scan.first(src); n > 0; n = scan.next()) {
 *       for (let i = 0; i < 3 * n; i += 3) { scan.out[i], scan.out[i + 1], scan.out[i + 2] }
 *     }
 *
 * gives each record's offset, name id and body id in file order. Ids
 * last as long as the scan: one scan per consumer and session.
 */
export class RecordScan {
  /** Per record of the current batch: offset, name id, body id (-1: none). */
  readonly out = new Int32Array(3 * BATCH_RECORDS);
  /** Event names by id. */
  readonly events: string[] = [];
  private readonly native: ScanAddon | null;
  private readonly handle: NativeScan | null;
  private readonly state = new Float64Array(2);
  /** Kinds by name id (for countInto). */
  private readonly kinds: RecordKind[] = [];
  /** Set by countInto: the timeline, which names it takes, and its arguments to the addon. */
  private timed: {
    timeline: ScanTimeline;
    row: (kind: RecordKind, event: string) => number | null;
    state: Float64Array;
  } | null = null;
  private src: Buffer = Buffer.alloc(0);
  private from = 0;

  /**
   * `wantsBody`: whether records of this kind and name get body ids
   * (asked once per name). `quiet`: whether they are only to be counted
   * (quietCounts) and never listed (asked once per name, at its first
   * record; without the addon every record is listed). `countsBodies`:
   * whether a record whose bytes after the name were last listed in the
   * same epoch (setEpoch) is counted by its body id (bodyCounts) and for
   * its name (quietCounts) instead of listed (asked once per name, at its
   * first record; without the addon, or past the body table, every record
   * is listed).
   */
  constructor(
    private readonly wantsBody: (kind: RecordKind, event: string) => boolean,
    private readonly quiet: (kind: RecordKind, event: string) => boolean = () => false,
    private readonly countsBodies: (kind: RecordKind, event: string) => boolean = () => false,
  ) {
    this.native = useAddon ? scanAddon() : null;
    this.handle = this.native?.newRecordScan() ?? null;
  }

  /** Whether the addon does the scanning (every id is -1 without it). */
  get isNative(): boolean {
    return this.native !== null;
  }

  /** Starts on a payload; the first batch's record count (0: no records). */
  first(src: Buffer): number {
    this.src = src;
    this.from = 0;
    return this.next();
  }

  /** The next batch's record count (0: the payload is done). */
  next(): number {
    const src = this.src;
    if (this.from >= src.length) return 0;
    if (this.native === null || this.handle === null) return this.plainBatch();
    let named = -1;
    for (;;) {
      let stop: ScanStop;
      const steps = this.timed?.timeline.countable() ?? null;
      if (this.timed === null || steps === null) {
        stop = this.native.scanRecords(this.handle, src, this.from, this.out, this.state);
      } else {
        const t = this.timed.state;
        t[0] = steps.baseNs;
        t[1] = steps.perStep;
        t[2] = steps.rows;
        t[3] = steps.steps;
        t[4] = Infinity;
        t[5] = -Infinity;
        try {
          stop = this.native.scanRecords(
            this.handle,
            src,
            this.from,
            this.out,
            this.state,
            steps.counts,
            t,
          );
        } finally {
          // What was counted before a malformed record stays counted.
          if ((t[4] as number) <= (t[5] as number)) {
            this.timed.timeline.counted(t[4] as number, t[5] as number);
          }
        }
      }
      const written = this.state[1] as number;
      const at = this.state[0] as number;
      this.from = at;
      if (stop !== ScanStop.NAME || written > 0) return written;
      // A name not seen yet: named here once, then the scan goes on. The
      // addon stops only for a name it will take; should it stop twice on
      // one record all the same, that record is the caller's.
      const kind = src[at + 4] as RecordKind;
      const start = at + RECORD_HEADER_SIZE;
      const name = src.subarray(start, start + u16(src, at + 6));
      const event = recordEventAt(src, at);
      const row = this.timed?.row(kind, event) ?? null;
      const id =
        at === named
          ? -1
          : this.native.addScanName(
              this.handle,
              kind,
              name,
              this.wantsBody(kind, event),
              row !== null || this.quiet(kind, event),
              row ?? -1,
              this.countsBodies(kind, event),
            );
      named = at;
      if (id >= 0) {
        this.events[id] = event;
        this.kinds[id] = kind;
        continue;
      }
      this.out[0] = at;
      this.out[1] = -1;
      this.out[2] = -1;
      this.from = at + u32(src, at);
      return 1;
    }
  }

  /**
   * From now on, the records of each name `row` gives a number for are
   * quiet: counted (quietCounts) and, at that row of `timeline` when it
   * is ≥ 0, counted by time, instead of listed; one whose time is outside
   * the timeline's steps is listed. Names given null are as before.
   * Without the addon, nothing changes.
   */
  countInto(timeline: ScanTimeline, row: (kind: RecordKind, event: string) => number | null): void {
    if (this.native === null || this.handle === null) return;
    // Names it made quiet stay quiet: a second timeline or choice of names would be half applied.
    if (this.timed !== null) throw new Error('countInto: a scan counts into one timeline, once');
    this.timed = { timeline, row, state: new Float64Array(6) };
    for (let id = 0; id < this.events.length; id++) {
      const r = row(this.kinds[id] as RecordKind, this.events[id] as string);
      if (r !== null) this.native.setScanQuiet(this.handle, id, true, r);
    }
  }

  /** The epoch (a whole number below 2^32) the records scanned from now on come in. */
  setEpoch(epoch: number): void {
    if (this.native !== null && this.handle !== null) this.native.setScanEpoch(this.handle, epoch);
  }

  /** By body id: the records of countsBodies names counted by their body, not listed. */
  bodyCounts(): Float64Array {
    if (this.native === null || this.handle === null) return new Float64Array(0);
    const count = this.native.scanBodyCounts(this.handle, new Float64Array(0));
    const counts = new Float64Array(count);
    this.native.scanBodyCounts(this.handle, counts);
    return counts;
  }

  /** By name id (`events`): the records of each quiet name scanned so far (0 for the rest). */
  quietCounts(): Float64Array {
    const counts = new Float64Array(this.events.length);
    if (this.native !== null && this.handle !== null) this.native.scanCounts(this.handle, counts);
    return counts;
  }

  /** Without the addon: offsets only. */
  private plainBatch(): number {
    const src = this.src;
    let n = 0;
    let p = this.from;
    while (p < src.length && n < BATCH_RECORDS) {
      const length = p + 4 <= src.length ? u32(src, p) : 0;
      if (length < RECORD_HEADER_SIZE || length > src.length - p) {
        throw new Error(`malformed record data: record at offset ${p} runs past the payload`);
      }
      this.out[3 * n] = p;
      this.out[3 * n + 1] = -1;
      this.out[3 * n + 2] = -1;
      n++;
      p += length;
    }
    this.from = p;
    return n;
  }
}
