// The session timeline: one lane per event category with the density of
// the filtered events over the stretch in view, the policy's decisions
// marked above them, and the table's time range shown as a band.
//
// Mouse: the wheel zooms around the pointer, a drag selects a time range
// (which filters the table), a drag with Alt (or the middle button) pans.
// Keyboard on the focused chart: + / - zoom, arrows pan, 0 fits the whole
// session, Escape clears the range. The counts come from the core for
// each view (`session.timeline`), so the density is exact at any zoom.
import { useEffect, useRef, useState, type KeyboardEvent, type PointerEvent } from 'react';

import type { TimelineView } from '../../../main/common/ipc-contract.js';
import { useApp } from '../store/store-context.js';
import { withoutTime } from '../store/timeline-slice.js';
import { ErrorState } from './states.js';
import { axisTicks, formatNs } from './time-format.js';

const LABEL_WIDTH_PX = 120;
const LANE_HEIGHT_PX = 16;
const MARK_LANE_PX = 14;
const AXIS_HEIGHT_PX = 18;
/** Pixels of chart per bucket asked for. */
const PX_PER_BUCKET = 2;
/** Zoom per wheel notch / key press. */
const ZOOM_STEP = 1.25;

interface Drag {
  mode: 'brush' | 'pan';
  startX: number;
  lastX: number;
}

