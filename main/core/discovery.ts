// Finding CPython processes and what stands between us and attaching to
// them, read from /proc only (no `ps`). Processes come and go while we read
// and other users' files may be closed to us: every read tolerates both, and
// what could not be read is said, never guessed.
import fs from 'node:fs';
import path from 'node:path';

import { readAttacherContext, statusField } from './attacher-context.js';
import { planAttach, type AttacherContext, type TargetFacts } from './preflight.js';
import { isSelfOrDescendant } from './process-tree.js';
import { libraryNameHint, readPythonBuild, type PythonBuild } from './python-build.js';

export interface PythonRuntime {
  version: string; // "3.11.2" (full when it can be read, else "3.11")
  major: number;
  minor: number;
  /** where the version was read from: the mapped libpython path or the executable path */
  source: string;
  /** true for a free-threaded (3.13t+) build, when detectable, else false */
  freeThreaded: boolean;
}

export interface AttachReason {
  code:
    | 'no-such-process'
    | 'not-python'
    | 'python-too-old'
    | 'permission'
    | 'ptrace-scope'
    | 'remote-debug-disabled'
    | 'no-debugger'
    | 'container'
    | 'zombie'
    | 'self'
    | 'kernel-thread';
  message: string; // one plain sentence: what is wrong, naming the pid/version/setting
  fix: string; // one plain sentence: what the user can do about it
}

export interface AttachPlan {
  ok: boolean;
  /** how attach would be done when ok */
  method: 'remote_exec' | 'gdb' | 'lldb' | null;
  /** absolute path of the debugger to use for gdb/lldb */
  debugger: string | null;
  reasons: AttachReason[]; // empty when ok
}

export interface ProcessInfo {
  pid: number;
  ppid: number;
  uid: number;
  user: string;
  exe: string | null; // readlink of /proc/PID/exe, null if unreadable
  cmdline: string[];
  startTime: string; // ISO 8601, from /proc/PID/stat starttime + boot time
  python: PythonRuntime | null; // null: not CPython (or cannot tell: then a reason says why)
  agentLoaded: boolean; // hookscope-agent.so appears in /proc/PID/maps
  /** the target's root as seen from here ("/" normally; differs for a chroot) */
  root: string | null;
  /** It has a mount namespace of its own (PrivateTmp, a private /proc): its paths are reached through /proc/PID/root. */
  separateMountNamespace: boolean;
  attach: AttachPlan;
}

/** Thrown by inspectProcess for a pid with no process behind it. */
export class NoSuchProcessError extends Error {
  constructor(readonly pid: number) {
    super(`no process with pid ${pid}`);
  }
}

export interface DiscoveryOptions {
  /** Our side of the preflight; read from this process when absent. */
  attacher?: AttacherContext;
  /** listProcessesYielding: ms of scanning between two turns of the event loop (SCAN_MS_PER_TURN). */
  sliceMs?: number;
}

export const AGENT_LIBRARY_NAME = 'hookscope-agent.so';

/** Details of one process; throws NoSuchProcessError when `pid` does not exist. */
export function inspectProcess(pid: number, options: DiscoveryOptions = {}): ProcessInfo {
  if (!Number.isSafeInteger(pid) || pid <= 0) throw new NoSuchProcessError(pid);
  const attacher = options.attacher ?? readAttacherContext();
  const info = readProcess(pid, attacher, new ScanState());
  if (info === null) throw new NoSuchProcessError(pid);
  return info;
}

/** Every process we can see, by pid; processes that end during the scan are left out. */
export function listProcesses(options: DiscoveryOptions = {}): ProcessInfo[] {
  const attacher = options.attacher ?? readAttacherContext();
  const scan = new ScanState();
  const result: ProcessInfo[] = [];
  for (const pid of procPids()) {
    const info = readProcess(pid, attacher, scan);
    if (info !== null && !info.attach.reasons.some((r) => r.code === 'no-such-process')) {
      result.push(info);
    }
  }
  return result;
}

/** Milliseconds of scanning between two turns of the event loop in listProcessesYielding. */
const SCAN_MS_PER_TURN = 4;

