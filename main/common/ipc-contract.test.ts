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
      'session.progress',
      'session.events',
      'session.timeline',
      'run.start',
      'run.status',
      'attach.start',
      'attach.detach',
      'intents.list',
      'intents.answer',
      'intents.hold',
      'export.start',
      'export.status',
      'export.cancel',
      'app.capabilities',
      'dialog.openFile',
      'dialog.saveFile',
      'policy.read',
      'policy.parse',
      'policy.write',
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
    expect(validateRequest('dialog.openFile', { purpose: 'policy' }).ok).toBe(true);
    expect(validateRequest('dialog.openFile', { purpose: 'anything' })).toEqual({
      ok: false,
      message: 'request.purpose must be one of session, policy',
    });
    expect(validateRequest('dialog.saveFile', { purpose: 'export', defaultName: 'a/b' })).toEqual({
      ok: false,
      message: 'request.defaultName must be a file name without a directory',
    });
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

describe('the policy editor requests', () => {
  const policy = {
    version: 1,
    default: 'allow',
    ask: { timeoutMs: 1, timeoutAction: 'deny' },
    offline: 'allow',
    rules: [],
  };
  it('takes an absolute path and a policy object, and bounds the object', () => {
    expect(validateRequest('policy.write', { path: '/p.json', policy }).ok).toBe(true);
    expect(
      validateRequest('policy.write', {
        path: '/p.json',
        policy,
        overwrite: true,
        baseSha256: 'a'.repeat(64),
      }).ok,
    ).toBe(true);
    expect(validateRequest('policy.write', { path: 'p.json', policy })).toEqual({
      ok: false,
      message: 'request.path must be an absolute path',
    });
    expect(validateRequest('policy.write', { path: '/p.json', policy: [] })).toEqual({
      ok: false,
      message: 'request.policy must be an object',
    });
    let deep: Record<string, unknown> = {};
    for (let i = 0; i < 40; i++) deep = { a: deep };
    expect(validateRequest('policy.write', { path: '/p.json', policy: deep })).toEqual({
      ok: false,
      message: 'request.policy is nested more than 32 levels deep',
    });
    expect(validateRequest('policy.parse', { text: '' }).ok).toBe(false);
    expect(validateRequest('policy.read', { path: '/p.json', extra: 1 }).ok).toBe(false);
  });
});

describe('event filters, order and timelines', () => {
  const path = '/tmp/s.hks';
  it('accepts every filter field, a sort and a highlight', () => {
    const request = {
      path,
      offset: 0,
      limit: 10,
      filter: {
        event: 'socket.*',
        pid: 4,
        tid: 2 ** 32 - 1,
        text: 'x',
        categories: ['network', 'files'],
        decision: 'denied',
        fromNs: -5,
        toNs: 1e15,
      },
      sort: { column: 'event', descending: true },
      highlight: { text: 'etc' },
    };
    expect(validateRequest('session.events', request).ok).toBe(true);
    expect(
      validateRequest('session.timeline', { path, buckets: 400, fromNs: 0, toNs: 10 }).ok,
    ).toBe(true);
  });

  it('names the field that is wrong', () => {
    const events = (extra: object) =>
      validateRequest('session.events', { path, offset: 0, limit: 10, ...extra });
    expect(events({ filter: { categories: ['disk'] } })).toEqual({
      ok: false,
      message: expect.stringMatching(/^request\.filter\.categories\[0\] must be one of imports,/),
    });
    expect(events({ filter: { decision: 'maybe' } })).toMatchObject({
      message: 'request.filter.decision must be one of any, none, allowed, denied, asked',
    });
    expect(events({ filter: { fromNs: 1.5 } })).toMatchObject({
      message: expect.stringMatching(/^request\.filter\.fromNs must be an integer/),
    });
    expect(events({ sort: { column: 'args', descending: false } })).toMatchObject({
      message: expect.stringMatching(/^request\.sort\.column must be one of time,/),
    });
    expect(events({ sort: { column: 'time' } })).toMatchObject({
      message: 'request.sort.descending is required',
    });
    expect(events({ highlight: { colour: 'red' } })).toMatchObject({
      message: 'request.highlight has an unknown field "colour"',
    });
    expect(validateRequest('session.timeline', { path, buckets: 0 })).toMatchObject({
      message: 'request.buckets must be an integer from 1 to 4000',
    });
  });
});
