// Runs the built `hookscope` CLI as a user would, and reads sessions back
// through `hookscope show --json`.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const CLI = path.join(REPO_ROOT, 'main', 'bin', 'hookscope.cjs');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export function runCli(
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: options.cwd ?? REPO_ROOT,
      env: options.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 110_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({
        code,
        signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
  });
}

export interface ShownEvent {
  session: number;
  pid: number;
  tid: number;
  time_ns: string;
  seq: number;
  event: string;
  category: string;
  args: unknown[];
  path?: unknown;
  real_path?: string;
  size?: number;
  sha256?: string;
  intent?: string;
  error?: string;
}

/** All events of a session file, via `hookscope show --json`. */
export async function showJson(file: string, extra: string[] = []): Promise<ShownEvent[]> {
  const r = await runCli(['show', file, '--json', ...extra]);
  if (r.code !== 0) throw new Error(`hookscope show failed (${r.code}): ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((l) => l.trim())
    .map((l) => JSON.parse(l) as ShownEvent);
}

/** Folders made by tempDir in this test file, removed after it (temp-dirs-setup.ts). */
const madeDirs = new Set<string>();

/**
 * A new empty folder under the system's temporary folder. It is removed
 * once the test file has run (tests may remove it sooner), so test runs
 * do not pile folders up in /tmp.
 */
export function tempDir(prefix = 'hookscope-test-'): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  madeDirs.add(dir);
  return dir;
}

/** Removes every folder tempDir made so far (a folder still in use stays). */
export function removeTempDirs(): void {
  for (const made of madeDirs) {
    try {
      fs.rmSync(made, { recursive: true, force: true });
      madeDirs.delete(made);
    } catch {
      // Something still holds it: left for the system's cleaning.
    }
  }
}
