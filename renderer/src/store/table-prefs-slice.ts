// What the user chose about the event table and keeps between sessions:
// the columns shown, and named filters. Kept in the browser's storage
// (localStorage: per origin, so per desktop app or per web host port).
import type { StateCreator } from 'zustand';

import type { EventFilter } from '../../../main/common/ipc-contract.js';
import type { AppState } from './app-store.js';

export const TABLE_COLUMNS = [
  {
    id: 'time',
    label: 'Time',
    title: 'Time on the session axis (since the first process started)',
  },
  { id: 'procTime', label: 'Process ms', title: 'Milliseconds since this process started' },
  { id: 'pid', label: 'PID', title: 'Process id' },
  { id: 'tid', label: 'TID', title: 'Thread id' },
  { id: 'seq', label: 'Seq', title: "Sequence number in the process's event stream" },
  { id: 'event', label: 'Event', title: 'Audit event name' },
  { id: 'category', label: 'Category', title: 'Event category' },
  { id: 'decision', label: 'Decision', title: 'What the policy decided about it' },
  { id: 'args', label: 'Arguments', title: 'The arguments, cut short' },
] as const;
export type TableColumnId = (typeof TABLE_COLUMNS)[number]['id'];

export const DEFAULT_COLUMNS: readonly TableColumnId[] = [
  'time',
  'pid',
  'tid',
  'event',
  'category',
  'decision',
  'args',
];

export interface SavedFilter {
  name: string;
  filter: EventFilter;
}

export const MAX_SAVED_FILTERS = 50;
export const MAX_FILTER_NAME = 60;

const COLUMNS_KEY = 'hookscope.table.columns';
const FILTERS_KEY = 'hookscope.table.savedFilters';

/** The part of Storage this slice uses (a test passes its own). */
export type PrefsStorage = Pick<Storage, 'getItem' | 'setItem'>;

/** localStorage when the page has one, else memory only (nothing is kept). */
export function prefsStorage(): PrefsStorage {
  try {
    if (typeof window !== 'undefined' && window.localStorage) return window.localStorage;
  } catch {
    // Storage can be refused (privacy settings): fall through.
  }
  return memoryStorage();
}

/** Preferences kept in memory only (for this window; a test's own store). */
export function memoryStorage(): PrefsStorage {
  const kept = new Map<string, string>();
  return {
    getItem: (key) => kept.get(key) ?? null,
    setItem: (key, value) => void kept.set(key, value),
  };
}

export interface TablePrefsSlice {
  columns: TableColumnId[];
  savedFilters: SavedFilter[];
  toggleColumn: (id: TableColumnId) => void;
  resetColumns: () => void;
  /** Saves the current filter under `name` (replacing one of that name); returns a problem or null. */
  saveFilter: (name: string) => string | null;
  deleteSavedFilter: (name: string) => void;
  applySavedFilter: (name: string) => Promise<void>;
}

function readJson(storage: PrefsStorage, key: string): unknown {
  try {
    const text = storage.getItem(key);
    return text === null ? null : (JSON.parse(text) as unknown);
  } catch {
    // Unreadable preferences are forgotten, not fatal.
    return null;
  }
}

function writeJson(storage: PrefsStorage, key: string, value: unknown): void {
  try {
    storage.setItem(key, JSON.stringify(value));
  } catch {
    // Full or refused storage: the choice holds for this window only.
  }
}

const COLUMN_IDS = new Set<string>(TABLE_COLUMNS.map((c) => c.id));

function loadColumns(storage: PrefsStorage): TableColumnId[] {
  const value = readJson(storage, COLUMNS_KEY);
  if (!Array.isArray(value)) return [...DEFAULT_COLUMNS];
  const columns = value.filter(
    (id): id is TableColumnId => typeof id === 'string' && COLUMN_IDS.has(id),
  );
  return columns.length > 0 ? columns : [...DEFAULT_COLUMNS];
}

function loadFilters(storage: PrefsStorage): SavedFilter[] {
  const value = readJson(storage, FILTERS_KEY);
  if (!Array.isArray(value)) return [];
  return value
    .filter(
      (f): f is SavedFilter =>
        typeof f === 'object' &&
        f !== null &&
        typeof (f as SavedFilter).name === 'string' &&
        typeof (f as SavedFilter).filter === 'object' &&
        (f as SavedFilter).filter !== null,
    )
    .slice(0, MAX_SAVED_FILTERS);
}

export const createTablePrefsSlice =
  (storage: PrefsStorage): StateCreator<AppState, [], [], TablePrefsSlice> =>
  (set, get) => ({
    columns: loadColumns(storage),
    savedFilters: loadFilters(storage),

    toggleColumn: (id) => {
      const shown = get().columns;
      // Keep the table's order, whatever order they were switched on in.
      const next = shown.includes(id)
        ? shown.filter((c) => c !== id)
        : TABLE_COLUMNS.map((c) => c.id).filter((c) => c === id || shown.includes(c));
      if (next.length === 0) return;
      set({ columns: next });
      writeJson(storage, COLUMNS_KEY, next);
    },

    resetColumns: () => {
      set({ columns: [...DEFAULT_COLUMNS] });
      writeJson(storage, COLUMNS_KEY, DEFAULT_COLUMNS);
    },

    saveFilter: (rawName) => {
      const name = rawName.trim();
      if (name === '') return 'Give the filter a name';
      if (name.length > MAX_FILTER_NAME) return `Names are at most ${MAX_FILTER_NAME} characters`;
      const { filter, savedFilters } = get();
      if (Object.keys(filter).length === 0) return 'Set a filter first: this one shows everything';
      const others = savedFilters.filter((f) => f.name !== name);
      if (others.length >= MAX_SAVED_FILTERS) {
        return `At most ${MAX_SAVED_FILTERS} saved filters: delete one first`;
      }
      const next = [...others, { name, filter }].sort((a, b) => a.name.localeCompare(b.name));
      set({ savedFilters: next });
      writeJson(storage, FILTERS_KEY, next);
      return null;
    },

    deleteSavedFilter: (name) => {
      const next = get().savedFilters.filter((f) => f.name !== name);
      set({ savedFilters: next });
      writeJson(storage, FILTERS_KEY, next);
    },

    applySavedFilter: async (name) => {
      const saved = get().savedFilters.find((f) => f.name === name);
      if (saved !== undefined) await get().setFilter(saved.filter);
    },
  });
