// Typed front of the native addon's SO_PEERCRED call.
import { nativeAddon } from './native-addon.js';

export interface PeerCredentials {
  pid: number;
  uid: number;
  gid: number;
}

interface NativeAddon {
  getPeerCredentials(fd: number): PeerCredentials;
}

function load(): NativeAddon {
  return nativeAddon<NativeAddon>();
}

/** The kernel's record of who is at the other end of a connected Unix socket. */
export function getPeerCredentials(fd: number): PeerCredentials {
  return load().getPeerCredentials(fd);
}