export function Timeline() {
  const timeline = useApp((s) => s.timeline);
  const status = useApp((s) => s.timelineStatus);
  const error = useApp((s) => s.timelineError);
  const view = useApp((s) => s.timelineView);
  const buckets = useApp((s) => s.timelineBuckets);
  const filter = useApp((s) => s.filter);
  const total = useApp((s) => s.totalEvents);
  const sessionPath = useApp((s) => s.sessionPath);
  const load = useApp((s) => s.loadTimeline);
  const setBuckets = useApp((s) => s.setTimelineBuckets);
  const zoom = useApp((s) => s.zoomTimeline);
  const pan = useApp((s) => s.panTimeline);
  const reset = useApp((s) => s.resetTimeline);
  const showRange = useApp((s) => s.showTimelineRange);
  const brush = useApp((s) => s.brushTimeline);

  const chart = useRef<HTMLDivElement>(null);
  const [width, setWidth] = useState(800);
  // The drag lives in a ref (events come faster than renders) and is
  // copied to state to draw the band.
  const dragRef = useRef<Drag | null>(null);
  const [drag, setDragState] = useState<Drag | null>(null);
  const setDrag = (next: Drag | null) => {
    dragRef.current = next;
    setDragState(next);
  };

  useEffect(() => {
    const el = chart.current;
    if (el === null) return;
    const measure = () => {
      const w = Math.max(100, el.clientWidth - LABEL_WIDTH_PX);
      setWidth(w);
      setBuckets(w / PX_PER_BUCKET);
    };
    const observer = new ResizeObserver(measure);
    observer.observe(el);
    measure();
    return () => observer.disconnect();
  }, [setBuckets, timeline === null]);

  const countedFilter = JSON.stringify(withoutTime(filter));
  useEffect(() => {
    void load();
  }, [sessionPath, countedFilter, view, buckets, total, load]);

  // The wheel zooms: a native listener, because React's is passive and
  // could not stop the page from scrolling at the same time.
  const wheel = useRef<(e: WheelEvent) => void>(() => undefined);
  wheel.current = (e: WheelEvent) => {
    if (e.deltaY === 0) return;
    e.preventDefault();
    const box = chart.current?.getBoundingClientRect();
    const x = box === undefined ? 0 : e.clientX - box.left - LABEL_WIDTH_PX;
    zoom(e.deltaY < 0 ? 1 / ZOOM_STEP : ZOOM_STEP, x / width);
  };
  useEffect(() => {
    const el = chart.current;
    if (el === null) return;
    const listener = (e: WheelEvent) => wheel.current(e);
    el.addEventListener('wheel', listener, { passive: false });
    return () => el.removeEventListener('wheel', listener);
  }, [timeline === null]);

  if (status === 'error' && timeline === null) {
    return <ErrorState title="Could not draw the timeline" message={error ?? ''} onRetry={load} />;
  }
  if (timeline === null) {
    return (
      <div className="timeline timeline-loading" ref={chart} aria-busy="true">
        Reading the timeline…
      </div>
    );
  }

  const span = Math.max(1, timeline.toNs - timeline.fromNs);
  const xOf = (ns: number) => ((ns - timeline.fromNs) / span) * width;
  const nsAt = (x: number) => timeline.fromNs + (Math.min(Math.max(x, 0), width) / width) * span;
  const chartX = (clientX: number) => {
    const box = chart.current?.getBoundingClientRect();
    return box === undefined ? 0 : clientX - box.left - LABEL_WIDTH_PX;
  };

  const onPointerDown = (e: PointerEvent<HTMLDivElement>) => {
    if (e.button !== 0 && e.button !== 1) return;
    const x = chartX(e.clientX);
    if (x < 0) return;
    try {
      // Keeps the drag when the pointer leaves the chart; refused for a
      // pointer the browser does not know (a synthetic event): not needed then.
      e.currentTarget.setPointerCapture(e.pointerId);
    } catch {
      /* the drag still works inside the chart */
    }
    setDrag({ mode: e.altKey || e.button === 1 ? 'pan' : 'brush', startX: x, lastX: x });
  };
  const onPointerMove = (e: PointerEvent<HTMLDivElement>) => {
    const drag = dragRef.current;
    if (drag === null) return;
    const x = chartX(e.clientX);
    if (drag.mode === 'pan') pan((drag.lastX - x) / width);
    setDrag({ ...drag, lastX: x });
  };
  const onPointerUp = (e: PointerEvent<HTMLDivElement>) => {
    const drag = dragRef.current;
    if (drag === null) return;
    const x = chartX(e.clientX);
    setDrag(null);
    // A click (no real drag) is not a range.
    if (drag.mode === 'brush' && Math.abs(x - drag.startX) >= 3) {
      void brush({ fromNs: nsAt(drag.startX), toNs: nsAt(x) });
    }
  };
  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    const actions: Record<string, () => void> = {
      '+': () => zoom(1 / ZOOM_STEP),
      '=': () => zoom(1 / ZOOM_STEP),
      '-': () => zoom(ZOOM_STEP),
      ArrowLeft: () => pan(-0.1),
      ArrowRight: () => pan(0.1),
      '0': reset,
      Escape: () => void brush(null),
    };
    const action = actions[e.key];
    if (action === undefined) return;
    e.preventDefault();
    action();
  };

  const hasRange = filter.fromNs !== undefined || filter.toNs !== undefined;
  const bandFrom = drag?.mode === 'brush' ? Math.min(drag.startX, drag.lastX) : null;
  const band =
    bandFrom !== null && drag !== null
      ? { x: bandFrom, w: Math.abs(drag.lastX - drag.startX) }
      : hasRange
        ? rangeBand(xOf(filter.fromNs ?? timeline.fromNs), xOf(filter.toNs ?? timeline.toNs), width)
        : null;
  const lanesHeight = timeline.lanes.length * LANE_HEIGHT_PX;
  const height = MARK_LANE_PX + lanesHeight + AXIS_HEIGHT_PX;
  const ticks = axisTicks(timeline.fromNs, timeline.toNs, Math.max(2, Math.floor(width / 110)));
  const zoomed = view !== null;

  return (
    <section className="timeline" aria-label="Timeline">
      <div className="timeline-bar">
        <span className="timeline-range" data-testid="timeline-range">
          {formatNs(timeline.fromNs, span)} – {formatNs(timeline.toNs, span)} ({formatNs(span)}{' '}
          shown{zoomed ? ` of ${formatNs(timeline.extentToNs - timeline.extentFromNs)}` : ''})
        </span>
        <button type="button" onClick={() => zoom(1 / 2)} title="Zoom in (+)">
          Zoom in
        </button>
        <button type="button" onClick={() => zoom(2)} disabled={!zoomed} title="Zoom out (-)">
          Zoom out
        </button>
        <button type="button" onClick={reset} disabled={!zoomed} title="Show the whole session (0)">
          Fit
        </button>
        {hasRange && (
          <>
            <span className="timeline-selection" data-testid="timeline-selection">
              table: {formatNs(filter.fromNs ?? timeline.extentFromNs, span)} –{' '}
              {formatNs(filter.toNs ?? timeline.extentToNs, span)}
            </span>
            <button
              type="button"
              title="Zoom the timeline to the table's time range"
              onClick={() =>
                showRange({
                  fromNs: filter.fromNs ?? timeline.extentFromNs,
                  toNs: filter.toNs ?? timeline.extentToNs,
                })
              }
            >
              Zoom to range
            </button>
            <button type="button" onClick={() => void brush(null)} title="Escape">
              Clear range
            </button>
          </>
        )}
        <span className="hint">drag: select a range · Alt+drag: pan · wheel: zoom</span>
      </div>
      <div
        className="timeline-chart"
        ref={chart}
        tabIndex={0}
        role="img"
        aria-label={`Event density by category over ${formatNs(span)}; ${timeline.decisions.length} decisions marked`}
        onPointerDown={onPointerDown}
        onPointerMove={onPointerMove}
        onPointerUp={onPointerUp}
        onPointerCancel={() => setDrag(null)}
        onKeyDown={onKeyDown}
        style={{ height }}
      >
        <svg width={LABEL_WIDTH_PX + width} height={height} aria-hidden="true">
          <text x={4} y={MARK_LANE_PX - 3} className="lane-label">
            Decisions
          </text>
          {timeline.lanes.map((lane, i) => (
            <text
              key={lane.category}
              x={4}
              y={MARK_LANE_PX + (i + 1) * LANE_HEIGHT_PX - 4}
              className="lane-label"
            >
              {lane.label}
            </text>
          ))}
          <g transform={`translate(${LABEL_WIDTH_PX},0)`}>
            <Lanes timeline={timeline} width={width} />
            <Marks timeline={timeline} xOf={xOf} />
            {ticks.map((t) => (
              <g key={t} className="tick">
                <line x1={xOf(t)} x2={xOf(t)} y1={MARK_LANE_PX} y2={MARK_LANE_PX + lanesHeight} />
                <text x={xOf(t) + 2} y={height - 5}>
                  {formatNs(t, span / 10)}
                </text>
              </g>
            ))}
            {band !== null && (
              <rect
                className="brush"
                data-testid="timeline-brush"
                x={band.x}
                y={0}
                width={Math.max(1, band.w)}
                height={MARK_LANE_PX + lanesHeight}
              />
            )}
          </g>
        </svg>
      </div>
      {timeline.totalEvents === 0 && <p className="hint">No events yet.</p>}
    </section>
  );
}

