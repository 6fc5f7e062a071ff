import { describe, expect, it } from 'vitest';

import { compilePolicy, MAX_COMPILED_POLICY_BYTES, PolicyCompileError } from './compile.js';
import { compileGlob, Token, type Glob } from './glob.js';
import { parsePolicy } from './load-policy.js';
import { PolicyError } from './policy-error.js';
import type { Policy } from './policy.js';

// ----------------------------------------------------------------------
// A reader of the compiled form written from docs/protocol.md ("Compiled
// policy"), not from compile.ts: it is what the agent does in C.

interface DecodedGlob {
  separator: number;
  tokens: [kind: number, point: number][];
}

type DecodedArg =
  | { depth: number; index0: number; index1: number; op: 0 | 2; text: string }
  | { depth: number; index0: number; index1: number; op: 1; glob: DecodedGlob }
  | { depth: number; index0: number; index1: number; op: 3; int: bigint }
  | { depth: number; index0: number; index1: number; op: 4; float: number }
  | { depth: number; index0: number; index1: number; op: 5 | 6 | 7 };

interface DecodedRule {
  action: number;
  scope: number;
  intents: number;
  index: number;
  events: DecodedGlob[];
  args: DecodedArg[];
  present: number;
  path?: DecodedGlob;
  pathPrefix?: string;
  realpath?: DecodedGlob;
  realpathPrefix?: string;
  sha256?: string;
  executable?: DecodedGlob;
  pids?: number[];
  module?: DecodedGlob;
  package?: string;
}

interface DecodedPolicy {
  magic: string;
  defaultAction: number;
  offline: number;
  timeoutAnswer: number;
  askAnswer: number;
  timeoutMs: number;
  rules: DecodedRule[];
}

class Reader {
  pos = 0;
  constructor(private readonly buf: Buffer) {}
  u8(): number {
    return this.buf.readUInt8(this.pos++);
  }
  u16(): number {
    const n = this.buf.readUInt16LE(this.pos);
    this.pos += 2;
    return n;
  }
  u32(): number {
    const n = this.buf.readUInt32LE(this.pos);
    this.pos += 4;
    return n;
  }
  raw(n: number): Buffer {
    if (this.pos + n > this.buf.length) throw new Error('read past the end');
    const b = this.buf.subarray(this.pos, this.pos + n);
    this.pos += n;
    return b;
  }
  lstr(): string {
    return this.raw(this.u32()).toString('utf8');
  }
  glob(): DecodedGlob {
    const separator = this.u8();
    const n = this.u16();
    const tokens: [number, number][] = [];
    for (let i = 0; i < n; i++) tokens.push([this.u8(), this.u32()]);
    return { separator, tokens };
  }
}

function decode(buf: Buffer): DecodedPolicy {
  const r = new Reader(buf);
  const magic = r.raw(4).toString('latin1');
  const defaultAction = r.u8();
  const offline = r.u8();
  const timeoutAnswer = r.u8();
  const askAnswer = r.u8();
  const timeoutMs = r.u32();
  const count = r.u32();
  const rules: DecodedRule[] = [];
  for (let i = 0; i < count; i++) {
    const rule: DecodedRule = {
      action: r.u8(),
      scope: r.u8(),
      intents: r.u16(),
      index: r.u32(),
      events: [],
      args: [],
      present: 0,
    };
    const nEvents = r.u16();
    for (let e = 0; e < nEvents; e++) rule.events.push(r.glob());
    const nArgs = r.u16();
    for (let a = 0; a < nArgs; a++) {
      const depth = r.u8();
      const index0 = r.u8();
      const index1 = r.u8();
      const op = r.u8();
      const head = { depth, index0, index1 };
      if (op === 0 || op === 2) rule.args.push({ ...head, op, text: r.lstr() });
      else if (op === 1) rule.args.push({ ...head, op, glob: r.glob() });
      else if (op === 3) rule.args.push({ ...head, op, int: r.raw(8).readBigInt64LE(0) });
      else if (op === 4) rule.args.push({ ...head, op, float: r.raw(8).readDoubleLE(0) });
      else if (op === 5 || op === 6 || op === 7) rule.args.push({ ...head, op });
      else throw new Error(`unknown op ${op}`);
    }
    rule.present = r.u8();
    if (rule.present & 1) rule.path = r.glob();
    if (rule.present & 2) rule.pathPrefix = r.lstr();
    if (rule.present & 4) rule.realpath = r.glob();
    if (rule.present & 8) rule.realpathPrefix = r.lstr();
    if (rule.present & 16) rule.sha256 = r.raw(32).toString('hex');
    if (rule.present & 32) rule.executable = r.glob();
    if (rule.present & 64) {
      const n = r.u16();
      rule.pids = [];
      for (let p = 0; p < n; p++) rule.pids.push(r.u32());
    }
    if (rule.present & 128) {
      const which = r.u8();
      if (which & 1) rule.module = r.glob();
      if (which & 2) rule.package = r.lstr();
    }
    rules.push(rule);
  }
  if (r.pos !== buf.length) throw new Error(`${buf.length - r.pos} bytes left over`);
  return { magic, defaultAction, offline, timeoutAnswer, askAnswer, timeoutMs, rules };
}

