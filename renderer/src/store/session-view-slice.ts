// The open session: its overview, the filtered event list (fetched in
// pages as the table scrolls), the selected event, and for a live run the
// polling that keeps all of them current.
import type { StateCreator } from 'zustand';

import type {
  EventFilter,
  EventRow,
  EventSort,
  HookscopeApi,
  RunStatus,
  SessionOverview,
} from '../../../main/common/ipc-contract.js';
import { messageOf, type AppState, type LoadStatus } from './app-store.js';
import { followChanges } from './change-feed.js';

/**
 * Rows per request: a screenful and the overscan. Each row of a filtered
 * list may live in a different block of the file, which the core decodes
 * whole, so a page is kept small: a sparse filter over a large session
 * costs a block per row.
 */
export const EVENT_PAGE_SIZE = 64;
/** How often the progress of a first read is asked for. */
const OPEN_PROGRESS_MS = 250;
/** How often a live session is re-read while the change feed is down. */
export const LIVE_POLL_MS = 800;
/** How often a file still being read the first time is asked for more. */
export const INDEXING_POLL_MS = 400;

export interface SessionViewSlice {
  sessionPath: string | null;
  overview: SessionOverview | null;
  overviewStatus: LoadStatus;
  overviewError: string | null;
  /** While a session is read for the first time: how far (bytes). */
  openProgress: { readBytes: number; totalBytes: number } | null;
  /** The run recording this session, while the UI follows it. */
  run: RunStatus | null;

  filter: EventFilter;
  /** Table order; null: file order. */
  sort: EventSort | null;
  /** Rows matching this are marked, not hidden; null: none. */
  highlight: EventFilter | null;
  /** Events that pass the filter; null until the first page arrives. */
  matchingEvents: number | null;
  totalEvents: number;
  pages: Record<number, EventRow[]>;
  eventsError: string | null;
  /** Bumped on every new file or filter: late answers for old ones are dropped. */
  eventsGeneration: number;

  selectedEvent: EventRow | null;
  /** Position of the selected event in the filtered list. */
  selectedPosition: number | null;

  openSession: (path: string, run?: RunStatus) => Promise<void>;
  /** Attach runs: detach (the process runs on) and show the final state. */
  detach: () => Promise<void>;
  closeSession: () => void;
  setFilter: (filter: EventFilter) => Promise<void>;
  setSort: (sort: EventSort | null) => Promise<void>;
  setHighlight: (highlight: EventFilter | null) => Promise<void>;
  /** Makes sure rows first..last (filtered positions) are loaded. */
  ensureRows: (first: number, last: number) => Promise<void>;
  selectEvent: (row: EventRow | null, position?: number) => void;
  /** Selects the event `delta` rows from the selected one (keyboard). */
  moveSelection: (delta: number) => Promise<void>;
  /** One live refresh: run status, overview and the loaded pages (also while a file is still read). */
  pollLive: () => Promise<void>;
  /**
   * Follows the open live run: a refresh whenever the change feed says its
   * file grew or its run changed state (polling only while the feed is
   * down). Returns the function that stops it.
   */
  watchLiveSession: () => () => void;
}

