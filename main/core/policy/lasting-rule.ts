// The rule an "always" answer writes into the policy file: it must match
// exactly what was asked about and nothing wider, or a click on "Always
// allow" would quietly allow more than the user saw.

import { escapeGlob } from './glob.js';
import type { AuditSubject, Subject } from './match.js';
import type { Answer, ArgScalar, Rule } from './policy.js';
import type { IntentMatch } from '../../common/ipc-contract.js';
import type { Value } from '../protocol/records.js';

export type LastingRule = { ok: true; rule: Rule } | { ok: false; reason: string };

/**
 * `exact` (the default): an intent is pinned by class, real path and
 * SHA-256; an audit event by its name and every argument, each as an
 * exact match. Wider only when the user chose it: code by folder
 * (`prefix`) or by content (`hash`), an event by `name`. Events with an
 * argument a rule cannot state exactly (bytes, objects, nested or cut
 * values) get no rule: the reason says which argument.
 */
export function lastingRule(
  subject: Subject,
  outcome: Answer,
  comment: string,
  match: IntentMatch = 'exact',
): LastingRule {
  if (subject.kind === 'intent') {
    if (match === 'name') {
      return { ok: false, reason: 'code is matched by its file, its folder or its content' };
    }
    if (match === 'prefix') {
      // The folder the code is in, and everything below it, of this class.
      const folder = subject.realpath.slice(0, subject.realpath.lastIndexOf('/') + 1);
      if (folder === '' || folder === '/') {
        return { ok: false, reason: 'the file is not in a folder a rule should cover' };
      }
      return {
        ok: true,
        rule: { action: outcome, intent: subject.intent, realpathPrefix: folder, comment },
      };
    }
    if (subject.sha256 === null) return { ok: false, reason: 'the file could not be read' };
    if (match === 'hash') {
      // These exact bytes, wherever they are loaded from.
      return {
        ok: true,
        rule: { action: outcome, intent: subject.intent, sha256: subject.sha256, comment },
      };
    }
    return {
      ok: true,
      rule: {
        action: outcome,
        intent: subject.intent,
        realpath: escapeGlob(subject.realpath),
        sha256: subject.sha256,
        comment,
      },
    };
  }
  if (match === 'prefix' || match === 'hash') {
    return { ok: false, reason: 'an event is matched exactly or by its name' };
  }
  if (match === 'name') {
    return { ok: true, rule: { action: outcome, event: escapeGlob(subject.event), comment } };
  }
  const args = exactArgs(subject);
  if (!args.ok) return args;
  const rule: Rule = { action: outcome, event: escapeGlob(subject.event), comment };
  if (Object.keys(args.matchers).length > 0) rule.args = args.matchers;
  return { ok: true, rule };
}

function exactArgs(
  subject: AuditSubject,
): { ok: true; matchers: Record<string, ArgScalar> } | { ok: false; reason: string } {
  const tuple = subject.args;
  const items: readonly Value[] = Array.isArray(tuple)
    ? (tuple as readonly Value[])
    : (tuple as { items: Value[]; fullCount: number }).items;
  if (!Array.isArray(tuple)) {
    const seq = tuple as { items: Value[]; fullCount: number };
    if (seq.fullCount !== seq.items.length) {
      return { ok: false, reason: 'its argument list was cut short when recorded' };
    }
  }
  const matchers: Record<string, ArgScalar> = {};
  for (let i = 0; i < items.length; i++) {
    const scalar = scalarOf(items[i] as Value);
    if (scalar === undefined) {
      return {
        ok: false,
        reason: `argument ${i} (${(items[i] as Value).type}) cannot be matched exactly by a rule`,
      };
    }
    matchers[String(i)] = scalar;
  }
  return { ok: true, matchers };
}

/** The exact scalar a rule can compare with, or undefined. */
function scalarOf(value: Value): ArgScalar | undefined {
  switch (value.type) {
    case 'none':
      return null;
    case 'bool':
      return value.value;
    case 'int':
      return Number.isSafeInteger(Number(value.value)) ? Number(value.value) : undefined;
    case 'float':
      return Number.isFinite(value.value) ? value.value : undefined;
    case 'str':
      return value.truncated ? undefined : value.text;
    default:
      return undefined;
  }
}
