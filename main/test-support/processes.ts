// Long-running processes for tests: targets to attach to and inspectors in
// the background, with their output collected and waited on.
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';

import { CLI, REPO_ROOT } from './cli.js';

export class Watched {
  stdout = '';
  stderr = '';
  exit: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;

  constructor(readonly child: ChildProcess) {
    child.stdout?.setEncoding('utf8').on('data', (s: string) => (this.stdout += s));
    child.stderr?.setEncoding('utf8').on('data', (s: string) => (this.stderr += s));
    this.exit = new Promise((resolve) =>
      child.once('close', (code, signal) => resolve({ code, signal })),
    );
  }

  get pid(): number {
    if (!this.child.pid) throw new Error('process did not start');
    return this.child.pid;
  }

  /** Resolves with the first match in stdout+stderr; rejects on exit or after `ms`. */
  async waitFor(pattern: RegExp, ms = 30_000): Promise<RegExpExecArray> {
    const end = Date.now() + ms;
    for (;;) {
      const m = pattern.exec(this.stdout) ?? pattern.exec(this.stderr);
      if (m) return m;
      if (this.child.exitCode !== null || this.child.signalCode !== null) {
        throw new Error(
          `process exited (${this.child.exitCode ?? this.child.signalCode}) before ${pattern}:\n` +
            `${this.stdout}\n${this.stderr}`,
        );
      }
      if (Date.now() > end) {
        throw new Error(`timed out waiting for ${pattern}:\n${this.stdout}\n${this.stderr}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill(signal);
  }
}

/** Any command, with no Hookscope environment (no LD_PRELOAD, no HOOKSCOPE_*). */
export function startProcess(command: string, args: string[], options: SpawnOptions = {}): Watched {
  const env = { ...process.env };
  delete env.LD_PRELOAD;
  for (const key of Object.keys(env)) if (key.startsWith('HOOKSCOPE_')) delete env[key];
  return new Watched(spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env, ...options }));
}

/** A Python process running `code`, unbuffered. */
export function startPython(python: string, code: string, options: SpawnOptions = {}): Watched {
  return startProcess(python, ['-u', '-c', code], options);
}

/** Direct children of `pid`, from /proc. */
export function childrenOf(pid: number): number[] {
  const found: number[] = [];
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${entry}/stat`, 'latin1');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid)
        found.push(Number(entry));
    } catch {
      // gone mid-scan
    }
  }
  return found;
}

/** The built CLI in the background (e.g. `attach PID`). */
export function startCli(args: string[]): Watched {
  return new Watched(
    spawn(process.execPath, [CLI, ...args], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] }),
  );
}

/** Threads of `pid` named by the agent (its arm/writer thread), from /proc. */
export function agentThreads(pid: number): number {
  let n = 0;
  try {
    for (const tid of fs.readdirSync(`/proc/${pid}/task`)) {
      try {
        if (fs.readFileSync(`/proc/${pid}/task/${tid}/comm`, 'utf8').trim() === 'hookscope-agent')
          n++;
      } catch {
        // thread ended mid-scan
      }
    }
  } catch {
    return 0;
  }
  return n;
}

export async function until(cond: () => boolean, ms: number, what = 'condition'): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
