// The latest events of one process by sequence number, for joining a
// decision record to the event it decided: a decision names its event by
// sequence number and follows it within a few records.
//
// A fixed ring, not a Map trimmed from the front: V8's ordered hash tables
// keep deleted slots until they rehash, and finding the oldest key scans
// past all of them each time (indexing a 100k-event session took three
// times as long that way).

/** Events remembered per process. */
export const RECENT_SEQS = 8192;

export class RecentSeqs {
  private readonly seqs = new Float64Array(RECENT_SEQS);
  private readonly values = new Uint32Array(RECENT_SEQS);
  private count = 0;

  /** Remembers event `seq` with a value (its index), forgetting the oldest beyond RECENT_SEQS. */
  add(seq: number, value: number): void {
    const slot = this.count++ % RECENT_SEQS;
    this.seqs[slot] = seq;
    this.values[slot] = value;
  }

  /** The value of event `seq`, newest first; undefined when it is not (or no longer) here. */
  find(seq: number): number | undefined {
    const kept = Math.min(this.count, RECENT_SEQS);
    for (let k = 1; k <= kept; k++) {
      const slot = (this.count - k) % RECENT_SEQS;
      if (this.seqs[slot] === seq) return this.values[slot];
    }
    return undefined;
  }
}

/**
 * The latest `limit` records added, found by (session, sequence number):
 * what a decision of code needs of the open-code record it decides. A
 * fixed ring for the same reason as RecentSeqs.
 */
export class RecentRecords<T> {
  private readonly sessions: Uint32Array;
  private readonly seqs: Float64Array;
  private readonly values: Array<T | undefined>;
  private count = 0;

  constructor(private readonly limit: number) {
    this.sessions = new Uint32Array(limit);
    this.seqs = new Float64Array(limit);
    this.values = new Array<T | undefined>(limit);
  }

  add(session: number, seq: number, value: T): void {
    const slot = this.count++ % this.limit;
    this.sessions[slot] = session;
    this.seqs[slot] = seq;
    this.values[slot] = value;
  }

  /** The newest record added as (session, seq); undefined when it is not (or no longer) here. */
  find(session: number, seq: number): T | undefined {
    const kept = Math.min(this.count, this.limit);
    for (let k = 1; k <= kept; k++) {
      const slot = (this.count - k) % this.limit;
      if (this.seqs[slot] === seq && this.sessions[slot] === session) return this.values[slot];
    }
    return undefined;
  }
}
