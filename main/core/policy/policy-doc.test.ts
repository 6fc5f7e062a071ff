// docs/policy.md must stay true: its example parses, and evaluates as the
// doc says it does.
import fs from 'node:fs';
import path from 'node:path';

import Ajv from 'ajv';
import { describe, expect, it } from 'vitest';

import { REPO_ROOT } from '../../test-support/cli.js';
import { parsePolicy } from './load-policy.js';
import { evaluate } from './match.js';
import schema from './policy-schema.json';
import { formatPolicy } from './policy.js';

const DOC = path.join(REPO_ROOT, 'docs', 'policy.md');

function example(): string {
  const text = fs.readFileSync(DOC, 'utf8');
  const match = /```json policy-example\n([\s\S]*?)\n```/.exec(text);
  if (!match) throw new Error('docs/policy.md has no ```json policy-example block');
  return match[1] as string;
}

describe('docs/policy.md', () => {
  it('has a valid example policy that the JSON Schema accepts too', () => {
    const text = example();
    const policy = parsePolicy(text, 'docs/policy.md');
    expect(policy.rules.length).toBeGreaterThanOrEqual(10);
    expect(parsePolicy(formatPolicy(policy), 'again')).toEqual(policy);
    const validate = new Ajv({ strict: false }).compile(schema);
    expect(validate(JSON.parse(text)), JSON.stringify(validate.errors)).toBe(true);
  });

  it('decides as the example says', () => {
    const policy = parsePolicy(example(), 'docs/policy.md');
    const str = (text: string) => ({
      type: 'str' as const,
      text,
      fullLength: text.length,
      truncated: false,
    });
    const argv = (...items: string[]) => ({
      type: 'list' as const,
      items: items.map(str),
      fullCount: items.length,
      truncated: false,
    });
    const stdlib = {
      kind: 'intent' as const,
      intent: 'bytecode' as const,
      path: 'os.pyc',
      realpath: '/usr/lib/python3.12/__pycache__/os.cpython-312.pyc',
      sha256: '0'.repeat(64),
    };
    expect(evaluate(policy, stdlib).ruleIndex).toBe(0);
    expect(
      evaluate(policy, {
        kind: 'audit',
        event: 'subprocess.Popen',
        args: [str('/bin/bash'), argv('bash', '-c', 'x')],
      }).action,
    ).toBe('deny');
    expect(
      evaluate(policy, {
        kind: 'audit',
        event: 'subprocess.Popen',
        args: [str('/usr/bin/git'), argv('git', 'rev-parse')],
      }).ruleIndex,
    ).toBe(5);
    expect(
      evaluate(policy, { kind: 'audit', event: 'sys.monitoring.use_tool_id', args: [] }).action,
    ).toBe('allow');
    expect(evaluate(policy, { kind: 'audit', event: 'socket.connect', args: [] })).toMatchObject({
      action: 'ask',
      ruleIndex: null,
    });
  });
});