// ----------------------------------------------------------------------

const L = 0;
const ONE = 1;
const DIRS_INSIDE = 2;
const STAR = 3;
const ANY = 4;
const DIRS = 5;

/** The literal tokens of `text`, code point by code point. */
function lits(text: string): [number, number][] {
  return [...text].map((ch) => [L, ch.codePointAt(0) as number]);
}

const DIGEST = '3f1c0a7d9e5b2c4a6f8e0d1b3a5c7e9f2b4d6f8a0c2e4a6b8d0f2a4c6e8b0d2f';

function policyOf(doc: Record<string, unknown>): Policy {
  return parsePolicy(JSON.stringify({ version: 1, default: 'deny', ...doc }), 'p.json');
}

/** Every feature of the format at least once. */
const everything = policyOf({
  default: 'ask',
  ask: { timeoutMs: 20000, timeoutAction: 'allow' },
  offline: 'deny',
  rules: [
    {
      action: 'allow',
      intent: ['pythoncode', 'bytecode'],
      realpathPrefix: '/usr/lib/python3.12/',
      comment: 'the standard library',
    },
    { action: 'allow', intent: 'pythoncode', realpath: '/srv/app.py', sha256: DIGEST },
    { action: 'ask', intent: '*', path: '/srv/**/*.py', scope: 'session' },
    { action: 'deny', intent: 'ctypes', pathPrefix: '/tmp/', executable: '/usr/bin/py?' },
    {
      action: 'deny',
      event: ['subprocess.Popen', 'os.*'],
      args: { '0': { glob: '/bin/*sh' }, '1.2': { prefix: 'rév-' } },
    },
    {
      action: 'allow',
      event: 'x',
      args: {
        '0': 'git',
        '1': 42,
        '2': -1.5,
        '3': true,
        '4': false,
        '5': null,
        '6': { exact: 'ex' },
        '7': { exact: 7 },
        '8': -9007199254740991,
      },
    },
    { action: 'ask', event: 'socket.*', package: 'requests', scope: 'process' },
    { action: 'deny', event: '**', module: 'evil.*', scope: undefined, pid: [4242, 7] },
    { action: 'ask', event: 'a\\*b', scope: 'always' },
    { action: 'deny', intent: 'nativecode', pid: 1 },
  ],
});

