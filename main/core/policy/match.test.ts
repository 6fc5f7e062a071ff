import { describe, expect, it } from 'vitest';

import type { SequenceValue, Value } from '../protocol/records.js';
import { parsePolicy } from './load-policy.js';
import { answerKey, evaluate, type AuditSubject, type IntentSubject } from './match.js';
import { PolicyError } from './policy-error.js';
import type { Policy } from './policy.js';

const str = (text: string): Value => ({
  type: 'str',
  text,
  fullLength: Buffer.byteLength(text),
  truncated: false,
});
const cut = (kept: string, fullLength: number): Value => ({
  type: 'str',
  text: kept,
  fullLength,
  truncated: true,
});
const int = (n: number): Value => ({ type: 'int', value: BigInt(n) });

function policy(rules: unknown[], extra: Record<string, unknown> = {}): Policy {
  return parsePolicy(JSON.stringify({ version: 1, default: 'deny', rules, ...extra }), 'p.json');
}
const audit = (event: string, args: Value[] = [], origin = {}): AuditSubject => ({
  kind: 'audit',
  event,
  args,
  ...origin,
});
const DIGEST = 'ab'.repeat(32);
const intent = (over: Partial<IntentSubject> = {}): IntentSubject => ({
  kind: 'intent',
  intent: 'pythoncode',
  path: '/srv/app/main.py',
  realpath: '/srv/app/main.py',
  sha256: DIGEST,
  ...over,
});

