import { createContext, useContext } from 'react';
import { useStore } from 'zustand';

import type { AppState, AppStore } from './app-store.js';

export const StoreContext = createContext<AppStore | null>(null);

/** A narrow selector over the app store (re-renders only when it changes). */
export function useApp<T>(selector: (state: AppState) => T): T {
  const store = useContext(StoreContext);
  if (store === null) throw new Error('useApp outside <StoreContext.Provider>');
  return useStore(store, selector);
}
