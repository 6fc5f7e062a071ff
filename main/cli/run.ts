// `hookscope run [--out FILE] -- CMD [ARGS...]`
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { CaptureRun } from '../core/capture-run.js';
import { CommandError } from '../core/command-path.js';
import { SessionFileError } from '../core/session-file.js';
import { formatSummary, summarizeSession } from '../core/summary.js';
import { defaultSessionDir, newSessionFilePath } from '../core/runtime-paths.js';
import { HOOKSCOPE_VERSION } from '../core/version.js';

export interface RunOptions {
  out?: string;
  summary?: boolean;
}

function defaultOutPath(command: string): string {
  const dir = defaultSessionDir();
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  return newSessionFilePath(dir, command);
}

/** Shell convention for a process that died of a signal. */
function exitCodeOf(code: number | null, signal: NodeJS.Signals | null): number {
  if (code !== null) return code;
  const num = signal ? os.constants.signals[signal] : undefined;
  return 128 + (num ?? 1);
}

export async function runCommand(
  command: string[],
  options: RunOptions,
  err: NodeJS.WritableStream,
): Promise<number> {
  const [program, ...args] = command;
  if (!program) {
    err.write(
      'hookscope run: no command given (usage: hookscope run [--out FILE] -- CMD [ARGS...])\n',
    );
    return 2;
  }
  let outPath: string;
  try {
    outPath = path.resolve(options.out ?? defaultOutPath(program));
  } catch (e) {
    err.write(`hookscope run: cannot create the session directory: ${(e as Error).message}\n`);
    return 2;
  }

  let run: CaptureRun;
  try {
    run = await CaptureRun.start({
      command: program,
      args,
      outPath,
      hookscopeVersion: HOOKSCOPE_VERSION,
      onNotice: (level, message) => err.write(`hookscope: ${level}: ${message}\n`),
    });
  } catch (e) {
    if (e instanceof CommandError) {
      err.write(`hookscope run: ${e.message}\n`);
      return e.exitCode;
    }
    if (e instanceof SessionFileError) {
      err.write(`hookscope run: ${e.message}\n`);
      return 2;
    }
    err.write(`hookscope run: ${(e as Error).message}\n`);
    return 2;
  }

  // Ctrl-C reaches the whole foreground process group: the target decides
  // what to do with it, and we keep recording until it exits.
  const ignore = (): void => {};
  const forward = (signal: NodeJS.Signals) => (): void => {
    run.child.kill(signal);
  };
  const onTerm = forward('SIGTERM');
  const onHup = forward('SIGHUP');
  process.on('SIGINT', ignore);
  process.on('SIGTERM', onTerm);
  process.on('SIGHUP', onHup);
  let exit;
  try {
    exit = await run.finish();
  } finally {
    process.off('SIGINT', ignore);
    process.off('SIGTERM', onTerm);
    process.off('SIGHUP', onHup);
  }

  if (run.recorder.error) {
    err.write(`hookscope run: the session file is incomplete: ${run.recorder.error.message}\n`);
  }
  if (options.summary !== false) {
    try {
      const summary = await summarizeSession(outPath);
      err.write(`\n${formatSummary(summary)}\n`);
    } catch (e) {
      err.write(`hookscope run: could not summarise ${outPath}: ${(e as Error).message}\n`);
    }
  }
  err.write(`hookscope: session written to ${outPath}\n`);
  return exitCodeOf(exit.code, exit.signal);
}
