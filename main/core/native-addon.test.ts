// The native addon loads once for every caller, and a missing one is
// reported with where it was looked for and how to build it.
import { describe, expect, it } from 'vitest';

import { addonMissing, nativeAddon } from './native-addon.js';

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
});
