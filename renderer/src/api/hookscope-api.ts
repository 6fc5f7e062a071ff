// The renderer's one way to the core: an object with the contract's typed
// functions. In the desktop app the preload provides it (window.hookscope);
// in a browser it is built here over `fetch` to the loopback web host.
import {
  API_FUNCTIONS,
  ApiError,
  CHANGE_FEED_PATH,
  CHANGE_FEED_PROTOCOL,
  CHANGE_FEED_TOKEN_PREFIX,
  type ApiMethod,
  type ApiReply,
  type ChangeFeed,
  type FeedMessage,
  type HookscopeApi,
} from '../../../main/common/ipc-contract.js';

declare global {
  interface Window {
    /** Set by the Electron preload; absent in a browser. */
    hookscope?: HookscopeApi;
  }
}

export const TOKEN_HEADER = 'x-hookscope-token';
const TOKEN_KEY = 'hookscope.token';

/** The API over HTTP: POST /api/<method>, the token in a header. */
export function fetchApi(token: string, baseUrl = ''): HookscopeApi {
  const call = async (method: ApiMethod, request: unknown): Promise<unknown> => {
    let res: Response;
    try {
      res = await fetch(`${baseUrl}/api/${method}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', [TOKEN_HEADER]: token },
        body: JSON.stringify(request),
      });
    } catch (error) {
      throw new ApiError(
        'failed',
        `cannot reach the Hookscope server (is \`hookscope serve\` still running?): ${(error as Error).message}`,
      );
    }
    let reply: ApiReply<unknown>;
    try {
      reply = (await res.json()) as ApiReply<unknown>;
    } catch {
      throw new ApiError('failed', `the server answered ${res.status} without a reply`);
    }
    if (!reply.ok) throw new ApiError(reply.error.code, reply.error.message);
    return reply.result;
  };
  const api: Record<string, unknown> = {};
  for (const method of Object.keys(API_FUNCTIONS) as ApiMethod[]) {
    api[API_FUNCTIONS[method]] = (request: unknown) => call(method, request);
  }
  api.onChange = socketFeed(token, baseUrl).onChange;
  return api as unknown as HookscopeApi;
}

/** Reconnect delays of the change feed: doubling from the first to the last. */
export const FEED_RETRY_FIRST_MS = 500;
export const FEED_RETRY_MAX_MS = 10_000;

/**
 * The change feed over one WebSocket to the web host, opened while anyone
 * listens and reopened with backoff when it drops. Listeners hear
 * `{topic: 'feed', connected}` on every change of state, so they re-read
 * what they show after a gap and poll slowly while it is down.
 */
export function socketFeed(token: string, baseUrl = ''): ChangeFeed {
  const listeners = new Set<(message: FeedMessage) => void>();
  let socket: WebSocket | null = null;
  let retry: ReturnType<typeof setTimeout> | null = null;
  let delayMs = FEED_RETRY_FIRST_MS;
  let connected = false;

  const tell = (message: FeedMessage): void => {
    for (const listener of [...listeners]) listener(message);
  };
  const setConnected = (now: boolean): void => {
    if (now === connected) return;
    connected = now;
    tell({ topic: 'feed', connected: now });
  };
  const feedUrl = (): string => {
    const base = new URL(baseUrl || window.location.href);
    base.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
    return new URL(CHANGE_FEED_PATH, base).href;
  };
  const open = (): void => {
    retry = null;
    if (listeners.size === 0) return;
    if (typeof WebSocket === 'undefined') {
      // No WebSocket here (an old runtime): the listeners poll.
      tell({ topic: 'feed', connected: false });
      return;
    }
    let ws: WebSocket;
    try {
      // The token as a subprotocol: a browser cannot set headers on a
      // WebSocket, and a URL would carry it into logs (ipc-contract.ts).
      ws = new WebSocket(feedUrl(), [CHANGE_FEED_PROTOCOL, `${CHANGE_FEED_TOKEN_PREFIX}${token}`]);
    } catch {
      return scheduleRetry();
    }
    socket = ws;
    ws.onopen = () => {
      delayMs = FEED_RETRY_FIRST_MS;
      setConnected(true);
    };
    ws.onmessage = (event: MessageEvent) => {
      let message: FeedMessage;
      try {
        message = JSON.parse(String(event.data)) as FeedMessage;
      } catch {
        return;
      }
      tell(message);
    };
    ws.onclose = () => {
      if (socket !== ws) return;
      socket = null;
      setConnected(false);
      scheduleRetry();
    };
  };
  const scheduleRetry = (): void => {
    if (listeners.size === 0 || retry !== null) return;
    retry = setTimeout(open, delayMs);
    delayMs = Math.min(delayMs * 2, FEED_RETRY_MAX_MS);
  };
  const shut = (): void => {
    if (retry !== null) clearTimeout(retry);
    retry = null;
    const ws = socket;
    socket = null;
    connected = false;
    ws?.close();
  };

  return {
    onChange: (listener) => {
      listeners.add(listener);
      if (listeners.size === 1) open();
      else if (connected) queueMicrotask(() => listener({ topic: 'feed', connected: true }));
      return () => {
        listeners.delete(listener);
        if (listeners.size === 0) shut();
      };
    },
  };
}

/**
 * The token from the page URL (`?token=…`), kept for this tab only and
 * taken out of the address bar so it is not copied, bookmarked or shown
 * in screenshots.
 */
export function takeTokenFromUrl(): string | null {
  const url = new URL(window.location.href);
  const fromUrl = url.searchParams.get('token');
  if (fromUrl) {
    window.sessionStorage.setItem(TOKEN_KEY, fromUrl);
    url.searchParams.delete('token');
    window.history.replaceState(null, '', url.pathname + url.search + url.hash);
    return fromUrl;
  }
  return window.sessionStorage.getItem(TOKEN_KEY);
}

/** The preload's API in the desktop app, else HTTP with the page's token. */
export function connectApi(): HookscopeApi | null {
  if (window.hookscope) return window.hookscope;
  const token = takeTokenFromUrl();
  return token ? fetchApi(token) : null;
}
