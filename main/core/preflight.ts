// Whether Hookscope could attach to a process, and if not, why and what the
// user can do. A pure function of facts gathered elsewhere (discovery.ts
// reads the target, attacher-context.ts reads our side), so every refusal
// can be checked with the exact inputs a user's machine would give.
import type { AttachPlan, AttachReason, PythonRuntime } from './discovery.js';

/** The side that would attach: this process and the tools it can use. */
export interface AttacherContext {
  pid: number;
  /** Real uid and gid: what the kernel compares for ptrace (PTRACE_MODE_REALCREDS). */
  uid: number;
  gid: number;
  /** CAP_SYS_PTRACE in our effective set. */
  canPtraceAnyone: boolean;
  /** `readlink /proc/self/ns/mnt`, e.g. "mnt:[4026531841]"; null if unreadable. */
  mountNamespace: string | null;
  /** `readlink /proc/self/ns/pid`; null if unreadable. */
  pidNamespace: string | null;
  /** Yama's kernel.yama.ptrace_scope (0–3), or null when Yama is absent. */
  ptraceScope: number | null;
  /** Absolute paths of the debuggers found on PATH. */
  debuggers: { gdb: string | null; lldb: string | null };
}

/** What is known about the target; null or undefined where it could not be read. */
export interface TargetFacts {
  pid: number;
  /** Single-letter state from /proc/PID/stat ("R", "S", "Z", ...). */
  state: string;
  kernelThread: boolean;
  /** True when the process ended while it was being read. */
  vanished: boolean;
  /** Real, effective, saved uids and gids (from /proc/PID/status). */
  uids: number[];
  gids: number[];
  user: string;
  /** False for a process that made itself undumpable (or changed credentials): only CAP_SYS_PTRACE attaches. */
  dumpable: boolean | null;
  mountNamespace: string | null;
  pidNamespace: string | null;
  python: PythonRuntime | null;
  /** Why `python` is null although the process may be CPython (memory maps or executable unreadable). */
  pythonUnknown: string | null;
  /** Environment variables; null when /proc/PID/environ is unreadable. */
  environ: Map<string, string> | null;
  cmdline: string[];
  /** Whether the target descends from the attacher; needed only under Yama scope 1. */
  isDescendant: () => boolean;
}

export const CAP_SYS_PTRACE = 19;
/** CPython 3.8 added PEP 578 audit hooks; 3.14 added sys.remote_exec. */
const FIRST_AUDIT_MINOR = 8;
const FIRST_REMOTE_EXEC_MINOR = 14;

