// The loopback web host behind `hookscope serve`: the renderer bundle and
// the UI API over HTTP, on 127.0.0.1 only, for a browser on this machine
// (or at the far end of an SSH tunnel) and for the end-to-end tests.
//
// Anyone on this machine can connect to a loopback port, and any web page
// the user visits can make the browser send requests to it. So:
//  - every API request must carry the random token printed in the URL, in
//    a header (a cross-site form or <img> cannot set headers, and a page
//    from another origin cannot read the token);
//  - the Host header must name this port on 127.0.0.1 or localhost, which
//    defeats DNS rebinding (evil.example resolving to 127.0.0.1);
//  - an Origin header, when the browser sends one, must be ours;
//  - the bundle is served with a strict CSP and no Referer, so the token in
//    the page URL does not leak.
// The change feed (a WebSocket at /api/events) passes the same checks
// before the upgrade: WebSockets are not bound by the same-origin policy,
// so any page may try to open one to 127.0.0.1 (cross-site WebSocket
// hijacking); the Origin check and the token are what stop it.

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import path from 'node:path';

import { WebSocketServer, type WebSocket } from 'ws';

import {
  CHANGE_FEED_PATH,
  CHANGE_FEED_PROTOCOL,
  CHANGE_FEED_TOKEN_PREFIX,
  isApiMethod,
  type ApiErrorCode,
} from '../common/ipc-contract.js';
import type { UiApi } from '../core/ui-api.js';

export const TOKEN_HEADER = 'x-hookscope-token';
/** Largest API request body. */
const MAX_BODY_BYTES = 1024 * 1024;
/** The feed is one-way: anything a client sends is small or a misuse. */
const MAX_FEED_MESSAGE_BYTES = 1024;
/** Messages a slow feed client may have queued before it is dropped (it reconnects and re-reads). */
const MAX_FEED_BUFFERED_BYTES = 1024 * 1024;

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'X-Frame-Options': 'DENY',
  'Cache-Control': 'no-store',
};

export const CONTENT_TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
};

const STATUS_OF: Readonly<Record<ApiErrorCode, number>> = {
  'bad-request': 400,
  'not-found': 404,
  refused: 403,
  failed: 500,
};

export interface WebHostOptions {
  api: UiApi;
  /** 0 (default): any free port. */
  port?: number;
  /** Directory with the built renderer (index.html, assets/). */
  rendererDir: string;
  /** Fixed token for tests; normally 32 random bytes. */
  token?: string;
  log?: (line: string) => void;
}

export interface WebHost {
  port: number;
  token: string;
  /** The URL to open: http://127.0.0.1:PORT/?token=… */
  url: string;
  close(): Promise<void>;
}

