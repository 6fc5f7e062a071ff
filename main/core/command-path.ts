// Finding the program a command names, before anything is started, so a
// typo gets one clear line instead of a half-written session.
import fs from 'node:fs';
import path from 'node:path';

export class CommandError extends Error {
  constructor(
    message: string,
    /** Shell convention: 127 not found, 126 found but not executable. */
    readonly exitCode: number,
  ) {
    super(message);
  }
}

function isExecutableFile(file: string): 'ok' | 'missing' | 'not-executable' {
  let st: fs.Stats;
  try {
    st = fs.statSync(file);
  } catch {
    return 'missing';
  }
  if (!st.isFile()) return 'not-executable';
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return 'ok';
  } catch {
    return 'not-executable';
  }
}

/** Absolute path of `command` as execvp would find it, or a CommandError. */
export function resolveCommand(command: string, cwd: string, pathEnv: string | undefined): string {
  if (command === '') throw new CommandError('the command is empty', 127);
  if (command.includes('/')) {
    const file = path.resolve(cwd, command);
    const state = isExecutableFile(file);
    if (state === 'missing') throw new CommandError(`${command}: no such file`, 127);
    if (state === 'not-executable')
      throw new CommandError(`${command}: not an executable file`, 126);
    return file;
  }
  let sawNonExecutable = false;
  for (const dir of (pathEnv ?? '/usr/local/bin:/usr/bin:/bin').split(':')) {
    const file = path.resolve(cwd, dir || '.', command);
    const state = isExecutableFile(file);
    if (state === 'ok') return file;
    if (state === 'not-executable') sawNonExecutable = true;
  }
  if (sawNonExecutable) throw new CommandError(`${command}: found but not executable`, 126);
  throw new CommandError(`${command}: command not found`, 127);
}
