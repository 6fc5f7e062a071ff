import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import { FINE_STEPS, FIRST_EVENTS, FineTimeline } from './html-timeline.js';

const BUCKETS = 120;

/** The chart's buckets if the range had been known: floor((t - first) * B / span). */
function exactBuckets(times: number[][], first: number, last: number): number[][] {
  const span = last > first ? last - first : 1;
  return times.map((row) => {
    const out = new Array<number>(BUCKETS).fill(0);
    for (const t of row) {
      const b = Math.min(BUCKETS - 1, Math.floor(((t - first) * BUCKETS) / span));
      out[b] = (out[b] as number) + 1;
    }
    return out;
  });
}

/** Times in order of arrival, each with its row. */
const arrivals = fc
  .record({
    start: fc.oneof(fc.integer({ min: 0, max: 1e6 }), fc.integer({ min: 1e12, max: 2 ** 50 })),
    span: fc.oneof(
      fc.integer({ min: 0, max: 100 }),
      fc.integer({ min: 0, max: 1e6 }),
      fc.integer({ min: 0, max: 2 ** 45 }),
    ),
    rows: fc.integer({ min: 1, max: 9 }),
    order: fc.constantFrom('random', 'rising', 'falling'),
    // Events held before the steps are laid out: none, some, all of them.
    held: fc.constantFrom(0, 1, 37, FIRST_EVENTS),
  })
  .chain(({ start, span, rows, order, held }) =>
    fc
      .array(fc.tuple(fc.integer({ min: 0, max: rows - 1 }), fc.integer({ min: 0, max: span })), {
        minLength: 1,
        maxLength: 400,
      })
      .map((events) => {
        const timed = events.map(([row, at]) => ({ row, t: start + at }));
        if (order === 'rising') timed.sort((a, b) => a.t - b.t);
        if (order === 'falling') timed.sort((a, b) => b.t - a.t);
        return { rows, timed, held };
      }),
  );

describe('FineTimeline', () => {
  it('charts every event once, in its bucket or, within a step of a bucket start, the one before', () => {
    fc.assert(
      fc.property(arrivals, ({ rows, timed, held }) => {
        const timeline = new FineTimeline(rows, held);
        for (const { row, t } of timed) timeline.add(row, t);
        const times = Array.from({ length: rows }, (_, r) =>
          timed.filter((e) => e.row === r).map((e) => e.t),
        );
        const first = Math.min(...timed.map((e) => e.t));
        const last = Math.max(...timed.map((e) => e.t));
        expect(timeline.range).toEqual({ firstNs: first, lastNs: last });
        // The step is what the span needs: the half that did not fit spanned
        // more than FINE_STEPS / 2 - 1 steps.
        expect(timeline.step).toBeLessThanOrEqual(
          Math.max(1, (4 * (last - first)) / (FINE_STEPS - 2)),
        );
        const charted = timeline.buckets(BUCKETS);
        const exact = exactBuckets(times, first, last);
        const span = last > first ? last - first : 1;
        for (let r = 0; r < rows; r++) {
          const c = charted[r] as number[];
          const e = exact[r] as number[];
          expect(c.reduce((a, b) => a + b, 0)).toBe((times[r] as number[]).length);
          // Below each bucket start: at least the events exactly below it,
          // and at most those plus the ones within a step after it.
          let chartedBelow = 0;
          let exactBelow = 0;
          for (let k = 1; k < BUCKETS; k++) {
            chartedBelow += c[k - 1] as number;
            exactBelow += e[k - 1] as number;
            const boundary = first + (k * span) / BUCKETS;
            const near = (times[r] as number[]).filter(
              (t) => t >= boundary && t < boundary + timeline.step,
            ).length;
            expect(chartedBelow).toBeGreaterThanOrEqual(exactBelow);
            expect(chartedBelow - exactBelow).toBeLessThanOrEqual(near);
          }
        }
      }),
      { numRuns: 120 },
    );
  });

  it('stays within its steps for times that only fall, and for times past 2^53', () => {
    for (const held of [0, FIRST_EVENTS]) {
      const falling = new FineTimeline(2, held);
      for (let i = 200_000; i > 0; i--) falling.add(i % 2, i * 7);
      const byRow = falling.buckets(BUCKETS);
      expect(byRow.flat().reduce((a, b) => a + b, 0)).toBe(200_000);
      expect(falling.step).toBeLessThanOrEqual((4 * 7 * 199_999) / (FINE_STEPS - 2));
    }
    const late = new FineTimeline(1);
    for (let i = 0; i < 1000; i++) late.add(0, 2 ** 60 + i * 2 ** 20);
    expect(
      late
        .buckets(BUCKETS)
        .flat()
        .reduce((a, b) => a + b, 0),
    ).toBe(1000);
    expect(new FineTimeline(3).range).toBeNull();
    // A time seen, not counted: in the range, in no bucket.
    for (const held of [0, 1, FIRST_EVENTS]) {
      const seen = new FineTimeline(1, held);
      seen.add(0, 1000);
      seen.see(5000);
      seen.add(0, 3000);
      expect(seen.range).toEqual({ firstNs: 1000, lastNs: 5000 });
      expect(seen.buckets(4)).toEqual([[1, 0, 1, 0]]);
    }
  });
});
