// Every CPython on this machine that has audit hooks (3.8+): Debian's
// /usr/bin/python3.X and pyenv's builds. Tests run against all of them;
// none is hard-coded.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface Interpreter {
  /** Path to run. */
  path: string;
  /** e.g. "3.11.7" */
  version: string;
  major: number;
  minor: number;
  /** Directory of the `test` package, if the interpreter ships it. */
  testDir: string | null;
}

function candidates(): string[] {
  const found: string[] = [];
  for (const dir of ['/usr/bin', '/usr/local/bin']) {
    let names: string[];
    try {
      names = fs.readdirSync(dir);
    } catch {
      continue;
    }
    for (const n of names) if (/^python3\.\d+$/.test(n)) found.push(path.join(dir, n));
  }
  const pyenv = process.env.PYENV_ROOT ?? path.join(os.homedir(), '.pyenv');
  try {
    for (const v of fs.readdirSync(path.join(pyenv, 'versions'))) {
      const exe = path.join(pyenv, 'versions', v, 'bin', 'python3');
      if (fs.existsSync(exe)) found.push(exe);
    }
  } catch {
    // no pyenv here
  }
  return found;
}

let cached: Interpreter[] | null = null;

/** Interpreters with PEP 578 audit hooks, one per real executable. */
export function auditCapableInterpreters(): Interpreter[] {
  if (cached) return cached;
  const seen = new Set<string>();
  const result: Interpreter[] = [];
  for (const exe of candidates()) {
    let real: string;
    try {
      real = fs.realpathSync(exe);
    } catch {
      continue;
    }
    if (seen.has(real)) continue;
    seen.add(real);
    let out: string;
    try {
      out = execFileSync(
        exe,
        [
          '-c',
          'import sys, os\ntry:\n import test; d = os.path.dirname(test.__file__)\nexcept Exception:\n d = ""\nprint("%d.%d.%d" % sys.version_info[:3]); print(d)',
        ],
        { encoding: 'utf8', timeout: 20_000, env: { ...process.env, LD_PRELOAD: '' } },
      );
    } catch {
      continue;
    }
    const [version = '', testDir = ''] = out.trim().split('\n');
    const [major, minor] = version.split('.').map(Number);
    if (major !== 3 || minor === undefined || minor < 8) continue;
    result.push({ path: exe, version, major, minor, testDir: testDir || null });
  }
  result.sort((a, b) => a.minor - b.minor || a.path.localeCompare(b.path));
  cached = result;
  return result;
}

/** Interpreters older than 3.8 (no audit hooks): the agent must stay inert. */
export function preAuditInterpreters(): string[] {
  return candidates().filter((exe) => {
    try {
      const v = execFileSync(exe, ['-c', 'import sys; print(sys.version_info[1])'], {
        encoding: 'utf8',
        timeout: 20_000,
      });
      return Number(v.trim()) < 8 && exe.includes('python3');
    } catch {
      return false;
    }
  });
}
