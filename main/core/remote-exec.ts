// Asks a running CPython 3.14+ process to run a script, through PEP 768's
// `sys.remote_exec(pid, script)`, called from a helper that is the target's
// own interpreter (the debug offsets it reads must match the target's
// version). The script path is opened by the target, so it is a path as the
// target sees it; pathInTarget / hostPathForTarget translate for chroots.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

export interface RemoteExecTarget {
  pid: number;
  /** `readlink /proc/PID/root`: "/" normally, the chroot directory otherwise. */
  root: string;
  /** The interpreter, `readlink /proc/PID/exe`, as a path inside `root`. */
  exe: string;
}

export type RemoteExecFailure =
  | 'unsupported-version'
  | 'remote-debug-disabled'
  | 'permission-denied'
  | 'process-gone'
  | 'no-proc-in-root'
  | 'interpreter-missing'
  | 'unsafe-interpreter'
  | 'script-missing'
  | 'timeout'
  | 'failed';

export class RemoteExecError extends Error {
  constructor(
    readonly reason: RemoteExecFailure,
    message: string,
  ) {
    super(message);
    this.name = 'RemoteExecError';
  }
}

const DEFAULT_TIMEOUT_MS = 15_000;
const SYSTEM_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const CAP_SYS_CHROOT = 18n;
const REPORT_TAG = 'hookscope-remote-exec:';

// Runs in the target's interpreter, whatever its version (3.8+), so it must
// parse everywhere. It reports failures as one tagged JSON line with the
// whole exception chain: 3.14 wraps the useful cause (a missing
// /proc/PID/maps, EPERM) in generic RuntimeErrors.
const HELPER = `
import sys, json
def report(kind, **fields):
    fields["kind"] = kind
    sys.stderr.write(${JSON.stringify(REPORT_TAG)} + json.dumps(fields) + "\\n")
run = getattr(sys, "remote_exec", None)
if run is None:
    report("no-remote-exec", version="%d.%d.%d" % sys.version_info[:3])
    sys.exit(3)
try:
    run(int(sys.argv[1]), sys.argv[2])
except BaseException as e:
    chain, seen = [], set()
    while e is not None and id(e) not in seen:
        seen.add(id(e))
        chain.append({"type": type(e).__name__, "errno": getattr(e, "errno", None), "message": str(e)})
        e = e.__cause__ or e.__context__
    report("raised", chain=chain)
    sys.exit(1)
`;

interface HelperReport {
  kind: 'no-remote-exec' | 'raised';
  version?: string;
  chain?: { type: string; errno: number | null; message: string }[];
}

function isChrootRoot(root: string): boolean {
  return path.resolve(root) !== '/';
}

/**
 * The path a process whose root is `root` uses for the host file `hostPath`.
 * Throws when the file is outside that root (the target cannot see it).
 */
export function pathInTarget(root: string, hostPath: string): string {
  if (!path.isAbsolute(hostPath)) throw new Error(`not an absolute path: ${hostPath}`);
  if (!isChrootRoot(root)) return path.resolve(hostPath);
  const rel = path.relative(path.resolve(root), path.resolve(hostPath));
  if (rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new Error(`${hostPath} is outside the target's root ${root}`);
  }
  return '/' + rel;
}

/**
 * The host path of `targetPath` as seen by a process whose root is `root`.
 * `root` may be `/proc/PID/root`, which reaches the target's root even
 * across mount namespaces. The host resolves the result: an absolute symlink
 * inside the target's tree points into the host's tree, so write only into
 * directories you created and checked with lstat.
 */
export function hostPathForTarget(root: string, targetPath: string): string {
  if (!path.isAbsolute(targetPath)) throw new Error(`not an absolute path: ${targetPath}`);
  const normal = path.posix.normalize(targetPath);
  return isChrootRoot(root) ? path.join(root, normal) : normal;
}

