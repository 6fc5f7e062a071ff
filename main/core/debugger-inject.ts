// Attach for CPython 3.8–3.13: a debugger (gdb, or lldb where gdb is
// absent) stops the target just long enough to call dlopen (load the
// agent) and the agent's attach entry point, which
// only validates and starts the agent's arm thread; the arm thread then
// registers the hooks with the GIL on its own, so a main thread asleep in
// time.sleep or blocked in I/O does not delay it (AGENT-NOTES: a pending
// call waited for the sleep to end).
//
// The configuration (socket path, token, server uid) goes into a 0600
// debugger command file in the private attach directory: it never appears in a
// command line (readable by every user in /proc) or in the target's
// environment.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/**
 * Longest a debugger run may take. Beyond it the debugger gets SIGINT, which
 * interrupts a call stuck in the target (a lock held by the thread it
 * stopped) and unwinds it; SIGKILL only if it does not exit after that.
 */
const DEBUGGER_TIMEOUT_MS = 30_000;
const DEBUGGER_KILL_GRACE_MS = 5_000;
/** lldb's own limit for one expression, in µs. */
const CALL_TIMEOUT_US = 20_000_000;
/** How often the target's state is sampled to measure how long it was stopped. */
const PAUSE_SAMPLE_MS = 2;

export type DebuggerKind = 'gdb' | 'lldb';

export interface InjectRequest {
  pid: number;
  kind: DebuggerKind;
  /** Absolute path of the debugger. */
  debugger: string;
  /** The agent library as the target sees it (differs from ours in a chroot). */
  agentPathInTarget: string;
  /** `socket=…\ntoken=…\nserver_uid=…\n` (docs/protocol.md#attach). */
  config: string;
  /** Private directory (ours, 0700) for the command file. */
  workDir: string;
}

export interface InjectResult {
  /** hookscope_agent_attach's return value (see ATTACH_RESULTS). */
  code: number;
  /** Longest time the target was seen stopped by the debugger, in ms. */
  longestPauseMs: number;
  /** The debugger's whole run, start to exit, in ms. */
  debuggerMs: number;
}

/** hookscope_agent_attach results (native/agent/src/agent.h). */
export const ATTACH_RESULTS: Record<number, string> = {
  0: 'started',
  1: 'another Hookscope inspector is recording this process',
  2: 'the agent refused its configuration',
  3: 'the process has no CPython 3.8+ C API',
  4: 'another copy of the Hookscope agent owns this process and could not take the request',
  5: 'the agent could not allocate memory or start its thread',
  6: 'the interpreter is not initialised yet, or is shutting down',
};

export class InjectError extends Error {}

/** A C string literal gdb will read back byte for byte. */
export function gdbStringLiteral(text: string): string {
  let out = '"';
  for (const byte of Buffer.from(text, 'utf8')) {
    if (byte === 0x22) out += '\\"';
    else if (byte === 0x5c) out += '\\\\';
    else if (byte >= 0x20 && byte < 0x7f) out += String.fromCharCode(byte);
    else out += '\\' + byte.toString(8).padStart(3, '0');
  }
  return out + '"';
}

/** A C string literal for lldb's expression parser (clang): same escapes. */
const lldbStringLiteral = gdbStringLiteral;

function gdbCommandFile(request: InjectRequest): string {
  // RTLD_NOW | RTLD_GLOBAL (2 | 0x100): global, so a later copy of the
  // agent finds this one through dlsym(RTLD_DEFAULT) and defers to it.
  // Every call is cast: the target has no debug information for libc.
  return [
    // A signal that reaches the target while our call runs (servers use
    // SIGTERM, SIGHUP, SIGUSR1/2) goes straight to it; a fatal one unwinds
    // the call instead of leaving the thread in gdb's dummy frame, which
    // would kill the process once gdb detaches.
    'handle SIGUSR1 SIGUSR2 SIGTERM SIGHUP SIGALRM SIGCHLD SIGPIPE SIGWINCH SIGIO SIGURG nostop noprint pass',
    'set unwindonsignal on',
    `set $hs_lib = (void *) dlopen(${gdbStringLiteral(request.agentPathInTarget)}, 258)`,
    'if $hs_lib == 0',
    '  printf "HOOKSCOPE-DLOPEN-FAILED %s\\n", (char *) dlerror()',
    'else',
    '  set $hs_attach = (void *) dlsym($hs_lib, "hookscope_agent_attach")',
    '  if $hs_attach == 0',
    '    printf "HOOKSCOPE-NO-ENTRY\\n"',
    '  else',
    `    printf "HOOKSCOPE-RESULT %d\\n", ((int (*)(const char *)) $hs_attach)(${gdbStringLiteral(request.config)})`,
    '  end',
    'end',
    '',
  ].join('\n');
}

// lldb has no conditionals in command files: the calls are guarded inside
// the expressions, and -1 / -2 stand for "dlopen failed" / "no entry point".
function lldbCommandFile(request: InjectRequest): string {
  // As for gdb: signals pass straight to the target, and an expression
  // that faults or runs too long is unwound rather than left half-done.
  const expr = `expr --unwind-on-error true --ignore-breakpoints true --timeout ${CALL_TIMEOUT_US} --`;
  return [
    'process handle --pass true --stop false --notify false SIGUSR1 SIGUSR2 SIGTERM SIGHUP SIGALRM SIGCHLD SIGPIPE SIGWINCH SIGIO SIGURG',
    `${expr} (void *) dlopen(${lldbStringLiteral(request.agentPathInTarget)}, 258)`,
    `${expr} (const char *) dlerror()`,
    `${expr} void *$hs_entry = $0 ? (void *) dlsym($0, "hookscope_agent_attach") : (void *) 0`,
    `${expr} (int) ($0 == 0 ? -1 : $hs_entry == 0 ? -2 : ((int (*)(const char *)) $hs_entry)(${lldbStringLiteral(request.config)}))`,
    'process detach',
    '',
  ].join('\n');
}