/**
 * listProcesses for a server: the same answer, but it gives the event loop
 * a turn every few milliseconds. A scan reads /proc and ELF headers with
 * blocking calls (10-60 ms in all for 80 processes here, more on a busy
 * machine); in one piece it would hold every other request of the
 * inspector, and the agents' traffic, for that long. The slices end on
 * time rather than after a count of processes: a process costs from a few
 * µs (gone) to tens of ms (a binary not seen before).
 *
 * Blocking reads in slices, not asynchronous ones: /proc files are small
 * and made on each read, and a trip through the thread pool costs the
 * event loop more than the read itself. Reading stat (twice), status,
 * cmdline and maps of 78 processes took 13 ms of event-loop time with
 * readFileSync, 17 ms with bare fs.open/read/close callbacks, 36 ms with
 * fs.readFile and 63 ms with fs.promises.readFile; a whole scan, 13-22 ms
 * with blocking reads and 47 ms with fs.promises.
 */
export async function listProcessesYielding(
  options: DiscoveryOptions = {},
): Promise<ProcessInfo[]> {
  const attacher = options.attacher ?? readAttacherContext();
  const scan = new ScanState();
  const result: ProcessInfo[] = [];
  const sliceMs = options.sliceMs ?? SCAN_MS_PER_TURN;
  let sliceEnd = performance.now() + sliceMs;
  for (const pid of procPids()) {
    if (performance.now() >= sliceEnd) {
      await new Promise((resolve) => setImmediate(resolve));
      sliceEnd = performance.now() + sliceMs;
    }
    const info = readProcess(pid, attacher, scan);
    if (info !== null && !info.attach.reasons.some((r) => r.code === 'no-such-process')) {
      result.push(info);
    }
  }
  return result;
}

function procPids(): number[] {
  return fs
    .readdirSync('/proc')
    .filter((name) => /^[1-9][0-9]*$/.test(name))
    .map(Number)
    .sort((a, b) => a - b);
}

/** Things read once per scan rather than once per process. */
class ScanState {
  private bootTimeMs: number | null = null;
  private users: Map<number, string> | null = null;

  bootTime(): number {
    if (this.bootTimeMs === null) {
      const m = /^btime\s+(\d+)$/m.exec(fs.readFileSync('/proc/stat', 'latin1'));
      this.bootTimeMs = m ? Number(m[1]) * 1000 : 0;
    }
    return this.bootTimeMs;
  }

  userName(uid: number): string {
    if (this.users === null) this.users = readPasswd();
    return this.users.get(uid) ?? String(uid);
  }
}

function readPasswd(): Map<number, string> {
  const users = new Map<number, string>();
  let text: string;
  try {
    text = fs.readFileSync('/etc/passwd', 'utf8');
  } catch {
    return users;
  }
  for (const line of text.split('\n')) {
    const [name, , uid] = line.split(':');
    if (name && uid && /^\d+$/.test(uid) && !users.has(Number(uid))) users.set(Number(uid), name);
  }
  return users;
}

/**
 * /proc reports times in USER_HZ ticks, which the kernel fixes at 100 on
 * every architecture Hookscope runs on (it is not the kernel's HZ).
 */
const USER_HZ = 100;
/** PF_KTHREAD in the flags field of /proc/PID/stat. */
const PF_KTHREAD = 0x00200000;

interface StatLine {
  state: string;
  ppid: number;
  flags: number;
  startTicks: number;
}

function parseStat(text: string): StatLine | null {
  // The command name is in parentheses and may itself contain ') ': the
  // fields after the last ')' are the reliable ones.
  const close = text.lastIndexOf(')');
  if (close < 0) return null;
  const rest = text.slice(close + 2).split(' ');
  const ppid = Number(rest[1]);
  const flags = Number(rest[6]);
  const startTicks = Number(rest[19]);
  if (!rest[0] || ![ppid, flags, startTicks].every(Number.isFinite)) return null;
  return {
    state: rest[0],
    ppid,
    flags,
    startTicks,
  };
}

type Read<T> = { ok: true; value: T } | { ok: false; code: string };