/** Root and interpreter of a running process, read from /proc. */
export function describeTarget(pid: number): RemoteExecTarget {
  let root: string;
  let hostExe: string;
  try {
    root = fs.readlinkSync(`/proc/${pid}/root`);
    hostExe = fs.readlinkSync(`/proc/${pid}/exe`);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ESRCH') {
      throw new RemoteExecError('process-gone', `process ${pid} does not exist`);
    }
    if (code === 'EACCES' || code === 'EPERM') {
      throw new RemoteExecError(
        'permission-denied',
        `not permitted to inspect process ${pid} (it belongs to another user)`,
      );
    }
    throw e;
  }
  return { pid, root, exe: pathInTarget(root, hostExe) };
}

function effectiveCapabilities(): bigint {
  const status = fs.readFileSync('/proc/self/status', 'utf8');
  const m = /^CapEff:\s*([0-9a-f]+)$/m.exec(status);
  return m ? BigInt('0x' + m[1]) : 0n;
}

/**
 * Refuses to run an interpreter that someone other than root (or us) could
 * have replaced: the helper runs with our privileges, often root, so a
 * user-writable interpreter would be a privilege escalation. The path is
 * checked as the target sees it, through its root.
 */
function checkInterpreterIsTrusted(targetRoot: string, exe: string): void {
  const me = process.geteuid?.() ?? 0;
  for (let p = exe; ; p = path.posix.dirname(p)) {
    const st = fs.statSync(hostPathForTarget(targetRoot, p));
    // A sticky directory (/tmp) is fine: others cannot replace what is ours.
    const sticky = p !== exe && (st.mode & 0o1000) !== 0;
    if ((st.uid !== 0 && st.uid !== me) || ((st.mode & 0o022) !== 0 && !sticky)) {
      throw new RemoteExecError(
        'unsafe-interpreter',
        `refusing to run ${exe} as the sys.remote_exec helper: ${p} is owned by uid ${st.uid} or writable by others, so it could have been replaced`,
      );
    }
    if (p === '/') break;
  }
}

function processExists(pid: number): boolean {
  return fs.existsSync(`/proc/${pid}`);
}

function explain(pid: number, report: HelperReport | null, stderr: string): RemoteExecError {
  if (report?.kind === 'no-remote-exec') {
    return new RemoteExecError(
      'unsupported-version',
      `sys.remote_exec needs CPython 3.14 or newer; process ${pid} runs Python ${report.version ?? '?'}`,
    );
  }
  const chain = report?.chain ?? [];
  const text =
    chain.map((c) => c.message).join(' | ') || stderr.trim().split('\n').slice(-3).join(' | ');
  if (chain.some((c) => /remote debugging is not enabled/i.test(c.message))) {
    return new RemoteExecError(
      'remote-debug-disabled',
      `remote debugging is disabled in process ${pid} (PYTHON_DISABLE_REMOTE_DEBUG, -X disable-remote-debug, or a build without remote debugging): CPython says "${chain[0]?.message}"`,
    );
  }
  if (!processExists(pid) || chain.some((c) => c.type === 'ProcessLookupError' || c.errno === 3)) {
    return new RemoteExecError(
      'process-gone',
      `process ${pid} exited before sys.remote_exec reached it`,
    );
  }
  if (chain.some((c) => c.type === 'PermissionError' || c.errno === 1 || c.errno === 13)) {
    return new RemoteExecError(
      'permission-denied',
      `not permitted to write into process ${pid} (sys.remote_exec needs ptrace access: the same user and no Yama restriction, or CAP_SYS_PTRACE): ${text}`,
    );
  }
  if (chain.some((c) => c.message === 'Script file does not exist')) {
    return new RemoteExecError(
      'script-missing',
      `the script does not exist inside process ${pid}'s root`,
    );
  }
  if (/chroot: cannot change root directory/.test(stderr)) {
    return new RemoteExecError(
      'permission-denied',
      `could not enter process ${pid}'s root: ${stderr.trim().split('\n').pop()}`,
    );
  }
  return new RemoteExecError('failed', `sys.remote_exec on process ${pid} failed: ${text}`);
}

/**
 * Asks process `target.pid` to run `scriptPathInTarget` (a path in its own
 * root). Resolves once the request is placed; the target runs the script
 * later, at its next evaluation-loop check on its main thread (a target
 * blocked in a C call such as time.sleep runs it only when that returns).
 */
