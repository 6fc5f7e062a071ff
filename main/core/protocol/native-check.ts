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

interface CheckAddon {
  checkEventsPayload?: (payload: Uint8Array) => number;
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
