// The loopback web host, tested as a browser would reach it: a real HTTP
// server, node's fetch, the real core behind it, and a session recorded by
// a real `hookscope run` of a real CPython.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import type { ApiReply, EventPage, ProcessRow, SessionOverview } from '../common/ipc-contract.js';
import { UiApi } from '../core/ui-api.js';
import { runCli, tempDir } from '../test-support/cli.js';
import { auditCapableInterpreters } from '../test-support/pythons.js';
import { startWebHost, TOKEN_HEADER, type WebHost } from './web-host.js';

const python = auditCapableInterpreters()[0]!;

let dir: string;
let sessionDir: string;
let rendererDir: string;
let host: WebHost;
let api: UiApi;
let sessionPath: string;
let sleeper: ChildProcess;
const logged: string[] = [];

beforeAll(async () => {
  dir = tempDir('hookscope-web-');
  sessionDir = path.join(dir, 'sessions');
  rendererDir = path.join(dir, 'renderer');
  fs.mkdirSync(sessionDir);
  fs.mkdirSync(path.join(rendererDir, 'assets'), { recursive: true });
  fs.writeFileSync(path.join(rendererDir, 'index.html'), '<!doctype html><title>t</title>');
  fs.writeFileSync(path.join(rendererDir, 'assets', 'app.js'), 'console.log(1)');
  fs.writeFileSync(path.join(dir, 'secret.txt'), 'not for the web');
  sessionPath = path.join(sessionDir, 'recorded.hks');
  const r = await runCli([
    'run',
    '--out',
    sessionPath,
    '--no-summary',
    '--',
    python.path,
    '-c',
    "import json; open('/etc/hostname').close()",
  ]);
  expect(r.code, r.stderr).toBe(0);
  sleeper = spawn(python.path, ['-c', 'import time; time.sleep(600)'], { stdio: 'ignore' });
  api = new UiApi({ sessionDir, log: (line) => logged.push(line) });
  host = await startWebHost({ api, rendererDir, log: (line) => logged.push(line) });
});

afterAll(async () => {
  sleeper.kill('SIGKILL');
  await host?.close();
  await api?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

function apiUrl(method: string): string {
  return `http://127.0.0.1:${host.port}/api/${method}`;
}

async function post(
  method: string,
  body: unknown,
  headers: Record<string, string> = { [TOKEN_HEADER]: host.token },
): Promise<{ status: number; reply: ApiReply<unknown>; headers: Headers }> {
  const res = await fetch(apiUrl(method), {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return {
    status: res.status,
    reply: (await res.json()) as ApiReply<unknown>,
    headers: res.headers,
  };
}

function result<T>(reply: ApiReply<unknown>): T {
  if (!reply.ok) throw new Error(`API error: ${reply.error.message}`);
  return reply.result as T;
}

/** A raw request, so Host can be set to anything (fetch will not). */
function rawRequest(headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port: host.port, path: '/api/processes.list', method: 'POST', headers },
      (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      },
    );
    req.on('error', reject);
    req.end('{}');
  });
}

describe('the web host refuses', () => {
  it('API requests without a token (401) or with a wrong one (403)', async () => {
    expect((await post('processes.list', {}, {})).status).toBe(401);
    const wrong = await post('processes.list', {}, { [TOKEN_HEADER]: 'x'.repeat(64) });
    expect(wrong.status).toBe(403);
    expect(wrong.reply).toEqual({ ok: false, error: { code: 'refused', message: 'wrong token' } });
    // The token in the query string is for the page, not a way past the header.
    const res = await fetch(`${apiUrl('processes.list')}?token=${host.token}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(401);
  });

  it('a Host that is not this server (DNS rebinding) and a foreign Origin', async () => {
    const token = { [TOKEN_HEADER]: host.token, 'content-type': 'application/json' };
    expect(await rawRequest({ ...token, host: `evil.example:${host.port}` })).toBe(403);
    expect(await rawRequest({ ...token, host: `127.0.0.1:${host.port + 1}` })).toBe(403);
    expect(await rawRequest({ ...token, host: `localhost:${host.port}` })).toBe(200);
    const foreign = await post('processes.list', {}, { ...token, origin: 'http://evil.example' });
    expect(foreign.status).toBe(403);
    const ours = await post(
      'processes.list',
      {},
      { ...token, origin: `http://127.0.0.1:${host.port}` },
    );
    expect(ours.status).toBe(200);
  });

  it('bad payloads with 400 and a message that names the field', async () => {
    const r = await post('session.events', { path: sessionPath, offset: -5, limit: 10 });
    expect(r.status).toBe(400);
    expect(r.reply).toEqual({
      ok: false,
      error: {
        code: 'bad-request',
        message: 'request.offset must be an integer from 0 to 4294967296',
      },
    });
    const notJson = await post('processes.list', '{nope');
    expect(notJson.status).toBe(400);
    expect(!notJson.reply.ok && notJson.reply.error.message).toMatch(/not JSON/);
    expect(logged.some((l) => l.includes('request.offset must be an integer'))).toBe(true);
  });

  it('unknown methods (404), other verbs (405), other content types (415)', async () => {
    expect((await post('fs.read', {})).status).toBe(404);
    expect((await post('constructor', {})).status).toBe(404);
    const get = await fetch(apiUrl('processes.list'), { headers: { [TOKEN_HEADER]: host.token } });
    expect(get.status).toBe(405);
    const text = await fetch(apiUrl('processes.list'), {
      method: 'POST',
      headers: { [TOKEN_HEADER]: host.token, 'content-type': 'text/plain' },
      body: '{}',
    });
    expect(text.status).toBe(415);
  });

  it('session files outside the sessions directory, even through ..', async () => {
    const outside = await post('session.open', { path: path.join(dir, 'secret.txt') });
    expect(outside.status).toBe(403);
    const sneaky = path.join(sessionDir, '..', 'elsewhere.hks');
    fs.copyFileSync(sessionPath, path.join(dir, 'elsewhere.hks'));
    const r = await post('session.open', { path: sneaky });
    expect(r.status).toBe(403);
    expect(!r.reply.ok && r.reply.error.message).toMatch(/not in the sessions directory/);
    expect((await post('session.open', { path: path.join(sessionDir, 'gone.hks') })).status).toBe(
      404,
    );
  });

  it('files outside the bundle', async () => {
    const res = await fetch(`http://127.0.0.1:${host.port}/..%2Fsecret.txt`);
    expect(res.status).toBe(404);
    expect(await res.text()).not.toContain('not for the web');
  });
});