export async function remoteExec(
  target: RemoteExecTarget,
  scriptPathInTarget: string,
  opts: { timeoutMs?: number } = {},
): Promise<void> {
  const { pid } = target;
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`not a process id: ${pid}`);
  if (!processExists(pid))
    throw new RemoteExecError('process-gone', `process ${pid} does not exist`);
  if (!path.isAbsolute(scriptPathInTarget) || !path.isAbsolute(target.exe)) {
    throw new Error('remoteExec needs absolute paths for the interpreter and the script');
  }
  // /proc/PID/root reaches the target's root even when it lives in another
  // mount namespace, and cannot be swapped for another directory under us.
  const targetRoot = `/proc/${pid}/root`;
  try {
    fs.readlinkSync(targetRoot);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') {
      throw new RemoteExecError(
        'permission-denied',
        `not permitted to reach process ${pid} (another user's process: sys.remote_exec needs ptrace access)`,
      );
    }
    throw new RemoteExecError('process-gone', `process ${pid} does not exist`);
  }
  const chrooted = isChrootRoot(target.root);
  const hostExe = hostPathForTarget(targetRoot, target.exe);
  if (!fs.existsSync(hostExe)) {
    throw new RemoteExecError(
      'interpreter-missing',
      `process ${pid}'s interpreter ${target.exe} is no longer there (replaced or deleted)`,
    );
  }
  checkInterpreterIsTrusted(targetRoot, path.posix.normalize(target.exe));

  let argv: string[];
  if (chrooted) {
    if ((effectiveCapabilities() & (1n << CAP_SYS_CHROOT)) === 0n) {
      throw new RemoteExecError(
        'permission-denied',
        `process ${pid} runs in a chroot (${target.root}); running its interpreter there needs CAP_SYS_CHROOT (run Hookscope as root)`,
      );
    }
    // The helper finds the target's memory map through /proc inside the
    // root, and must see the same pid numbers we pass it.
    let self: string | null;
    try {
      self = fs.readlinkSync(`${targetRoot}/proc/self`);
    } catch {
      self = null;
    }
    if (self === null) {
      throw new RemoteExecError(
        'no-proc-in-root',
        `process ${pid}'s root (${target.root}) has no /proc mounted; sys.remote_exec reads /proc/${pid}/maps there`,
      );
    }
    if (self !== String(process.pid)) {
      throw new RemoteExecError(
        'no-proc-in-root',
        `the /proc in process ${pid}'s root belongs to another pid namespace (a container?); not supported`,
      );
    }
    argv = ['chroot', targetRoot, target.exe];
  } else {
    argv = [target.exe];
  }
  // -I: no environment variables, no user site, no script directory on
  // sys.path; -S: no site module (no .pth files run as us).
  argv.push('-I', '-S', '-c', HELPER, String(pid), scriptPathInTarget);

  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  await new Promise<void>((resolve, reject) => {
    // A clean environment: nothing of ours (LD_PRELOAD, HOOKSCOPE_*) leaks in.
    const child = spawn(argv[0]!, argv.slice(1), {
      env: { PATH: SYSTEM_PATH },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const err: Buffer[] = [];
    let timedOut = false;
    child.stderr.on('data', (b: Buffer) => err.push(b));
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(new RemoteExecError('failed', `could not start ${argv[0]}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (timedOut) {
        reject(
          new RemoteExecError(
            'timeout',
            `sys.remote_exec on process ${pid} did not finish within ${timeoutMs} ms`,
          ),
        );
        return;
      }
      if (code === 0) {
        resolve();
        return;
      }
      const stderr = Buffer.concat(err).toString('utf8');
      const line = stderr.split('\n').find((l) => l.startsWith(REPORT_TAG));
      let report: HelperReport | null = null;
      if (line) {
        try {
          report = JSON.parse(line.slice(REPORT_TAG.length)) as HelperReport;
        } catch {
          report = null;
        }
      }
      if (!report && signal) {
        reject(new RemoteExecError('failed', `the sys.remote_exec helper was killed by ${signal}`));
        return;
      }
      reject(explain(pid, report, stderr));
    });
  });
}
