import fs from 'node:fs';
import path from 'node:path';

import Ajv from 'ajv';
import { describe, expect, it } from 'vitest';

import { tempDir } from '../../test-support/cli.js';
import { loadPolicy, parsePolicy } from './load-policy.js';
import { PolicyError, formatIssue } from './policy-error.js';
import schema from './policy-schema.json';
import { formatPolicy, type Policy } from './policy.js';

/** Every issue as "line:column code where: message". */
function issues(text: string): string[] {
  try {
    parsePolicy(text, 'p.json');
  } catch (error) {
    expect(error).toBeInstanceOf(PolicyError);
    return (error as PolicyError).issues.map(
      (i) => `${i.line}:${i.column} ${i.code} ${i.where}: ${i.message}`,
    );
  }
  throw new Error('the policy was accepted');
}

/** line:column of the `nth` occurrence of `needle`, counted independently of the parser. */
function at(text: string, needle: string, nth = 0): string {
  let offset = -1;
  for (let i = 0; i <= nth; i++) {
    offset = text.indexOf(needle, offset + 1);
    if (offset === -1) throw new Error(`no ${needle} #${nth}`);
  }
  const before = text.slice(0, offset).split('\n');
  return `${before.length}:${(before[before.length - 1] as string).length + 1}`;
}

const ajv = new Ajv({ allErrors: true, strict: false });
const schemaAccepts = ajv.compile(schema);

const MINIMAL = '{ "version": 1, "default": "deny" }';

describe('parsePolicy accepts', () => {
  it('a minimal policy and fills in the defaults', () => {
    const policy = parsePolicy(MINIMAL, 'p.json');
    expect(policy).toEqual({
      version: 1,
      default: 'deny',
      ask: { timeoutMs: 30_000, timeoutAction: 'deny' },
      offline: 'allow',
      rules: [],
    });
    expect(Object.isFrozen(policy)).toBe(true);
    expect(schemaAccepts(JSON.parse(MINIMAL))).toBe(true);
  });

  it('every kind of rule, and writes it back to text that parses to the same policy', () => {
    const text = JSON.stringify({
      $schema: './policy-schema.json',
      version: 1,
      comment: 'all forms',
      default: 'ask',
      ask: { timeoutMs: 5000, timeoutAction: 'allow' },
      offline: 'deny',
      rules: [
        { event: ['socket.*', 'ssl.**'], action: 'ask', scope: 'session', package: 'requests' },
        {
          action: 'deny',
          event: 'subprocess.Popen',
          args: { '0': { glob: '/bin/*sh' }, '1.0': 'sh', '2': null, '3': { prefix: '-' } },
          comment: 'no shells',
        },
        { action: 'allow', event: 'open', args: { '1': { exact: 'r' }, '2': 524288, '3': true } },
        {
          action: 'allow',
          intent: ['pythoncode', 'bytecode'],
          realpathPrefix: '/usr/lib/python3.12/',
          executable: '/usr/bin/python3*',
        },
        { action: 'allow', intent: '*', path: '/srv/**/*.py', module: 'app.*', pid: [10, 20] },
        { action: 'deny', intent: 'nativecode', pathPrefix: '/tmp/', pid: 1 },
        {
          action: 'allow',
          intent: 'ctypes',
          realpath: '/usr/lib/libc.so.6',
          sha256: 'a'.repeat(64),
        },
      ],
    });
    const policy = parsePolicy(text, 'p.json');
    expect(policy.rules).toHaveLength(7);
    expect(Object.keys(policy.rules[0] as object)).toEqual(['action', 'event', 'package', 'scope']);
    expect(parsePolicy(formatPolicy(policy), 'again.json')).toEqual(policy);
    expect(schemaAccepts(JSON.parse(text)), JSON.stringify(schemaAccepts.errors)).toBe(true);
  });

  it('a byte-order mark, keeping positions right', () => {
    expect(parsePolicy(`\uFEFF${MINIMAL}`, 'p.json').default).toBe('deny');
    expect(issues('\uFEFF{ "version": 1, "default": 7 }')).toEqual([
      '1:29 wrong-type default: expected a string, found the number 7',
    ]);
  });
});

