// The html report's timeline, counted in the same single pass over the
// session as everything else in the report: the run's time range is known
// only at its end, so events are counted in fine steps first, and the
// steps are shared out among the chart's buckets once the range is known.
//
// A step is a power of two nanoseconds, the smallest for which the times
// seen so far span fewer than half of FINE_STEPS steps, with a quarter of
// them spare on either side; a time outside the steps moves them, doubling
// the step as needed (two steps become one, exactly). The first
// FIRST_EVENTS events are held and the steps laid out over their range,
// so that the early refits, over steps nearly all empty, are not made. So an event is
// charted where its time rounded down to its step falls, and a step is
// under 4 * span / (FINE_STEPS - 2): an event less than about 1/4096 of
// the run after a bucket's start may be charted in the bucket before (with
// 120 buckets, 3% of a bucket). Memory is FINE_STEPS counts per row, whatever the
// session's size. Times past 2^53 ns (104 days of uptime) are counted as
// the nearest double, which the steps tolerate.

import { populatePages } from './native-addon.js';
import type { ScanTimeline, TimelineSteps } from './protocol/record-scan.js';

/** Steps per row. */
export const FINE_STEPS = 16_384;

/**
 * Events held before the steps are first laid out, so that the first
 * layout fits their range: laid out from the first two times, the steps
 * were refitted about fifteen times over the bench session (each a pass
 * over every row's steps), and the first of those ran before the engine
 * had compiled the loop (13 ms of the 35 the refits took).
 */
export const FIRST_EVENTS = 4096;

export class FineTimeline implements ScanTimeline {
  /** Counts by row, FINE_STEPS each: row r's step i is counts[r * FINE_STEPS + i]. */
  private readonly counts: Float64Array;
  /**
   * The step's length in ns (a power of two) and the start of step 0 (a
   * multiple of it). Set through toDouble, as the range is: these fields
   * hold numbers past the small-integer range later, and a field that
   * begins small changes the object's shape when it does, which drops
   * the code compiled for it (add, and the loop it is inlined in).
   */
  private stepNs = toDouble(1);
  private perStep = toDouble(1);
  private baseNs = toDouble(0);
  private minNs = Infinity;
  private maxNs = -Infinity;
  /**
   * Whether the first events are still held, in the arrays below, until
   * `held` fills them or the counts are asked for. The arrays are then
   * swapped for empty ones, not null: a field's value of a new kind
   * changes the object's shape, and the engine then drops the code it
   * compiled for add (and for the loop add is inlined in).
   */
  private holding = true;
  private heldRows: Int32Array;
  private heldTimes: Float64Array;
  private held = 0;

  /** `firstEvents`: how many events to hold before laying the steps out (tests vary it). */
  constructor(
    readonly rows: number,
    firstEvents = FIRST_EVENTS,
  ) {
    this.counts = new Float64Array(rows * FINE_STEPS);
    // 1.8 MB for the html report's rows, most of it written: present at
    // once rather than a fault a page.
    populatePages(this.counts);
    this.heldRows = new Int32Array(firstEvents);
    this.heldTimes = new Float64Array(firstEvents);
  }

  /** Counts an event of row `row` at `timeNs` (a whole number of ns). */
  add(row: number, timeNs: number): void {
    if (this.holding) {
      if (this.held < this.heldTimes.length) {
        this.heldRows[this.held] = row;
        this.heldTimes[this.held++] = timeNs;
        this.widen(timeNs);
        return;
      }
      this.layOut();
    }
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
    this.widen(timeNs);
  }

  /** Takes `timeNs` into the range charted without counting it (a decision's time). */
  see(timeNs: number): void {
    if (!this.holding) {
      const i = Math.floor((timeNs - this.baseNs) / this.stepNs);
      if (i < 0 || i >= FINE_STEPS) this.fit(timeNs);
    }
    this.widen(timeNs);
  }

  /** The steps, for a record scan to count into (record-scan.ts); null while events are held. */
  countable(): TimelineSteps | null {
    if (this.holding) return null;
    return {
      counts: this.counts,
      rows: this.rows,
      steps: FINE_STEPS,
      baseNs: this.baseNs,
      perStep: this.perStep,
    };
  }

  /** Takes in the first and last times a record scan counted into the steps. */
  counted(firstNs: number, lastNs: number): void {
    this.widen(firstNs);
    this.widen(lastNs);
  }

  private widen(timeNs: number): void {
    if (timeNs < this.minNs) this.minNs = timeNs;
    if (timeNs > this.maxNs) this.maxNs = timeNs;
  }

