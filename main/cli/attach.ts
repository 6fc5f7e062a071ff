// `hookscope attach PID [--out FILE] [--duration SECONDS] [--policy FILE [--ask allow|deny]] [--no-summary]`
import fs from 'node:fs';
import path from 'node:path';

import {
  AttachFailedError,
  AttachRefusedError,
  AttachRun,
  type AttachEnd,
} from '../core/attach-run.js';
import type { RunPolicy } from '../core/capture-run.js';
import { defaultSessionDir } from '../core/runtime-paths.js';
import { preparePolicy } from './run.js';
import { SessionFileError } from '../core/session-file.js';
import { formatSummary, summarizeSession } from '../core/summary.js';
import { HOOKSCOPE_VERSION } from '../core/version.js';

export interface AttachCommandOptions {
  out?: string;
  debugger?: 'gdb' | 'lldb';
  duration?: number;
  summary?: boolean;
  /** A policy file to enforce from the attach on. */
  policy?: string;
  ask?: 'allow' | 'deny';
}

function defaultOutPath(pid: number): string {
  const dir = defaultSessionDir();
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const stamp = new Date().toISOString().replace(/[-:]/g, '').replace(/\..*/, '').replace('T', '-');
  return path.join(dir, `${stamp}-attach-${pid}-${process.pid}.hks`);
}

function ms(value: number): string {
  return value < 1000 ? `${Math.round(value)} ms` : `${(value / 1000).toFixed(2)} s`;
}

/**
 * Exit codes: 0 recorded (then detached, or the target exited); 1 the attach
 * was tried and failed (the process runs on, untouched but for a loaded
 * library); 2 bad input or refused by the preflight (nothing was done).
 */
export async function attachCommand(
  pid: number,
  options: AttachCommandOptions,
  err: NodeJS.WritableStream,
): Promise<number> {
  if (options.ask !== undefined && options.policy === undefined) {
    err.write('hookscope attach: --ask needs --policy\n');
    return 2;
  }
  // Checked before anything is touched: a bad policy attaches nothing.
  const policy =
    options.policy === undefined
      ? undefined
      : preparePolicy(options.policy, options.ask ?? 'deny', err, 'attach');
  if (policy === null) return 2;
  let outPath: string;
  try {
    outPath = path.resolve(options.out ?? defaultOutPath(pid));
  } catch (e) {
    err.write(`hookscope attach: cannot create the session directory: ${(e as Error).message}\n`);
    return 2;
  }
  // Ctrl-C, SIGTERM, SIGHUP and --duration all mean "detach". The handlers
  // go in before anything is printed: a signal that follows "recording" at
  // once must find them (and one during the attach detaches right after).
  let stopNow: () => void = () => {};
  const stop = new Promise<'stop'>((resolve) => (stopNow = () => resolve('stop')));
  const onSignal = (): void => stopNow();
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  try {
    return await attachAndRecord(pid, outPath, options, err, stop, policy);
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    process.off('SIGHUP', onSignal);
  }
}

async function attachAndRecord(
  pid: number,
  outPath: string,
  options: AttachCommandOptions,
  err: NodeJS.WritableStream,
  stop: Promise<'stop'>,
  policy: RunPolicy | undefined,
): Promise<number> {
  err.write(`hookscope: attaching to process ${pid}…\n`);
  let run: AttachRun;
  try {
    run = await AttachRun.start({
      pid,
      outPath,
      hookscopeVersion: HOOKSCOPE_VERSION,
      ...(options.debugger ? { debugger: options.debugger } : {}),
      ...(policy ? { policy } : {}),
      onNotice: (level, message) => err.write(`hookscope: ${level}: ${message}\n`),
    });
  } catch (e) {
    if (e instanceof AttachRefusedError) {
      err.write(`hookscope attach: cannot attach to process ${pid}:\n`);
      for (const r of e.reasons) err.write(`  - ${r.message}\n    fix: ${r.fix}\n`);
      return 2;
    }
    if (e instanceof SessionFileError) {
      err.write(`hookscope attach: ${e.message}\n`);
      return 2;
    }
    if (e instanceof AttachFailedError) {
      err.write(`hookscope attach: ${e.message}\n`);
      return 1;
    }
    // inspectProcess: the pid does not exist or vanished.
    err.write(`hookscope attach: ${(e as Error).message}\n`);
    return 2;
  }

  const a = run.attach;
  const version = run.target.python?.version ?? '?';
  err.write(
    `hookscope: attached to process ${pid} (CPython ${version}) via ${a.method}` +
      `${a.reattached ? ', re-arming the agent already loaded' : ''} in ${ms(a.attachWallMs)}; ` +
      `longest pause of the target ${ms(a.longestPauseMs)}.\n` +
      `hookscope: recording${options.duration ? ` for ${options.duration} s` : ''}; ` +
      'press Ctrl-C to detach (the process keeps running).\n',
  );

  // The target's exit ends it too.
  const timer = options.duration
    ? new Promise<'stop'>((resolve) =>
        setTimeout(() => resolve('stop'), options.duration! * 1000).unref(),
      )
    : null;
  const first = await Promise.race([stop, run.ended, ...(timer ? [timer] : [])]);
  let end: AttachEnd;
  if (first === 'stop') {
    const clean = await run.detach();
    if (!clean) err.write('hookscope: warning: the agent did not confirm the detach in time\n');
    end = await Promise.race([
      run.ended,
      new Promise<AttachEnd>((r) => setTimeout(() => r('detached'), 100)),
    ]);
  } else {
    end = first;
  }
  await run.finish(end);

  if (run.recorder.error) {
    err.write(`hookscope attach: the session file is incomplete: ${run.recorder.error.message}\n`);
  }
  if (options.summary !== false) {
    try {
      err.write(`\n${formatSummary(await summarizeSession(outPath))}\n`);
    } catch (e) {
      err.write(`hookscope attach: could not summarise ${outPath}: ${(e as Error).message}\n`);
    }
  }
  err.write(`hookscope: session written to ${outPath}\n`);
  return 0;
}
