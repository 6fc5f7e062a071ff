// A Debian sid chroot that provides CPython 3.14+ for tests (the host has
// nothing newer than 3.13). Built once with debootstrap and cached; test
// files in parallel workers share it through a lock file.
//
// Mount safety: every build step runs in a private mount namespace
// (`unshare --mount`), so whatever debootstrap or a package script mounts
// (debootstrap mounts /proc and /sys in the target) disappears with that
// namespace, even if the step is killed. Processes started by
// spawnInChroot get their /proc the same way. Nothing is ever mounted in the
// host's namespace, so removing a chroot directory cannot reach into the host.
import { execFileSync, spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export interface SidChroot {
  /** Host path of the chroot's root directory. */
  root: string;
  /** The interpreter, as a path inside the root (e.g. /usr/bin/python3.14). */
  python: string;
  /** e.g. "3.14.10", reported by the interpreter itself. */
  version: string;
}

const READY_MARKER = '.hookscope-ready.json';
const MIRROR = process.env.HOOKSCOPE_DEBIAN_MIRROR ?? 'http://deb.debian.org/debian';
/** Newer-is-not-better: a stable 3.14 is preferred over a pre-release 3.15. */
const PREFERRED_PYTHONS = ['python3.14'];
const MIN_MINOR = 14;
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const LOCK_WAIT_MS = 20 * 60_000;

export function sidChrootDir(): string {
  return path.resolve(
    process.env.HOOKSCOPE_SID_CHROOT ??
      path.join(os.homedir(), '.cache', 'hookscope', 'sid-chroot'),
  );
}

function readReady(root: string): SidChroot | null {
  try {
    const m = JSON.parse(fs.readFileSync(path.join(root, READY_MARKER), 'utf8')) as {
      python: string;
      version: string;
    };
    return { root, python: m.python, version: m.version };
  } catch {
    return null;
  }
}

function onPath(cmd: string): string | null {
  for (const dir of (process.env.PATH ?? '').split(':').concat(SYSTEM_PATH.split(':'))) {
    if (!dir) continue;
    const p = path.join(dir, cmd);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return null;
}

/** Why the chroot cannot be built here, or null when it exists or can be built. */
function unbuildableReason(): string | null {
  if (readReady(sidChrootDir())) return null;
  if (process.getuid?.() !== 0) {
    return `building the Debian sid chroot needs root (debootstrap, chroot); running as uid ${process.getuid?.()}`;
  }
  for (const cmd of ['debootstrap', 'chroot', 'unshare']) {
    if (!onPath(cmd)) {
      return `\`${cmd}\` is not installed (apt-get install debootstrap coreutils util-linux)`;
    }
  }
  const host = new URL(MIRROR).hostname;
  try {
    execFileSync('getent', ['hosts', host], { stdio: 'ignore', timeout: 10_000 });
  } catch {
    return `cannot resolve ${host} (no network?): the chroot is downloaded from ${MIRROR}`;
  }
  return null;
}

/**
 * For `it.skipIf(...)`: a reason to skip when the chroot can neither be found
 * nor built. In CI (CI=true) this is always null, so an unbuildable chroot
 * fails the tests instead of quietly skipping them.
 */
export function sidChrootSkipReason(): string | null {
  if (process.env.CI === 'true') return null;
  return unbuildableReason();
}

/** Mount points at or below `dir` in this process's mount namespace. */
function mountsUnder(dir: string): string[] {
  const prefix = dir.endsWith('/') ? dir : dir + '/';
  return fs
    .readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' ')[4] ?? '')
    .map((p) => p.replace(/\\(\d{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))))
    .filter((p) => p === dir || p.startsWith(prefix));
}

/** rm -rf, but never through a mount point into another filesystem. */
function removeTree(dir: string): void {
  const mounts = mountsUnder(dir);
  if (mounts.length > 0) {
    throw new Error(
      `refusing to remove ${dir}: something is mounted inside (${mounts.join(', ')})`,
    );
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

function run(
  argv: string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0]!, argv.slice(1), {
      env: { PATH: SYSTEM_PATH, LANG: 'C.UTF-8', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const chunks: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => chunks.push(b));
    child.stderr.on('data', (b: Buffer) => chunks.push(b));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, output: Buffer.concat(chunks).toString('utf8') }));
  });
}

async function mustRun(what: string, argv: string[], env?: NodeJS.ProcessEnv): Promise<string> {
  const r = await run(argv, env);
  if (r.code !== 0) {
    const tail = r.output.trim().split('\n').slice(-15).join('\n');
    throw new Error(`${what} failed (exit ${r.code}): ${argv.join(' ')}\n${tail}`);
  }
  return r.output;
}

/** A command run inside `root`, in a private mount namespace. */
function inRoot(root: string, argv: string[]): string[] {
  return ['unshare', '--mount', '--propagation', 'private', 'chroot', root, ...argv];
}

function choosePython(pkgnames: string): string | null {
  const available = pkgnames
    .split('\n')
    .map((n) => n.trim())
    .filter((n) => /^python3\.\d+$/.test(n) && Number(n.split('.')[1]) >= MIN_MINOR);
  const preferred = PREFERRED_PYTHONS.find((p) => available.includes(p));
  if (preferred) return preferred;
  available.sort((a, b) => Number(b.split('.')[1]) - Number(a.split('.')[1]));
  return available[0] ?? null;
}

