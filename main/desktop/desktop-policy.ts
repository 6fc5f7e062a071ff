// The desktop app's security decisions, as plain functions the Electron
// adapter (main-electron.ts) calls, so they are tested in plain Node.

import fs from 'node:fs';
import path from 'node:path';

import {
  CHANGE_CHANNEL,
  IPC_CHANNEL_PREFIX,
  ipcChannel,
  API_METHOD_NAMES,
  type ApiReply,
  type ChangeMessage,
  type FileDialogPurpose,
  type MenuCommand,
  type SaveDialogPurpose,
} from '../common/ipc-contract.js';
import type { UiApi } from '../core/ui-api.js';
import { CONTENT_SECURITY_POLICY, CONTENT_TYPES } from '../web/web-host.js';

/** The renderer is served from app://hookscope/ (a custom protocol, not file://). */
export const APP_SCHEME = 'app';
export const APP_HOST = 'hookscope';
export const APP_ORIGIN = `${APP_SCHEME}://${APP_HOST}`;
export const APP_START_URL = `${APP_ORIGIN}/index.html`;

/**
 * True only for a page of our own bundle. IPC senders, navigations and
 * frames are all checked with this: anything else (a remote page, a
 * file:// URL, a data: URL, an iframe from elsewhere) is refused.
 */
export function isAppUrl(url: string): boolean {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return false;
  }
  return parsed.protocol === `${APP_SCHEME}:` && parsed.host === APP_HOST;
}

/** What the adapter needs of an IPC invoke event (Electron's IpcMainInvokeEvent). */
export interface InvokeEventLike {
  senderFrame: { url: string } | null;
}

/** What the adapter needs of ipcMain. */
export interface IpcMainLike {
  handle(
    channel: string,
    listener: (event: InvokeEventLike, ...args: unknown[]) => Promise<unknown>,
  ): void;
}

/**
 * Registers one handler per contract method, every one through the same
 * wrapper: it checks the sender frame is our bundle (a frame that
 * navigated elsewhere, or an injected iframe, cannot call the core), then
 * hands the payload to UiApi.call, which validates it against the
 * contract. Refusals are logged with the reason.
 */
export function registerApiHandlers(
  ipcMain: IpcMainLike,
  api: UiApi,
  log: (line: string) => void,
): string[] {
  const channels: string[] = [];
  for (const method of API_METHOD_NAMES) {
    const channel = ipcChannel(method);
    ipcMain.handle(channel, (event, ...args) => guardedCall(api, method, event, args, log));
    channels.push(channel);
  }
  return channels;
}

export async function guardedCall(
  api: UiApi,
  method: string,
  event: InvokeEventLike,
  args: unknown[],
  log: (line: string) => void,
): Promise<ApiReply<unknown>> {
  const url = event.senderFrame?.url ?? '';
  if (!isAppUrl(url)) {
    const message = `IPC from a frame that is not the Hookscope UI (${JSON.stringify(url)})`;
    log(`hookscope: refused ${IPC_CHANNEL_PREFIX}${method}: ${message}`);
    return { ok: false, error: { code: 'refused', message } };
  }
  if (args.length !== 1) {
    const message = `expected one request argument, got ${args.length}`;
    log(`hookscope: refused ${IPC_CHANNEL_PREFIX}${method}: ${message}`);
    return { ok: false, error: { code: 'bad-request', message } };
  }
  return api.call(method, args[0], 'desktop');
}

export interface BundleResponse {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
}

/**
 * The answer to an app:// request: a file of the renderer bundle with the
 * strict CSP, or 404. Paths cannot leave the bundle directory.
 */
