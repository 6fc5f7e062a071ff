// The native addon loads once for every caller, and a missing one is
// reported with where it was looked for and how to build it.
import { spawnSync } from 'node:child_process';

import { describe, expect, it } from 'vitest';

import { addonMissing, nativeAddon } from './native-addon.js';
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

  it('has glibc keep freed buffers for reuse, so a new buffer does not start on fresh pages', () => {
    const { tuned, faults } = tunedFaults();
    // This is glibc (Debian): the settings take.
    expect(tuned).toBe(true);
    // Untuned, about a quarter of each buffer's pages fault anew (115 of
    // 512 measured); tuned, what is left is the collector's own (about 10).
    expect(faults).toBeLessThan(64);
  });
});
