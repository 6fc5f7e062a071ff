// `hookscope run [--out FILE] [--policy FILE [--ask allow|deny]] [--learn OUT] [--report FILE] -- CMD [ARGS...]`
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { CaptureRun, type RunPolicy } from '../core/capture-run.js';
import { CommandError } from '../core/command-path.js';
import { writeReport, type ReportFormat } from '../core/report.js';
import {
  PolicyCompileError,
  PolicyError,
  compilePolicy,
  formatIssue,
  formatPolicy,
  learnPolicy,
  readPolicyFile,
  type Answer,
} from '../core/policy/index.js';
import { SessionFileError } from '../core/session-file.js';
import { formatSummary, summarizeSession, type SessionSummary } from '../core/summary.js';
import { defaultSessionDir, newSessionFilePath } from '../core/runtime-paths.js';
import { HOOKSCOPE_VERSION } from '../core/version.js';

export interface RunOptions {
  out?: string;
  summary?: boolean;
  /** Policy file to enforce. */
  policy?: string;
  /** What `ask` rules become in this headless run; default deny. */
  ask?: Answer;
  /** Write a policy learned from this run here (never over an existing file). */
  learn?: string;
  /** Write a report of this run here; the format follows the extension (docs/reports.md). */
  report?: string;
}

/** The report format a `--report` file name asks for. */
export function reportFormatOf(file: string): ReportFormat | null {
  const name = file.toLowerCase();
  if (name.endsWith('.html') || name.endsWith('.htm')) return 'html';
  if (name.endsWith('.sarif') || name.endsWith('.sarif.json')) return 'sarif';
  if (name.endsWith('.trace.json') || name.endsWith('.perfetto.json')) return 'perfetto';
  if (name.endsWith('.csv')) return 'csv';
  if (name.endsWith('.json')) return 'json';
  return null;
}

/**
 * Exit code when the target exited 0 but the policy denied at least one
 * event or intent: CI should not pass a run that needed something it was
 * refused, even if the target handled the PermissionError.
 */
export const EXIT_DENIED = 3;

const USAGE =
  'usage: hookscope run [--out FILE] [--policy FILE [--ask allow|deny]] [--learn OUT] [--report FILE] -- CMD [ARGS...]';

/**
 * Reads, checks and compiles the policy. On any problem, writes every
 * issue (file:line:column: where: message) and returns null: nothing has
 * been started or created yet.
 */
