// Reading the process tree from /proc (Linux).
import fs from 'node:fs';

/** The parent pid of `pid`, or null when the process is gone. */
export function parentPid(pid: number): number | null {
  let stat: string;
  try {
    stat = fs.readFileSync(`/proc/${pid}/stat`, 'latin1');
  } catch {
    return null;
  }
  // The command name (field 2) is in parentheses and may itself contain
  // spaces and parentheses: the fields after the last ')' are reliable.
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ppid = Number(rest[1]);
  return Number.isInteger(ppid) ? ppid : null;
}

/** Whether `pid` is `ancestor` or one of its descendants. */
export function isSelfOrDescendant(pid: number, ancestor: number): boolean {
  let current: number | null = pid;
  for (let depth = 0; current !== null && current > 1 && depth < 256; depth++) {
    if (current === ancestor) return true;
    current = parentPid(current);
  }
  return false;
}
