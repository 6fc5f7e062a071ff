import type { StateCreator } from 'zustand';

import type { HookscopeApi, SessionFileRow } from '../../../main/common/ipc-contract.js';
import { messageOf, type AppState, type LoadStatus } from './app-store.js';

export interface SessionsSlice {
  sessionFiles: SessionFileRow[];
  sessionDirectory: string | null;
  sessionsStatus: LoadStatus;
  sessionsError: string | null;
  loadSessions: () => Promise<void>;
}

export const createSessionsSlice =
  (api: HookscopeApi): StateCreator<AppState, [], [], SessionsSlice> =>
  (set) => ({
    sessionFiles: [],
    sessionDirectory: null,
    sessionsStatus: 'idle',
    sessionsError: null,
    loadSessions: async () => {
      set({ sessionsStatus: 'loading', sessionsError: null });
      try {
        const { directory, sessions } = await api.listSessions({});
        set({ sessionFiles: sessions, sessionDirectory: directory, sessionsStatus: 'ready' });
      } catch (error) {
        set({ sessionsStatus: 'error', sessionsError: messageOf(error) });
      }
    },
  });
