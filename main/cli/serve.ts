// `hookscope serve [--port N]`: the UI in a browser, from the loopback web host.

import { rendererBundleDir } from '../core/runtime-paths.js';
import { UiApi } from '../core/ui-api.js';
import { startWebHost } from '../web/web-host.js';

export interface ServeOptions {
  port?: number;
}

/** Serves until SIGINT / SIGTERM; resolves to the exit code. */
export async function serveCommand(
  options: ServeOptions,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): Promise<number> {
  const api = new UiApi({ log: (line) => err.write(`${line}\n`) });
  let host;
  try {
    host = await startWebHost({
      api,
      rendererDir: rendererBundleDir(),
      ...(options.port !== undefined ? { port: options.port } : {}),
      log: (line) => err.write(`${line}\n`),
    });
  } catch (e) {
    const error = e as NodeJS.ErrnoException;
    err.write(
      error.code === 'EADDRINUSE'
        ? `hookscope serve: port ${options.port} is already in use (choose another with --port)\n`
        : `hookscope serve: cannot listen: ${error.message}\n`,
    );
    return 2;
  }
  out.write(`Hookscope is serving the inspector on this machine only.\nOpen: ${host.url}\n`);
  err.write(`hookscope: sessions are read from and recorded to ${api.sessionDir}\n`);
  await new Promise<void>((resolve) => {
    const stop = (): void => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  await host.close();
  await api.close();
  return 0;
}