async function build(target: string): Promise<SidChroot> {
  const staging = fs.mkdtempSync(`${target}.building-`);
  try {
    await mustRun('debootstrap', [
      'unshare',
      '--mount',
      '--propagation',
      'private',
      'debootstrap',
      '--variant=minbase',
      'sid',
      staging,
      MIRROR,
    ]);
    const names = await mustRun(
      'listing packages',
      inRoot(staging, ['apt-cache', 'pkgnames', 'python3.']),
    );
    const pkg = choosePython(names);
    if (!pkg) throw new Error(`Debian sid offers no python3.N package with N >= ${MIN_MINOR}`);
    await mustRun(
      `installing ${pkg}`,
      inRoot(staging, ['apt-get', 'install', '-y', '-q', '--no-install-recommends', pkg]),
      { DEBIAN_FRONTEND: 'noninteractive' },
    );
    await mustRun('apt-get clean', inRoot(staging, ['apt-get', 'clean']));
    const python = `/usr/bin/${pkg}`;
    const version = (
      await mustRun(
        'asking the interpreter its version',
        inRoot(staging, [
          python,
          '-I',
          '-c',
          'import sys; print("%d.%d.%d" % sys.version_info[:3])',
        ]),
      )
    ).trim();
    // The marker goes in before the rename: a directory at `target` is
    // therefore always complete, and a half-built one never has a marker.
    fs.writeFileSync(path.join(staging, READY_MARKER), JSON.stringify({ python, version }) + '\n');
    // mkdtemp made it 0700; a root directory is normally world-readable.
    fs.chmodSync(staging, 0o755);
    if (mountsUnder(staging).length > 0) {
      throw new Error(`unexpected mounts left in ${staging}: ${mountsUnder(staging).join(', ')}`);
    }
    try {
      fs.renameSync(staging, target);
    } catch (e) {
      // Someone else finished first (only possible if the lock was bypassed).
      const ready = readReady(target);
      if (ready) {
        removeTree(staging);
        return ready;
      }
      throw e;
    }
    return { root: target, python, version };
  } catch (e) {
    if (fs.existsSync(staging)) removeTree(staging);
    throw e;
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Exclusive-create lock file holding the owner's pid. A lock whose owner is
 * gone (or that stayed empty for a minute: its owner died between creating
 * and writing it) is stale and taken over. The lock only saves duplicate
 * work: correctness comes from the atomic rename in build().
 */
async function withLock<T>(
  lockPath: string,
  ready: () => T | null,
  work: () => Promise<T>,
): Promise<T> {
  const deadline = Date.now() + LOCK_WAIT_MS;
  for (;;) {
    let fd: number | null = null;
    try {
      fd = fs.openSync(lockPath, 'wx', 0o600);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    if (fd !== null) {
      try {
        fs.writeSync(fd, `${process.pid}\n`);
        fs.closeSync(fd);
        return await work();
      } finally {
        fs.rmSync(lockPath, { force: true });
      }
    }
    const done = ready();
    if (done) return done;
    try {
      const st = fs.statSync(lockPath);
      const owner = Number(fs.readFileSync(lockPath, 'utf8').trim());
      const stale =
        Number.isInteger(owner) && owner > 0 ? !isAlive(owner) : Date.now() - st.mtimeMs > 60_000;
      // Only remove the very file we judged (same inode), not a fresh lock
      // another waiter created meanwhile.
      if (stale && fs.statSync(lockPath).ino === st.ino) fs.rmSync(lockPath, { force: true });
    } catch {
      // the lock went away while we looked: try again
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${lockPath} (another process is building the chroot)`);
    }
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * The cached sid chroot, built first if needed (about a minute and ~250 MB).
 * Throws an Error that says why when it cannot be built.
 */
export async function ensureSidChroot(): Promise<SidChroot> {
  const target = sidChrootDir();
  const existing = readReady(target);
  if (existing) return existing;
  const reason = unbuildableReason();
  if (reason) throw new Error(`cannot build the Debian sid chroot: ${reason}`);
  fs.mkdirSync(path.dirname(target), { recursive: true });
  return withLock(
    `${target}.lock`,
    () => readReady(target),
    async () => {
      const again = readReady(target);
      if (again) return again;
      if (fs.existsSync(target)) {
        // Never delete what we did not build: a marker-less directory here
        // is someone else's (HOOKSCOPE_SID_CHROOT may point anywhere).
        throw new Error(
          `${target} exists but is not a ready chroot (no ${READY_MARKER}); remove it or set HOOKSCOPE_SID_CHROOT elsewhere`,
        );
      }
      // Leftovers of interrupted builds; we hold the lock, so none is live.
      const prefix = `${path.basename(target)}.building-`;
      for (const name of fs.readdirSync(path.dirname(target))) {
        if (name.startsWith(prefix)) removeTree(path.join(path.dirname(target), name));
      }
      return build(target);
    },
  );
}

export interface SpawnInChrootOptions {
  /** Added to a minimal environment (PATH, LANG). */
  env?: Record<string, string>;
  stdio?: StdioOptions;
  /**
   * Give the process a /proc (default true): mounted in a private mount
   * namespace, so it vanishes with the process and is never seen by the host.
   */
  proc?: boolean;
}

/**
 * Starts argv[0] (a path inside the chroot) as root inside the chroot. The
 * returned child's pid is the interpreter's real host pid: unshare and
 * chroot both exec, and no pid namespace is created.
 */
export function spawnInChroot(
  c: SidChroot,
  argv: string[],
  opts: SpawnInChrootOptions = {},
): ChildProcess {
  const prefix =
    opts.proc === false
      ? ['chroot', c.root]
      : [
          'unshare',
          '--mount',
          '--propagation',
          'private',
          `--mount-proc=${c.root}/proc`,
          'chroot',
          c.root,
        ];
  const full = [...prefix, ...argv];
  return spawn(full[0]!, full.slice(1), {
    env: { PATH: SYSTEM_PATH, LANG: 'C.UTF-8', ...opts.env },
    stdio: opts.stdio ?? ['ignore', 'ignore', 'pipe'],
  });
}
