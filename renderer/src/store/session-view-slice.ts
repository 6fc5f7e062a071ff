// The open session: its overview, the filtered event list (fetched in
// pages as the table scrolls), the selected event, and for a live run the
// polling that keeps all of them current.
import type { StateCreator } from 'zustand';

import type {
  EventFilter,
  EventRow,
  HookscopeApi,
  RunStatus,
  SessionOverview,
} from '../../../main/common/ipc-contract.js';
import { messageOf, type AppState, type LoadStatus } from './app-store.js';

export const EVENT_PAGE_SIZE = 200;
/** How often a live session is re-read. */
export const LIVE_POLL_MS = 800;

export interface SessionViewSlice {
  sessionPath: string | null;
  overview: SessionOverview | null;
  overviewStatus: LoadStatus;
  overviewError: string | null;
  /** The run recording this session, while the UI follows it. */
  run: RunStatus | null;

  filter: EventFilter;
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
  /** Makes sure rows first..last (filtered positions) are loaded. */
  ensureRows: (first: number, last: number) => Promise<void>;
  selectEvent: (row: EventRow | null, position?: number) => void;
  /** Selects the event `delta` rows from the selected one (keyboard). */
  moveSelection: (delta: number) => Promise<void>;
  /** One live refresh: run status, overview and the loaded pages. */
  pollLive: () => Promise<void>;
}

export const createSessionViewSlice =
  (api: HookscopeApi): StateCreator<AppState, [], [], SessionViewSlice> =>
  (set, get) => {
    const inFlight = new Set<string>();

    const loadPage = async (page: number, generation: number): Promise<void> => {
      const { sessionPath, filter } = get();
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

    const loadOverview = async (path: string): Promise<void> => {
      try {
        const overview = await api.openSession({ path });
        if (get().sessionPath !== path) return;
        set({ overview, overviewStatus: 'ready', overviewError: null });
      } catch (error) {
        if (get().sessionPath === path) {
          set({ overviewStatus: 'error', overviewError: messageOf(error) });
        }
      }
    };

    return {
      sessionPath: null,
      overview: null,
      overviewStatus: 'idle',
      overviewError: null,
      run: null,
      filter: {},
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
          matchingEvents: null,
          totalEvents: 0,
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

      setFilter: async (filter) => {
        const generation = get().eventsGeneration + 1;
        set({
          filter,
          pages: {},
          matchingEvents: null,
          eventsError: null,
          eventsGeneration: generation,
          // The selected event stays in the detail pane; its place in the
          // new list is unknown until it is selected again.
          selectedPosition: null,
        });
        await loadPage(0, generation);
      },

      ensureRows: async (first, last) => {
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

      pollLive: async () => {
        const { run, sessionPath, eventsGeneration } = get();
        if (run === null || sessionPath === null) return;
        let status = run;
        try {
          status = await api.runStatus({ runId: run.runId });
        } catch (error) {
          set({ eventsError: messageOf(error) });
        }
        if (get().sessionPath !== sessionPath) return;
        set({ run: status });
        await loadOverview(sessionPath);
        // Reload the pages on screen: the filtered list grows at its end.
        const loaded = Object.keys(get().pages).map(Number);
        await Promise.all((loaded.length ? loaded : [0]).map((p) => loadPage(p, eventsGeneration)));
      },
    };
  };
