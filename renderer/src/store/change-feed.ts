// Following the core's change feed from a slice: re-read on the messages
// that matter, re-read on every (re)connect (what was said while the feed
// was down is lost), and poll slowly while it is down. The feed only says
// *that* something changed; the data always comes through the API.
import type { ChangeFeed, ChangeMessage } from '../../../main/common/ipc-contract.js';

export interface FollowOptions {
  /** The messages that mean what this view shows is out of date. */
  wants: (message: ChangeMessage) => boolean;
  /** Re-reads it. Never runs twice at once: a change during a read runs it once more. */
  refresh: () => Promise<void> | void;
  /** While the feed is down (or not up yet), re-read this often. */
  fallbackMs: number;
}

/** Starts following (with one read at once); returns the function that stops it. */
export function followChanges(feed: ChangeFeed, options: FollowOptions): () => void {
  let poll: ReturnType<typeof setInterval> | null = null;
  let reading = false;
  let again = false;
  let stopped = false;

  const refresh = async (): Promise<void> => {
    if (reading) {
      again = true;
      return;
    }
    reading = true;
    try {
      do {
        again = false;
        // A failed read is the refresh function's to report; the next change retries.
        await Promise.resolve(options.refresh()).catch(() => undefined);
      } while (again && !stopped);
    } finally {
      reading = false;
    }
  };
  const startPolling = (): void => {
    if (poll === null && !stopped) poll = setInterval(() => void refresh(), options.fallbackMs);
  };
  const stopPolling = (): void => {
    if (poll !== null) clearInterval(poll);
    poll = null;
  };

  void refresh();
  startPolling();
  const unsubscribe = feed.onChange((message) => {
    if (message.topic === 'feed') {
      if (message.connected) {
        stopPolling();
        void refresh();
      } else {
        startPolling();
      }
    } else if (options.wants(message)) {
      void refresh();
    }
  });
  return () => {
    stopped = true;
    unsubscribe();
    stopPolling();
  };
}
