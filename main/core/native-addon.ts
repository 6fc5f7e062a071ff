// The inspector's native addon (native/addon), loaded once for everyone
// who needs it: peer credentials, files in a target's root, the events
// check, the report writers and the record scan. Each caller types the
// part it uses.
import { addonPath } from './runtime-paths.js';

let loaded: unknown = null;

/** The addon, or an error that says where it was looked for and how to build it. */
export function nativeAddon<T>(): T {
  if (loaded === null) {
    const file = addonPath();
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      loaded = require(file) as unknown;
    } catch (error) {
      throw new Error(addonMissing(file, error), { cause: error });
    }
  }
  return loaded as T;
}

/** Why the addon at `file` could not be used, and what to do about it. */
export function addonMissing(file: string, error: unknown): string {
  const cause = error instanceof Error ? (error.message.split('\n')[0] ?? '') : String(error);
  return `the native addon could not be loaded from ${file} (${cause}); build it with \`npm run build\` in the Hookscope checkout`;
}

/**
 * Has glibc's malloc keep freed buffers for reuse instead of giving their
 * pages back at once (addon.cc's tuneAllocator): for a process that streams
 * a session through large buffers (docs/reports.md, "Cost"). Process-wide,
 * so only the command line calls it. False where it does not apply (not
 * glibc) or when the addon cannot be loaded or is older than this: the
 * work that needs the addon says so itself.
 */
export function tuneAllocator(): boolean {
  let addon: { tuneAllocator?: () => boolean };
  try {
    addon = nativeAddon();
  } catch {
    return false;
  }
  // An addon built before it had this: the command goes on untuned.
  return typeof addon.tuneAllocator === 'function' && addon.tuneAllocator();
}

let populate: ((view: ArrayBufferView) => void) | null | undefined;

/**
 * Makes the pages of `view` present in one call (the addon's
 * MADV_POPULATE_WRITE; contents unchanged), for a new buffer that is
 * about to be written whole: its pages are fresh memory, and each would
 * fault as it is first written (about 11.5 µs a page on these machines,
 * 0.9 µs in one call; docs/reports.md, "Cost"). Does nothing where the
 * addon is missing or older, or the kernel lacks it (before Linux 5.14).
 */
export function populatePages(view: ArrayBufferView): void {
  if (populate === undefined) {
    try {
      const addon = nativeAddon<{ populatePages?: (view: ArrayBufferView) => void }>();
      populate = typeof addon.populatePages === 'function' ? addon.populatePages : null;
    } catch {
      populate = null;
    }
  }
  populate?.(view);
}
