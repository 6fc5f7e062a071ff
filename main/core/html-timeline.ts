// The html report's timeline, counted in the same single pass over the
// session as everything else in the report: the run's time range is known
// only at its end, so events are counted in fine steps first, and the
// steps are shared out among the chart's buckets once the range is known.
//
// A step is a power of two nanoseconds, the smallest for which the times
// seen so far span fewer than half of FINE_STEPS steps, with a quarter of
// them spare on either side; a time outside the steps moves them, doubling
// the step as needed (two steps become one, exactly). So an event is
// charted where its time rounded down to its step falls, and a step is
// under 4 * span / (FINE_STEPS - 2): an event less than about 1/4096 of
// the run after a bucket's start may be charted in the bucket before (with
// 120 buckets, 3% of a bucket). Memory is FINE_STEPS counts per row, whatever the
// session's size. Times past 2^53 ns (104 days of uptime) are counted as
// the nearest double, which the steps tolerate.

/** Steps per row. */
export const FINE_STEPS = 16_384;

export class FineTimeline {
  /** Counts by row, FINE_STEPS each: row r's step i is counts[r * FINE_STEPS + i]. */
  private counts: Float64Array;
  /** The counts' other array, all zero: fit's target (a new array each time cost 3 ms a fit). */
  private spare: Float64Array;
  /** The step's length in ns (a power of two) and the start of step 0 (a multiple of it). */
  private stepNs = 1;
  private perStep = 1;
  private baseNs = 0;
  private minNs = Infinity;
  private maxNs = -Infinity;

  constructor(private readonly rows: number) {
    this.counts = new Float64Array(rows * FINE_STEPS);
    this.spare = new Float64Array(rows * FINE_STEPS);
  }

  /** Counts an event of row `row` at `timeNs` (a whole number of ns). */
  add(row: number, timeNs: number): void {
    // Times a power of two's inverse: exact, and cheaper than dividing.
    const x = (timeNs - this.baseNs) * this.perStep;
    let i: number;
    if (x >= 0 && x < FINE_STEPS) i = x | 0;
    else {
      this.fit(timeNs);
      i = this.index(timeNs);
    }
    const at = row * FINE_STEPS + i;
    this.counts[at] = (this.counts[at] as number) + 1;
    if (timeNs < this.minNs) this.minNs = timeNs;
    if (timeNs > this.maxNs) this.maxNs = timeNs;
  }

  /** Takes `timeNs` into the range charted without counting it (a decision's time). */
  see(timeNs: number): void {
    const i = Math.floor((timeNs - this.baseNs) / this.stepNs);
    if (i < 0 || i >= FINE_STEPS) this.fit(timeNs);
    if (timeNs < this.minNs) this.minNs = timeNs;
    if (timeNs > this.maxNs) this.maxNs = timeNs;
  }

  /** Makes the steps cover `timeNs` and every time seen. */
  private fit(timeNs: number): void {
    const empty = this.minNs > this.maxNs;
    const lo = empty ? timeNs : Math.min(this.minNs, timeNs);
    const hi = empty ? timeNs : Math.max(this.maxNs, timeNs);
    let step = this.stepNs;
    while (Math.floor(hi / step) - Math.floor(lo / step) >= FINE_STEPS / 2) step *= 2;
    const base = (Math.floor(lo / step) - FINE_STEPS / 4) * step;
    if (!empty) {
      // Each old step lies inside one new step: the new step is the old
      // times a power of two, and both bases are multiples of their steps.
      // Old step i goes to new step (i + shift) / ratio, rounded down; only
      // the steps between the first and last time seen hold counts. (Plain
      // locals: this runs a few dozen times a report, mostly before the
      // engine has compiled it.)
      const counts = this.counts;
      const next = this.spare;
      const shift = (this.baseNs - base) / this.stepNs;
      const perRatio = this.stepNs / step;
      const first = clampStep(Math.floor((this.minNs - this.baseNs) / this.stepNs));
      const last = clampStep(Math.floor((this.maxNs - this.baseNs) / this.stepNs));
      for (let r = 0, at = 0; r < this.rows; r++, at += FINE_STEPS) {
        for (let i = first; i <= last; i++) {
          const n = counts[at + i] as number;
          if (n !== 0) {
            const j = at + clampStep(Math.floor((i + shift) * perRatio));
            next[j] = (next[j] as number) + n;
            counts[at + i] = 0;
          }
        }
      }
      this.counts = next;
      this.spare = counts;
    }
    this.stepNs = step;
    this.perStep = 1 / step;
    this.baseNs = base;
  }

  /** The step of `timeNs` (within the steps: see the note on times past 2^53). */
  private index(timeNs: number): number {
    return clampStep(Math.floor((timeNs - this.baseNs) / this.stepNs));
  }

  /** The first and last times counted (null: none). */
  get range(): { firstNs: number; lastNs: number } | null {
    return this.minNs <= this.maxNs ? { firstNs: this.minNs, lastNs: this.maxNs } : null;
  }

  /** The step in ns (for tests and the chart's caption). */
  get step(): number {
    return this.stepNs;
  }

  /**
   * Each row's counts in `buckets` equal buckets from the first time
   * counted to the last: a step goes where its start falls (the first
   * step, where the first time falls).
   */
  buckets(buckets: number): number[][] {
    const firstNs = this.minNs;
    const span = this.maxNs > firstNs ? this.maxNs - firstNs : 1;
    const out = Array.from({ length: this.rows }, () => new Array<number>(buckets).fill(0));
    for (let r = 0; r < this.rows; r++) {
      const row = out[r] as number[];
      for (let i = 0; i < FINE_STEPS; i++) {
        const n = this.counts[r * FINE_STEPS + i] as number;
        if (n === 0) continue;
        const start = Math.max(firstNs, this.baseNs + i * this.stepNs);
        const b = Math.min(buckets - 1, Math.floor(((start - firstNs) * buckets) / span));
        row[b] = (row[b] as number) + n;
      }
    }
    return out;
  }
}

function clampStep(i: number): number {
  return i < 0 ? 0 : i >= FINE_STEPS ? FINE_STEPS - 1 : i;
}
