// The web host and the UI API from source in this process, for renderer
// tests of the change feed and the desktop dialogs: a real socket and core,
// the server's log kept, a restart on the same port and token (the feed
// must reconnect), and optionally a stand-in for the native dialogs
// (Electron's cannot run here).
import fs from 'node:fs';
import path from 'node:path';

import { UiApi, type NativeDialogs } from '../core/ui-api.js';
import { startWebHost, type WebHost } from '../web/web-host.js';

export type DialogStandIn = NativeDialogs;

export interface FeedTestHost {
  /** http://127.0.0.1:PORT */
  origin: string;
  port: number;
  token: string;
  /** Every line the host and the core logged. */
  logged: string[];
  /** Closes the server (dropping every connection) and starts it again on its port. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

export async function startFeedTestHost(
  dir: string,
  options: { dialogs?: DialogStandIn } = {},
): Promise<FeedTestHost> {
  const rendererDir = path.join(dir, 'renderer');
  fs.mkdirSync(rendererDir, { recursive: true });
  fs.writeFileSync(path.join(rendererDir, 'index.html'), '<!doctype html><title>test</title>');
  const logged: string[] = [];
  const log = (line: string): void => void logged.push(line);
  const api = new UiApi({
    sessionDir: path.join(dir, 'sessions'),
    log,
    ...(options.dialogs ? { dialogs: options.dialogs } : {}),
  });
  let host: WebHost = await startWebHost({ api, rendererDir, log });
  const { port, token } = host;
  return {
    origin: `http://127.0.0.1:${port}`,
    port,
    token,
    logged,
    restart: async () => {
      await host.close();
      host = await startWebHost({ api, rendererDir, log, port, token });
    },
    stop: async () => {
      await host.close();
      await api.close();
    },
  };
}
