// The renderer's one way to the core: an object with the contract's typed
// functions. In the desktop app the preload provides it (window.hookscope);
// in a browser it is built here over `fetch` to the loopback web host.
import {
  API_FUNCTIONS,
  ApiError,
  type ApiMethod,
  type ApiReply,
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
  const api: Record<string, (request: unknown) => Promise<unknown>> = {};
  for (const method of Object.keys(API_FUNCTIONS) as ApiMethod[]) {
    api[API_FUNCTIONS[method]] = (request) => call(method, request);
  }
  return api as unknown as HookscopeApi;
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
