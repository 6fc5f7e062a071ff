// What this process may do to others: its ids, capabilities, mount
// namespace, the Yama setting and the debuggers on PATH. Read once per scan.
import fs from 'node:fs';
import path from 'node:path';

import { CAP_SYS_PTRACE, type AttacherContext } from './preflight.js';

export const YAMA_PTRACE_SCOPE_PATH = '/proc/sys/kernel/yama/ptrace_scope';

export interface AttacherOptions {
  /** Where to read Yama's ptrace_scope (tests point this at a file of their own). */
  ptraceScopePath?: string;
  /** PATH to search for gdb and lldb; defaults to ours. */
  pathEnv?: string;
}

export function readAttacherContext(options: AttacherOptions = {}): AttacherContext {
  const status = fs.readFileSync('/proc/self/status', 'latin1');
  const ids = (field: string): number[] => statusField(status, field).split(/\s+/).map(Number);
  const pathEnv = options.pathEnv ?? process.env.PATH ?? '';
  return {
    pid: process.pid,
    uid: ids('Uid')[0] ?? -1,
    gid: ids('Gid')[0] ?? -1,
    canPtraceAnyone: hasCapability(statusField(status, 'CapEff'), CAP_SYS_PTRACE),
    mountNamespace: readLinkOrNull('/proc/self/ns/mnt'),
    pidNamespace: readLinkOrNull('/proc/self/ns/pid'),
    ptraceScope: readPtraceScope(options.ptraceScopePath ?? YAMA_PTRACE_SCOPE_PATH),
    debuggers: { gdb: findOnPath('gdb', pathEnv), lldb: findOnPath('lldb', pathEnv) },
  };
}

/** A `Name:\tvalue` line of /proc/PID/status; '' when absent. */
export function statusField(status: string, name: string): string {
  const m = new RegExp(`^${name}:\\s*(.*)$`, 'm').exec(status);
  return m?.[1]?.trim() ?? '';
}

/** Whether capability number `cap` is set in a hex mask such as CapEff's. */
export function hasCapability(maskHex: string, cap: number): boolean {
  if (!/^[0-9a-fA-F]+$/.test(maskHex)) return false;
  return ((BigInt(`0x${maskHex}`) >> BigInt(cap)) & 1n) === 1n;
}

/** 0–3, or null when the file is absent (no Yama) or unreadable. */
export function readPtraceScope(file: string): number | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'latin1').trim();
  } catch {
    return null;
  }
  return /^[0-9]+$/.test(text) ? Number(text) : null;
}

/**
 * The first executable regular file `name` in `pathEnv`. Empty and relative
 * entries are skipped: they name the current directory, and a debugger that
 * will be given ptrace over another process must not be picked up from
 * wherever Hookscope happens to be started.
 */
export function findOnPath(name: string, pathEnv: string): string | null {
  for (const dir of pathEnv.split(':')) {
    if (!path.isAbsolute(dir)) continue;
    const file = path.join(dir, name);
    try {
      if (!fs.statSync(file).isFile()) continue;
      fs.accessSync(file, fs.constants.X_OK);
      return file;
    } catch {
      continue;
    }
  }
  return null;
}

function readLinkOrNull(link: string): string | null {
  try {
    return fs.readlinkSync(link);
  } catch {
    return null;
  }
}
