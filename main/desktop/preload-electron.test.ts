// The preload with the `electron` module replaced by a small fake (the
// Electron binary cannot run here): what it exposes, and on which channels.
import { beforeEach, describe, expect, it, vi } from 'vitest';

import { API_FUNCTIONS, ipcChannel, type ApiMethod } from '../common/ipc-contract.js';

const exposed = new Map<string, unknown>();
const invoked: { channel: string; args: unknown[] }[] = [];
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
  },
}));

beforeEach(async () => {
  exposed.clear();
  invoked.length = 0;
  vi.resetModules();
  await import('./preload-electron.js');
});

describe('the preload', () => {
  it('exposes only window.hookscope, with one named function per contract method', () => {
    expect([...exposed.keys()]).toEqual(['hookscope']);
    const api = exposed.get('hookscope') as Record<string, unknown>;
    expect(Object.keys(api).sort()).toEqual(Object.values(API_FUNCTIONS).sort());
    for (const fn of Object.values(api)) expect(typeof fn).toBe('function');
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
