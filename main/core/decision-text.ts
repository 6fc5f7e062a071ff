// Decision records in words, for `hookscope show` and the run summary. A
// decision names its rule by index; the rule's comment (the reason people
// wrote down) comes from the policy text the session recorded.

import { parsePolicy } from './policy/load-policy.js';
import type { DecisionRecord } from './protocol/records.js';
import type { PolicyInfo } from './session-file.js';

/** Comments of the recorded policy's rules, by rule index. */
export type RuleComments = ReadonlyArray<string | undefined>;

/**
 * The rule comments of a session's policy block; empty when the text no
 * longer parses (a session from a newer Hookscope, or a damaged block):
 * decisions are then shown by rule index alone.
 */
export function ruleCommentsOf(policy: PolicyInfo | null): RuleComments {
  if (policy === null) return [];
  try {
    return parsePolicy(policy.text, policy.file).rules.map((rule) => rule.comment);
  } catch {
    return [];
  }
}

/** "rule 2 (no shells)", "rule 2", or "the default". */
export function ruleText(ruleIndex: number | null, comments: RuleComments): string {
  if (ruleIndex === null) return 'the default';
  const comment = comments[ruleIndex];
  return comment === undefined ? `rule ${ruleIndex}` : `rule ${ruleIndex} (${comment})`;
}

const ASK_ANSWERED_BY: Readonly<Record<Exclude<DecisionRecord['by'], 'rule' | 'default'>, string>> =
  {
    user: 'the user',
    timeout: 'the ask timeout',
    offline: 'the offline answer (no inspector)',
    headless: 'the headless --ask answer',
    remembered: 'an earlier answer',
  };

/** Who decided: "rule 2 (no shells)", "the default", "the user, asked by rule 3". */
export function decidedByText(decision: DecisionRecord, comments: RuleComments): string {
  const rule = ruleText(decision.ruleIndex, comments);
  if (decision.by === 'rule' || decision.by === 'default') return rule;
  return `${ASK_ANSWERED_BY[decision.by]}, asked by ${rule}`;
}

/** "denied by rule 2 (no shells)", with the wait when the thread waited. */
export function describeDecision(decision: DecisionRecord, comments: RuleComments): string {
  const waited = decision.waitedNs > 0n ? `; waited ${formatWaitMs(decision.waitedNs)} ms` : '';
  return `${decision.outcome} by ${decidedByText(decision, comments)}${waited}`;
}

function formatWaitMs(ns: bigint): string {
  // Microsecond resolution is plenty and stays exact in a number.
  return (Number(ns / 1000n) / 1000).toFixed(3);
}
