// A policy that allows exactly what a recorded run did (docs/policy.md,
// "Learning from a session"): every file that ran, pinned by class, real
// path and SHA-256; every audit event name that was raised; everything
// else denied.

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

  const files = new Map<string, { intent: IntentClass; realpath: string; sha256: string }>();
  const events = new Set<string>();
  let command: string[] | null = null;
  for await (const block of blocks) {
    if (block.type === 'run') command = block.run.command;
    if (block.type !== 'events') continue;
    for (const record of block.records) {
      if (record.kind === 'audit') {
        // Anyone may raise any name, even an empty one, which no rule can
        // name: the default (deny) covers it.
        if (record.event !== '') events.add(record.event);
      } else if (
        record.kind === 'open-code' &&
        record.status === 'ok' &&
        record.sha256 !== null &&
        pinnable(record.realPath)
      ) {
        // A failed open ran nothing; decisions are about records seen already.
        const key = `${record.intent}\0${record.realPath}\0${record.sha256}`;
        files.set(key, { intent: record.intent, realpath: record.realPath, sha256: record.sha256 });
      }
    }
  }

  const classOrder = (c: IntentClass): number => INTENT_CLASSES.indexOf(c);
  const fileRules: Rule[] = [...files.values()]
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