  /** Lays the steps out over every time seen so far and counts the events held. */
  private layOut(): void {
    const rows = this.heldRows;
    const times = this.heldTimes;
    this.holding = false;
    this.heldRows = new Int32Array(0);
    this.heldTimes = new Float64Array(0);
    if (this.minNs > this.maxNs) return;
    this.place(this.minNs, this.maxNs);
    for (let k = 0; k < this.held; k++) {
      const at = (rows[k] as number) * FINE_STEPS + this.index(times[k] as number);
      this.counts[at] = (this.counts[at] as number) + 1;
    }
  }

  /** Makes the steps cover `timeNs` and every time seen. */
  private fit(timeNs: number): void {
    if (this.minNs > this.maxNs) {
      this.place(timeNs, timeNs);
      return;
    }
    const oldStep = this.stepNs;
    const oldBase = this.baseNs;
    this.place(Math.min(this.minNs, timeNs), Math.max(this.maxNs, timeNs));
    // Each old step lies inside one new step: the new step is the old
    // times a power of two, and both bases are multiples of their steps.
    foldSteps(
      this.counts,
      this.rows,
      clampStep(Math.floor((this.minNs - oldBase) / oldStep)),
      clampStep(Math.floor((this.maxNs - oldBase) / oldStep)),
      (oldBase - this.baseNs) / oldStep,
      oldStep / this.stepNs,
    );
  }

  /** The smallest step (no smaller than now) for which lo..hi spans under half the steps, a quarter spare below. */
  private place(lo: number, hi: number): void {
    let step = this.stepNs;
    while (Math.floor(hi / step) - Math.floor(lo / step) >= FINE_STEPS / 2) step *= 2;
    this.stepNs = step;
    this.perStep = 1 / step;
    this.baseNs = (Math.floor(lo / step) - FINE_STEPS / 4) * step;
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
    if (this.holding) this.layOut();
    return this.stepNs;
  }

  /**
   * Each row's counts in `buckets` equal buckets from the first time
   * counted to the last: a step goes where its start falls (the first
   * step, where the first time falls).
   */
  buckets(buckets: number): number[][] {
    if (this.holding) this.layOut();
    const firstNs = this.minNs;
    const span = this.maxNs > firstNs ? this.maxNs - firstNs : 1;
    const out = Array.from({ length: this.rows }, () => new Array<number>(buckets).fill(0));
    // Only the steps from the first time seen to the last hold counts.
    const from = this.minNs <= this.maxNs ? this.index(this.minNs) : 0;
    const to = this.minNs <= this.maxNs ? this.index(this.maxNs) : -1;
    for (let r = 0; r < this.rows; r++) {
      const row = out[r] as number[];
      for (let i = from; i <= to; i++) {
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

/**
 * `n`, stored in a field as the engine stores a number that is not a
 * small integer: the expression is not folded away before it runs.
 */
function toDouble(n: number): number {
  return n + DOUBLE_ZERO;
}
const DOUBLE_ZERO = Number('-0');

/**
 * Moves every row's counts to steps `ratio` (1 / a power of two, or 1)
 * times as long, in place: old step i goes to new step j(i) = (i + shift)
 * * ratio, rounded down (and clamped). Only steps first..last hold counts.
 * j rises by 0 or 1 a step, so j(i) - i never rises: the steps with j(i) ≤ i
 * are those from some p on. Those go first, from p up: each lands on a step
 * already moved; then the rest from p - 1 down, each landing above itself,
 * at most on p. In place, not into a second array: that array's pages were
 * each a fault the first time (1.5 MB, about 6 ms here). A function of its
 * own, with only typed arrays and numbers: as a method's loop it was
 * compiled on the stack and dropped again at each call (its property
 * accesses after the loop), and ran at about 2 ms a call instead of 0.2.
 */
function foldSteps(
  counts: Float64Array,
  rows: number,
  first: number,
  last: number,
  shift: number,
  ratio: number,
): void {
  let p = first;
  while (p <= last && clampStep(Math.floor((p + shift) * ratio)) > p) p++;
  for (let r = 0, at = 0; r < rows; r++, at += FINE_STEPS) {
    // From p up, then from p - 1 down; the same move either way.
    for (let k = 0, i = p, step = 1; k <= last - first; k++, i += step) {
      if (i > last) {
        i = p - 1;
        step = -1;
      }
      const n = counts[at + i] as number;
      if (n === 0) continue;
      let j = Math.floor((i + shift) * ratio);
      j = j < 0 ? 0 : j >= FINE_STEPS ? FINE_STEPS - 1 : j;
      if (j === i) continue;
      counts[at + i] = 0;
      counts[at + j] = (counts[at + j] as number) + n;
    }
  }
}

function clampStep(i: number): number {
  return i < 0 ? 0 : i >= FINE_STEPS ? FINE_STEPS - 1 : i;
}
