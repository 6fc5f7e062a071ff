// What the app around the renderer offers: native file dialogs (the
// desktop app only; the web UI keeps its typed path fields) and the
// commands of the desktop menu, which arrive on the change feed.
import type { StateCreator } from 'zustand';

import type {
  FileDialogPurpose,
  HookscopeApi,
  MenuCommand,
} from '../../../main/common/ipc-contract.js';
import { messageOf, type AppState } from './app-store.js';

/** How often a menu export's progress is read. */

export interface ShellSlice {
  /** Native open dialogs exist here: "Browse…" buttons are shown. */
  nativeDialogs: boolean;
  /** Why the last dialog or menu command could not be carried out. */
  shellError: string | null;
  /** What the last menu command did, when it is not visible otherwise (an export). */
  shellMessage: string | null;
  /** Goes up each time the Launch form should take the focus (File → Launch…). */
  launchFocusRequest: number;
  loadCapabilities: () => Promise<void>;
  /** A native open dialog: the chosen path, or null when cancelled (or failed: see shellError). */
  chooseFile: (purpose: FileDialogPurpose) => Promise<string | null>;
  /** A native save dialog for a report: the chosen path, or null when cancelled. */
  chooseSaveFile: (defaultName: string) => Promise<string | null>;
  runMenuCommand: (command: MenuCommand) => Promise<void>;
  /** Carries out menu commands as they arrive; returns the function that stops it. */
  watchMenuCommands: () => () => void;
  dismissShellError: () => void;
}

export const createShellSlice =
  (api: HookscopeApi): StateCreator<AppState, [], [], ShellSlice> =>
  (set, get) => ({
    nativeDialogs: false,
    shellError: null,
    shellMessage: null,
    launchFocusRequest: 0,
    loadCapabilities: async () => {
      try {
        const { nativeDialogs } = await api.capabilities({});
        set({ nativeDialogs });
      } catch {
        // An older server: no extras, the typed fields remain.
        set({ nativeDialogs: false });
      }
    },
    chooseFile: async (purpose) => {
      try {
        const { path } = await api.openFileDialog({ purpose });
        return path;
      } catch (error) {
        set({ shellError: `Could not show the file dialog: ${messageOf(error)}` });
        return null;
      }
    },
    chooseSaveFile: async (defaultName) => {
      try {
        const { path } = await api.saveFileDialog({ purpose: 'export', defaultName });
        return path;
      } catch (error) {
        set({ shellError: `Could not show the file dialog: ${messageOf(error)}` });
        return null;
      }
    },
    runMenuCommand: async (command) => {
      set({ shellError: null, shellMessage: null });
      switch (command) {
        case 'open-session': {
          const path = await get().chooseFile('session');
          // The session view shows why, if the file cannot be opened.
          if (path !== null) await get().openSession(path);
          return;
        }
        case 'launch':
          get().showScreen('processes');
          set({ launchFocusRequest: get().launchFocusRequest + 1 });
          return;
        case 'open-policy': {
          const path = await get().chooseFile('policy');
          if (path === null) return;
          get().setLaunchForm({ policyPath: path });
          get().showScreen('processes');
          set({ launchFocusRequest: get().launchFocusRequest + 1 });
          return;
        }
        case 'export':
          if (get().sessionPath === null) {
            set({
              shellError: 'Open a session first: Export… writes a report of the open session.',
            });
            return;
          }
          // The same dialog as the session view's Export… button.
          get().showScreen('session');
          get().openExportDialog();
          return;
      }
    },
    watchMenuCommands: () =>
      api.onChange((message) => {
        if (message.topic === 'command') void get().runMenuCommand(message.command);
      }),
    dismissShellError: () => set({ shellError: null, shellMessage: null }),
  });
