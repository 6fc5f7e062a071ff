// The preload with the `electron` module replaced by a small fake (the
// Electron binary cannot run here): what it exposes, and on which channels.
import { beforeEach, describe, expect, it, vi } from 'vitest';

import {
  API_FUNCTIONS,
  CHANGE_CHANNEL,
  ipcChannel,
  type ApiMethod,
  type FeedMessage,
} from '../common/ipc-contract.js';

type IpcListener = (event: unknown, ...args: unknown[]) => void;
const exposed = new Map<string, unknown>();
const invoked: { channel: string; args: unknown[] }[] = [];
const listening = new Map<string, Set<IpcListener>>();
let nextReply: unknown = { ok: true, result: { processes: [] } };

vi.mock('electron', () => ({
  contextBridge: {
    exposeInMainWorld: (key: string, value: unknown) => exposed.set(key, value),
  },
  ipcRenderer: {
    invoke: async (channel: string, ...args: unknown[]) => {
      invoked.push({ channel, args });
      return nextReply;
    },
    on: (channel: string, listener: IpcListener) => {
      if (!listening.has(channel)) listening.set(channel, new Set());
      listening.get(channel)?.add(listener);
    },
    removeListener: (channel: string, listener: IpcListener) => {
      listening.get(channel)?.delete(listener);
    },
  },
}));

/** What main's webContents.send would deliver: an event (with the sender) and the message. */
function sendFromMain(channel: string, message: unknown): void {
  const event = { sender: { invoke: 'the ipcRenderer itself' } };
  for (const listener of listening.get(channel) ?? []) listener(event, message);
}

beforeEach(async () => {
  exposed.clear();
  invoked.length = 0;
  listening.clear();
  vi.resetModules();
  await import('./preload-electron.js');
});

describe('the preload', () => {
  it('exposes only window.hookscope: one named function per contract method, and onChange', () => {
    expect([...exposed.keys()]).toEqual(['hookscope']);
    const api = exposed.get('hookscope') as Record<string, unknown>;
    expect(Object.keys(api).sort()).toEqual([...Object.values(API_FUNCTIONS), 'onChange'].sort());
    for (const fn of Object.values(api)) expect(typeof fn).toBe('function');
  });

  it('hands on the change feed without the IPC event, and stops when asked', async () => {
    const api = exposed.get('hookscope') as {
      onChange: (listener: (m: FeedMessage) => void) => () => void;
    };
    const got: unknown[][] = [];
    const stop = api.onChange((...args) => got.push(args));
    await Promise.resolve();
    expect(got).toEqual([[{ topic: 'feed', connected: true }]]);
    expect(listening.get(CHANGE_CHANNEL)?.size).toBe(1);
    sendFromMain(CHANGE_CHANNEL, { topic: 'intents', pending: 2 });
    // The message alone: the event (and its sender) never reach the page.
    expect(got.at(-1)).toEqual([{ topic: 'intents', pending: 2 }]);
    stop();
    expect(listening.get(CHANGE_CHANNEL)?.size).toBe(0);
    sendFromMain(CHANGE_CHANNEL, { topic: 'intents', pending: 3 });
    expect(got).toHaveLength(2);
  });

  it('calls each method on its contract channel with the request alone', async () => {
    const api = exposed.get('hookscope') as Record<string, (r: unknown) => Promise<unknown>>;
    for (const [method, name] of Object.entries(API_FUNCTIONS)) {
      await api[name]!({ probe: method });
    }
    expect(invoked).toEqual(
      Object.keys(API_FUNCTIONS).map((method) => ({
        channel: ipcChannel(method as ApiMethod),
        args: [{ probe: method }],
      })),
    );
  });

  it('turns a refusal into a rejected promise with the message', async () => {
    nextReply = { ok: false, error: { code: 'refused', message: 'no' } };
    const api = exposed.get('hookscope') as Record<string, (r: unknown) => Promise<unknown>>;
    await expect(api.listProcesses!({})).rejects.toThrow('no');
    nextReply = { ok: true, result: { processes: [] } };
  });
});
