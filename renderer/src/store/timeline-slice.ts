// The open session's timeline: which stretch of the session's time axis is
// in view (zoom and pan), the event density per category over it from the
// core, and brushing a range, which becomes the table's time filter.
import type { StateCreator } from 'zustand';

import type { EventFilter, HookscopeApi, TimelineView } from '../../../main/common/ipc-contract.js';
import { messageOf, type AppState, type LoadStatus } from './app-store.js';

/** The narrowest view: zooming stops at one microsecond across. */
export const MIN_VIEW_NS = 1_000;

export interface TimeRangeNs {
  fromNs: number;
  toNs: number;
}

export interface TimelineSlice {
  timeline: TimelineView | null;
  timelineStatus: LoadStatus;
  timelineError: string | null;
  /** The stretch in view; null: the whole session. */
  timelineView: TimeRangeNs | null;
  /** Buckets to ask for: about one per two pixels of the chart's width. */
  timelineBuckets: number;

  setTimelineBuckets: (buckets: number) => void;
  /** Reads the density for the current view, filter and width. */
  loadTimeline: () => Promise<void>;
  /** Zooms by `factor` (< 1 in, > 1 out) keeping the point at `anchor` (0…1 across) in place. */
  zoomTimeline: (factor: number, anchor?: number) => void;
  /** Moves the view by `fraction` of its width (negative: earlier). */
  panTimeline: (fraction: number) => void;
  resetTimeline: () => void;
  /** Shows `range` (clamped to the session; a range wider than it shows all). */
  showTimelineRange: (range: TimeRangeNs) => void;
  /** Filters the table to a time range (null: clears it). */
  brushTimeline: (range: TimeRangeNs | null) => Promise<void>;
}

/** The filter without its time range: the timeline shows the range, not within it. */
export function withoutTime(filter: EventFilter): EventFilter {
  const rest = { ...filter };
  delete rest.fromNs;
  delete rest.toNs;
  return rest;
}

export const createTimelineSlice =
  (api: HookscopeApi): StateCreator<AppState, [], [], TimelineSlice> =>
  (set, get) => {
    let generation = 0;
    // One request at a time: a burst of zooms asks again once, for the latest view.
    let loading: Promise<void> | null = null;
    let again = false;

    const readTimeline = async (): Promise<void> => {
      const { sessionPath, filter, timelineView, timelineBuckets, timeline } = get();
      if (sessionPath === null) return;
      const mine = ++generation;
      if (timeline === null) set({ timelineStatus: 'loading' });
      try {
        const view = await api.sessionTimeline({
          path: sessionPath,
          buckets: timelineBuckets,
          filter: withoutTime(filter),
          ...(timelineView ?? {}),
        });
        if (mine !== generation || get().sessionPath !== sessionPath) return;
        set({ timeline: view, timelineStatus: 'ready', timelineError: null });
      } catch (error) {
        if (mine === generation) set({ timelineStatus: 'error', timelineError: messageOf(error) });
      }
    };

    /** The view clamped to the session's extent and to MIN_VIEW_NS. */
    const clamp = (range: TimeRangeNs): TimeRangeNs | null => {
      const timeline = get().timeline;
      if (timeline === null) return range;
      const extentFrom = timeline.extentFromNs;
      const extentTo = Math.max(timeline.extentToNs, extentFrom + MIN_VIEW_NS);
      let width = Math.max(MIN_VIEW_NS, range.toNs - range.fromNs);
      if (width >= extentTo - extentFrom) return null;
      width = Math.round(width);
      let fromNs = Math.round(range.fromNs);
      fromNs = Math.min(Math.max(fromNs, extentFrom), extentTo - width);
      return { fromNs, toNs: fromNs + width };
    };

    const currentRange = (): TimeRangeNs | null => {
      const { timelineView, timeline } = get();
      if (timelineView !== null) return timelineView;
      if (timeline === null) return null;
      return { fromNs: timeline.extentFromNs, toNs: timeline.extentToNs };
    };

    return {
      timeline: null,
      timelineStatus: 'idle',
      timelineError: null,
      timelineView: null,
      timelineBuckets: 400,

      setTimelineBuckets: (buckets) => {
        const next = Math.max(20, Math.min(2000, Math.round(buckets)));
        if (next !== get().timelineBuckets) set({ timelineBuckets: next });
      },

      loadTimeline: async () => {
        if (loading !== null) {
          again = true;
          return loading;
        }
        loading = (async () => {
          do {
            again = false;
            await readTimeline();
          } while (again);
        })().finally(() => {
          loading = null;
        });
        return loading;
      },

      zoomTimeline: (factor, anchor = 0.5) => {
        const range = currentRange();
        if (range === null) return;
        const at = range.fromNs + (range.toNs - range.fromNs) * Math.min(1, Math.max(0, anchor));
        set({
          timelineView: clamp({
            fromNs: at - (at - range.fromNs) * factor,
            toNs: at + (range.toNs - at) * factor,
          }),
        });
      },

      panTimeline: (fraction) => {
        const range = currentRange();
        if (range === null || get().timelineView === null) return;
        const shift = (range.toNs - range.fromNs) * fraction;
        set({ timelineView: clamp({ fromNs: range.fromNs + shift, toNs: range.toNs + shift }) });
      },

      resetTimeline: () => set({ timelineView: null }),

      showTimelineRange: (range) => set({ timelineView: clamp(range) }),

      brushTimeline: async (range) => {
        const filter = withoutTime(get().filter);
        if (range === null) {
          await get().setFilter(filter);
          return;
        }
        await get().setFilter({
          ...filter,
          fromNs: Math.floor(Math.min(range.fromNs, range.toNs)),
          toNs: Math.ceil(Math.max(range.fromNs, range.toNs)),
        });
      },
    };
  };
