// The web host's change feed (WebSocket /api/events) on a real connection:
// a real run of CPython under an `ask` policy pushes "intents pending"
// without anyone polling, and the upgrade is refused without the token,
// with a wrong one, from a foreign Origin or under a foreign Host.
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';

import {
  CHANGE_FEED_PATH,
  CHANGE_FEED_PROTOCOL,
  CHANGE_FEED_TOKEN_PREFIX,
  type ApiReply,
  type ChangeMessage,
  type PendingIntentRow,
  type RunStatus,
} from '../common/ipc-contract.js';
import { UiApi } from '../core/ui-api.js';
import { writePopenAskTarget } from '../test-support/ask-target.js';
import { tempDir } from '../test-support/cli.js';
import { auditCapableInterpreters, type Interpreter } from '../test-support/pythons.js';
import { startWebHost, TOKEN_HEADER, type WebHost } from './web-host.js';

const python = auditCapableInterpreters().at(-1) as Interpreter;

let dir: string;
let api: UiApi;
let host: WebHost;
const logged: string[] = [];

beforeAll(async () => {
  dir = tempDir('hookscope-feed-');
  fs.mkdirSync(path.join(dir, 'renderer'));
  fs.writeFileSync(path.join(dir, 'renderer', 'index.html'), '<!doctype html>');
  api = new UiApi({ sessionDir: path.join(dir, 'sessions'), log: (l) => logged.push(l) });
  host = await startWebHost({
    api,
    rendererDir: path.join(dir, 'renderer'),
    log: (l) => logged.push(l),
  });
});

afterAll(async () => {
  await host?.close();
  await api?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

type Opened = { ws: WebSocket; messages: ChangeMessage[]; next: NextMessage };
type NextMessage = (
  wanted: (m: ChangeMessage) => boolean,
  timeoutMs?: number,
) => Promise<ChangeMessage>;

/** Opens the feed; resolves to the socket, or to the HTTP status it was refused with. */
function openFeed(
  options: { protocols?: string[]; headers?: Record<string, string> } = {},
): Promise<Opened | { refused: number; body: string }> {
  const protocols = options.protocols ?? [
    CHANGE_FEED_PROTOCOL,
    `${CHANGE_FEED_TOKEN_PREFIX}${host.token}`,
  ];
  const ws = new WebSocket(`ws://127.0.0.1:${host.port}${CHANGE_FEED_PATH}`, protocols, {
    headers: options.headers ?? {},
  });
  const messages: ChangeMessage[] = [];
  const waiters: (() => void)[] = [];
  ws.on('message', (data: Buffer) => {
    messages.push(JSON.parse(data.toString('utf8')) as ChangeMessage);
    for (const wake of waiters.splice(0)) wake();
  });
  const next: NextMessage = async (wanted, timeoutMs = 30_000) => {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = messages.find(wanted);
      if (found) return found;
      if (Date.now() > deadline) throw new Error(`no such message in ${JSON.stringify(messages)}`);
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, 100);
      });
    }
  };
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve({ ws, messages, next }));
    ws.once('unexpected-response', (_req, res) => {
      let body = '';
      res.on('data', (b: Buffer) => (body += b.toString()));
      res.on('end', () => resolve({ refused: res.statusCode ?? 0, body }));
    });
    ws.once('error', (error) => {
      // After an unexpected response ws also reports an error: ignore it.
      if (!/Unexpected server response/.test(error.message)) reject(error);
    });
  });
}

