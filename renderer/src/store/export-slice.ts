// The export dialog's state: one report being written in the background,
// its progress (polled while it runs), and how it ended.
import type { StateCreator } from 'zustand';

import type {
  ExportFormat,
  ExportJob,
  ExportRequest,
  HookscopeApi,
} from '../../../main/common/ipc-contract.js';
import { messageOf, type AppState } from './app-store.js';

/** How often a running export's progress is read. */
export const EXPORT_POLL_MS = 250;

export const EXPORT_FORMAT_INFO: Record<
  ExportFormat,
  { label: string; extension: string; about: string }
> = {
  html: {
    label: 'HTML report',
    extension: 'html',
    about:
      'One self-contained page for a reviewer: summary, timeline, code inventory, denials with stacks, events',
  },
  json: {
    label: 'JSON',
    extension: 'json',
    about:
      'Everything in the session, lossless, with a versioned schema; `hookscope show` reads it back',
  },
  csv: {
    label: 'CSV',
    extension: 'csv',
    about: 'One row per record, stable columns, for spreadsheets',
  },
  perfetto: {
    label: 'Perfetto trace',
    extension: 'perfetto.json',
    about: 'Chrome trace events: a track per process and thread, opens in ui.perfetto.dev',
  },
  sarif: {
    label: 'SARIF 2.1.0',
    extension: 'sarif',
    about: 'One result per denied or asked intent, for code-scanning dashboards',
  },
  policy: {
    label: 'Policy',
    extension: 'policy.json',
    about: 'The policy this session implies (as `hookscope run --learn` writes it)',
  },
};

export interface ExportSlice {
  /** The export dialog is showing (the session view's button, the desktop menu). */
  exportDialogOpen: boolean;
  openExportDialog: () => void;
  closeExportDialog: () => void;
  exportJob: ExportJob | null;
  /** Why the export could not start (refused before any output existed). */
  exportError: string | null;
  startExport: (request: ExportRequest) => Promise<void>;
  cancelExport: () => Promise<void>;
  /** Forgets a finished export (the dialog closes or starts over). */
  resetExport: () => void;
}

export const createExportSlice =
  (api: HookscopeApi): StateCreator<AppState, [], [], ExportSlice> =>
  (set, get) => {
    let timer: ReturnType<typeof setTimeout> | null = null;

    const follow = (jobId: string) => {
      if (timer !== null) clearTimeout(timer);
      timer = setTimeout(() => {
        timer = null;
        void api.exportStatus({ jobId }).then(
          (job) => {
            if (get().exportJob?.jobId !== jobId) return;
            set({ exportJob: job });
            if (job.state === 'running') follow(jobId);
          },
          (error: unknown) => {
            if (get().exportJob?.jobId === jobId) set({ exportError: messageOf(error) });
          },
        );
      }, EXPORT_POLL_MS);
    };

    return {
      exportDialogOpen: false,
      openExportDialog: () => set({ exportDialogOpen: true }),
      closeExportDialog: () => set({ exportDialogOpen: false }),
      exportJob: null,
      exportError: null,

      startExport: async (request) => {
        set({ exportError: null });
        try {
          const job = await api.startExport(request);
          set({ exportJob: job });
          if (job.state === 'running') follow(job.jobId);
        } catch (error) {
          set({ exportError: messageOf(error) });
        }
      },

      cancelExport: async () => {
        const job = get().exportJob;
        if (job === null || job.state !== 'running') return;
        try {
          set({ exportJob: await api.cancelExport({ jobId: job.jobId }) });
          follow(job.jobId);
        } catch (error) {
          set({ exportError: messageOf(error) });
        }
      },

      resetExport: () => {
        if (timer !== null) clearTimeout(timer);
        timer = null;
        set({ exportJob: null, exportError: null });
      },
    };
  };
