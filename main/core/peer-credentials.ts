// Typed front of the native addon's SO_PEERCRED call.
import { addonPath } from './runtime-paths.js';

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

interface NativeAddon {
  getPeerCredentials(fd: number): PeerCredentials;
}

let addon: NativeAddon | null = null;

function load(): NativeAddon {
  if (!addon) {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    addon = require(addonPath()) as NativeAddon;
  }
  return addon;
}

/** The kernel's record of who is at the other end of a connected Unix socket. */
export function getPeerCredentials(fd: number): PeerCredentials {
  return load().getPeerCredentials(fd);
}