function attempt<T>(read: () => T): Read<T> {
  try {
    return { ok: true, value: read() };
  } catch (error) {
    return { ok: false, code: (error as NodeJS.ErrnoException).code ?? 'EIO' };
  }
}

/** ENOENT and ESRCH are what a process that has just ended gives. */
const isGone = (r: Read<unknown>): boolean => !r.ok && (r.code === 'ENOENT' || r.code === 'ESRCH');

function readStat(pid: number): StatLine | null {
  const r = attempt(() => fs.readFileSync(`/proc/${pid}/stat`, 'latin1'));
  return r.ok ? parseStat(r.value) : null;
}

interface MapsFacts {
  libpython: { path: string; range: string } | null;
  agentLoaded: boolean;
}

function parseMaps(text: string): MapsFacts {
  const facts: MapsFacts = { libpython: null, agentLoaded: false };
  for (const line of text.split('\n')) {
    // address perms offset dev inode pathname — the path may contain spaces.
    const m = /^(\S+)\s+\S+\s+\S+\s+\S+\s+\S+\s+(\/.*)$/.exec(line);
    if (!m) continue;
    const file = m[2]!.replace(/ \(deleted\)$/, '');
    const base = path.posix.basename(file);
    if (base === AGENT_LIBRARY_NAME) facts.agentLoaded = true;
    if (facts.libpython === null && libraryNameHint(base) !== null) {
      facts.libpython = { path: file, range: m[1]! };
    }
  }
  return facts;
}

function readProcess(pid: number, attacher: AttacherContext, scan: ScanState): ProcessInfo | null {
  const proc = `/proc/${pid}`;
  const stat = readStat(pid);
  if (stat === null) return null;
  let vanished = false;
  const note = <T>(r: Read<T>): Read<T> => {
    if (isGone(r)) vanished = true;
    return r;
  };

  const status = note(attempt(() => fs.readFileSync(`${proc}/status`, 'latin1')));
  const ids = (field: string): number[] =>
    status.ok
      ? statusField(status.value, field)
          .split(/\s+/)
          .slice(0, 3)
          .map(Number)
          .filter(Number.isInteger)
      : [];
  const uids = ids('Uid');
  const gids = ids('Gid');
  const procOwner = attempt(() => fs.statSync(proc));
  // Without status (gone), fall back to the owner of /proc/PID.
  const uid = uids[0] ?? (procOwner.ok ? procOwner.value.uid : -1);
  const cmdlineRead = note(attempt(() => fs.readFileSync(`${proc}/cmdline`)));
  const cmdline = cmdlineRead.ok ? splitNul(cmdlineRead.value) : [];
  const kernelThread = (stat.flags & PF_KTHREAD) !== 0;

  // exe and maps are missing for kernel threads and zombies, and closed to
  // us for other users' processes when we cannot ptrace them.
  const exeRead = attempt(() => fs.readlinkSync(`${proc}/exe`));
  const root = attempt(() => fs.readlinkSync(`${proc}/root`));
  const mountNamespace = attempt(() => fs.readlinkSync(`${proc}/ns/mnt`));
  const pidNamespace = attempt(() => fs.readlinkSync(`${proc}/ns/pid`));
  const mapsRead = kernelThread
    ? ({ ok: true, value: '' } as Read<string>)
    : note(attempt(() => fs.readFileSync(`${proc}/maps`, 'latin1')));
  const maps = mapsRead.ok ? parseMaps(mapsRead.value) : null;

  let python: PythonRuntime | null = null;
  let pythonUnknown: string | null = null;
  if (!kernelThread && stat.state !== 'Z') {
    ({ python, pythonUnknown } = findPython(pid, maps, mapsRead, exeRead));
  }

  let environ: Map<string, string> | null = null;
  if (python !== null && python.major === 3 && python.minor >= 14) {
    // Read only where it matters (remote-debug switch of 3.14+).
    const r = note(attempt(() => fs.readFileSync(`${proc}/environ`)));
    environ = r.ok ? parseEnviron(r.value) : null;
  }

  // The /proc/PID files of an undumpable process belong to root, whoever runs it.
  const euid = uids[1];
  const dumpable =
    procOwner.ok && euid !== undefined ? !(procOwner.value.uid === 0 && euid !== 0) : null;

  // Same pid, same start time: still the process we began with.
  const again = readStat(pid);
  if (again === null || again.startTicks !== stat.startTicks) vanished = true;

  const target: TargetFacts = {
    pid,
    state: stat.state,
    kernelThread,
    vanished,
    uids,
    gids,
    user: scan.userName(uid),
    dumpable,
    mountNamespace: mountNamespace.ok ? mountNamespace.value : null,
    pidNamespace: pidNamespace.ok ? pidNamespace.value : null,
    python,
    pythonUnknown,
    environ,
    cmdline,
    isDescendant: () => isSelfOrDescendant(pid, attacher.pid),
  };
  const startMs = scan.bootTime() + (stat.startTicks * 1000) / USER_HZ;
  return {
    pid,
    ppid: stat.ppid,
    uid,
    user: target.user,
    exe: exeRead.ok ? exeRead.value : null,
    cmdline,
    startTime: new Date(startMs).toISOString(),
    python,
    agentLoaded: maps?.agentLoaded ?? false,
    root: root.ok ? root.value : null,
    separateMountNamespace:
      mountNamespace.ok &&
      attacher.mountNamespace !== null &&
      mountNamespace.value !== attacher.mountNamespace,
    attach: planAttach(target, attacher),
  };
}