function rangeBand(x1: number, x2: number, width: number): { x: number; w: number } | null {
  const from = Math.max(0, Math.min(x1, x2));
  const to = Math.min(width, Math.max(x1, x2));
  return to < 0 || from > width ? null : { x: from, w: Math.max(1, to - from) };
}

/**
 * Each lane's buckets as one path of bars. Heights are logarithmic in the
 * count (against the busiest bucket of any lane), so one busy burst does
 * not flatten everything else, and any non-empty bucket is visible.
 */
function Lanes({ timeline, width }: { timeline: TimelineView; width: number }) {
  let max = 0;
  for (const lane of timeline.lanes) for (const c of lane.counts) if (c > max) max = c;
  const scale = Math.log1p(Math.max(1, max));
  const bucketPx = width / Math.max(1, timeline.lanes[0]?.counts.length ?? 1);
  return (
    <>
      {timeline.lanes.map((lane, i) => {
        const base = MARK_LANE_PX + (i + 1) * LANE_HEIGHT_PX - 1;
        let d = '';
        let count = 0;
        lane.counts.forEach((c, b) => {
          if (c === 0) return;
          count += c;
          const h = Math.max(1.5, ((LANE_HEIGHT_PX - 3) * Math.log1p(c)) / scale);
          d += `M${(b * bucketPx).toFixed(1)} ${base}h${Math.max(1, bucketPx).toFixed(1)}v${(-h).toFixed(1)}h${(-Math.max(1, bucketPx)).toFixed(1)}z`;
        });
        return (
          <g key={lane.category} data-lane={lane.category} data-count={count}>
            <line className="lane-rule" x1={0} x2={width} y1={base + 0.5} y2={base + 0.5} />
            {d !== '' && <path className={`lane cat-fill-${lane.category}`} d={d} />}
          </g>
        );
      })}
    </>
  );
}

function Marks({ timeline, xOf }: { timeline: TimelineView; xOf: (ns: number) => number }) {
  return (
    <g className="marks">
      {timeline.decisions.map((mark) => (
        <rect
          key={mark.index}
          className={`mark mark-${mark.outcome}${mark.asked ? ' mark-asked' : ''}`}
          data-testid={`mark-${mark.outcome}`}
          x={xOf(mark.offsetNs) - 1.5}
          y={2}
          width={3}
          height={MARK_LANE_PX - 4}
        >
          <title>
            {mark.asked ? 'asked, ' : ''}
            {mark.outcome} at {formatNs(mark.offsetNs)} (event #{mark.index})
          </title>
        </rect>
      ))}
    </g>
  );
}