export function planAttach(target: TargetFacts, attacher: AttacherContext): AttachPlan {
  const pid = target.pid;
  const refuse = (...reasons: AttachReason[]): AttachPlan => ({
    ok: false,
    method: null,
    debugger: null,
    reasons,
  });

  // Conditions that make everything else moot come first, alone.
  if (target.vanished) {
    return refuse({
      code: 'no-such-process',
      message: `Process ${pid} exited while it was being inspected.`,
      fix: 'Start the program again and attach to its new process id.',
    });
  }
  if (pid === attacher.pid) {
    return refuse({
      code: 'self',
      message: `Process ${pid} is Hookscope itself.`,
      fix: 'Choose the process id of a Python program instead.',
    });
  }
  if (target.kernelThread) {
    return refuse({
      code: 'kernel-thread',
      message: `Process ${pid} is a kernel thread, not a program.`,
      fix: 'Choose the process id of a Python program instead.',
    });
  }
  if (target.state === 'Z' || target.state === 'X') {
    return refuse({
      code: 'zombie',
      message: `Process ${pid} has exited and is waiting for its parent to collect it (a zombie).`,
      fix: 'Nothing runs in it any more; attach to a live process instead.',
    });
  }

  const reasons: AttachReason[] = [];
  const python = target.python;
  if (python === null && target.pythonUnknown === null) {
    return refuse({
      code: 'not-python',
      message: `Process ${pid} is not running CPython (no libpython is mapped and its executable does not contain the interpreter).`,
      fix: 'Choose the process id of a CPython 3.8 or newer program.',
    });
  }
  if (
    python !== null &&
    (python.major < 3 || (python.major === 3 && python.minor < FIRST_AUDIT_MINOR))
  ) {
    return refuse({
      code: 'python-too-old',
      message: `Process ${pid} runs CPython ${python.version}, which has no audit hooks (they came in 3.8).`,
      fix: 'Run the program with CPython 3.8 or newer.',
    });
  }

  // Another mount namespace alone (a systemd service with PrivateTmp, a
  // chroot helper) is fine: attach reaches the target's files through
  // /proc/PID/root. Another pid namespace is a container: the agent's own
  // pid would not match what the kernel tells us, so the peer checks fail.
  if (
    target.pidNamespace !== null &&
    attacher.pidNamespace !== null &&
    target.pidNamespace !== attacher.pidNamespace
  ) {
    reasons.push({
      code: 'container',
      message: `Process ${pid} runs in another PID namespace (a container); attaching into containers is not supported.`,
      fix: 'Run Hookscope inside the container, next to the program.',
    });
  }

  const permission = permissionReason(target, attacher);
  if (permission) reasons.push(permission);

  const yama = yamaReason(target, attacher);
  if (yama) reasons.push(yama);

  const remoteExec =
    python !== null && python.major === 3 && python.minor >= FIRST_REMOTE_EXEC_MINOR;
  if (remoteExec) {
    const disabled = remoteDebugReason(target, python);
    if (disabled) reasons.push(disabled);
  }

  let method: AttachPlan['method'] = null;
  let debuggerPath: string | null = null;
  if (remoteExec) {
    method = 'remote_exec';
  } else if (attacher.debuggers.gdb) {
    method = 'gdb';
    debuggerPath = attacher.debuggers.gdb;
  } else if (attacher.debuggers.lldb) {
    method = 'lldb';
    debuggerPath = attacher.debuggers.lldb;
  } else if (python !== null) {
    reasons.push({
      code: 'no-debugger',
      message: `Process ${pid} runs CPython ${python.version}, which can only be attached through a debugger, and neither gdb nor lldb is on PATH.`,
      fix: 'Install gdb (for example `apt-get install gdb`) or lldb, or make sure it is on PATH.',
    });
  }

  if (reasons.length > 0) return refuse(...reasons);
  return { ok: true, method, debugger: debuggerPath, reasons: [] };
}

function permissionReason(target: TargetFacts, attacher: AttacherContext): AttachReason | null {
  const pid = target.pid;
  const fix = runAsFix(target.user);
  if (attacher.canPtraceAnyone) {
    if (target.pythonUnknown === null) return null;
    // CAP_SYS_PTRACE did not open it: a security module or a user namespace
    // stands in the way, which no change of user here would fix.
    return {
      code: 'permission',
      message: `Cannot tell whether process ${pid} runs CPython: ${target.pythonUnknown} even with CAP_SYS_PTRACE.`,
      fix: `Check which security policy (an LSM such as AppArmor or SELinux, or a user namespace) protects process ${pid}.`,
    };
  }
  // The kernel lets a process trace another only when the target's real,
  // effective and saved ids all equal the tracer's real ids.
  const otherUser = target.uids.some((u) => u !== attacher.uid);
  const otherGroup = target.gids.some((g) => g !== attacher.gid);
  if (otherUser || otherGroup) {
    const whose = otherUser
      ? `belongs to user ${target.user} (uid ${target.uids.join('/')})`
      : `runs with group ids ${target.gids.join('/')}`;
    const unknown = target.pythonUnknown ? `, and ${target.pythonUnknown}` : '';
    return {
      code: 'permission',
      message: `Process ${pid} ${whose} while Hookscope runs as uid ${attacher.uid} gid ${attacher.gid} without CAP_SYS_PTRACE${unknown}.`,
      fix,
    };
  }
  if (target.dumpable === false) {
    return {
      code: 'permission',
      message: `Process ${pid} is not dumpable (it changed credentials or turned dumping off), so only a tracer with CAP_SYS_PTRACE may attach.`,
      fix: 'Run Hookscope as root (with CAP_SYS_PTRACE).',
    };
  }
  if (target.pythonUnknown) {
    return {
      code: 'permission',
      message: `Cannot tell whether process ${pid} runs CPython: ${target.pythonUnknown}.`,
      fix,
    };
  }
  return null;
}

