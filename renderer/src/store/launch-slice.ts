import type { StateCreator } from 'zustand';

import type { HookscopeApi } from '../../../main/common/ipc-contract.js';
import { messageOf, type AppState } from './app-store.js';

export interface LaunchForm {
  command: string;
  /** One argument per line, so arguments with spaces need no quoting. */
  args: string;
  cwd: string;
  /** A policy file (absolute path) to enforce; its ask rules come to the intent queue. */
  policyPath: string;
}

export interface LaunchSlice {
  launchForm: LaunchForm;
  launching: boolean;
  launchError: string | null;
  setLaunchForm: (change: Partial<LaunchForm>) => void;
  launch: () => Promise<void>;
}

export const createLaunchSlice =
  (api: HookscopeApi): StateCreator<AppState, [], [], LaunchSlice> =>
  (set, get) => ({
    launchForm: { command: '', args: '', cwd: '', policyPath: '' },
    launching: false,
    launchError: null,
    setLaunchForm: (change) => set({ launchForm: { ...get().launchForm, ...change } }),
    launch: async () => {
      const form = get().launchForm;
      const command = form.command.trim();
      if (command === '') {
        set({ launchError: 'Enter a command to run (for example python3).' });
        return;
      }
      set({ launching: true, launchError: null });
      try {
        const args = form.args.split('\n').filter((line) => line !== '');
        const cwd = form.cwd.trim();
        const policyPath = form.policyPath.trim();
        const run = await api.startRun({
          command,
          args,
          ...(cwd ? { cwd } : {}),
          ...(policyPath ? { policyPath } : {}),
        });
        set({ launching: false });
        await get().openSession(run.sessionPath, run);
      } catch (error) {
        set({ launching: false, launchError: messageOf(error) });
      }
    },
  });
