// One zustand store built from typed slices (STYLE.md 7). Each slice gets
// the API it talks to when the store is created, so a test or a second
// window builds its own store with its own API and nothing is shared.
import { createStore, type StoreApi } from 'zustand/vanilla';

import type { HookscopeApi } from '../../../main/common/ipc-contract.js';
import { createIntentsSlice, type IntentsSlice } from './intents-slice.js';
import { createLaunchSlice, type LaunchSlice } from './launch-slice.js';
import { createNavSlice, type NavSlice } from './nav-slice.js';
import { createProcessesSlice, type ProcessesSlice } from './processes-slice.js';
import { createSessionViewSlice, type SessionViewSlice } from './session-view-slice.js';
import { createSessionsSlice, type SessionsSlice } from './sessions-slice.js';

export type AppState = NavSlice &
  ProcessesSlice &
  LaunchSlice &
  SessionsSlice &
  SessionViewSlice &
  IntentsSlice;
export type AppStore = StoreApi<AppState>;

export function createAppStore(api: HookscopeApi): AppStore {
  return createStore<AppState>()((...a) => ({
    ...createNavSlice(...a),
    ...createProcessesSlice(api)(...a),
    ...createLaunchSlice(api)(...a),
    ...createSessionsSlice(api)(...a),
    ...createSessionViewSlice(api)(...a),
    ...createIntentsSlice(api)(...a),
  }));
}

/** The message of anything a call threw, for an error state. */
export function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export type LoadStatus = 'idle' | 'loading' | 'ready' | 'error';