describe('evaluate', () => {
  it('takes the first matching rule, else the default', () => {
    const p = policy([
      { action: 'deny', event: 'subprocess.Popen', args: { '0': { glob: '/bin/*sh' } } },
      { action: 'allow', event: 'subprocess.*' },
      { action: 'ask', event: '**', scope: 'process', comment: 'anything else' },
    ]);
    expect(evaluate(p, audit('subprocess.Popen', [str('/bin/bash')]))).toEqual({
      action: 'deny',
      ruleIndex: 0,
      reason: 'rules[0] (deny event subprocess.Popen)',
    });
    expect(evaluate(p, audit('subprocess.Popen', [str('/bin/ls')])).ruleIndex).toBe(1);
    expect(evaluate(p, audit('socket.connect'))).toEqual({
      action: 'ask',
      ruleIndex: 2,
      reason: 'rules[2] (ask event **): anything else',
      scope: 'process',
    });
    const none = policy([{ action: 'allow', event: 'open' }], { default: 'ask' });
    expect(evaluate(none, audit('exec'))).toEqual({
      action: 'ask',
      ruleIndex: null,
      reason: 'no rule matched; the default is ask',
      scope: 'once',
    });
  });

  it('keeps event rules and intent rules apart', () => {
    const p = policy([
      { action: 'allow', event: '**' },
      { action: 'deny', intent: '*' },
    ]);
    expect(evaluate(p, audit('io.open_code')).action).toBe('allow');
    expect(evaluate(p, intent()).ruleIndex).toBe(1);
  });

  it('pins code by SHA-256: the same path with other bytes is not allowed', () => {
    const p = policy([
      { action: 'allow', intent: 'pythoncode', realpath: '/srv/app/main.py', sha256: DIGEST },
    ]);
    expect(evaluate(p, intent()).action).toBe('allow');
    expect(evaluate(p, intent({ sha256: 'cd'.repeat(32) })).action).toBe('deny');
    expect(evaluate(p, intent({ sha256: null })).action).toBe('deny');
    expect(evaluate(p, intent({ intent: 'bytecode' })).action).toBe('deny');
    expect(evaluate(p, intent({ realpath: '/tmp/main.py' })).action).toBe('deny');
  });

  it('matches paths as passed and as resolved, by glob and by directory', () => {
    const p = policy([
      {
        action: 'allow',
        intent: ['pythoncode', 'bytecode'],
        realpathPrefix: '/usr/lib/python3.12/',
      },
      { action: 'ask', intent: '*', path: '/home/*/proj/**/*.py' },
      { action: 'allow', intent: 'nativecode', pathPrefix: '/opt/' },
    ]);
    expect(evaluate(p, intent({ realpath: '/usr/lib/python3.12/os.py' })).ruleIndex).toBe(0);
    expect(evaluate(p, intent({ realpath: '/usr/lib/python3.12x/os.py' })).ruleIndex).toBe(null);
    expect(evaluate(p, intent({ path: '/home/me/proj/a/b/t.py' })).ruleIndex).toBe(1);
    expect(evaluate(p, intent({ path: '/home/me/x/proj/t.py' })).ruleIndex).toBe(null);
    expect(evaluate(p, intent({ intent: 'nativecode', path: '/opt/x.so' })).ruleIndex).toBe(2);
    expect(evaluate(p, intent({ intent: 'ctypes', path: '/opt/x.so' })).ruleIndex).toBe(null);
  });

  it('matches arguments by position, inside tuples, by exact value, prefix and glob', () => {
    const p = policy([
      { action: 'deny', event: 'socket.connect', args: { '1.0': '10.0.0.1', '1.1': 22 } },
      { action: 'deny', event: 'open', args: { '0': { prefix: '/etc/' }, '1': { exact: 'w' } } },
      { action: 'deny', event: 'os.system', args: { '0': { glob: 'rm *' } } },
      { action: 'deny', event: 'x', args: { '0': null, '1': true, '2': 1.5 } },
      { action: 'allow', event: '**' },
    ]);
    const sock: Value = { type: 'other', typeName: 'socket', id: 1n };
    const addr = (host: string, port: number): Value => ({
      type: 'tuple',
      items: [str(host), int(port)],
      fullCount: 2,
      truncated: false,
    });
    expect(evaluate(p, audit('socket.connect', [sock, addr('10.0.0.1', 22)])).ruleIndex).toBe(0);
    expect(evaluate(p, audit('socket.connect', [sock, addr('10.0.0.1', 80)])).ruleIndex).toBe(4);
    expect(evaluate(p, audit('socket.connect', [sock, str('/tmp/s')])).ruleIndex).toBe(4);
    expect(evaluate(p, audit('open', [str('/etc/passwd'), str('w')])).ruleIndex).toBe(1);
    expect(evaluate(p, audit('open', [str('/etc/passwd'), str('r')])).ruleIndex).toBe(4);
    expect(evaluate(p, audit('open', [str('/etc/passwd')])).ruleIndex).toBe(4);
    // bytes arguments compare as the text Python would decode them to.
    const bytes: Value = {
      type: 'bytes',
      data: Buffer.from('rm -rf x'),
      fullLength: 8,
      truncated: false,
    };
    expect(evaluate(p, audit('os.system', [bytes])).ruleIndex).toBe(2);
    expect(evaluate(p, audit('os.system', [str('rm a/b')])).ruleIndex).toBe(4);
    const other: Value[] = [
      { type: 'none' },
      { type: 'bool', value: true },
      { type: 'float', value: 1.5 },
    ];
    expect(evaluate(p, audit('x', other)).ruleIndex).toBe(3);
    expect(evaluate(p, audit('x', [int(0), ...other.slice(1)])).ruleIndex).toBe(4);
  });

  it('applies deny and ask when cut-short arguments may match, allow only when they surely do', () => {
    const p = policy([
      { action: 'deny', event: 'os.system', args: { '0': { glob: '*curl*' } } },
      { action: 'allow', event: 'open', args: { '0': { prefix: '/srv/' } } },
      { action: 'allow', event: 'open', args: { '0': '/tmp/x' } },
    ]);
    const decision = evaluate(p, audit('os.system', [cut('echo ', 9000)]));
    expect(decision.action).toBe('deny');
    expect(decision.reason).toMatch(/cut short/);
    expect(evaluate(p, audit('open', [cut('/srv/data', 9000)])).ruleIndex).toBe(1);
    expect(evaluate(p, audit('open', [cut('/sr', 9000)])).action).toBe('deny');
    expect(evaluate(p, audit('open', [cut('/tmp/', 9000)])).ruleIndex).toBe(null);
    // An argument position past what the agent kept of the tuple.
    const many: SequenceValue = {
      type: 'tuple',
      items: Array.from({ length: 64 }, () => int(0)),
      fullCount: 70,
      truncated: true,
    };
    const tail = policy([
      { action: 'deny', event: 'e', args: { '63': 0 } },
      { action: 'ask', event: 'e', args: { '0': 1 } },
    ]);
    expect(evaluate(tail, { kind: 'audit', event: 'e', args: many }).ruleIndex).toBe(0);
  });

  it('matches origin: module, package, executable, pid; absent origin never matches', () => {
    const p = policy([
      { action: 'deny', event: 'socket.*', package: 'evil' },
      { action: 'ask', event: 'socket.*', module: 'app.net.*' },
      { action: 'deny', event: 'socket.*', executable: '/usr/bin/python3.*' },
      { action: 'allow', event: 'socket.*', pid: [42, 43] },
    ]);
    expect(evaluate(p, audit('socket.connect', [], { module: 'evil.sub' })).ruleIndex).toBe(0);
    expect(evaluate(p, audit('socket.connect', [], { package: 'evil' })).ruleIndex).toBe(0);
    expect(evaluate(p, audit('socket.connect', [], { module: 'app.net.http' })).ruleIndex).toBe(1);
    expect(evaluate(p, audit('socket.connect', [], { module: 'app.netx' })).ruleIndex).toBe(null);
    expect(
      evaluate(p, audit('socket.bind', [], { executable: '/usr/bin/python3.12' })).ruleIndex,
    ).toBe(2);
    expect(evaluate(p, audit('socket.bind', [], { pid: 43 })).ruleIndex).toBe(3);
    expect(evaluate(p, audit('socket.bind')).ruleIndex).toBe(null);
  });

  it('checks a policy built in code the same way as a file', () => {
    const built: Policy = {
      version: 1,
      default: 'deny',
      ask: { timeoutMs: 1000, timeoutAction: 'deny' },
      offline: 'allow',
      rules: [{ action: 'allow', event: 'os.[x]' }],
    };
    expect(() => evaluate(built, audit('open'))).toThrow(PolicyError);
    const good = { ...built, rules: [{ action: 'allow' as const, event: 'open' }] };
    expect(evaluate(good, audit('open')).action).toBe('allow');
  });

  it('stays right for many distinct event names (the cache is bounded)', () => {
    const p = policy([{ action: 'allow', event: 'ok.*' }]);
    for (let i = 0; i < 12_000; i++) {
      expect(evaluate(p, audit(i % 2 ? `ok.${i}` : `no.${i}`)).action).toBe(
        i % 2 ? 'allow' : 'deny',
      );
    }
  });
});

describe('answerKey', () => {
  it('keys intents by class, real path and digest; events by name and arguments', () => {
    expect(answerKey(intent())).toBe(answerKey(intent({ path: 'main.py' })));
    expect(answerKey(intent())).not.toBe(answerKey(intent({ sha256: 'cd'.repeat(32) })));
    expect(answerKey(audit('open', [str('/a')]))).toBe(answerKey(audit('open', [str('/a')])));
    expect(answerKey(audit('open', [str('/a')]))).not.toBe(answerKey(audit('open', [str('/b')])));
  });
});
