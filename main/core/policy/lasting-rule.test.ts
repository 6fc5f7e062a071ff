// The rule an "always" answer writes, for each match the prompt offers:
// checked by what it matches with the policy's own evaluator.
import { describe, expect, it } from 'vitest';

import { lastingRule } from './lasting-rule.js';
import { evaluate, type Subject } from './match.js';
import { parsePolicy } from './load-policy.js';
import type { Rule } from './policy.js';

const code: Subject = {
  kind: 'intent',
  intent: 'nativecode',
  path: 'lib/_speedups.so',
  realpath: '/srv/app/lib/_speedups.so',
  sha256: 'ab'.repeat(32),
};
const event: Subject = {
  kind: 'audit',
  event: 'socket.connect',
  args: [{ type: 'str', value: 'x' } as never, { type: 'int', value: 443n } as never],
};

/** The action `rule` gives `subject` in a policy whose default is ask (checked by the parser). */
function judged(rule: Rule, subject: Subject): string {
  const policy = parsePolicy(JSON.stringify({ version: 1, default: 'ask', rules: [rule] }), 'p');
  return evaluate(policy, subject).action;
}

function made(subject: Subject, match: Parameters<typeof lastingRule>[3]): Rule {
  const result = lastingRule(subject, 'allow', 'test', match);
  if (!result.ok) throw new Error(result.reason);
  return result.rule;
}

describe('the rule an "always" answer writes', () => {
  it('pins code exactly by default: another path or other bytes are asked again', () => {
    const rule = made(code, 'exact');
    expect(rule).toEqual({
      action: 'allow',
      intent: 'nativecode',
      realpath: '/srv/app/lib/_speedups.so',
      sha256: 'ab'.repeat(32),
      comment: 'test',
    });
    expect(judged(rule, code)).toBe('allow');
    expect(judged(rule, { ...code, sha256: 'cd'.repeat(32) })).toBe('ask');
  });

  it('covers the folder with prefix, and the bytes from any path with hash', () => {
    const folder = made(code, 'prefix');
    expect(folder).toMatchObject({ intent: 'nativecode', realpathPrefix: '/srv/app/lib/' });
    expect(judged(folder, { ...code, realpath: '/srv/app/lib/sub/other.so', sha256: null })).toBe(
      'allow',
    );
    expect(judged(folder, { ...code, realpath: '/srv/app/other.so' })).toBe('ask');
    expect(judged(folder, { ...code, intent: 'ctypes' })).toBe('ask');
    const bytes = made(code, 'hash');
    expect(bytes).toEqual({
      action: 'allow',
      intent: 'nativecode',
      sha256: 'ab'.repeat(32),
      comment: 'test',
    });
    expect(judged(bytes, { ...code, realpath: '/elsewhere/copy.so' })).toBe('allow');
    expect(judged(bytes, { ...code, sha256: 'cd'.repeat(32) })).toBe('ask');
  });

  it('covers an event with any arguments by name, and refuses matches that do not fit', () => {
    const byName = made(event, 'name');
    expect(byName).toEqual({ action: 'allow', event: 'socket.connect', comment: 'test' });
    expect(judged(byName, { ...event, args: [] })).toBe('allow');
    expect(lastingRule(event, 'allow', '', 'prefix')).toEqual({
      ok: false,
      reason: 'an event is matched exactly or by its name',
    });
    expect(lastingRule(code, 'allow', '', 'name')).toMatchObject({ ok: false });
    expect(lastingRule({ ...code, sha256: null }, 'allow', '', 'hash')).toEqual({
      ok: false,
      reason: 'the file could not be read',
    });
    expect(lastingRule({ ...code, realpath: '/x.so' }, 'allow', '', 'prefix')).toMatchObject({
      ok: false,
    });
  });
});