export function preparePolicy(
  file: string,
  askAnswer: Answer,
  err: NodeJS.WritableStream,
  command = 'run',
): RunPolicy | null {
  try {
    const read = readPolicyFile(file);
    return {
      file: path.resolve(file),
      compiled: compilePolicy(read.policy, { askAnswer }),
      text: read.text,
      sha256: crypto.createHash('sha256').update(read.bytes).digest('hex'),
      askAnswer,
    };
  } catch (e) {
    if (e instanceof PolicyError) {
      const count = e.issues.length === 1 ? '1 problem' : `${e.issues.length} problems`;
      err.write(`hookscope ${command}: ${file}: invalid policy, ${count}; nothing was started\n`);
      for (const issue of e.issues) err.write(`${formatIssue(issue)}\n`);
      return null;
    }
    if (e instanceof PolicyCompileError) {
      err.write(`hookscope ${command}: ${file}: ${e.message}; nothing was started\n`);
      return null;
    }
    throw e;
  }
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
    err.write(`hookscope run: no command given (${USAGE})\n`);
    return 2;
  }
  if (options.ask !== undefined && options.policy === undefined) {
    err.write('hookscope run: --ask answers the ask rules of a --policy; no --policy given\n');
    return 2;
  }
  const learnPath = options.learn === undefined ? null : path.resolve(options.learn);
  // Checked before the run, so a long run is not wasted on a bad path.
  if (learnPath !== null && fs.existsSync(learnPath)) {
    err.write(`hookscope run: --learn ${learnPath} already exists; not overwriting it\n`);
    return 2;
  }
  if (
    learnPath !== null &&
    !fs.statSync(path.dirname(learnPath), { throwIfNoEntry: false })?.isDirectory()
  ) {
    err.write(
      `hookscope run: --learn ${learnPath}: no such directory ${path.dirname(learnPath)}\n`,
    );
    return 2;
  }
  const reportPath = options.report === undefined ? null : path.resolve(options.report);
  const reportFormat = reportPath === null ? null : reportFormatOf(reportPath);
  if (reportPath !== null) {
    let problem: string | null = null;
    if (reportFormat === null) {
      problem = 'the file name says no format (.html, .json, .csv, .sarif, .trace.json)';
    } else if (fs.existsSync(reportPath)) {
      problem = 'already exists; not overwriting it';
    } else if (!fs.statSync(path.dirname(reportPath), { throwIfNoEntry: false })?.isDirectory()) {
      problem = `no such directory ${path.dirname(reportPath)}`;
    }
    if (problem !== null) {
      err.write(`hookscope run: --report ${reportPath}: ${problem}\n`);
      return 2;
    }
  }
  let policy: RunPolicy | undefined;
  if (options.policy !== undefined) {
    const prepared = preparePolicy(options.policy, options.ask ?? 'deny', err);
    if (prepared === null) return 2;
    policy = prepared;
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
      ...(policy ? { policy } : {}),
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
  // Under a policy the summary decides the exit code, so it is read even
  // when it is not printed.
  let summary: SessionSummary | null = null;
  if (options.summary !== false || policy) {
    try {
      summary = await summarizeSession(outPath);
      if (options.summary !== false) err.write(`\n${formatSummary(summary)}\n`);
    } catch (e) {
      err.write(`hookscope run: could not summarise ${outPath}: ${(e as Error).message}\n`);
    }
  }
  err.write(`hookscope: session written to ${outPath}\n`);
  let code = exitCodeOf(exit.code, exit.signal);
  if (policy && code === 0) {
    if (summary === null) {
      // Denials cannot be ruled out: do not let CI pass on a guess.
      err.write('hookscope run: could not tell whether anything was denied\n');
      code = EXIT_DENIED;
    } else if (summary.deniedTotal > 0) {
      const n = summary.deniedTotal;
      err.write(
        `hookscope run: the policy denied ${n} ${n === 1 ? 'event or intent' : 'events or intents'}; exit code ${EXIT_DENIED}\n`,
      );
      code = EXIT_DENIED;
    }
  }
  if (learnPath !== null && !(await writeLearnedPolicy(outPath, learnPath, err))) {
    return code === 0 ? 2 : code;
  }
  if (reportPath !== null && reportFormat !== null) {
    try {
      await writeReport(outPath, reportPath, { format: reportFormat });
      err.write(`hookscope: ${reportFormat} report written to ${reportPath}\n`);
    } catch (e) {
      err.write(
        `hookscope run: could not write the report ${reportPath}: ${(e as Error).message}\n`,
      );
      return code === 0 ? 2 : code;
    }
  }
  return code;
}

/** Learns a policy from the session and writes it; false (and says why) on failure. */
async function writeLearnedPolicy(
  sessionPath: string,
  learnPath: string,
  err: NodeJS.WritableStream,
): Promise<boolean> {
  try {
    const learned = await learnPolicy(sessionPath);
    // Exclusive create: a file that appeared during the run is not replaced.
    fs.writeFileSync(learnPath, formatPolicy(learned), { flag: 'wx', mode: 0o644 });
    err.write(
      `hookscope: learned policy (${learned.rules.length} rules) written to ${learnPath}\n`,
    );
    return true;
  } catch (e) {
    const reason =
      (e as NodeJS.ErrnoException).code === 'EEXIST'
        ? 'it already exists; not overwriting it'
        : (e as Error).message;
    err.write(`hookscope run: could not write the learned policy ${learnPath}: ${reason}\n`);
    return false;
  }
}