describe('parsePolicy refuses, with every problem at its line and column', () => {
  it('invalid JSON, at the place it breaks', () => {
    expect(issues('{ "version": 1,\n  "default": "deny",\n}')).toEqual([
      '3:1 invalid-json : invalid JSON: trailing comma before "}"',
    ]);
    expect(issues('{ "version": 1, "default": \'deny\' }')).toEqual([
      expect.stringMatching(/^1:28 invalid-json : invalid JSON: unexpected "'deny'"/),
      // The parser recovers and reports what follows from the first error too.
      '1:35 invalid-json : invalid JSON: expected a value, found "}"',
    ]);
    expect(issues('// policy\n{ "version": 1, "default": "deny" }')).toEqual([
      '1:1 invalid-json : invalid JSON: comments are not JSON; use a "comment" key',
    ]);
    expect(issues('')).toEqual([
      '1:1 invalid-json : invalid JSON: expected a value, found the end of the file',
    ]);
    expect(issues('{ "version": 1 "default": "deny" }')).toEqual([
      '1:16 invalid-json : invalid JSON: expected "," between items, found "\\"default\\""',
    ]);
    expect(issues(`${MINIMAL} x`)).toEqual([
      expect.stringMatching(/^1:37 invalid-json : invalid JSON: unexpected "x"/),
    ]);
  });

  it('every structural problem at once, in file order', () => {
    const text = [
      '{',
      '  "version": 1,',
      '  "default": "maybe",',
      '  "ask": { "timeoutMs": 0, "timeout": 5, "timeoutAction": "ask" },',
      '  "offline": "ask",',
      '  "rules": [',
      '    { "action": "allow", "event": "socket.[x]", "class": "x" },',
      '    { "action": "deny", "intent": "pythoncode", "sha256": "ABCDEF", "scope": "once", "action": "allow" },',
      '    { "action": "ask", "event": "open", "intent": "bytecode" },',
      '    { "action": "ask", "intent": "native", "pathPrefix": "/srv/app", "path": "/x/**y" },',
      '    { "action": "deny", "event": ["os.system", ""], "args": { "0": {"glob": "a", "prefix": "b"}, "x": 1, "1.2.3.4": 2, "0": 3 } },',
      '    { "event": "open", "sha256": "' + 'b'.repeat(63) + '", "pid": [0], "package": "a.b" },',
      '    { "action": "allow" },',
      '    "deny",',
      '    { "action": "allow", "intent": "*", "realpath": "relative/x.py", "module": "x", "executable": 5 }',
      '  ],',
      '  "extra": true',
      '}',
    ].join('\n');
    expect(issues(text)).toEqual([
      `${at(text, '"maybe"')} bad-value default: unknown action "maybe"; one of allow, deny, ask`,
      `${at(text, '0,')} bad-value ask.timeoutMs: expected an integer from 1 to 3600000, found 0`,
      `${at(text, '"timeout"')} unknown-key ask.timeout: unknown key "timeout"; write "timeoutMs" (milliseconds)`,
      `${at(text, '"ask" }')} bad-value ask.timeoutAction: unknown timeout action "ask"; one of allow, deny (a timeout must end the wait)`,
      `${at(text, '"ask",')} bad-value offline: unknown offline action "ask"; one of allow, deny (nobody is there to ask)`,
      `${at(text, '[x]')} bad-glob rules[0].event: bad glob "socket.[x]": "[" is reserved (no character classes or braces); write "\\[" to match it`,
      `${at(text, '"class"')} unknown-key rules[0].class: unknown key "class"; the intent class is the value of "intent", e.g. "intent": "nativecode"`,
      `${at(text, 'ABCDEF')} bad-sha256 rules[1].sha256: not a SHA-256 digest: "A" is not a lowercase hex digit`,
      `${at(text, '"scope"')} conflict rules[1].scope: "scope" says how long an answer to "ask" is remembered; this rule's action is "deny"`,
      `${at(text, '"action": "allow" }')} duplicate-key rules[1].action: duplicate key "action" (first at 8:7); JSON readers disagree on which one counts`,
      `${at(text, '"intent": "bytecode"')} conflict rules[2].intent: a rule has "event" (audit events) or "intent" (code about to run), not both`,
      `${at(text, '"native"')} bad-value rules[3].intent: unknown intent class "native"; one of pythoncode, bytecode, zipimport, nativecode, ctypes, unknown, *`,
      `${at(text, '"/srv/app"')} bad-value rules[3].pathPrefix: bad directory prefix: must end with "/" so it names a directory ("/srv/app" would also match "/srv/app-other/…")`,
      `${at(text, '"path": "/x')} conflict rules[3].path: "path" and "pathPrefix" both constrain the same path; use one ("path": "/dir/**" covers a prefix)`,
      `${at(text, '**y')} bad-glob rules[3].path: bad glob "/x/**y": "**" must be a whole path segment, as in "/a/**/b.py"; use "*" inside a segment`,
      `${at(text, '""]')} bad-glob rules[4].event[1]: bad glob "": empty pattern`,
      `${at(text, '"prefix": "b"')} conflict rules[4].args["0"].prefix: an argument matcher has one of "exact", "glob" or "prefix"`,
      `${at(text, '"x": 1')} bad-value rules[4].args["x"]: "x" is not an argument position; use "0", "1", … or "1.0" for an item inside argument 1`,
      `${at(text, '"1.2.3.4"')} bad-value rules[4].args["1.2.3.4"]: "1.2.3.4" is nested 4 deep; the agent records 3 levels`,
      `${at(text, '"0": 3')} duplicate-key rules[4].args["0"]: duplicate key "0" (first at ${at(text, '"0": {')})`,
      `${at(text, '{ "event": "open", "sha256"')} missing-key rules[5]: missing "action" (allow, deny or ask)`,
      `${at(text, '"sha256": "bbb')} conflict rules[5].sha256: "sha256" describes a file about to run; this rule matches audit events ("event"), so it would never match`,
      `${at(text, '0]')} bad-value rules[5].pid[0]: expected an integer from 1 to 2147483647, found 0`,
      `${at(text, '"a.b"')} bad-value rules[5].package: "a.b" has a dot; "package" is the top-level name (use "module" for a dotted name)`,
      `${at(text, '{ "action": "allow" }')} missing-key rules[6]: missing "event" or "intent": say what the rule is about ("event": "**" for every audit event, "intent": "*" for all code)`,
      `${at(text, '"deny",\n')} wrong-type rules[7]: expected a rule (an object), found the string "deny"`,
      `${at(text, 'relative/x.py')} bad-glob rules[8].realpath: bad glob "relative/x.py": must be an absolute path (start with "/")`,
      `${at(text, '5 }')} wrong-type rules[8].executable: expected a string, found the number 5`,
      `${at(text, '"extra"')} unknown-key extra: unknown key "extra"; allowed here: $schema, version, comment, default, ask, offline, rules`,
    ]);
  });

  it('a sha256 of the wrong length or case', () => {
    const short = `{ "version": 1, "default": "deny", "rules": [{ "action": "allow", "intent": "*", "sha256": "${'c'.repeat(63)}" }] }`;
    expect(issues(short)).toEqual([
      `${at(short, '"ccc')} bad-sha256 rules[0].sha256: not a SHA-256 digest: has 63 hex digits, needs 64`,
    ]);
    const upper = short.replace('c'.repeat(63), 'C'.repeat(64));
    expect(issues(upper)).toEqual([
      `${at(upper, 'CCC')} bad-sha256 rules[0].sha256: not a SHA-256 digest: uppercase hex digits; write the digest in lowercase`,
    ]);
  });

  it('a glob problem after an escape, pointing into the file text', () => {
    const text =
      '{ "version": 1, "default": "deny", "rules": [{ "action": "deny", "event": "a\\u0041{b" }] }';
    expect(issues(text)).toEqual([
      `${at(text, '{b')} bad-glob rules[0].event: bad glob "aA{b": "{" is reserved (no character classes or braces); write "\\{" to match it`,
    ]);
  });

  it('missing version and default, wrong top-level types', () => {
    expect(issues('{}')).toEqual([
      '1:1 missing-key : missing "default" (allow, deny or ask when no rule matches)',
      '1:1 missing-key : missing "version" (this Hookscope reads 1)',
    ]);
    expect(issues('[]')).toEqual([
      '1:1 wrong-type : expected a JSON object (the policy), found an array',
    ]);
    expect(issues('{ "version": 1, "default": "deny", "rules": {} }')).toEqual([
      '1:45 wrong-type rules: expected an array of rules, found an object',
    ]);
  });

  it('a newer version, without judging the rest by version 1', () => {
    expect(issues('{ "version": 2, "default": "sometimes", "rules": 5 }')).toEqual([
      '1:14 unsupported-version version: version 2 is not supported; this Hookscope reads version 1',
    ]);
  });

  it('in the same order every time, whatever order the problems were found in', () => {
    const text = '{ "rules": [{ "action": "nope", "event": "*" }], "default": "x", "version": 1 }';
    const first = issues(text);
    expect(first.map((l) => l.split(' ')[0])).toEqual(['1:25', '1:61']);
    expect(issues(text)).toEqual(first);
  });

  it('and the error message lists them as file:line:column', () => {
    try {
      parsePolicy('{ "version": 1, "default": "x" }', 'policies/ci.json');
      expect.unreachable();
    } catch (error) {
      const e = error as PolicyError;
      expect(e.file).toBe('policies/ci.json');
      expect(e.message).toBe(
        'policies/ci.json: invalid policy, 1 problem:\n  policies/ci.json:1:28: default: unknown action "x"; one of allow, deny, ask',
      );
      expect(formatIssue(e.issues[0]!)).toBe(
        'policies/ci.json:1:28: default: unknown action "x"; one of allow, deny, ask',
      );
    }
  });
});

