// Files an attach must put where the target can see them (the agent
// library, the 3.14 bootstrap script) when the target is another user's
// process or lives in another root (a chroot, its own mount namespace).
//
// Everything goes through the native addon's openat2(RESOLVE_IN_ROOT) on
// /proc/PID/root: a symlink the target planted resolves inside its own
// root, never onto the inspector's files, and the final component is never
// followed. The directory is created by us, mode 0711: the target can reach
// the files we hand it but cannot swap them. What the target must write (the
// bootstrap's result) goes in a subdirectory it owns, read back without
// following links or blocking on a FIFO.
import crypto from 'node:crypto';
import fs from 'node:fs';

import { nativeAddon } from './native-addon.js';

interface RootFilesAddon {
  openInRoot(root: string, path: string, flags: number, mode: number): number;
  mkdirInRoot(root: string, parent: string, name: string, mode: number): void;
  removeInRoot(root: string, parent: string, name: string, isDirectory: boolean): void;
}

function native(): RootFilesAddon {
  return nativeAddon<RootFilesAddon>();
}

const { O_WRONLY, O_RDONLY, O_CREAT, O_EXCL, O_NOFOLLOW, O_NONBLOCK, O_DIRECTORY } = fs.constants;
const O_PATH = 0o10000000;

/** Largest file read back from the target's directory. */
const MAX_READ_BYTES = 64 * 1024;

export class TargetDir {
  /** Names created here, removed (in reverse) by remove(). */
  private readonly created: { name: string; directory: boolean }[] = [];

  private constructor(
    /** `/proc/PID/root`: the target's root, from our side. */
    readonly root: string,
    /** The directory as the target sees it, e.g. `/tmp/hookscope-attach-1f2e…`. */
    readonly path: string,
    private readonly targetUid: number,
  ) {}

  /** A fresh directory in the target's /tmp, ours, mode 0711. */
  static create(pid: number, targetUid: number): TargetDir {
    const root = `/proc/${pid}/root`;
    const name = `hookscope-attach-${crypto.randomBytes(8).toString('hex')}`;
    native().mkdirInRoot(root, '/tmp', name, 0o711);
    const dir = new TargetDir(root, `/tmp/${name}`, targetUid);
    // mkdir applies the umask: set the mode through a descriptor.
    const fd = native().openInRoot(root, dir.path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
    try {
      fs.fchmodSync(fd, 0o711);
    } finally {
      fs.closeSync(fd);
    }
    return dir;
  }

  /** Path of `name` inside the directory, as the target sees it. */
  inTarget(name: string): string {
    return `${this.path}/${name}`;
  }

  /**
   * Writes a new file (never an existing one, never through a link).
   * `forTarget`: owned by the target's user (it must read a private file).
   */
  writeFile(name: string, data: Buffer | string, mode: number, forTarget = false): string {
    const fd = native().openInRoot(
      this.root,
      this.inTarget(name),
      O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW,
      mode,
    );
    this.created.push({ name, directory: false });
    try {
      fs.writeSync(fd, typeof data === 'string' ? Buffer.from(data) : data);
      fs.fchmodSync(fd, mode);
      if (forTarget) fs.fchownSync(fd, this.targetUid, -1);
    } finally {
      fs.closeSync(fd);
    }
    return this.inTarget(name);
  }

  /** A subdirectory the target owns (mode 0700), for what it writes back. */
  makeTargetOwnedDir(name: string): string {
    native().mkdirInRoot(this.root, this.path, name, 0o700);
    this.created.push({ name, directory: true });
    const fd = native().openInRoot(
      this.root,
      this.inTarget(name),
      O_RDONLY | O_DIRECTORY | O_NOFOLLOW,
      0,
    );
    try {
      fs.fchmodSync(fd, 0o700);
      fs.fchownSync(fd, this.targetUid, -1);
    } finally {
      fs.closeSync(fd);
    }
    return this.inTarget(name);
  }

  /**
   * Reads `relative` (e.g. "out/result") if it is a regular file; null when
   * it does not exist yet. Never follows a link, never waits on a FIFO.
   */
  readRegularFile(relative: string): string | null {
    let fd: number;
    try {
      fd = native().openInRoot(
        this.root,
        this.inTarget(relative),
        O_RDONLY | O_NOFOLLOW | O_NONBLOCK,
        0,
      );
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
    try {
      const st = fs.fstatSync(fd);
      if (!st.isFile()) throw new Error(`${this.inTarget(relative)} is not a regular file`);
      const buf = Buffer.alloc(Math.min(st.size, MAX_READ_BYTES));
      const n = fs.readSync(fd, buf, 0, buf.length, 0);
      return buf.subarray(0, n).toString('utf8');
    } finally {
      fs.closeSync(fd);
    }
  }

  /** Whether `path` (as the target sees it) is the file with this inode. */
  static sameFile(pid: number, path: string, inode: number): boolean {
    try {
      const fd = native().openInRoot(`/proc/${pid}/root`, path, O_PATH | O_NOFOLLOW, 0);
      try {
        return fs.fstatSync(fd).ino === inode;
      } finally {
        fs.closeSync(fd);
      }
    } catch {
      return false;
    }
  }

  /**
   * Removes what this attach created, except `keep` (the agent library a
   * later attach will load again); the directory too, unless it holds one
   * of those. Only names we made are touched, with unlinkat: a link the
   * target swapped in is removed, never followed.
   */
  remove(keep: string[] = [], nested: Record<string, string[]> = {}): void {
    // A re-attach reuses the library the target has mapped and writes none
    // here: then nothing is kept, and the directory goes too.
    const keeps = this.created.some((entry) => keep.includes(entry.name));
    for (const entry of [...this.created].reverse()) {
      if (keep.includes(entry.name)) continue;
      try {
        for (const inner of nested[entry.name] ?? []) {
          native().removeInRoot(this.root, this.inTarget(entry.name), inner, false);
        }
        native().removeInRoot(this.root, this.path, entry.name, entry.directory);
      } catch {
        // the target left something of its own in its directory: leave it
      }
    }
    if (!keeps) {
      try {
        native().removeInRoot(this.root, '/tmp', this.path.slice('/tmp/'.length), true);
      } catch {
        // not empty: what is left is harmless and the target's own
      }
    }
  }
}