export async function bundleResponse(url: string, rendererDir: string): Promise<BundleResponse> {
  const root = path.resolve(rendererDir);
  const notFound = (): BundleResponse => ({
    status: 404,
    headers: { 'Content-Type': 'text/plain; charset=utf-8' },
    body: Buffer.from('not found'),
  });
  if (!isAppUrl(url)) return notFound();
  const { pathname } = new URL(url);
  let relative: string;
  try {
    relative = pathname === '/' ? 'index.html' : decodeURIComponent(pathname.slice(1));
  } catch {
    return notFound();
  }
  const file = path.resolve(root, relative);
  if (!file.startsWith(root + path.sep)) return notFound();
  try {
    const body = await fs.promises.readFile(file);
    return {
      status: 200,
      headers: {
        'Content-Type': CONTENT_TYPES[path.extname(file)] ?? 'application/octet-stream',
        'Content-Security-Policy': CONTENT_SECURITY_POLICY,
        'X-Content-Type-Options': 'nosniff',
      },
      body,
    };
  } catch {
    return notFound();
  }
}

/** What the adapter needs of a window's webContents to push to it. */
export interface ChangeTargetLike {
  isDestroyed(): boolean;
  send(channel: string, message: ChangeMessage): void;
}

/**
 * Forwards the core's change feed to the window, on the one channel the
 * preload listens to. Returns the function that stops it (the window closed).
 */
export function forwardChanges(
  api: Pick<UiApi, 'subscribe'>,
  target: ChangeTargetLike,
): () => void {
  return api.subscribe((message) => sendChange(target, message));
}

/** A menu item for the renderer: down the same channel as the feed. */
export function sendMenuCommand(target: ChangeTargetLike, command: MenuCommand): void {
  sendChange(target, { topic: 'command', command });
}

function sendChange(target: ChangeTargetLike, message: ChangeMessage): void {
  // A window being torn down cannot take messages; the next one re-reads.
  if (!target.isDestroyed()) target.send(CHANGE_CHANNEL, message);
}

/** Electron's OpenDialogOptions, as far as the app uses them. */
export interface OpenDialogSpec {
  title: string;
  buttonLabel: string;
  defaultPath?: string;
  properties: ('openFile' | 'showHiddenFiles')[];
  filters: { name: string; extensions: string[] }[];
}

/** The native open dialog for a purpose: sessions start in the sessions directory. */
export function openDialogOptions(
  purpose: FileDialogPurpose,
  defaultDir: string | null,
): OpenDialogSpec {
  const all = { name: 'All files', extensions: ['*'] };
  const spec: OpenDialogSpec =
    purpose === 'session'
      ? {
          title: 'Open a recorded session',
          buttonLabel: 'Open',
          properties: ['openFile'],
          filters: [{ name: 'Hookscope sessions', extensions: ['hks'] }, all],
        }
      : {
          title: 'Choose a policy file',
          buttonLabel: 'Use this policy',
          properties: ['openFile', 'showHiddenFiles'],
          filters: [{ name: 'Policies (JSON)', extensions: ['json', 'jsonc'] }, all],
        };
  if (defaultDir !== null && fs.existsSync(defaultDir)) spec.defaultPath = defaultDir;
  return spec;
}

/** Electron's SaveDialogOptions, as far as the app uses them. */
export interface SaveDialogSpec {
  title: string;
  buttonLabel: string;
  defaultPath: string;
  properties: ('createDirectory' | 'showOverwriteConfirmation')[];
  filters: { name: string; extensions: string[] }[];
}

/**
 * The native save dialog for a purpose. No overwrite confirmation: an
 * existing file is never replaced (a report refuses it), so confirming
 * would promise what does not happen.
 */
export function saveDialogOptions(purpose: SaveDialogPurpose, defaultName: string): SaveDialogSpec {
  return purpose === 'export'
    ? {
        title: 'Export a report of this session',
        buttonLabel: 'Export',
        defaultPath: defaultName,
        properties: ['createDirectory'],
        filters: [
          { name: 'HTML report', extensions: ['html'] },
          {
            name: 'JSON, SARIF or Perfetto trace (.json, .sarif, .trace.json)',
            extensions: ['json', 'sarif'],
          },
          { name: 'CSV', extensions: ['csv'] },
        ],
      }
    : {
        title: 'Save the policy as',
        buttonLabel: 'Save',
        defaultPath: defaultName,
        properties: ['createDirectory', 'showOverwriteConfirmation'],
        filters: [{ name: 'Policies (JSON)', extensions: ['json'] }],
      };
}
