// A policy that allows exactly what a recorded run did (docs/policy.md,
// "Learning from a session"): every file that ran, pinned by class, real
// path and SHA-256; every audit event name that was raised; everything
// else denied. What a policy denied during the run did not happen, and is
// left out.

import { compileGlob, escapeGlob } from './glob.js';
import { parsePolicy } from './load-policy.js';
import {
  DEFAULT_ASK,
  INTENT_CLASSES,
  POLICY_VERSION,
  formatPolicy,
  type Answer,
  type IntentClass,
  type Policy,
  type Rule,
} from './policy.js';
import { SessionReader, type SessionBlock } from '../session-file.js';

/** Records remembered per process for the decision that follows each. */
const RECENT_RECORDS = 256;

export interface LearnOptions {
  /** What the agent does if the inspector goes away; default allow. */
  offline?: Answer;
}

/**
 * Learns from a session: a path to a session file, an open SessionReader,
 * or its blocks. The result is sorted (intents by class, real path and
 * digest, then events by name), so one session always gives the same
 * policy, and it has been through parsePolicy.
 */
export async function learnPolicy(
  session: string | SessionReader | AsyncIterable<SessionBlock> | Iterable<SessionBlock>,
  options: LearnOptions = {},
): Promise<Policy> {
  const blocks =
    typeof session === 'string'
      ? (await SessionReader.open(session)).blocks()
      : session instanceof SessionReader
        ? session.blocks()
        : session;

  // Each rule's key counts the times it was let happen: a record the policy
  // of that run denied did not happen, so its decision takes it back.
  const files = new Map<
    string,
    { intent: IntentClass; realpath: string; sha256: string; allowed: number }
  >();
  const events = new Map<string, number>();
  // The rule key of each recent record, per session, for the decision that
  // follows it (same thread, next record); bounded like the summary's.
  const recent = new Map<number, Map<number, string>>();
  let command: string[] | null = null;
  for await (const block of blocks) {
    if (block.type === 'run') command = block.run.command;
    if (block.type !== 'events') continue;
    let keys = recent.get(block.sessionId);
    if (keys === undefined) {
      keys = new Map();
      recent.set(block.sessionId, keys);
    }
    for (const record of block.records) {
      let key: string | null = null;
      if (record.kind === 'decision') {
        const decided = keys.get(Number(record.eventSeq));
        if (record.outcome === 'denied' && decided !== undefined) {
          const file = files.get(decided);
          if (file !== undefined) file.allowed--;
          const seen = events.get(decided);
          if (seen !== undefined) events.set(decided, seen - 1);
        }
        continue;
      }
      if (record.kind === 'audit') {
        // Anyone may raise any name, even an empty one, which no rule can
        // name: the default (deny) covers it.
        if (record.event === '') continue;
        key = `event\0${record.event}`;
        events.set(key, (events.get(key) ?? 0) + 1);
      } else if (record.status === 'ok' && record.sha256 !== null && pinnable(record.realPath)) {
        // A failed open ran nothing.
        key = `${record.intent}\0${record.realPath}\0${record.sha256}`;
        const file = files.get(key);
        if (file !== undefined) file.allowed++;
        else {
          files.set(key, {
            intent: record.intent,
            realpath: record.realPath,
            sha256: record.sha256,
            allowed: 1,
          });
        }
      }
      if (key !== null) {
        keys.set(record.seq, key);
        if (keys.size > RECENT_RECORDS) keys.delete(keys.keys().next().value as number);
      }
    }
  }

  const classOrder = (c: IntentClass): number => INTENT_CLASSES.indexOf(c);
  const fileRules: Rule[] = [...files.values()]
    .filter((f) => f.allowed > 0)
    .sort(
      (a, b) =>
        classOrder(a.intent) - classOrder(b.intent) ||
        compareText(a.realpath, b.realpath) ||
        compareText(a.sha256, b.sha256),
    )
    .map((f) => ({
      action: 'allow',
      intent: f.intent,
      realpath: escapeGlob(f.realpath),
      sha256: f.sha256,
    }));
  const eventRules: Rule[] = [...events]
    .filter(([, allowed]) => allowed > 0)
    .map(([key]) => key.slice('event\0'.length))
    .sort(compareText)
    .map((name) => ({ action: 'allow', event: escapeGlob(name) }));

  const policy: Policy = {
    version: POLICY_VERSION,
    comment:
      command === null
        ? 'Learned from a recorded session'
        : `Learned from a recorded session of: ${command.join(' ')}`,
    default: 'deny',
    ask: { ...DEFAULT_ASK },
    offline: options.offline ?? 'allow',
    rules: [...fileRules, ...eventRules],
  };
  // Through the file form and back: what is returned is exactly what a
  // saved copy will load as, and a learned policy that would not load is a
  // bug to hear about now.
  return parsePolicy(formatPolicy(policy), '<learned policy>');
}

/**
 * Whether a real path can be written as a rule. readlink may name things
 * that are not normalised absolute paths ("pipe:[123]", or a path ending in
 * " (deleted)" that still is one): those are left to the default.
 */
function pinnable(realpath: string): boolean {
  return realpath !== '' && !('message' in compileGlob(escapeGlob(realpath), 'path'));
}

/** Code-unit order: the same on every machine, unlike localeCompare. */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
