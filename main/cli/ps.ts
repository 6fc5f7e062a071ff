// `hookscope ps [--json] [--python] [--pid PID]`: the processes on this
// machine, which of them run CPython, and whether Hookscope could attach.
import {
  inspectProcess,
  listProcesses,
  NoSuchProcessError,
  type ProcessInfo,
} from '../core/discovery.js';
import { shellQuote } from '../core/summary.js';

export interface PsOptions {
  json?: boolean;
  /** Only processes running CPython (any version). */
  python?: boolean;
  /** One process, in detail. */
  pid?: number;
}

/** Width for the table when `out` is not a terminal. */
const DEFAULT_WIDTH = 100;
const MIN_COMMAND_WIDTH = 20;

/**
 * Exit codes: 0, or 2 when --pid names no process (one line on `err`).
 */
export function psCommand(
  opts: PsOptions,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): number {
  if (opts.pid !== undefined) {
    let info: ProcessInfo;
    try {
      info = inspectProcess(opts.pid);
    } catch (error) {
      if (error instanceof NoSuchProcessError) {
        err.write(`hookscope ps: ${error.message}\n`);
        return 2;
      }
      throw error;
    }
    out.write(opts.json ? `${JSON.stringify(info, null, 2)}\n` : formatDetail(info));
    return 0;
  }
  let processes = listProcesses();
  if (opts.python) processes = processes.filter((p) => p.python !== null);
  if (opts.json) {
    out.write(`${JSON.stringify(processes, null, 2)}\n`);
    return 0;
  }
  const columns = (out as { columns?: unknown }).columns;
  const width = typeof columns === 'number' && columns > 0 ? columns : DEFAULT_WIDTH;
  out.write(formatTable(processes, width));
  return 0;
}

/** What the ATTACH column says: `ok (gdb)` or the first reason's code. */
export function attachSummary(info: ProcessInfo): string {
  if (info.attach.ok) return `ok (${info.attach.method ?? '?'})`;
  return info.attach.reasons[0]?.code ?? 'refused';
}

function commandText(info: ProcessInfo): string {
  if (info.cmdline.length > 0) return info.cmdline.map(shellQuote).join(' ');
  return info.exe ? `[${shellQuote(info.exe)}]` : '-';
}

/** Cuts `text` to `width` characters, marking the cut. */
function fit(text: string, width: number): string {
  const chars = [...text];
  return chars.length <= width ? text : `${chars.slice(0, Math.max(0, width - 1)).join('')}…`;
}

export function formatTable(processes: ProcessInfo[], width: number): string {
  const header = ['PID', 'USER', 'PYTHON', 'AGENT', 'ATTACH'];
  const rows = processes.map((p) => [
    String(p.pid),
    fit(p.user, 12),
    p.python ? `${p.python.version}${p.python.freeThreaded ? 't' : ''}` : '-',
    p.agentLoaded ? 'yes' : 'no',
    attachSummary(p),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join('  ');
  const used = widths.reduce((a, b) => a + b + 2, 0);
  const commandWidth = Math.max(MIN_COMMAND_WIDTH, width - used);
  const lines = [`${line(header)}  COMMAND`];
  processes.forEach((p, i) => {
    lines.push(`${line(rows[i]!)}  ${fit(commandText(p), commandWidth)}`);
  });
  return `${lines.join('\n')}\n`;
}

export function formatDetail(info: ProcessInfo): string {
  const py = info.python;
  const field = (name: string, value: string): string => `${name.padEnd(10)} ${value}`;
  const lines = [
    field('pid', String(info.pid)),
    field('ppid', String(info.ppid)),
    field('user', `${info.user} (uid ${info.uid})`),
    field('exe', info.exe ? shellQuote(info.exe) : '(unreadable)'),
    field('command', commandText(info)),
    field('started', info.startTime),
    field(
      'python',
      py
        ? `CPython ${py.version}${py.freeThreaded ? ' (free-threaded)' : ''}, read from ${shellQuote(py.source)}`
        : '-',
    ),
    field('agent', info.agentLoaded ? 'loaded' : 'not loaded'),
    field('root', info.root ?? '(unreadable)'),
  ];
  const plan = info.attach;
  if (plan.ok) {
    lines.push(
      field(
        'attach',
        `ok, with ${plan.method ?? '?'}${plan.debugger ? ` (${shellQuote(plan.debugger)})` : ''}`,
      ),
    );
  } else {
    lines.push(field('attach', 'not possible:'));
    for (const reason of plan.reasons) {
      lines.push(`  - ${reason.code}: ${reason.message}`, `    fix: ${reason.fix}`);
    }
  }
  return `${lines.join('\n')}\n`;
}
