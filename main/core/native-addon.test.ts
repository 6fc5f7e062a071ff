// The native addon loads once for every caller, and a missing one is
// reported with where it was looked for and how to build it.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { describe, expect, it } from 'vitest';

import { addonMissing, nativeAddon, populatePages } from './native-addon.js';
import { addonPath } from './runtime-paths.js';

/**
 * In a fresh Node process (the setting is process-wide): what
 * tuneAllocator() says, then the page faults per 2 MiB buffer (512 pages)
 * over 100 buffers each written and freed.
 */
function tunedFaults(): { tuned: boolean; faults: number } {
  const script = `
    const tuned = require(${JSON.stringify(addonPath())}).tuneAllocator();
    const before = process.resourceUsage().minorPageFault;
    for (let i = 0; i < 100; i++) { Buffer.allocUnsafe(2 << 20).fill(i); globalThis.gc(); }
    console.log(JSON.stringify({ tuned, faults: (process.resourceUsage().minorPageFault - before) / 100 }));
  `;
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8' });
  expect(r.stderr).toBe('');
  return JSON.parse(r.stdout) as { tuned: boolean; faults: number };
}

describe('nativeAddon', () => {
  it('loads the built addon once, with every part the inspector uses', () => {
    const addon = nativeAddon<Record<string, unknown>>();
    expect(nativeAddon()).toBe(addon);
    for (const name of [
      'getPeerCredentials',
      'openInRoot',
      'mkdirInRoot',
      'removeInRoot',
      'checkEventsPayload',
      'newNameTable',
      'setName',
      'writeRecords',
      'writeInstants',
      'newRecordScan',
      'addScanName',
      'scanRecords',
      'tuneAllocator',
      'readChunk',
      'populatePages',
    ]) {
      expect(typeof addon[name], name).toBe('function');
    }
  });

  it('says where a missing addon was looked for and how to build it', () => {
    let cause: unknown;
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      require('/nonexistent/hookscope_native.node');
    } catch (error) {
      cause = error;
    }
    expect(addonMissing('/nonexistent/hookscope_native.node', cause)).toBe(
      "the native addon could not be loaded from /nonexistent/hookscope_native.node (Cannot find module '/nonexistent/hookscope_native.node'); build it with `npm run build` in the Hookscope checkout",
    );
  });

  it('makes the pages of a new buffer present in one call, its bytes unchanged', () => {
    // In a fresh process: the page faults of writing a new 4 MiB buffer
    // (1024 pages) whole, with and without its pages made present first.
    const script = `
      const { populatePages } = require(${JSON.stringify(addonPath())});
      const faultsWriting = (populate) => {
        const b = Buffer.allocUnsafe(4 << 20);
        if (populate) populatePages(b);
        const before = process.resourceUsage().minorPageFault;
        b.fill(7);
        return process.resourceUsage().minorPageFault - before;
      };
      console.log(JSON.stringify({ plain: faultsWriting(false), populated: faultsWriting(true) }));
    `;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    const { plain, populated } = JSON.parse(r.stdout) as { plain: number; populated: number };
    expect(plain).toBeGreaterThan(512);
    // MADV_POPULATE_WRITE is Linux 5.14 on; before, the call does nothing.
    const [major = 0, minor = 0] = os.release().split('.').map(Number);
    if (major > 5 || (major === 5 && minor >= 14)) expect(populated).toBeLessThan(64);
    // The bytes stay as they were; a view's own range only; anything else refused.
    const bytes = Buffer.from('hookscope'.repeat(1000));
    const copy = Buffer.from(bytes);
    populatePages(bytes);
    populatePages(new Float64Array(3));
    populatePages(new DataView(bytes.buffer, bytes.byteOffset + 5, 100));
    expect(bytes.equals(copy)).toBe(true);
    const raw = nativeAddon<{ populatePages(...args: unknown[]): void }>();
    expect(() => raw.populatePages(bytes.buffer)).toThrow(TypeError);
    expect(() => raw.populatePages('x')).toThrow(TypeError);
    expect(() => raw.populatePages()).toThrow(TypeError);
  });

  it('has glibc keep freed buffers for reuse, so a new buffer does not start on fresh pages', () => {
    const { tuned, faults } = tunedFaults();
    // This is glibc (Debian): the settings take.
    expect(tuned).toBe(true);
    // Untuned, about a quarter of each buffer's pages fault anew (115 of
    // 512 measured); tuned, what is left is the collector's own (about 10).
    expect(faults).toBeLessThan(64);
  });
});

describe('readChunk', () => {
  type ReadChunk = (
    fd: unknown,
    buf: unknown,
    offset: unknown,
    length: unknown,
    position: unknown,
  ) => Promise<number>;
  const readChunk = (): ReadChunk => nativeAddon<{ readChunk: ReadChunk }>().readChunk;

  it('reads at a position into the buffer, leaves every other byte as it was, and reads short at the end', async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hookscope-chunk-'));
    const file = path.join(dir, 'data');
    const data = Buffer.from(Array.from({ length: 50_000 }, (_, i) => (i * 7) & 0xff));
    fs.writeFileSync(file, data);
    const fd = fs.openSync(file, 'r');
    try {
      // Several pages, an offset inside one: the pages are made present
      // before the read, and nothing but the bytes read may change.
      const buf = Buffer.alloc(3 * 4096 + 100, 0xa5);
      expect(await readChunk()(fd, buf, 1000, 9000, 123)).toBe(9000);
      expect(buf.subarray(1000, 10_000).equals(data.subarray(123, 9123))).toBe(true);
      expect(buf.subarray(0, 1000).every((b) => b === 0xa5)).toBe(true);
      expect(buf.subarray(10_000).every((b) => b === 0xa5)).toBe(true);
      expect(await readChunk()(fd, buf, 0, 4096, 49_000)).toBe(1000);
      expect(buf.subarray(0, 1000).equals(data.subarray(49_000))).toBe(true);
      expect(await readChunk()(fd, buf, 0, 4096, 60_000)).toBe(0);
    } finally {
      fs.closeSync(fd);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("rejects a failed read with Node's wording and the errno name", async () => {
    const fd = fs.openSync(os.tmpdir(), 'r');
    try {
      const failed = readChunk()(fd, Buffer.alloc(16), 0, 16, 0);
      await expect(failed).rejects.toThrow('EISDIR: illegal operation on a directory, read');
      await expect(failed).rejects.toMatchObject({ code: 'EISDIR', syscall: 'read' });
    } finally {
      fs.closeSync(fd);
    }
  });

  it('refuses bad arguments at once', () => {
    const buf = Buffer.alloc(16);
    expect(() => readChunk()(0, new Int8Array(16), 0, 16, 0)).toThrow(TypeError);
    expect(() => (readChunk() as (...a: unknown[]) => unknown)(0, buf, 0, 16)).toThrow(TypeError);
    for (const [fd, offset, length, position] of [
      [-1, 0, 16, 0],
      [0, 17, 0, 0],
      [0, 8, 9, 0],
      [0, 0, 16, -1],
      [0, 0.5, 8, 0],
      [0, 0, 16, 2 ** 53],
    ]) {
      expect(() => readChunk()(fd, buf, offset, length, position)).toThrow(RangeError);
    }
  });
});
