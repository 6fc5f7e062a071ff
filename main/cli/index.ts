// The `hookscope` command line.
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';

import { tuneAllocator } from '../core/native-addon.js';
import { HOOKSCOPE_VERSION } from '../core/version.js';
import type { RunOptions } from './run.js';

// Each command's module is loaded when the command runs: a `report` or a
// `show` does not pay for loading the recorder, the attacher and the web
// host first.

function parsePid(value: string): number {
  if (!/^[1-9][0-9]{0,9}$/.test(value))
    throw new InvalidArgumentError('expected a process id (a positive integer)');
  return Number(value);
}

function parsePort(value: string): number {
  if (!/^[0-9]{1,5}$/.test(value) || Number(value) > 65535)
    throw new InvalidArgumentError('expected a port number (0 to 65535)');
  return Number(value);
}

function parseSeconds(value: string): number {
  const n = Number(value);
  if (!/^\d+(\.\d+)?$/.test(value) || !(n > 0) || n > 7 * 24 * 3600)
    throw new InvalidArgumentError('expected a number of seconds (greater than 0, at most a week)');
  return n;
}

/**
 * A report's work off the main thread is one pipeline: the next chunk read
 * ahead, a block formatted, a block written, one of each at a time. With
 * one thread in libuv's pool they take turns on it, each finding the bytes
 * the one before left in that core's cache; with the usual four, on the
 * 2-core machines measured, they fought the main thread for the cores and
 * each hand-off woke a sleeping thread: json 0.53 → 0.45 s, csv 0.50 →
 * 0.44 s (five alternating runs each, docs/reports.md). libuv reads the
 * variable when the pool first starts, before the report's first read; a
 * size the user set stays.
 */
function onePoolThread(): void {
  process.env.UV_THREADPOOL_SIZE ??= '1';
}

/** Runs the CLI; resolves to the process exit code. */
export async function main(argv: string[]): Promise<number> {
  let exitCode = 0;
  const program = new Command('hookscope')
    .description('See and control what a Python process does at run time (PEP 578 audit events).')
    .version(HOOKSCOPE_VERSION)
    .enablePositionalOptions()
    .exitOverride()
    .showHelpAfterError('(run `hookscope --help` for usage)')
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });

  program
    .command('run')
    .description(
      'run a command with the Hookscope agent preloaded and record what its Python processes do',
    )
    .usage(
      '[--out FILE] [--policy FILE [--ask allow|deny]] [--learn OUT] [--report FILE] -- CMD [ARGS...]',
    )
    .option(
      '-o, --out <file>',
      'session file to write (default: a new file under ~/.local/share/hookscope/sessions)',
    )
    .option(
      '--policy <file>',
      'enforce this policy (docs/policy.md); exit code 3 when the target exits 0 but something was denied',
    )
    .addOption(
      new Option('--ask <answer>', 'what ask rules become without a UI (default: deny)').choices([
        'allow',
        'deny',
      ]),
    )
    .option(
      '--learn <out>',
      'after the run, write a policy that allows exactly what it did (refuses an existing file)',
    )
    .option(
      '--report <file>',
      'after the run, write a report; the format follows the name: .html, .json, .csv, .sarif, .trace.json',
    )
    .option('--no-summary', 'do not print the summary when the target exits')
    .argument('[command...]', 'the command to run, after --')
    .passThroughOptions()
    .action(async (command: string[], opts: RunOptions) => {
      const { runCommand } = await import('./run.js');
      exitCode = await runCommand(command, opts, process.stderr);
    });

  program
    .command('report')
    .description(
      'export a session: json, html, csv, perfetto (a trace), sarif (denied and asked intents) or policy',
    )
    .argument('<file>', 'session file (.hks)')
    .option('--format <format>', 'json, html, csv, perfetto, sarif or policy')
    .option('-o, --out <file>', 'where to write it (default: standard output); never overwritten')
    .option('--pid <pid>', 'only records of this process', parsePid)
    .option('--event <glob>', 'only events whose name matches the glob (e.g. "socket.*")')
    .action(
      async (
        file: string,
        opts: { format?: string; out?: string; pid?: number; event?: string },
      ) => {
        onePoolThread();
        const { reportCommand } = await import('./report.js');
        exitCode = await reportCommand(file, opts, process.stdout, process.stderr);
      },
    );

  program
    .command('show')
    .description('print the events of a session file')
    .argument('<file>', 'session file (.hks)')
    .option('--event <glob>', 'only events whose name matches the glob (e.g. "socket.*")')
    .option('--pid <pid>', 'only events of this process', parsePid)
    .option('--json', 'one JSON object per line')
    .action(async (file: string, opts: { event?: string; pid?: number; json?: boolean }) => {
      const { showCommand } = await import('./show.js');
      exitCode = await showCommand(file, opts, process.stdout, process.stderr);
    });

  program
    .command('ps')
    .description('list processes, which run CPython, and whether Hookscope could attach to them')
    .option('--json', 'print the process information as JSON')
    .option('--python', 'only processes running CPython')
    .option(
      '--pid <pid>',
      'one process in detail, with every reason attaching is not possible',
      parsePid,
    )
    .action(async (opts: { json?: boolean; python?: boolean; pid?: number }) => {
      const { psCommand } = await import('./ps.js');
      exitCode = psCommand(opts, process.stdout, process.stderr);
    });

  program
    .command('attach')
    .description(
      'attach to a running CPython 3.8+ process and record what it does until Ctrl-C, --duration or its exit',
    )
    .argument('<pid>', 'process id (see `hookscope ps --python`)', parsePid)
    .option(
      '-o, --out <file>',
      'session file to write (default: a new file under ~/.local/share/hookscope/sessions)',
    )
    .option('--duration <seconds>', 'detach after this many seconds', parseSeconds)
    .option(
      '--policy <file>',
      'enforce this policy in the process from the attach on (docs/policy.md)',
    )
    .addOption(
      new Option('--ask <answer>', 'what ask rules become without a UI (default: deny)').choices([
        'allow',
        'deny',
      ]),
    )
    .addOption(
      new Option(
        '--debugger <name>',
        'inject with this debugger (default: sys.remote_exec on 3.14+, else gdb, else lldb)',
      ).choices(['gdb', 'lldb']),
    )
    .option('--no-summary', 'do not print the summary at the end')
    .action(
      async (
        pid: number,
        opts: {
          out?: string;
          duration?: number;
          summary?: boolean;
          debugger?: 'gdb' | 'lldb';
          policy?: string;
          ask?: 'allow' | 'deny';
        },
      ) => {
        const { attachCommand } = await import('./attach.js');
        exitCode = await attachCommand(pid, opts, process.stderr);
      },
    );

  program
    .command('serve')
    .description('serve the inspector UI to a browser on this machine (127.0.0.1, with a token)')
    .option('--port <port>', 'port to listen on (default: any free port)', parsePort)
    .action(async (opts: { port?: number }) => {
      const { serveCommand } = await import('./serve.js');
      exitCode = await serveCommand(opts, process.stdout, process.stderr);
    });

  // Every command but ps streams sessions through large buffers: freed
  // ones are kept for reuse (native-addon.ts).
  program.hook('preAction', (_program, command) => {
    if (command.name() !== 'ps') tuneAllocator();
  });

  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here with code 0; usage errors with 2.
      return err.exitCode === 0 ? 0 : 2;
    }
    throw err;
  }
  return exitCode;
}
