// Where Hookscope's own files live: the agent library, the native addon, the
// user's session directory and the private socket directory of a run.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** The repository root that holds the native/ builds, seen from a module in main/core. */
function installRoot(here: string): string {
  // Compiled code runs from app/dist/main/core; sources (tests) from main/core.
  const marker = `${path.sep}app${path.sep}dist${path.sep}main${path.sep}`;
  const i = here.lastIndexOf(marker);
  if (i >= 0) return here.slice(0, i);
  return path.resolve(here, '..', '..');
}

/**
 * The packaged app's resources directory, or null when not running packaged.
 *
 * Electron sets `process.resourcesPath`; plain Node (the CLI, the tests)
 * does not. It is set in a development Electron run too (`electron app`),
 * where it names Electron's own resources, so "packaged" means: this code
 * runs from `<resourcesPath>/app.asar` (or an unpacked `app` folder) there.
 * electron-builder.yml copies the agent and the addon into
 * `<resourcesPath>/native`, outside the asar: CPython's loader cannot read
 * an asar. No environment variable can redirect this: which library gets
 * injected into other processes is decided by where the app is installed.
 */
export function packagedResourcesDir(
  resourcesPath: string | undefined,
  moduleDir: string,
): string | null {
  if (!resourcesPath || !path.isAbsolute(resourcesPath)) return null;
  for (const appDir of ['app.asar', 'app']) {
    const inside = path.join(resourcesPath, appDir) + path.sep;
    if (moduleDir.startsWith(inside)) return resourcesPath;
  }
  return null;
}

/** Where the agent library and the addon are: the packaged app's, or the repository's builds. */
export function nativeBuildPaths(
  resourcesPath: string | undefined,
  moduleDir: string,
): { agent: string; addon: string } {
  const packaged = packagedResourcesDir(resourcesPath, moduleDir);
  if (packaged) {
    return {
      agent: path.join(packaged, 'native', 'hookscope-agent.so'),
      addon: path.join(packaged, 'native', 'hookscope_native.node'),
    };
  }
  const root = installRoot(moduleDir);
  return {
    agent: path.join(root, 'native', 'agent', 'build', 'hookscope-agent.so'),
    addon: path.join(root, 'native', 'addon', 'build', 'Release', 'hookscope_native.node'),
  };
}

function ownNativeBuildPaths(): { agent: string; addon: string } {
  // Electron's type for `process` declares resourcesPath; plain Node's does not.
  const { resourcesPath } = process as { resourcesPath?: string };
  return nativeBuildPaths(resourcesPath, __dirname);
}

export function agentLibraryPath(): string {
  const candidate = ownNativeBuildPaths().agent;
  if (!fs.existsSync(candidate)) {
    throw new Error(
      `the Hookscope agent library is missing at ${candidate} (run \`npm run build\`)`,
    );
  }
  return candidate;
}

export function addonPath(): string {
  return ownNativeBuildPaths().addon;
}

/** The built renderer bundle (index.html and assets/), served by the web host and the desktop app. */
export function rendererBundleDir(): string {
  // Compiled code (app/dist/main/core, or dist/main/core inside a packaged
  // app's asar) has the bundle beside it; sources (tests) use app/dist.
  const marker = `${path.sep}dist${path.sep}main${path.sep}`;
  if (__dirname.includes(marker)) return path.resolve(__dirname, '..', '..', 'renderer');
  return path.join(installRoot(__dirname), 'app', 'dist', 'renderer');
}

/** `$XDG_DATA_HOME/hookscope/sessions`, by default under ~/.local/share. */
export function defaultSessionDir(): string {
  const base =
    process.env.XDG_DATA_HOME && path.isAbsolute(process.env.XDG_DATA_HOME)
      ? process.env.XDG_DATA_HOME
      : path.join(os.homedir(), '.local', 'share');
  return path.join(base, 'hookscope', 'sessions');
}

/**
 * A new session file name in `dir` for a run of `command`:
 * `20260102-030405-python3-PID.hks` (PID: ours, so two inspectors started
 * in the same second do not collide; `n` tells runs of one inspector apart).
 */
export function newSessionFilePath(dir: string, command: string, n = 0): string {
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
  const name =
    path
      .basename(command)
      .replace(/[^A-Za-z0-9._-]/g, '_')
      .slice(0, 40) || 'run';
  return path.join(dir, `${stamp}-${name}-${process.pid}${n > 0 ? `-${n}` : ''}.hks`);
}

/**
 * A fresh private directory for one inspector run's socket: mode 0700,
 * random name, under $XDG_RUNTIME_DIR when set (a per-user tmpfs nobody
 * else can write to), else under the system temp directory. The random name
 * is what keeps other users from squatting the socket path.
 */
export function makePrivateSocketDir(): string {
  const runtime = process.env.XDG_RUNTIME_DIR;
  let parent = os.tmpdir();
  let prefix = 'hookscope-';
  if (runtime && path.isAbsolute(runtime) && fs.existsSync(runtime)) {
    parent = path.join(runtime, 'hookscope');
    fs.mkdirSync(parent, { recursive: true, mode: 0o700 });
    const st = fs.lstatSync(parent);
    // Refuse a parent someone else owns or can write to.
    if (!st.isDirectory() || st.uid !== process.getuid?.() || (st.mode & 0o022) !== 0) {
      throw new Error(
        `refusing to use ${parent}: it must be a directory owned by you and not writable by others`,
      );
    }
    prefix = 'run-';
  }
  sweepStaleSocketDirs(parent, prefix);
  const dir = fs.mkdtempSync(path.join(parent, prefix));
  fs.chmodSync(dir, 0o700);
  // Who made it, for the next inspector's sweep if this one is killed
  // before it can remove the directory itself.
  fs.writeFileSync(path.join(dir, SOCKET_DIR_OWNER), `${process.pid}\n`, { mode: 0o600 });
  return dir;
}

/** In each private socket directory: the pid of the inspector that made it. */
export const SOCKET_DIR_OWNER = 'owner.pid';

/**
 * Removes the socket directories under `parent` that inspectors killed
 * before they could clean up left behind: ours (same uid, a directory, not
 * a link), named like ours, and holding the pid of a process that no longer
 * exists. A directory without that file (being made right now, or from an
 * older version) or whose process lives is left alone. Best effort: a
 * failure here never stops a run.
 */
export function sweepStaleSocketDirs(parent: string, prefix: string): void {
  let names: string[];
  try {
    names = fs.readdirSync(parent);
  } catch {
    return;
  }
  const uid = process.getuid?.();
  for (const name of names) {
    if (!name.startsWith(prefix) || name.length !== prefix.length + 6) continue;
    const dir = path.join(parent, name);
    try {
      const st = fs.lstatSync(dir);
      if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o777) !== 0o700) continue;
      const owner = Number(fs.readFileSync(path.join(dir, SOCKET_DIR_OWNER), 'utf8').trim());
      if (!Number.isInteger(owner) || owner <= 0 || processExists(owner)) continue;
      fs.rmSync(dir, { recursive: true, force: true });
    } catch {
      // Gone meanwhile, not readable, or not ours to judge: leave it.
    }
  }
}

function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists, as another user's process.
    return (error as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}