describe('the web host serves', () => {
  it('the bundle with a strict CSP and no referrer', async () => {
    const res = await fetch(`http://127.0.0.1:${host.port}/?token=${host.token}`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'");
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    const js = await fetch(`http://127.0.0.1:${host.port}/assets/app.js`);
    expect(js.headers.get('content-type')).toMatch(/javascript/);
    expect(host.url).toBe(`http://127.0.0.1:${host.port}/?token=${host.token}`);
    expect(host.token).toMatch(/^[0-9a-f]{64}$/);
  });

  it('processes.list with a real Python process in it', async () => {
    const r = await post('processes.list', {});
    expect(r.status).toBe(200);
    const { processes } = result<{ processes: ProcessRow[] }>(r.reply);
    const row = processes.find((p) => p.pid === sleeper.pid);
    expect(row?.python?.version).toMatch(/^3\.\d+/);
    expect(row?.attach.ok || (row?.attach.reasons.length ?? 0) > 0).toBe(true);
    expect(r.headers.get('content-security-policy')).toContain("default-src 'none'");
  });

  it('sessions.list and session.open of a session recorded by hookscope run', async () => {
    const list = result<{ sessions: { path: string; sizeBytes: number }[] }>(
      (await post('sessions.list', {})).reply,
    );
    expect(list.sessions.map((s) => s.path)).toContain(sessionPath);
    const overview = result<SessionOverview>(
      (await post('session.open', { path: sessionPath })).reply,
    );
    expect(overview.processes).toHaveLength(1);
    expect(overview.processes[0]?.end?.reason).toBe('exited');
    expect(overview.totalEvents).toBeGreaterThan(10);
    expect(overview.topEvents.map((e) => e.event)).toContain('import');
  });

  it('session.events: pages, filters by glob, pid and text, and decodes file identity', async () => {
    const all = result<EventPage>(
      (await post('session.events', { path: sessionPath, offset: 0, limit: 1000 })).reply,
    );
    expect(all.matchingEvents).toBe(all.totalEvents);
    expect(all.rows.map((r) => r.index)).toEqual(all.rows.map((_, i) => i));
    const pid = all.rows[0]?.pid as number;
    const opens = result<EventPage>(
      (
        await post('session.events', {
          path: sessionPath,
          offset: 0,
          limit: 50,
          filter: { event: 'open', pid, text: 'HOSTNAME' },
        })
      ).reply,
    );
    expect(opens.matchingEvents).toBe(1);
    expect(opens.rows[0]?.args[0]).toBe('/etc/hostname');
    const code = result<EventPage>(
      (
        await post('session.events', {
          path: sessionPath,
          offset: 0,
          limit: 5,
          filter: { event: 'io.open_code' },
        })
      ).reply,
    );
    expect(code.matchingEvents).toBeGreaterThan(0);
    const identity = code.rows[0]?.fileIdentity;
    expect(identity?.realPath).toMatch(/^\//);
    expect(identity?.sha256).toMatch(/^[0-9a-f]{64}$/);
    const nobody = result<EventPage>(
      (
        await post('session.events', {
          path: sessionPath,
          offset: 0,
          limit: 5,
          filter: { pid: 1 },
        })
      ).reply,
    );
    expect(nobody).toMatchObject({ matchingEvents: 0, rows: [] });
  });

  it('run.start records a real run into the sessions directory, and run.status follows it', async () => {
    const started = await post('run.start', {
      command: python.path,
      args: ['-c', 'import csv'],
    });
    expect(started.status).toBe(200);
    const run = result<{ runId: string; sessionPath: string }>(started.reply);
    expect(path.dirname(run.sessionPath)).toBe(sessionDir);
    let status = result<{ state: string; exitCode: number | null }>(started.reply);
    for (let i = 0; i < 200 && status.state === 'running'; i++) {
      await new Promise((resolve) => setTimeout(resolve, 100));
      status = result((await post('run.status', { runId: run.runId })).reply);
    }
    expect(status).toMatchObject({ state: 'exited', exitCode: 0 });
    const csv = result<EventPage>(
      (
        await post('session.events', {
          path: run.sessionPath,
          offset: 0,
          limit: 10,
          filter: { event: 'import', text: "'csv'" },
        })
      ).reply,
    );
    expect(csv.matchingEvents).toBeGreaterThan(0);
    const missing = await post('run.start', { command: 'no-such-command-xyz', args: [] });
    expect(missing.status).toBe(400);
    expect((await post('run.status', { runId: 'nope' })).status).toBe(404);
  });
});