function findPython(
  pid: number,
  maps: MapsFacts | null,
  mapsRead: Read<string>,
  exeRead: Read<string>,
): { python: PythonRuntime | null; pythonUnknown: string | null } {
  const proc = `/proc/${pid}`;
  if (maps?.libpython) {
    const lib = maps.libpython;
    const hint = libraryNameHint(path.posix.basename(lib.path))!;
    // The path is the target's: read it through the target's root (a chroot
    // or container sees other files), or through map_files for a deleted one.
    for (const file of [`${proc}/root${lib.path}`, `${proc}/map_files/${lib.range}`]) {
      const r = attempt(() => readPythonBuild(file, hint));
      if (r.ok && r.value) return { python: runtime(r.value, lib.path), pythonUnknown: null };
    }
    // The name alone still tells the minor version and the ABI.
    return {
      python: {
        version: `${hint.major}.${hint.minor}`,
        major: hint.major,
        minor: hint.minor,
        source: lib.path,
        freeThreaded: hint.abiFlags.includes('t'),
      },
      pythonUnknown: null,
    };
  }

  // No libpython mapped (or maps unreadable): the interpreter may be linked
  // into the executable, as in Debian's python3.X.
  const exeBuild = attempt(() => readPythonBuild(`${proc}/exe`));
  if (exeBuild.ok && exeBuild.value && exeRead.ok) {
    return { python: runtime(exeBuild.value, exeRead.value), pythonUnknown: null };
  }
  if (!mapsRead.ok && !isGone(mapsRead)) {
    return {
      python: null,
      pythonUnknown: `its memory maps cannot be read (${mapsRead.code})`,
    };
  }
  if (!exeBuild.ok && !isGone(exeBuild)) {
    return {
      python: null,
      pythonUnknown: `its executable cannot be read (${exeBuild.code})`,
    };
  }
  return { python: null, pythonUnknown: null };
}

function runtime(build: PythonBuild, source: string): PythonRuntime {
  const { version, major, minor, freeThreaded } = build;
  return { version, major, minor, source, freeThreaded };
}

function splitNul(bytes: Buffer): string[] {
  const parts = bytes.toString('utf8').split('\0');
  if (parts.length > 0 && parts[parts.length - 1] === '') parts.pop();
  return parts;
}

function parseEnviron(bytes: Buffer): Map<string, string> {
  const env = new Map<string, string>();
  for (const entry of splitNul(bytes)) {
    const eq = entry.indexOf('=');
    if (eq > 0 && !env.has(entry.slice(0, eq))) env.set(entry.slice(0, eq), entry.slice(eq + 1));
  }
  return env;
}