describe('loadPolicy', () => {
  it('reads a file and names it in errors', () => {
    const dir = tempDir();
    const good = path.join(dir, 'good.json');
    fs.writeFileSync(good, MINIMAL);
    expect(loadPolicy(good).default).toBe('deny');
    const bad = path.join(dir, 'bad.json');
    fs.writeFileSync(bad, '{ "version": 1,\r\n  "default": "deny", "rules": [{}] }');
    expect(() => loadPolicy(bad)).toThrow(`${bad}:2:32: rules[0]: missing "action"`);
    try {
      loadPolicy(path.join(dir, 'missing.json'));
      expect.unreachable();
    } catch (error) {
      expect((error as PolicyError).issues[0]).toMatchObject({ code: 'unreadable', line: 1 });
      expect((error as PolicyError).message).toMatch(/ENOENT/);
    }
  });
});

describe('the JSON Schema agrees with the checker', () => {
  const base = { version: 1, default: 'deny' };
  const refusedByBoth: [string, unknown][] = [
    ['unknown top key', { ...base, extra: 1 }],
    ['unknown action', { ...base, default: 'maybe' }],
    ['wrong version', { ...base, version: 2 }],
    ['missing default', { version: 1 }],
    ['offline ask', { ...base, offline: 'ask' }],
    ['unknown rule key', { ...base, rules: [{ action: 'allow', event: 'x', class: 'y' }] }],
    ['event and intent', { ...base, rules: [{ action: 'allow', event: 'x', intent: '*' }] }],
    ['neither', { ...base, rules: [{ action: 'allow' }] }],
    [
      'sha256 on event',
      { ...base, rules: [{ action: 'allow', event: 'x', sha256: 'a'.repeat(64) }] },
    ],
    ['args on intent', { ...base, rules: [{ action: 'allow', intent: '*', args: { '0': 'x' } }] }],
    ['bad sha256', { ...base, rules: [{ action: 'allow', intent: '*', sha256: 'A'.repeat(64) }] }],
    ['scope on allow', { ...base, rules: [{ action: 'allow', event: 'x', scope: 'once' }] }],
    [
      'path and prefix',
      { ...base, rules: [{ action: 'allow', intent: '*', path: '/a', pathPrefix: '/b/' }] },
    ],
    ['relative path', { ...base, rules: [{ action: 'allow', intent: '*', realpath: 'a.py' }] }],
    [
      'prefix without slash',
      { ...base, rules: [{ action: 'allow', intent: '*', realpathPrefix: '/a' }] },
    ],
    ['bad arg position', { ...base, rules: [{ action: 'allow', event: 'x', args: { a: 1 } }] }],
    [
      'two arg matchers',
      {
        ...base,
        rules: [{ action: 'allow', event: 'x', args: { '0': { glob: 'a', prefix: 'b' } } }],
      },
    ],
    ['pid 0', { ...base, rules: [{ action: 'allow', event: 'x', pid: 0 }] }],
    ['empty event list', { ...base, rules: [{ action: 'allow', event: [] }] }],
    ['timeout too long', { ...base, ask: { timeoutMs: 3_600_001 } }],
  ];
  it.each(refusedByBoth)('%s', (_name, document) => {
    expect(schemaAccepts(document)).toBe(false);
    expect(() => parsePolicy(JSON.stringify(document), 'p.json')).toThrow(PolicyError);
  });

  it('accepts what the checker accepts', () => {
    const policy: Policy = parsePolicy(
      JSON.stringify({
        ...base,
        rules: [
          { action: 'ask', event: '**', scope: 'always', args: { '0.1.2': { exact: 1.5 } } },
          { action: 'deny', intent: ['nativecode', 'ctypes'], path: '/**/*.so' },
        ],
      }),
      'p.json',
    );
    expect(schemaAccepts(JSON.parse(formatPolicy(policy)))).toBe(true);
  });
});
