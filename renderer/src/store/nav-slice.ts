import type { StateCreator } from 'zustand';

import type { AppState } from './app-store.js';

export type Screen = 'processes' | 'sessions' | 'session' | 'rules';

export interface NavSlice {
  screen: Screen;
  showScreen: (screen: Screen) => void;
}

export const createNavSlice: StateCreator<AppState, [], [], NavSlice> = (set) => ({
  screen: 'processes',
  showScreen: (screen) => set({ screen }),
});
