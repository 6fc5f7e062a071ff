// Bad input on the command line that no other test tried (docs/bad-input.md
// lists every bad input and the test that checks it): one clear line,
// a usage exit code, nothing started or written.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import { runCli, tempDir } from '../test-support/cli.js';

/** A pid that is free now: past the kernel's pid_max, so it cannot exist. */
function absentPid(): number {
  return Number(fs.readFileSync('/proc/sys/kernel/pid_max', 'utf8').trim()) + 1;
}

describe('bad command-line input', () => {
  it.each([
    [['attach', 'abc'], /value 'abc' is invalid for argument 'pid'\. expected a process id/],
    [['attach', '0'], /value '0' is invalid for argument 'pid'\. expected a process id/],
    [['attach', '-5'], /value '-5' is invalid for argument 'pid'\. expected a process id/],
    [['attach', String(absentPid())], /^hookscope attach: no process with pid \d+$/m],
    [['attach', '1', '--duration', '-1'], /expected a number of seconds/],
    [['serve', '--port', '70000'], /expected a port number \(0 to 65535\)/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['show'], /missing required argument 'file'/],
  ])('hookscope %j: exit 2 and says why', async (args, message) => {
    const r = await runCli(args, { timeoutMs: 30_000 });
    expect(r.code, r.stderr).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stdout).toBe('');
  });

  it('hookscope report of a file that is not a session: one line, nothing written', async () => {
    const dir = tempDir('hookscope-bad-input-');
    const notSession = path.join(dir, 'notes.hks');
    fs.writeFileSync(notSession, 'just some text, long enough to hold a header\n');
    const out = path.join(dir, 'r.json');
    const r = await runCli(['report', notSession, '--format', 'json', '--out', out]);
    // `show` exits 2 for this; `report` exits 1 (see docs/bad-input.md).
    expect(r.code).not.toBe(0);
    expect(r.stderr).toBe(
      `hookscope report: ${notSession} is not a Hookscope session file (wrong magic bytes)\n`,
    );
    expect(fs.existsSync(out)).toBe(false);
  });
});
