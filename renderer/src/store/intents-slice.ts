import type { StateCreator } from 'zustand';

import type {
  HookscopeApi,
  IntentMatch,
  IntentOutcome,
  IntentScope,
  PendingIntentRow,
} from '../../../main/common/ipc-contract.js';
import { messageOf, type AppState } from './app-store.js';
import { followChanges } from './change-feed.js';

/**
 * How often the queue is re-read while the change feed is down. While it
 * is up the core says when the queue changes and nothing polls.
 */
export const INTENTS_FALLBACK_POLL_MS = 5000;

export interface IntentsSlice {
  /** Threads waiting for an answer, oldest first. */
  intents: PendingIntentRow[];
  /** Why the last read of the queue failed (the queue keeps what it had). */
  intentsError: string | null;
  /** Intents being answered (their buttons are disabled meanwhile). */
  answering: Record<string, true>;
  /** Why an answer was refused, by intent id. */
  answerErrors: Record<string, string>;
  loadIntents: () => Promise<void>;
  /** Keeps the queue current (pushed changes, slow polling without them); returns the stop. */
  watchIntents: () => () => void;
  /** `match` only with scope `always`: what the written rule covers. */
  answerIntent: (
    id: string,
    outcome: IntentOutcome,
    scope?: IntentScope,
    match?: IntentMatch,
  ) => Promise<void>;
  /** Someone is reading it: keep its thread waiting (the countdown stands still). */
  holdIntent: (id: string) => Promise<void>;
}

export const createIntentsSlice =
  (api: HookscopeApi): StateCreator<AppState, [], [], IntentsSlice> =>
  (set, get) => ({
    intents: [],
    intentsError: null,
    answering: {},
    answerErrors: {},
    loadIntents: async () => {
      try {
        const { intents } = await api.listIntents({});
        // Errors of intents that are gone are gone with them.
        const live = new Set(intents.map((i) => i.id));
        const answerErrors = Object.fromEntries(
          Object.entries(get().answerErrors).filter(([id]) => live.has(id)),
        );
        set({ intents, intentsError: null, answerErrors });
      } catch (error) {
        set({ intentsError: messageOf(error) });
      }
    },
    watchIntents: () =>
      followChanges(api, {
        wants: (message) => message.topic === 'intents',
        refresh: () => get().loadIntents(),
        fallbackMs: INTENTS_FALLBACK_POLL_MS,
      }),
    holdIntent: async (id) => {
      try {
        const { deadlineAtMs } = await api.holdIntent({ id });
        const intents = get().intents;
        set({
          // null: it no longer waits (answered elsewhere, timed out, its
          // process gone), so its card goes now rather than at the next read.
          intents:
            deadlineAtMs === null
              ? intents.filter((i) => i.id !== id)
              : intents.map((i) => (i.id === id ? { ...i, deadlineAtMs } : i)),
        });
      } catch {
        // The core is unreachable: the queue's own read reports that.
      }
    },
    answerIntent: async (id, outcome, scope, match) => {
      set({ answering: { ...get().answering, [id]: true } });
      try {
        await api.answerIntent({
          id,
          outcome,
          ...(scope !== undefined ? { scope } : {}),
          ...(match !== undefined && scope === 'always' ? { match } : {}),
        });
        // Gone from the queue at once; the pushed change confirms.
        set({ intents: get().intents.filter((i) => i.id !== id) });
      } catch (error) {
        set({ answerErrors: { ...get().answerErrors, [id]: messageOf(error) } });
      } finally {
        const answering = { ...get().answering };
        delete answering[id];
        set({ answering });
      }
    },
  });