function debuggerArgs(request: InjectRequest, scriptPath: string): string[] {
  if (request.kind === 'lldb') {
    return ['--batch', '--no-lldbinit', '-p', String(request.pid), '-s', scriptPath];
  }
  return [
    '--batch',
    '-nx',
    '-iex',
    'set auto-load off',
    '-iex',
    'set debuginfod enabled off',
    // Symbols of the shared libraries are not needed (dlopen and dlsym
    // resolve through the executable's own references), and reading them
    // is most of gdb's time with the target stopped.
    '-iex',
    'set auto-solib-add off',
    '-p',
    String(request.pid),
    '-x',
    scriptPath,
  ];
}

/** The entry point's result, or an InjectError saying what went wrong. */
function parseOutput(request: InjectRequest, stdout: string): number | InjectError {
  if (request.kind === 'lldb') {
    const results = [...stdout.matchAll(/^\(int\) \$\d+ = (-?\d+)$/gm)];
    const last = results[results.length - 1];
    if (!last) return new InjectError('lldb ran the attach without reporting a result');
    const code = Number(last[1]);
    if (code === -1) {
      const why = /^\(const char \*\) \$\d+ = 0x[0-9a-f]+ "(.*)"$/m.exec(stdout);
      return new InjectError(
        `the process could not load the agent: ${why?.[1] ?? 'dlopen failed'}`,
      );
    }
    if (code === -2) {
      return new InjectError('the loaded agent has no attach entry point (an older agent build?)');
    }
    return code;
  }
  const result = /^HOOKSCOPE-RESULT (-?\d+)$/m.exec(stdout);
  if (result) return Number(result[1]);
  const dlopenFailed = /^HOOKSCOPE-DLOPEN-FAILED (.*)$/m.exec(stdout);
  if (dlopenFailed) {
    return new InjectError(`the process could not load the agent: ${dlopenFailed[1]}`);
  }
  if (/^HOOKSCOPE-NO-ENTRY$/m.test(stdout)) {
    return new InjectError('the loaded agent has no attach entry point (an older agent build?)');
  }
  return new InjectError('gdb ran the attach without reporting a result');
}

/** Process state letter from /proc/PID/stat ('t' = stopped by a tracer), or null. */
function processState(pid: number): string | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
    return stat.charAt(stat.lastIndexOf(')') + 2) || null;
  } catch {
    return null;
  }
}

export async function injectWithDebugger(request: InjectRequest): Promise<InjectResult> {
  const scriptPath = path.join(request.workDir, `attach.${request.kind}`);
  const commands = request.kind === 'lldb' ? lldbCommandFile(request) : gdbCommandFile(request);
  fs.writeFileSync(scriptPath, commands, { mode: 0o600, flag: 'wx' });
  const started = performance.now();
  let stoppedSince: number | null = null;
  let longestPauseMs = 0;
  const sample = (): void => {
    const now = performance.now();
    if (processState(request.pid) === 't') {
      stoppedSince ??= now;
      longestPauseMs = Math.max(longestPauseMs, now - stoppedSince);
    } else {
      stoppedSince = null;
    }
  };
  const sampler = setInterval(sample, PAUSE_SAMPLE_MS);
  try {
    const { stdout, stderr, code, timedOut } = await new Promise<{
      stdout: string;
      stderr: string;
      code: number | null;
      timedOut: boolean;
    }>((resolve, reject) => {
      const child = spawn(request.debugger, debuggerArgs(request, scriptPath), {
        stdio: ['ignore', 'pipe', 'pipe'],
        env: { PATH: process.env.PATH ?? '/usr/bin:/bin', LANG: 'C', HOME: '/nonexistent' },
      });
      let stdout = '';
      let stderr = '';
      let timedOut = false;
      child.stdout.setEncoding('utf8').on('data', (s: string) => (stdout += s));
      child.stderr.setEncoding('utf8').on('data', (s: string) => (stderr += s));
      let killTimer: NodeJS.Timeout | undefined;
      const timer = setTimeout(() => {
        timedOut = true;
        child.kill('SIGINT');
        killTimer = setTimeout(() => child.kill('SIGKILL'), DEBUGGER_KILL_GRACE_MS);
      }, DEBUGGER_TIMEOUT_MS);
      child.once('error', (err) => {
        clearTimeout(timer);
        reject(new InjectError(`could not start ${request.debugger}: ${err.message}`));
      });
      child.once('close', (code) => {
        clearTimeout(timer);
        clearTimeout(killTimer);
        resolve({ stdout, stderr, code, timedOut });
      });
    });
    sample();
    const debuggerMs = performance.now() - started;
    if (timedOut) {
      throw new InjectError(
        `${request.debugger} did not finish within ${DEBUGGER_TIMEOUT_MS / 1000} s and was stopped; ` +
          'the process may be stuck in the loader or the allocator',
      );
    }
    const parsed = parseOutput(request, stdout);
    if (typeof parsed === 'number') return { code: parsed, longestPauseMs, debuggerMs };
    if (code === 0) throw parsed;
    throw new InjectError(
      `${request.debugger} exited with code ${code} without attaching: ${lastLines(stderr || stdout)}`,
    );
  } finally {
    clearInterval(sampler);
    fs.rmSync(scriptPath, { force: true });
  }
}

function lastLines(text: string): string {
  const lines = text
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l && !l.startsWith('warning:'));
  return lines.slice(-3).join(' / ') || '(no output)';
}
