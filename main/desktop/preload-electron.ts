// The preload: exposes the contract's named, typed functions as
// window.hookscope and nothing else (no ipcRenderer, no process, no env).
// It runs sandboxed, where only 'electron' can be required: the contract
// is imported for its types only (erased at build), and the channel
// prefix below is checked against the contract by the preload's test.
import { contextBridge, ipcRenderer } from 'electron';

import type {
  ApiMethod,
  ApiReply,
  ApiRequest,
  ApiResponse,
  HookscopeApi,
} from '../common/ipc-contract.js';

const CHANNEL_PREFIX = 'hookscope:';

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

const api: HookscopeApi = {
  listProcesses: (request) => invoke('processes.list', request),
  listSessions: (request) => invoke('sessions.list', request),
  openSession: (request) => invoke('session.open', request),
  sessionEvents: (request) => invoke('session.events', request),
  startRun: (request) => invoke('run.start', request),
  runStatus: (request) => invoke('run.status', request),
  startAttach: (request) => invoke('attach.start', request),
  detachRun: (request) => invoke('attach.detach', request),
  listIntents: (request) => invoke('intents.list', request),
  answerIntent: (request) => invoke('intents.answer', request),
  holdIntent: (request) => invoke('intents.hold', request),
};

contextBridge.exposeInMainWorld('hookscope', api);
