// TargetDir against a real chrooted process whose /tmp is a symlink out of
// its root: nothing may be created outside that root, and files are never
// written through a link the target planted.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

import { tempDir } from '../test-support/cli.js';
import { TargetDir } from './target-files.js';

const isRoot = process.getuid?.() === 0;
const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

/** A static program that waits forever: runs in an otherwise empty root. */
function staticSleeper(dir: string): string {
  const src = path.join(dir, 'sleeper.c');
  fs.writeFileSync(src, '#include <unistd.h>\nint main(void) { for (;;) pause(); }\n');
  const exe = path.join(dir, 'sleeper');
  execFileSync('cc', ['-static', '-O2', '-o', exe, src]);
  return exe;
}

async function startChrooted(root: string): Promise<number> {
  const child = spawn('chroot', [root, '/sleeper'], { stdio: 'ignore' });
  children.push(child);
  const pid = child.pid!;
  // Wait until chroot has exec'd the sleeper inside the new root.
  for (let i = 0; i < 200; i++) {
    try {
      if (fs.readlinkSync(`/proc/${pid}/root`) === root) return pid;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error('the chrooted process did not start');
}

describe.runIf(isRoot)('TargetDir in a chroot', () => {
  it('keeps to the target root when its /tmp points outside', async () => {
    const work = tempDir();
    const root = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'hookscope-root-')));
    fs.copyFileSync(staticSleeper(work), path.join(root, 'sleeper'));
    fs.chmodSync(path.join(root, 'sleeper'), 0o755);
    // Inside the root, /tmp -> /escape: resolved in the root that is
    // <root>/escape (absent); resolved naively it would be the host's.
    const hostEscape = fs.mkdtempSync('/var/tmp/hookscope-escape-');
    fs.symlinkSync(hostEscape, path.join(root, 'tmp'));
    const pid = await startChrooted(root);

    expect(() => TargetDir.create(pid, 0)).toThrow(/No such file|Too many levels/);
    expect(fs.readdirSync(hostEscape)).toEqual([]);

    // With the link's target present inside the root, the directory lands there.
    fs.mkdirSync(path.join(root, hostEscape), { recursive: true });
    const dir = TargetDir.create(pid, 0);
    expect(fs.readdirSync(hostEscape)).toEqual([]);
    const inside = path.join(root, hostEscape, path.basename(dir.path));
    const st = fs.lstatSync(inside);
    expect(st.isDirectory()).toBe(true);
    expect(st.mode & 0o777).toBe(0o711);
    expect(st.uid).toBe(0);

    // A link planted where a file will be written is refused, not followed.
    const victim = path.join(work, 'victim');
    fs.writeFileSync(victim, 'untouched');
    fs.symlinkSync(victim, path.join(inside, 'agent.so'));
    expect(() => dir.writeFile('agent.so', 'payload', 0o644)).toThrow();
    expect(fs.readFileSync(victim, 'utf8')).toBe('untouched');

    // A FIFO where a result is expected is refused without blocking.
    const out = dir.makeTargetOwnedDir('out');
    expect(out).toBe(`${dir.path}/out`);
    execFileSync('mkfifo', [path.join(inside, 'out', 'result')]);
    expect(() => dir.readRegularFile('out/result')).toThrow(/not a regular file/);
    fs.unlinkSync(path.join(inside, 'out', 'result'));
    expect(dir.readRegularFile('out/result')).toBeNull();
    fs.writeFileSync(path.join(inside, 'out', 'result'), '0 1.5 ');
    expect(dir.readRegularFile('out/result')).toBe('0 1.5 ');

    expect(dir.writeFile('bootstrap.py', 'print()', 0o600, true)).toBe(`${dir.path}/bootstrap.py`);
    expect(fs.statSync(path.join(inside, 'bootstrap.py')).mode & 0o777).toBe(0o600);
    dir.remove([], { out: ['result'] });
    fs.unlinkSync(path.join(inside, 'agent.so')); // the planted link
    dir.remove();
    expect(fs.existsSync(victim)).toBe(true);
    expect(fs.existsSync(inside)).toBe(false);

    // Asked to keep a library it never wrote (a re-attach reuses the one
    // the target has mapped), it keeps nothing: the directory goes.
    const again = TargetDir.create(pid, 0);
    const againInside = path.join(root, hostEscape, path.basename(again.path));
    again.writeFile('bootstrap.py', 'print()', 0o600, true);
    again.remove(['agent.so']);
    expect(fs.existsSync(againInside)).toBe(false);
    // Having written it, it keeps it and the directory.
    const kept = TargetDir.create(pid, 0);
    const keptInside = path.join(root, hostEscape, path.basename(kept.path));
    kept.writeFile('agent.so', 'library', 0o755);
    kept.remove(['agent.so']);
    expect(fs.readdirSync(keptInside)).toEqual(['agent.so']);
    fs.rmSync(hostEscape, { recursive: true, force: true });
    fs.rmSync(root, { recursive: true, force: true });
  });
});
