// validateEventsPayload, answered by the native addon's twin of it
// (native/addon/src/events-check.cc) when the addon loads: every events
// block read from a session is checked whole before any record of it is
// read, and the TypeScript walk was a fifth of a report's time. The native
// checker only says yes (the count) or no; on no, the TypeScript checker
// runs and throws its ProtocolError, which names the fault. Without the
// addon (a renderer test, a broken build) the TypeScript checker does it
// all: the same answers, slower.
import { nativeAddon } from '../native-addon.js';
import { validateEventsPayload } from './records.js';

/** The addon's readChunk (native/addon/src/chunk-read.h). */
export type ChunkRead = (
  fd: number,
  buf: Uint8Array,
  offset: number,
  length: number,
  position: number,
) => Promise<number>;

interface CheckAddon {
  checkEventsPayload?: (payload: Uint8Array) => number;
  readChunk?: ChunkRead;
}

let nativeCheck: ((payload: Uint8Array) => number) | null | undefined;

/** The native checker, or null when the addon cannot be loaded. */
export function nativeEventsCheck(): ((payload: Uint8Array) => number) | null {
  if (nativeCheck === undefined) {
    try {
      nativeCheck = nativeAddon<CheckAddon>().checkEventsPayload ?? null;
    } catch {
      nativeCheck = null;
    }
  }
  return nativeCheck;
}

/** validateEventsPayload(payload): the number of records, or a ProtocolError. */
export function checkEventsPayload(payload: Buffer): number {
  const check = nativeEventsCheck();
  if (check !== null) {
    const count = check(payload);
    if (count >= 0) return count;
  }
  return validateEventsPayload(payload);
}

let chunkAddon: { readChunk: ChunkRead } | null | undefined;

/**
 * The addon's read of a chunk into a buffer whose pages it makes present
 * first, on the thread pool; null when the addon cannot be loaded (the
 * session reader then reads with Node, and the pages fault as written).
 */
export function nativeChunkRead(): ChunkRead | null {
  if (chunkAddon === undefined) {
    try {
      const addon = nativeAddon<CheckAddon>();
      chunkAddon =
        typeof addon.readChunk === 'function' ? (addon as { readChunk: ChunkRead }) : null;
    } catch {
      chunkAddon = null;
    }
  }
  const addon = chunkAddon;
  // Looked up at each call: a test counts the reads.
  return addon === null ? null : (...args) => addon.readChunk(...args);
}
