import type { StateCreator } from 'zustand';

import type { HookscopeApi, ProcessRow } from '../../../main/common/ipc-contract.js';
import { messageOf, type AppState, type LoadStatus } from './app-store.js';

export interface ProcessesSlice {
  processes: ProcessRow[];
  processesStatus: LoadStatus;
  processesError: string | null;
  processSearch: string;
  pythonOnly: boolean;
  /** The process an attach is in progress for. */
  attaching: number | null;
  /** Why an attach failed, by pid. */
  attachErrors: Record<number, string>;
  loadProcesses: () => Promise<void>;
  setProcessSearch: (text: string) => void;
  setPythonOnly: (on: boolean) => void;
  /** Attaches (with the Launch form's policy file, if any) and opens the live session. */
  attach: (pid: number) => Promise<void>;
}

export const createProcessesSlice =
  (api: HookscopeApi): StateCreator<AppState, [], [], ProcessesSlice> =>
  (set, get) => ({
    processes: [],
    processesStatus: 'idle',
    processesError: null,
    processSearch: '',
    pythonOnly: true,
    attaching: null,
    attachErrors: {},
    attach: async (pid) => {
      const attachErrors = { ...get().attachErrors };
      delete attachErrors[pid];
      set({ attaching: pid, attachErrors });
      try {
        const policyPath = get().launchForm.policyPath.trim();
        const run = await api.startAttach({ pid, ...(policyPath ? { policyPath } : {}) });
        set({ attaching: null });
        await get().openSession(run.sessionPath, run);
      } catch (error) {
        set({ attaching: null, attachErrors: { ...get().attachErrors, [pid]: messageOf(error) } });
      }
    },
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