export const createSessionViewSlice =
  (api: HookscopeApi): StateCreator<AppState, [], [], SessionViewSlice> =>
  (set, get) => {
    const inFlight = new Set<string>();

    const loadPage = async (page: number, generation: number): Promise<void> => {
      const { sessionPath, filter, sort, highlight } = get();
      if (sessionPath === null) return;
      const key = `${generation}:${page}`;
      if (inFlight.has(key)) return;
      inFlight.add(key);
      try {
        const result = await api.sessionEvents({
          path: sessionPath,
          offset: page * EVENT_PAGE_SIZE,
          limit: EVENT_PAGE_SIZE,
          filter,
          ...(sort === null ? {} : { sort }),
          ...(highlight === null ? {} : { highlight }),
        });
        if (get().eventsGeneration !== generation) return;
        set({
          pages: { ...get().pages, [page]: result.rows },
          matchingEvents: result.matchingEvents,
          totalEvents: result.totalEvents,
          eventsError: null,
        });
      } catch (error) {
        if (get().eventsGeneration === generation) set({ eventsError: messageOf(error) });
      } finally {
        inFlight.delete(key);
      }
    };

    /**
     * A new list: filter, order or highlight changed. The selected event
     * stays in the detail pane; its place in a new list is unknown until it
     * is selected again (a highlight change keeps the list and its place).
     */
    const reload = async (
      change: Partial<Pick<SessionViewSlice, 'filter' | 'sort' | 'highlight'>>,
      options: { keepPosition?: boolean } = {},
    ): Promise<void> => {
      const generation = get().eventsGeneration + 1;
      const keepCount = options.keepPosition === true;
      set({
        ...change,
        // Kept on screen until the new rows replace them: no flash of "…".
        ...(keepCount ? {} : { pages: {}, matchingEvents: null, selectedPosition: null }),
        eventsError: null,
        eventsGeneration: generation,
      });
      const { first, last } = visibleRange;
      const wanted = new Set([0]);
      if (keepCount) {
        for (let p = Math.floor(first / EVENT_PAGE_SIZE); p <= last / EVENT_PAGE_SIZE; p++) {
          wanted.add(p);
        }
      }
      await Promise.all([...wanted].map((page) => loadPage(page, generation)));
      if (keepCount && get().eventsGeneration === generation) {
        // Pages out of view still carry the old marks: read again when needed.
        const pages = get().pages;
        set({
          pages: Object.fromEntries([...wanted].map((p) => [p, pages[p]]).filter(([, r]) => r)),
        });
      }
    };
    /** Rows the table last asked for (kept in view across a highlight change). */
    const visibleRange = { first: 0, last: 0 };

    const loadOverview = async (path: string): Promise<void> => {
      // A large file takes seconds to read the first time: show how far.
      const progress =
        get().overview === null
          ? setInterval(() => {
              void api.sessionProgress({ path }).then(
                (p) => {
                  if (p.opening && get().sessionPath === path && get().overview === null) {
                    set({ openProgress: { readBytes: p.readBytes, totalBytes: p.totalBytes } });
                  }
                },
                () => undefined,
              );
            }, OPEN_PROGRESS_MS)
          : null;
      try {
        const overview = await api.openSession({ path });
        if (get().sessionPath !== path) return;
        set({ overview, overviewStatus: 'ready', overviewError: null });
      } catch (error) {
        if (get().sessionPath === path) {
          set({ overviewStatus: 'error', overviewError: messageOf(error) });
        }
      } finally {
        if (progress !== null) clearInterval(progress);
        if (get().sessionPath === path) set({ openProgress: null });
      }
    };

    return {
      sessionPath: null,
      overview: null,
      overviewStatus: 'idle',
      overviewError: null,
      openProgress: null,
      run: null,
      filter: {},
      sort: null,
      highlight: null,
      matchingEvents: null,
      totalEvents: 0,
      pages: {},
      eventsError: null,
      eventsGeneration: 0,
      selectedEvent: null,
      selectedPosition: null,

      openSession: async (path, run) => {
        const generation = get().eventsGeneration + 1;
        set({
          screen: 'session',
          sessionPath: path,
          overview: null,
          overviewStatus: 'loading',
          overviewError: null,
          run: run ?? null,
          filter: {},
          sort: null,
          highlight: null,
          matchingEvents: null,
          totalEvents: 0,
          timeline: null,
          timelineStatus: 'idle',
          timelineError: null,
          timelineView: null,
          pages: {},
          eventsError: null,
          eventsGeneration: generation,
          selectedEvent: null,
          selectedPosition: null,
        });
        await loadOverview(path);
        if (get().overviewStatus === 'ready') await loadPage(0, generation);
      },

      closeSession: () =>
        set({
          sessionPath: null,
          overview: null,
          overviewStatus: 'idle',
          run: null,
          pages: {},
          matchingEvents: null,
          selectedEvent: null,
          selectedPosition: null,
          eventsGeneration: get().eventsGeneration + 1,
        }),

      setFilter: (filter) => reload({ filter }),
      setSort: (sort) => reload({ sort }),
      setHighlight: (highlight) => reload({ highlight }, { keepPosition: true }),

      ensureRows: async (first, last) => {
        visibleRange.first = first;
        visibleRange.last = last;
        const { pages, eventsGeneration } = get();
        const from = Math.floor(Math.max(0, first) / EVENT_PAGE_SIZE);
        const to = Math.floor(Math.max(0, last) / EVENT_PAGE_SIZE);
        const missing: Promise<void>[] = [];
        for (let page = from; page <= to; page++) {
          if (pages[page] === undefined) missing.push(loadPage(page, eventsGeneration));
        }
        await Promise.all(missing);
      },

      selectEvent: (selectedEvent, position) =>
        set({
          selectedEvent,
          selectedPosition: selectedEvent === null ? null : (position ?? null),
        }),

      moveSelection: async (delta) => {
        const { selectedPosition, matchingEvents } = get();
        if (matchingEvents === null || matchingEvents === 0) return;
        const target = Math.min(matchingEvents - 1, Math.max(0, (selectedPosition ?? -1) + delta));
        await get().ensureRows(target, target);
        const row = get().pages[Math.floor(target / EVENT_PAGE_SIZE)]?.[target % EVENT_PAGE_SIZE];
        if (row !== undefined) set({ selectedEvent: row, selectedPosition: target });
      },

      detach: async () => {
        const run = get().run;
        if (run === null || run.mode !== 'attach') return;
        try {
          const status = await api.detachRun({ runId: run.runId });
          if (get().run?.runId === run.runId) set({ run: status });
          await get().pollLive();
        } catch (error) {
          set({ eventsError: messageOf(error) });
        }
      },

      watchLiveSession: () => {
        const path = get().sessionPath;
        const runId = get().run?.runId;
        return followChanges(api, {
          wants: (m) =>
            (m.topic === 'session' && m.path === path) || (m.topic === 'run' && m.runId === runId),
          refresh: () => get().pollLive(),
          fallbackMs: LIVE_POLL_MS,
        });
      },

      pollLive: async () => {
        const { run, sessionPath, eventsGeneration } = get();
        if (sessionPath === null) return;
        // A saved file still being read the first time has no run: only
        // the overview and the pages grow.
        if (run !== null) {
          let status = run;
          try {
            status = await api.runStatus({ runId: run.runId });
          } catch (error) {
            set({ eventsError: messageOf(error) });
          }
          if (get().sessionPath !== sessionPath) return;
          set({ run: status });
        }
        await loadOverview(sessionPath);
        // Reload the pages on screen: the filtered list grows at its end.
        const loaded = Object.keys(get().pages).map(Number);
        await Promise.all((loaded.length ? loaded : [0]).map((p) => loadPage(p, eventsGeneration)));
      },
    };
  };
