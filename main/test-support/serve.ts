// Starts `hookscope serve` as a user would and reads the URL it prints.
import { spawn, type ChildProcess } from 'node:child_process';

import { CLI } from './cli.js';

export interface ServedInspector {
  url: string;
  /** http://127.0.0.1:PORT */
  origin: string;
  token: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/**
 * Inspectors still running. A test that times out is abandoned by the
 * runner before its `finally` can stop its inspector; the test worker's
 * exit stops what is left, so no `hookscope serve` outlives the run.
 */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const child of running) child.kill('SIGKILL');
});

export function startServe(env: NodeJS.ProcessEnv): Promise<ServedInspector> {
  const child = spawn(process.execPath, [CLI, 'serve'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
  running.add(child);
  child.once('exit', () => running.delete(child));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGTERM');
    await exited;
  };
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`hookscope serve printed no URL: ${out}${err}`));
    }, 30_000);
    child.stderr?.on('data', (b: Buffer) => (err += b.toString()));
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
      const m = /(http:\/\/127\.0\.0\.1:\d+)\/\?token=([0-9a-f]{64})/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({
          url: m[0],
          origin: m[1] as string,
          token: m[2] as string,
          process: child,
          stop,
        });
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`hookscope serve exited (${code}): ${err}`));
    });
  });
}
