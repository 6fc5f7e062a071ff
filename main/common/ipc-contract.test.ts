import { describe, expect, it } from 'vitest';

import {
  API_FUNCTIONS,
  API_METHOD_NAMES,
  MAX_EVENT_PAGE,
  ipcChannel,
  isApiMethod,
  validateRequest,
} from './ipc-contract.js';

describe('the IPC contract', () => {
  it('lists every method once, each with a distinct function name and channel', () => {
    expect(API_METHOD_NAMES).toEqual([
      'processes.list',
      'sessions.list',
      'session.open',
      'session.events',
      'run.start',
      'run.status',
      'attach.start',
      'attach.detach',
      'intents.list',
      'intents.answer',
      'intents.hold',
    ]);
    expect(new Set(Object.values(API_FUNCTIONS)).size).toBe(API_METHOD_NAMES.length);
    expect(ipcChannel('session.open')).toBe('hookscope:session.open');
  });

  it('refuses methods off the allowlist, including inherited names', () => {
    expect(isApiMethod('toString')).toBe(false);
    expect(isApiMethod('__proto__')).toBe(false);
    expect(validateRequest('fs.read', {})).toEqual({
      ok: false,
      message: 'unknown method "fs.read"',
    });
  });

  it('accepts well-formed requests', () => {
    expect(validateRequest('processes.list', {}).ok).toBe(true);
    expect(validateRequest('session.open', { path: '/s/a.hks' }).ok).toBe(true);
    expect(
      validateRequest('session.events', {
        path: '/s/a.hks',
        offset: 0,
        limit: 100,
        filter: { event: 'socket.*', pid: 12, text: 'hosts' },
      }).ok,
    ).toBe(true);
    expect(validateRequest('run.start', { command: 'python3', args: ['-c', 'pass'] }).ok).toBe(
      true,
    );
  });

  it.each([
    ['processes.list', null, 'request must be an object'],
    ['processes.list', [], 'request must be an object'],
    ['processes.list', { all: true }, 'request has an unknown field "all"'],
    ['session.open', {}, 'request.path is required'],
    ['session.open', { path: 'rel.hks' }, 'request.path must be an absolute path'],
    ['session.open', { path: '/a\0b' }, 'request.path must not contain NUL characters'],
    ['session.open', { path: 7 }, 'request.path must be a string'],
    [
      'session.events',
      { path: '/a', offset: -1, limit: 1 },
      'request.offset must be an integer from 0 to 4294967296',
    ],
    [
      'session.events',
      { path: '/a', offset: 0, limit: MAX_EVENT_PAGE + 1 },
      `request.limit must be an integer from 1 to ${MAX_EVENT_PAGE}`,
    ],
    [
      'session.events',
      { path: '/a', offset: 0, limit: 5, filter: { pid: 1.5 } },
      'request.filter.pid must be an integer from 0 to 2147483648',
    ],
    [
      'session.events',
      { path: '/a', offset: 0, limit: 5, filter: { regex: 'x' } },
      'request.filter has an unknown field "regex"',
    ],
    ['run.start', { command: '', args: [] }, 'request.command must not be empty'],
    ['run.start', { command: 'x', args: [1] }, 'request.args[0] must be a string'],
    ['run.start', { command: 'x', args: [], cwd: 'tmp' }, 'request.cwd must be an absolute path'],
    ['run.status', { runId: 'x'.repeat(65) }, 'request.runId is longer than 64 characters'],
  ])('refuses %s %j: %s', (method, payload, message) => {
    expect(validateRequest(method, payload)).toEqual({ ok: false, message });
  });
});