function yamaReason(target: TargetFacts, attacher: AttacherContext): AttachReason | null {
  const scope = attacher.ptraceScope;
  const pid = target.pid;
  const setting = `kernel.yama.ptrace_scope is ${scope}`;
  switch (scope) {
    case null:
    case 0:
      return null;
    case 1:
      // The kernel wants the tracer itself to be an ancestor of the
      // target. Hookscope's tracer (gdb, or the interpreter calling
      // sys.remote_exec) is its own child, so it is never one — not even
      // for a process Hookscope started.
      if (attacher.canPtraceAnyone) return null;
      return {
        code: 'ptrace-scope',
        message: `${setting}: a process may only be attached by its own ancestors, and the debugger Hookscope starts is not an ancestor of process ${pid}.`,
        fix: 'Record the program from its start with `hookscope run`, run Hookscope as root (with CAP_SYS_PTRACE), or allow attaching with `sudo sysctl kernel.yama.ptrace_scope=0`.',
      };
    case 2:
      if (attacher.canPtraceAnyone) return null;
      return {
        code: 'ptrace-scope',
        message: `${setting}: only a tracer with CAP_SYS_PTRACE may attach to process ${pid}.`,
        fix: 'Run Hookscope as root (with CAP_SYS_PTRACE), or start the program with `hookscope run`.',
      };
    default:
      return {
        code: 'ptrace-scope',
        message: `${setting}: attaching to any process, ${pid} included, is disabled until the next reboot.`,
        fix: 'Start the program with `hookscope run` instead (the setting cannot be lowered before a reboot).',
      };
  }
}

function remoteDebugReason(target: TargetFacts, python: PythonRuntime): AttachReason | null {
  const pid = target.pid;
  const options = interpreterOptions(target.cmdline);
  if (
    options.xOptions.some(
      (x) => x === 'disable-remote-debug' || x.startsWith('disable-remote-debug='),
    )
  ) {
    return {
      code: 'remote-debug-disabled',
      message: `Process ${pid} (CPython ${python.version}) was started with -X disable-remote-debug, which turns sys.remote_exec off.`,
      fix: 'Restart the program without -X disable-remote-debug, or start it with `hookscope run`.',
    };
  }
  // -E and -I make CPython ignore PYTHON* variables, this one included.
  if (options.ignoresEnvironment) return null;
  if (target.environ === null) {
    return {
      code: 'permission',
      message: `Cannot read the environment of process ${pid}, so cannot tell whether PYTHON_DISABLE_REMOTE_DEBUG turns sys.remote_exec off.`,
      fix: runAsFix(target.user),
    };
  }
  const value = target.environ.get('PYTHON_DISABLE_REMOTE_DEBUG');
  if (value !== undefined && value !== '') {
    return {
      code: 'remote-debug-disabled',
      message: `Process ${pid} (CPython ${python.version}) has PYTHON_DISABLE_REMOTE_DEBUG set, which turns sys.remote_exec off.`,
      fix: 'Restart the program without PYTHON_DISABLE_REMOTE_DEBUG in its environment, or start it with `hookscope run`.',
    };
  }
  return null;
}

export interface InterpreterOptions {
  /** -E or -I: PYTHON* environment variables are ignored. */
  ignoresEnvironment: boolean;
  /** Values of every -X option, in order. */
  xOptions: string[];
}

/**
 * The interpreter options in a CPython command line: everything before the
 * script, `-c` or `-m`, including clustered flags (`-IX dev`) and attached
 * values (`-Xdev`). Arguments of the script itself are never looked at.
 */
export function interpreterOptions(cmdline: string[]): InterpreterOptions {
  const result: InterpreterOptions = { ignoresEnvironment: false, xOptions: [] };
  for (let i = 1; i < cmdline.length; i++) {
    const arg = cmdline[i]!;
    if (arg === '--' || arg === '-' || !arg.startsWith('-')) break;
    if (arg.startsWith('--')) {
      if (arg === '--check-hash-based-pycs') i++;
      continue;
    }
    for (let j = 1; j < arg.length; j++) {
      const flag = arg[j];
      if (flag === 'c' || flag === 'm') return result;
      if (flag === 'E' || flag === 'I') result.ignoresEnvironment = true;
      if (flag === 'X' || flag === 'W') {
        let value = arg.slice(j + 1);
        if (value === '') value = cmdline[++i] ?? '';
        if (flag === 'X') result.xOptions.push(value);
        break;
      }
    }
  }
  return result;
}

function runAsFix(user: string): string {
  return user === 'root'
    ? 'Run Hookscope as root (with CAP_SYS_PTRACE).'
    : `Run Hookscope as ${user} or as root (with CAP_SYS_PTRACE).`;
}