async function post<T>(method: string, payload: unknown): Promise<T> {
  const res = await fetch(`http://127.0.0.1:${host.port}/api/${method}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', [TOKEN_HEADER]: host.token },
    body: JSON.stringify(payload),
  });
  const reply = (await res.json()) as ApiReply<T>;
  if (!reply.ok) throw new Error(reply.error.message);
  return reply.result;
}

describe('the change feed of the web host', () => {
  it('pushes run state and waiting intents of a real run as they happen', async () => {
    const opened = await openFeed();
    if (!('ws' in opened)) throw new Error(`refused ${opened.refused}: ${opened.body}`);
    expect(opened.ws.protocol).toBe(CHANGE_FEED_PROTOCOL);
    const { policy, script, result } = writePopenAskTarget('hookscope-feed-ask-');
    try {
      const run = await post<RunStatus>('run.start', {
        command: python.path,
        args: [script],
        policyPath: policy,
      });
      await opened.next((m) => m.topic === 'run' && m.runId === run.runId);
      // Nobody polls: the first Popen asks, and the feed says so.
      await opened.next((m) => m.topic === 'intents' && m.pending === 1);
      const { intents } = await post<{ intents: PendingIntentRow[] }>('intents.list', {});
      expect(intents).toHaveLength(1);
      await post('intents.answer', { id: intents[0]?.id, outcome: 'deny' });
      await opened.next((m) => m.topic === 'intents' && m.pending === 0);
      const second = await opened.next(
        (m) => m.topic === 'intents' && m.pending === 1 && opened.messages.indexOf(m) > 2,
      );
      expect(second).toEqual({ topic: 'intents', pending: 1 });
      const now = await post<{ intents: PendingIntentRow[] }>('intents.list', {});
      await post('intents.answer', { id: now.intents[0]?.id, outcome: 'allow' });
      const ended = await opened.next(
        (m) => m.topic === 'run' && m.runId === run.runId && m.state !== 'running',
      );
      expect(ended).toEqual({
        topic: 'run',
        runId: run.runId,
        sessionPath: run.sessionPath,
        state: 'exited',
      });
      expect(fs.readFileSync(result, 'utf8')).toBe('first refused second ran');
    } finally {
      opened.ws.close();
    }
  }, 60_000);

  it('says when the session file of a live run grows, a few times a second at most', async () => {
    const opened = await openFeed();
    if (!('ws' in opened)) throw new Error(`refused ${opened.refused}: ${opened.body}`);
    try {
      const run = await post<RunStatus>('run.start', {
        command: python.path,
        args: [
          '-c',
          'import time\nfor i in range(8):\n    open("/etc/hostname").close()\n    time.sleep(0.15)',
        ],
      });
      await opened.next((m) => m.topic === 'run' && m.runId === run.runId && m.state === 'exited');
      const grew = opened.messages.filter((m) => m.topic === 'session');
      expect(grew.length).toBeGreaterThan(0);
      // The run lasted about 1.2 s: at most one message per 200 ms.
      expect(grew.length).toBeLessThanOrEqual(8);
      expect(grew[0]).toEqual({ topic: 'session', path: run.sessionPath });
    } finally {
      opened.ws.close();
    }
  }, 60_000);

  it('is one-way: a client that talks is closed', async () => {
    const opened = await openFeed();
    if (!('ws' in opened)) throw new Error(`refused ${opened.refused}`);
    const closed = new Promise<number>((resolve) => opened.ws.once('close', resolve));
    opened.ws.send('{"method":"processes.list"}');
    expect(await closed).toBe(1008);
  });

  it('refuses an upgrade without the token', async () => {
    expect(await openFeed({ protocols: [CHANGE_FEED_PROTOCOL] })).toMatchObject({ refused: 401 });
    expect(logged.at(-1)).toContain('missing hookscope.token.<token> subprotocol');
  });

  it('refuses an upgrade with a wrong token', async () => {
    const opened = await openFeed({
      protocols: [CHANGE_FEED_PROTOCOL, `${CHANGE_FEED_TOKEN_PREFIX}${'0'.repeat(64)}`],
    });
    expect(opened).toMatchObject({ refused: 403, body: 'wrong token\n' });
  });

  it('refuses an upgrade from a foreign Origin, even with the token', async () => {
    const opened = await openFeed({ headers: { Origin: 'http://evil.example' } });
    expect(opened).toMatchObject({ refused: 403 });
    expect(logged.at(-1)).toContain('Origin "http://evil.example" is not this server');
    // Our own origin is fine.
    const ours = await openFeed({ headers: { Origin: `http://localhost:${host.port}` } });
    expect('ws' in ours).toBe(true);
    if ('ws' in ours) ours.ws.close();
  });

  it('refuses an upgrade under a foreign Host (DNS rebinding), even with the token', async () => {
    const opened = await openFeed({ headers: { Host: `evil.example:${host.port}` } });
    expect(opened).toMatchObject({ refused: 403 });
    expect(logged.at(-1)).toContain(`Host "evil.example:${host.port}" is not this server`);
  });

  it('refuses an upgrade elsewhere or without the feed subprotocol', async () => {
    expect(
      await openFeed({ protocols: [`${CHANGE_FEED_TOKEN_PREFIX}${host.token}`] }),
    ).toMatchObject({ refused: 400 });
  });
});