describe('compilePolicy', () => {
  it('writes every field of the documented format, read back field by field', () => {
    const compiled = compilePolicy(everything, { askAnswer: 'deny' });
    const d = decode(compiled);
    expect(d.magic).toBe('HSP1');
    expect(d.defaultAction).toBe(2);
    expect(d.offline).toBe(1);
    expect(d.timeoutAnswer).toBe(0);
    expect(d.askAnswer).toBe(1);
    expect(d.timeoutMs).toBe(20000);
    expect(d.rules).toHaveLength(10);
    const [r0, r1, r2, r3, r4, r5, r6, r7, r8, r9] = d.rules as [
      DecodedRule,
      DecodedRule,
      DecodedRule,
      DecodedRule,
      DecodedRule,
      DecodedRule,
      DecodedRule,
      DecodedRule,
      DecodedRule,
      DecodedRule,
    ];
    d.rules.forEach((rule, i) => expect(rule.index).toBe(i));

    expect(r0).toEqual({
      action: 0,
      scope: 0,
      intents: 0b11,
      index: 0,
      events: [],
      args: [],
      present: 8,
      realpathPrefix: '/usr/lib/python3.12/',
    });
    expect(r1).toMatchObject({ action: 0, intents: 0b1, present: 4 | 16, sha256: DIGEST });
    expect(r1.realpath).toEqual({ separator: 1, tokens: lits('/srv/app.py') });

    expect(r2).toMatchObject({ action: 2, scope: 2, intents: 0b111111, present: 1 });
    expect(r2.path).toEqual({
      separator: 1,
      tokens: [...lits('/srv/'), [DIRS, 0], [DIRS_INSIDE, 0], [STAR, 0], ...lits('.py')],
    });

    expect(r3).toMatchObject({
      action: 1,
      intents: 0b10000,
      present: 2 | 32,
      pathPrefix: '/tmp/',
    });
    expect(r3.executable).toEqual({ separator: 1, tokens: [...lits('/usr/bin/py'), [ONE, 0]] });

    expect(r4).toMatchObject({ action: 1, intents: 0, present: 0 });
    expect(r4.events).toEqual([
      { separator: 0, tokens: lits('subprocess.Popen') },
      { separator: 0, tokens: [...lits('os.'), [ANY, 0]] },
    ]);
    expect(r4.args).toEqual([
      {
        depth: 1,
        index0: 0,
        index1: 0,
        op: 1,
        glob: { separator: 1, tokens: [...lits('/bin/'), [STAR, 0], ...lits('sh')] },
      },
      { depth: 2, index0: 1, index1: 2, op: 2, text: 'rév-' },
    ]);

    const at = (depth: number, index0: number): { depth: number; index0: number; index1: 0 } => ({
      depth,
      index0,
      index1: 0,
    });
    expect(r5.args).toEqual([
      { ...at(1, 0), op: 0, text: 'git' },
      { ...at(1, 1), op: 3, int: 42n },
      { ...at(1, 2), op: 4, float: -1.5 },
      { ...at(1, 3), op: 5 },
      { ...at(1, 4), op: 6 },
      { ...at(1, 5), op: 7 },
      { ...at(1, 6), op: 0, text: 'ex' },
      { ...at(1, 7), op: 3, int: 7n },
      { ...at(1, 8), op: 3, int: -9007199254740991n },
    ]);
    // A pattern without wildcards is still tokens: the agent has one matcher.
    expect(r5.events).toEqual([{ separator: 0, tokens: lits('x') }]);

    expect(r6).toMatchObject({ action: 2, scope: 1, present: 128, package: 'requests' });
    expect(r6?.module).toBeUndefined();
    expect(r6.events).toEqual([{ separator: 0, tokens: [...lits('socket.'), [ANY, 0]] }]);

    expect(r7).toMatchObject({ action: 1, scope: 0, present: 64 | 128, pids: [4242, 7] });
    expect(r7?.module).toBeDefined();
    expect(r7?.package).toBeUndefined();
    expect(r7.events).toEqual([{ separator: 0, tokens: [[ANY, 0]] }]);

    // An escaped "*" is a literal.
    expect(r8).toMatchObject({ action: 2, scope: 3, present: 0 });
    expect(r8.events).toEqual([{ separator: 0, tokens: lits('a*b') }]);

    expect(r9).toMatchObject({ action: 1, intents: 0b1000, present: 64, pids: [1] });
  });

  it('writes the headless answer to ask rules and the defaults of an empty policy', () => {
    const empty = policyOf({ default: 'allow' });
    const d = decode(compilePolicy(empty, { askAnswer: 'allow' }));
    expect(d).toEqual({
      magic: 'HSP1',
      defaultAction: 0,
      offline: 0,
      timeoutAnswer: 1,
      askAnswer: 0,
      timeoutMs: 30000,
      rules: [],
    });
    expect(compilePolicy(empty, { askAnswer: 'allow' })).toHaveLength(16);
  });

  it('is deterministic', () => {
    expect(compilePolicy(everything, { askAnswer: 'deny' })).toEqual(
      compilePolicy(everything, { askAnswer: 'deny' }),
    );
  });

  it('encodes code points beyond the BMP as one token', () => {
    const d = decode(
      compilePolicy(policyOf({ rules: [{ action: 'deny', event: 'é😀?' }] }), {
        askAnswer: 'deny',
      }),
    );
    expect(d.rules[0]?.events).toEqual([{ separator: 0, tokens: [...lits('é😀'), [ONE, 0]] }]);
  });

  it('refuses argument positions deeper than the agent matches', () => {
    const deep = policyOf({ rules: [{ action: 'deny', event: 'e', args: { '1.0.2': 'x' } }] });
    expect(() => compilePolicy(deep, { askAnswer: 'deny' })).toThrow(PolicyCompileError);
    expect(() => compilePolicy(deep, { askAnswer: 'deny' })).toThrow(
      /rules\[0\]\.args\["1\.0\.2"\]: the agent matches arguments at most two levels deep/,
    );
  });

  it('refuses text with a lone surrogate (no UTF-8 form)', () => {
    const p = policyOf({ rules: [{ action: 'deny', event: 'e', args: { '0': '\udcff' } }] });
    expect(() => compilePolicy(p, { askAnswer: 'deny' })).toThrow(/lone surrogate/);
  });

  it('refuses a policy over 64 KiB, saying how large it came out', () => {
    const rules = Array.from({ length: 700 }, (_, i) => ({
      action: 'allow',
      event: `event.number.${i}.with.a.longish.name`,
    }));
    const big = policyOf({ rules });
    let error: unknown;
    try {
      compilePolicy(big, { askAnswer: 'deny' });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PolicyCompileError);
    expect((error as Error).message).toMatch(
      new RegExp(
        `the compiled policy is \\d+ bytes; the agent reads at most ${MAX_COMPILED_POLICY_BYTES}`,
      ),
    );
    // Just under the limit still compiles.
    const fits = policyOf({ rules: rules.slice(0, 300) });
    expect(compilePolicy(fits, { askAnswer: 'deny' }).length).toBeLessThanOrEqual(
      MAX_COMPILED_POLICY_BYTES,
    );
  });

  it('refuses a glob of more than 65535 tokens', () => {
    const p = policyOf({ rules: [{ action: 'deny', event: 'x'.repeat(70_000) }] });
    expect(() => compilePolicy(p, { askAnswer: 'deny' })).toThrow(
      /rules\[0\]\.event\[0\] \(glob tokens\): 70000 entries; the agent format allows 65535/,
    );
  });

  it('checks a policy built in code like a file', () => {
    const built: Policy = {
      version: 1,
      default: 'deny',
      ask: { timeoutMs: 1000, timeoutAction: 'deny' },
      offline: 'allow',
      rules: [{ action: 'deny', event: 'socket.[x]' }],
    };
    expect(() => compilePolicy(built, { askAnswer: 'deny' })).toThrow(PolicyError);
  });
});

describe('glob tokens', () => {
  it('uses the token numbers of the protocol', () => {
    expect([
      Token.LITERAL,
      Token.ONE,
      Token.DIRS_INSIDE,
      Token.STAR,
      Token.ANY,
      Token.DIRS,
    ]).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('exposes the compiled list of each flavour', () => {
    const tokens = (pattern: string, flavour: 'name' | 'path' | 'argument'): unknown =>
      (compileGlob(pattern, flavour) as Glob).tokens();
    expect(tokens('a.**', 'name')).toEqual({
      separator: 0,
      kinds: [L, L, ANY],
      points: [97, 46, 0],
    });
    expect(tokens('/a/**', 'path')).toEqual({
      separator: 1,
      kinds: [L, L, L, ANY],
      points: [47, 97, 47, 0],
    });
    expect(tokens('x\\?*', 'argument')).toEqual({
      separator: 1,
      kinds: [L, L, STAR],
      points: [120, 63, 0],
    });
  });
});