export async function startWebHost(options: WebHostOptions): Promise<WebHost> {
  const token = options.token ?? crypto.randomBytes(32).toString('hex');
  const tokenDigest = sha256(token);
  const log = options.log ?? ((line: string) => process.stderr.write(`${line}\n`));
  const rendererDir = path.resolve(options.rendererDir);
  let port = 0;

  const server = http.createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      log(`hookscope serve: internal error: ${(error as Error).stack ?? String(error)}`);
      if (!res.headersSent) sendJson(res, 500, failure('failed', 'internal error'));
      else res.destroy();
    });
  });

  /** The Host and Origin checks every request and upgrade passes first. */
  function originProblem(req: http.IncomingMessage): string | null {
    const allowedHosts = [`127.0.0.1:${port}`, `localhost:${port}`];
    if (!allowedHosts.includes(req.headers.host ?? '')) {
      return `Host ${JSON.stringify(req.headers.host ?? '')} is not this server`;
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !allowedHosts.some((h) => origin === `http://${h}`)) {
      return `Origin ${JSON.stringify(origin)} is not this server`;
    }
    return null;
  }

  /** 401 without a token, 403 with a wrong one, null when it is ours. */
  function tokenProblem(given: string | undefined, where: string): [number, string] | null {
    if (given === undefined || given === '') return [401, `missing ${where}`];
    // Compare digests in constant time: no timing hint about how much matched.
    if (!crypto.timingSafeEqual(sha256(given), tokenDigest)) return [403, 'wrong token'];
    return null;
  }

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const refuse = (status: number, message: string): void => {
      log(`hookscope serve: refused ${req.method} ${req.url ?? ''}: ${message}`);
      sendJson(res, status, failure(status === 400 ? 'bad-request' : 'refused', message));
    };
    const badOrigin = originProblem(req);
    if (badOrigin !== null) return refuse(403, badOrigin);
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);

    if (url.pathname.startsWith('/api/')) {
      if (req.method !== 'POST') {
        res.setHeader('Allow', 'POST');
        return refuse(405, 'API requests must use POST');
      }
      const given = req.headers[TOKEN_HEADER];
      const badToken = tokenProblem(
        typeof given === 'string' ? given : undefined,
        `${TOKEN_HEADER} header`,
      );
      if (badToken !== null) return refuse(...badToken);
      const method = url.pathname.slice('/api/'.length);
      if (!isApiMethod(method)) return refuse(404, `unknown API method "${method}"`);
      if (!(req.headers['content-type'] ?? '').startsWith('application/json')) {
        return refuse(415, 'API requests must be application/json');
      }
      const body = await readBody(req, MAX_BODY_BYTES);
      if (body === null) return refuse(413, `request body over ${MAX_BODY_BYTES} bytes`);
      let payload: unknown;
      try {
        payload = JSON.parse(body.toString('utf8'));
      } catch (error) {
        return refuse(400, `request body is not JSON: ${(error as Error).message}`);
      }
      const reply = await options.api.call(method, payload, `web ${req.socket.remoteAddress}`);
      return sendJson(res, reply.ok ? 200 : STATUS_OF[reply.error.code], reply);
    }

    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.setHeader('Allow', 'GET, HEAD');
      return refuse(405, 'only GET and HEAD are served outside /api/');
    }
    // The bundle is the same public code for everyone: no token needed to
    // load it; the page then reads the token from its own URL.
    const relative = url.pathname === '/' ? 'index.html' : url.pathname.slice(1);
    const file = path.resolve(rendererDir, decodeURIComponent(relative));
    if (!file.startsWith(rendererDir + path.sep)) return refuse(404, 'not found');
    let content: Buffer;
    try {
      content = await fs.promises.readFile(file);
    } catch {
      if (relative === 'index.html') {
        return refuse(503, `the renderer is not built (no ${file}): run \`npm run build\``);
      }
      return sendJson(res, 404, failure('not-found', `no such file: /${relative}`));
    }
    res.writeHead(200, {
      ...SECURITY_HEADERS,
      'Content-Type': CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream',
      'Content-Length': content.length,
    });
    res.end(req.method === 'HEAD' ? undefined : content);
  }

  // The change feed. The checks run on the upgrade request, before any
  // WebSocket exists: a refused client gets a plain HTTP status.
  const feed = new WebSocketServer({
    noServer: true,
    maxPayload: MAX_FEED_MESSAGE_BYTES,
    handleProtocols: (offered) =>
      offered.has(CHANGE_FEED_PROTOCOL) ? CHANGE_FEED_PROTOCOL : false,
  });
  server.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const refuse = (status: number, message: string): void => {
      log(`hookscope serve: refused WebSocket ${req.url ?? ''}: ${message}`);
      const body = `${message}\n`;
      socket.end(
        `HTTP/1.1 ${status} ${http.STATUS_CODES[status] ?? ''}\r\n` +
          'Connection: close\r\nContent-Type: text/plain; charset=utf-8\r\n' +
          `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
      );
    };
    socket.on('error', () => socket.destroy());
    const badOrigin = originProblem(req);
    if (badOrigin !== null) return refuse(403, badOrigin);
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
    if (url.pathname !== CHANGE_FEED_PATH) return refuse(404, 'no WebSocket here');
    // A browser cannot set headers on a WebSocket: the token comes as an
    // offered subprotocol next to CHANGE_FEED_PROTOCOL.
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim());
    if (!offered.includes(CHANGE_FEED_PROTOCOL)) {
      return refuse(400, `the WebSocket must offer the subprotocol ${CHANGE_FEED_PROTOCOL}`);
    }
    const given = offered.find((p) => p.startsWith(CHANGE_FEED_TOKEN_PREFIX));
    const badToken = tokenProblem(
      given?.slice(CHANGE_FEED_TOKEN_PREFIX.length),
      `${CHANGE_FEED_TOKEN_PREFIX}<token> subprotocol`,
    );
    if (badToken !== null) return refuse(...badToken);
    feed.handleUpgrade(req, socket, head, (ws) => followChanges(ws));
  });

  /** Forwards the core's change feed to one client until it goes away. */
  function followChanges(ws: WebSocket): void {
    const stop = options.api.subscribe((message) => {
      if (ws.bufferedAmount > MAX_FEED_BUFFERED_BYTES) {
        ws.terminate();
        return;
      }
      ws.send(JSON.stringify(message));
    });
    ws.on('close', stop);
    ws.on('error', (error) => log(`hookscope serve: change feed: ${error.message}`));
    // One-way: a client has nothing to say on it.
    ws.on('message', () => ws.close(1008, 'the change feed is one-way'));
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    // Loopback only, never all interfaces.
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  port = (server.address() as AddressInfo).port;

  return {
    port,
    token,
    url: `http://127.0.0.1:${port}/?token=${token}`,
    close: () =>
      new Promise<void>((resolve) => {
        // Upgraded sockets are no longer the HTTP server's: end them here.
        for (const client of feed.clients) client.terminate();
        feed.close();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function sha256(text: string): Buffer {
  return crypto.createHash('sha256').update(text, 'utf8').digest();
}

function failure(code: ApiErrorCode, message: string): unknown {
  return { ok: false, error: { code, message } };
}

function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  const body = Buffer.from(JSON.stringify(value), 'utf8');
  res.writeHead(status, {
    ...SECURITY_HEADERS,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': body.length,
  });
  res.end(body);
}

/** The body, or null when it is larger than `limit` (then the rest is not read). */
function readBody(req: http.IncomingMessage, limit: number): Promise<Buffer | null> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        resolve(null);
        req.pause();
        return;
      }
      parts.push(chunk);
    });
    req.on('end', () => resolve(Buffer.concat(parts)));
    req.on('error', reject);
  });
}
