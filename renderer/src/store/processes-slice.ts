import type { StateCreator } from 'zustand';

import type { HookscopeApi, ProcessRow } from '../../../main/common/ipc-contract.js';
import { messageOf, type AppState, type LoadStatus } from './app-store.js';

export interface ProcessesSlice {
  processes: ProcessRow[];
  processesStatus: LoadStatus;
  processesError: string | null;
  processSearch: string;
  pythonOnly: boolean;
  loadProcesses: () => Promise<void>;
  setProcessSearch: (text: string) => void;
  setPythonOnly: (on: boolean) => void;
}

export const createProcessesSlice =
  (api: HookscopeApi): StateCreator<AppState, [], [], ProcessesSlice> =>
  (set) => ({
    processes: [],
    processesStatus: 'idle',
    processesError: null,
    processSearch: '',
    pythonOnly: true,
    loadProcesses: async () => {
      set({ processesStatus: 'loading', processesError: null });
      try {
        const { processes } = await api.listProcesses({});
        set({ processes, processesStatus: 'ready' });
      } catch (error) {
        set({ processesStatus: 'error', processesError: messageOf(error) });
      }
    },
    setProcessSearch: (processSearch) => set({ processSearch }),
    setPythonOnly: (pythonOnly) => set({ pythonOnly }),
  });

/** The rows the picker shows for the current search. */
export function visibleProcesses(
  processes: ProcessRow[],
  search: string,
  pythonOnly: boolean,
): ProcessRow[] {
  const needle = search.trim().toLowerCase();
  return processes.filter((p) => {
    if (pythonOnly && p.python === null) return false;
    if (needle === '') return true;
    return (
      String(p.pid) === needle ||
      p.user.toLowerCase().includes(needle) ||
      p.cmdline.join(' ').toLowerCase().includes(needle) ||
      (p.exe ?? '').toLowerCase().includes(needle)
    );
  });
}
