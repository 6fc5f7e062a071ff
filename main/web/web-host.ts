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

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';

import { isApiMethod, type ApiErrorCode } from '../common/ipc-contract.js';
import type { UiApi } from '../core/ui-api.js';

export const TOKEN_HEADER = 'x-hookscope-token';
/** Largest API request body. */
const MAX_BODY_BYTES = 1024 * 1024;

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

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const refuse = (status: number, message: string): void => {
      log(`hookscope serve: refused ${req.method} ${req.url ?? ''}: ${message}`);
      sendJson(res, status, failure(status === 400 ? 'bad-request' : 'refused', message));
    };
    const allowedHosts = [`127.0.0.1:${port}`, `localhost:${port}`];
    if (!allowedHosts.includes(req.headers.host ?? '')) {
      return refuse(403, `Host ${JSON.stringify(req.headers.host ?? '')} is not this server`);
    }
    const origin = req.headers.origin;
    if (origin !== undefined && !allowedHosts.some((h) => origin === `http://${h}`)) {
      return refuse(403, `Origin ${JSON.stringify(origin)} is not this server`);
    }
    const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);

    if (url.pathname.startsWith('/api/')) {
      if (req.method !== 'POST') {
        res.setHeader('Allow', 'POST');
        return refuse(405, 'API requests must use POST');
      }
      const given = req.headers[TOKEN_HEADER];
      if (typeof given !== 'string' || given === '') {
        return refuse(401, `missing ${TOKEN_HEADER} header`);
      }
      // Compare digests in constant time: no timing hint about how much matched.
      if (!crypto.timingSafeEqual(sha256(given), tokenDigest)) {
        return refuse(403, 'wrong token');
      }
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
