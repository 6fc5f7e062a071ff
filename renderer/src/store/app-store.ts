// One zustand store built from typed slices (STYLE.md 7). Each slice gets
// the API it talks to when the store is created, so a test or a second
// window builds its own store with its own API and nothing is shared.
import { createStore, type StoreApi } from 'zustand/vanilla';

import type { HookscopeApi } from '../../../main/common/ipc-contract.js';
import { createExportSlice, type ExportSlice } from './export-slice.js';
import { createIntentsSlice, type IntentsSlice } from './intents-slice.js';
import { createLaunchSlice, type LaunchSlice } from './launch-slice.js';
import { createNavSlice, type NavSlice } from './nav-slice.js';
import { createPolicySlice, type PolicySlice } from './policy-slice.js';
import { createProcessesSlice, type ProcessesSlice } from './processes-slice.js';
import { createSessionViewSlice, type SessionViewSlice } from './session-view-slice.js';
import { createSessionsSlice, type SessionsSlice } from './sessions-slice.js';
import { createShellSlice, type ShellSlice } from './shell-slice.js';
import {
  createTablePrefsSlice,
  prefsStorage,
  type PrefsStorage,
  type TablePrefsSlice,
} from './table-prefs-slice.js';
import { createTimelineSlice, type TimelineSlice } from './timeline-slice.js';

export type AppState = NavSlice &
  ProcessesSlice &
  LaunchSlice &
  SessionsSlice &
  SessionViewSlice &
  TimelineSlice &
  TablePrefsSlice &
  ExportSlice &
  IntentsSlice &
  ShellSlice &
  PolicySlice;
export type AppStore = StoreApi<AppState>;

/** `storage` keeps the table preferences (a test passes its own). */
export function createAppStore(
  api: HookscopeApi,
  storage: PrefsStorage = prefsStorage(),
): AppStore {
  return createStore<AppState>()((...a) => ({
    ...createNavSlice(...a),
    ...createProcessesSlice(api)(...a),
    ...createLaunchSlice(api)(...a),
    ...createSessionsSlice(api)(...a),
    ...createSessionViewSlice(api)(...a),
    ...createTimelineSlice(api)(...a),
    ...createTablePrefsSlice(storage)(...a),
    ...createExportSlice(api)(...a),
    ...createIntentsSlice(api)(...a),
    ...createShellSlice(api)(...a),
    ...createPolicySlice(api)(...a),
  }));
}

/** The message of anything a call threw, for an error state. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export type LoadStatus = 'idle' | 'loading' | 'ready' | 'error';
