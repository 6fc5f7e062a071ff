// The preload: exposes the contract's named, typed functions as
// window.hookscope and nothing else (no ipcRenderer, no process, no env).
// It runs sandboxed, where only 'electron' can be required: the contract
// is imported for its types only (erased at build), and the channel
// names below are checked against the contract by the preload's test.
import { contextBridge, ipcRenderer, type IpcRendererEvent } from 'electron';

import type {
  ApiMethod,
  ApiReply,
  ApiRequest,
  ApiResponse,
  ChangeMessage,
  FeedMessage,
  HookscopeApi,
} from '../common/ipc-contract.js';

const CHANNEL_PREFIX = 'hookscope:';
const CHANGE_CHANNEL = 'hookscope:changes';

async function invoke<M extends ApiMethod>(
  method: M,
  request: ApiRequest<M>,
): Promise<ApiResponse<M>> {
  const reply = (await ipcRenderer.invoke(`${CHANNEL_PREFIX}${method}`, request)) as ApiReply<
    ApiResponse<M>
  >;
  if (!reply.ok) {
    // Only plain values cross the bridge: the code travels in the message's name.
    const error = new Error(reply.error.message);
    error.name = `ApiError:${reply.error.code}`;
    throw error;
  }
  return reply.result;
}

/**
 * The change feed from the main process. The listener gets the message
 * alone, never the IPC event (its `sender` is the ipcRenderer). IPC is up
 * as long as the page is, so the feed reports itself connected at once.
 */
function onChange(listener: (message: FeedMessage) => void): () => void {
  const forward = (_event: IpcRendererEvent, message: ChangeMessage): void => listener(message);
  ipcRenderer.on(CHANGE_CHANNEL, forward);
  queueMicrotask(() => listener({ topic: 'feed', connected: true }));
  return () => {
    ipcRenderer.removeListener(CHANGE_CHANNEL, forward);
  };
}

const api: HookscopeApi = {
  listProcesses: (request) => invoke('processes.list', request),
  listSessions: (request) => invoke('sessions.list', request),
  openSession: (request) => invoke('session.open', request),
  sessionProgress: (request) => invoke('session.progress', request),
  sessionEvents: (request) => invoke('session.events', request),
  sessionTimeline: (request) => invoke('session.timeline', request),
  startRun: (request) => invoke('run.start', request),
  runStatus: (request) => invoke('run.status', request),
  startAttach: (request) => invoke('attach.start', request),
  detachRun: (request) => invoke('attach.detach', request),
  listIntents: (request) => invoke('intents.list', request),
  answerIntent: (request) => invoke('intents.answer', request),
  holdIntent: (request) => invoke('intents.hold', request),
  startExport: (request) => invoke('export.start', request),
  exportStatus: (request) => invoke('export.status', request),
  cancelExport: (request) => invoke('export.cancel', request),
  capabilities: (request) => invoke('app.capabilities', request),
  openFileDialog: (request) => invoke('dialog.openFile', request),
  saveFileDialog: (request) => invoke('dialog.saveFile', request),
  readPolicy: (request) => invoke('policy.read', request),
  parsePolicy: (request) => invoke('policy.parse', request),
  writePolicy: (request) => invoke('policy.write', request),
  onChange,
};

contextBridge.exposeInMainWorld('hookscope', api);
