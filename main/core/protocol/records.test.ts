import { describe, expect, it } from 'vitest';

import {
  encodeAuditRecord,
  encodeDecisionRecord,
  encodeOpenCodeRecord,
  encodeStack,
  encodeValue,
  v,
} from '../../test-support/wire-encoder.js';
import { ProtocolError } from './frame.js';
import {
  MAX_RECORD_SIZE,
  decodeRecords,
  decodeSurrogateEscape,
  formatValue,
  pyFloatRepr,
  toJsonValue,
  validateEventsPayload,
  valueText,
  type AgentRecord,
  type Value,
} from './records.js';

const SHA = Buffer.from('00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff', 'hex');

/** One of every value kind, nested as deep as allowed. */
const everyValue: Value[] = [
  v.none(),
  v.bool(false),
  v.bool(true),
  v.int(0),
  v.int(-(2n ** 63n)),
  v.int(2n ** 63n - 1n),
  v.intApprox(2 ** 100),
  v.float(1.5),
  v.float(-Infinity),
  v.str('héllo'),
  v.str('cut', 5000),
  v.strFs(Buffer.from([0x2f, 0x74, 0xff, 0x6d, 0x70]), '/t\udcffmp'),
  v.bytes(Buffer.from([0, 1, 2, 0x41])),
  v.bytes(Buffer.alloc(256, 1), 1000),
  v.bytearray(Buffer.from('ab')),
  v.list([v.int(1), v.tuple([v.str('deep')])]),
  v.tuple([], 100),
  v.code('/srv/app.py', '<module>', 1),
  v.other('dict', 0x7f00deadbeefn),
];

function sampleRecords(): Buffer[] {
  return [
    encodeAuditRecord({ seq: 0, event: 'import', args: v.tuple([v.str('os'), v.none()]) }),
    encodeAuditRecord({ seq: 1, tid: 77, event: 'everything', args: v.tuple(everyValue) }),
    encodeAuditRecord({
      seq: 2,
      event: 'open',
      flags: 1,
      args: v.tuple([v.str('/etc/passwd'), v.str('r')], 3),
    }),
    encodeOpenCodeRecord({
      seq: 3,
      intent: 'pythoncode',
      size: 1234,
      dev: 2049n,
      ino: 99n,
      mtimeNs: -5n,
      sha256: SHA,
      path: v.str('/srv/app.py'),
      realPath: '/srv/real/app.py',
    }),
    encodeOpenCodeRecord({
      seq: 4,
      intent: 'zipimport',
      status: 1,
      errno: 2,
      path: v.strFs(Buffer.from([0xff]), '\udcff'),
      realPath: '',
    }),
    encodeAuditRecord({ seq: 2 ** 53 - 1, event: 'x', args: v.tuple([]) }),
    encodeDecisionRecord({
      seq: 6,
      event: 'subprocess.Popen',
      eventSeq: 5,
      ruleIndex: 2,
      waitedNs: 1234n,
    }),
    encodeDecisionRecord({
      seq: 7,
      tid: 78,
      event: 'io.open_code',
      eventSeq: 2n ** 64n - 1n,
      outcome: 'allowed',
      action: 'ask',
      by: 'headless',
      ruleIndex: null,
    }),
  ];
}

const samplePayload = Buffer.concat(sampleRecords());

describe('decodeRecords', () => {
  it('round-trips every value tag and every record kind', () => {
    const records = decodeRecords(samplePayload);
    expect(validateEventsPayload(samplePayload)).toBe(8);
    expect(records).toHaveLength(8);
    const [imp, all, open, code, failed, last, denied, asked] = records as [
      AgentRecord,
      AgentRecord,
      AgentRecord,
      AgentRecord,
      AgentRecord,
      AgentRecord,
      AgentRecord,
      AgentRecord,
    ];
    expect(imp).toEqual({
      kind: 'audit',
      seq: 0,
      timeNs: 1_000_000n,
      tid: 1000,
      event: 'import',
      argsTruncated: false,
      args: v.tuple([v.str('os'), v.none()]),
    });
    expect(all.kind === 'audit' && all.args.items).toEqual(everyValue);
    expect(all.tid).toBe(77);
    expect(open.argsTruncated).toBe(true);
    expect(open.kind === 'audit' && open.args.truncated).toBe(true);
    expect(code).toEqual({
      kind: 'open-code',
      seq: 3,
      timeNs: 1_000_000n,
      tid: 1000,
      event: 'io.open_code',
      argsTruncated: false,
      intent: 'pythoncode',
      status: 'ok',
      errno: 0,
      size: 1234,
      dev: 2049n,
      ino: 99n,
      mtimeNs: -5n,
      sha256: SHA.toString('hex'),
      path: v.str('/srv/app.py'),
      realPath: '/srv/real/app.py',
    });
    expect(failed).toMatchObject({ status: 'error', errno: 2, sha256: null, intent: 'zipimport' });
    expect(last.seq).toBe(2 ** 53 - 1);
    expect(denied).toEqual({
      kind: 'decision',
      seq: 6,
      timeNs: 1_000_000n,
      tid: 1000,
      event: 'subprocess.Popen',
      argsTruncated: false,
      eventSeq: 5n,
      outcome: 'denied',
      action: 'deny',
      by: 'rule',
      ruleIndex: 2,
      waitedNs: 1234n,
      stack: null,
    });
    expect(asked).toEqual({
      kind: 'decision',
      seq: 7,
      timeNs: 1_000_000n,
      tid: 78,
      event: 'io.open_code',
      argsTruncated: false,
      eventSeq: 2n ** 64n - 1n,
      outcome: 'allowed',
      action: 'ask',
      by: 'headless',
      ruleIndex: null,
      waitedNs: 0n,
      stack: null,
    });
  });

  it('decodes the stack a decision may carry, and refuses a malformed one', () => {
    const frames: Array<[string, string, number, string | null]> = [
      ['/usr/lib/python3.11/subprocess.py', '_execute_child', 1772, 'subprocess'],
      ['<string>', '<module>', 1, null],
    ];
    const record = encodeDecisionRecord({ event: 'subprocess.Popen', eventSeq: 3, stack: frames });
    const [decision] = decodeRecords(record);
    expect(decision).toMatchObject({
      kind: 'decision',
      stack: [
        { file: frames[0]?.[0], function: '_execute_child', line: 1772, module: 'subprocess' },
        { file: '<string>', function: '<module>', line: 1, module: null },
      ],
    });
    // A frame that is not a 4-tuple.
    const bad = Buffer.from(record);
    const frameStart = bad.length - encodeStack(frames).length + 9;
    bad.writeUInt32LE(3, frameStart + 1);
    expect(() => decodeRecords(bad)).toThrow(/a stack frame must be a tuple of 4 values/);
  });

  it('decodes every outcome, action and decider', () => {
    const bys = [
      'rule',
      'default',
      'user',
      'timeout',
      'offline',
      'headless',
      'remembered',
    ] as const;
    const payload = Buffer.concat(
      bys.map((by, i) =>
        encodeDecisionRecord({
          seq: i,
          event: 'e',
          eventSeq: 0,
          outcome: i % 2 === 0 ? 'denied' : 'allowed',
          action: (['deny', 'allow', 'ask'] as const)[i % 3],
          by,
          ruleIndex: by === 'default' ? null : i,
        }),
      ),
    );
    const decoded = decodeRecords(payload);
    expect(
      decoded.map((r) => r.kind === 'decision' && [r.by, r.outcome, r.action, r.ruleIndex]),
    ).toEqual([
      ['rule', 'denied', 'deny', 0],
      ['default', 'allowed', 'allow', null],
      ['user', 'denied', 'ask', 2],
      ['timeout', 'allowed', 'deny', 3],
      ['offline', 'denied', 'allow', 4],
      ['headless', 'allowed', 'ask', 5],
      ['remembered', 'denied', 'deny', 6],
    ]);
  });

  it('decodes str_fs like Python surrogateescape', () => {
    expect(decodeSurrogateEscape(Buffer.from('héllo'))).toBe('héllo');
    expect(decodeSurrogateEscape(Buffer.from([0x61, 0xff, 0x62]))).toBe('a\udcffb');
    // A truncated 3-byte sequence: each byte escaped, as Python does.
    expect(decodeSurrogateEscape(Buffer.from([0xe2, 0x82, 0x41]))).toBe('\udce2\udc82A');
    // Encoded surrogates and overlong forms are not valid UTF-8.
    expect(decodeSurrogateEscape(Buffer.from([0xed, 0xa0, 0x80]))).toBe('\udced\udca0\udc80');
    expect(decodeSurrogateEscape(Buffer.from([0xc0, 0xaf]))).toBe('\udcc0\udcaf');
    expect(decodeSurrogateEscape(Buffer.from('😀'))).toBe('😀');
  });
});

/** Builds a payload from one audit record whose args are `args`. */
function audit(args: Value, event = 'e'): Buffer {
  return encodeAuditRecord({ event, args });
}

function expectInvalid(payload: Buffer, message: RegExp): void {
  expect(() => validateEventsPayload(payload)).toThrow(message);
  expect(() => decodeRecords(payload)).toThrow(ProtocolError);
}

describe('validation limits', () => {
  it('accepts values exactly at the limits', () => {
    const atLimits = audit(
      v.tuple([
        v.str('x'.repeat(4096), 9999),
        v.bytes(Buffer.alloc(256), 256),
        v.list(Array.from({ length: 64 }, () => v.none())),
      ]),
    );
    expect(validateEventsPayload(atLimits)).toBe(1);
  });

  it('accepts containers nested three levels (args → list → tuple)', () => {
    expect(validateEventsPayload(audit(v.tuple([v.list([v.tuple([v.int(1)])])])))).toBe(1);
  });

  it('refuses containers nested four levels', () => {
    expectInvalid(audit(v.tuple([v.list([v.tuple([v.list([])])])])), /nested deeper than 3 levels/);
  });

  it('refuses a str longer than 4096 bytes', () => {
    expectInvalid(
      audit(v.tuple([v.str('x'.repeat(4097), 5000)])),
      /4097 bytes, more than the limit of 4096/,
    );
  });

  it('refuses a str that keeps more than its full length', () => {
    expectInvalid(audit(v.tuple([v.str('abc', 2)])), /keeps 3 bytes but says it has only 2/);
  });

  it('refuses bytes longer than 256', () => {
    expectInvalid(audit(v.tuple([v.bytes(Buffer.alloc(257), 300)])), /more than the limit of 256/);
  });

  it('refuses more than 64 items, or more than the full count', () => {
    expectInvalid(
      audit(
        v.tuple([
          v.list(
            Array.from({ length: 65 }, () => v.none()),
            100,
          ),
        ]),
      ),
      /65 items, more than the limit of 64/,
    );
    expectInvalid(
      audit(v.tuple([v.list([v.none(), v.none()], 1)])),
      /keeps 2 items but says it has only 1/,
    );
  });

  it('refuses a record over 16 KiB', () => {
    const big = audit(v.tuple(Array.from({ length: 5 }, () => v.str('y'.repeat(4000)))));
    expect(big.length).toBeGreaterThan(MAX_RECORD_SIZE);
    expectInvalid(big, /exceeds the 16384-byte limit/);
  });

  it('refuses an empty payload', () => {
    expectInvalid(Buffer.alloc(0), /EVENTS payload is empty/);
  });

  it('refuses audit arguments that are not a tuple', () => {
    expectInvalid(audit(v.list([])), /audit arguments must be a tuple value, found tag 11/);
  });

  it('refuses code fields that are not strings', () => {
    const code = encodeValue(v.code('f', 'n', 1));
    // Replace the filename's str tag with an int tag.
    code[5] = 3;
    const record = audit(v.tuple([v.none()]));
    const payload = Buffer.concat([record.subarray(0, record.length - 1), code]);
    payload.writeUInt32LE(payload.length, 0);
    payload.writeUInt32LE(1, 28 + 1 + 1 + 4); // n = 1
    expectInvalid(payload, /code filename must be a str value, found tag 3/);
  });

  it('refuses unknown tags, kinds, intents and statuses', () => {
    const unknownTag = audit(v.tuple([v.none()]));
    unknownTag[unknownTag.length - 1] = 14;
    expectInvalid(unknownTag, /unknown value tag 14/);

    const unknownKind = audit(v.tuple([]));
    unknownKind[4] = 4;
    expectInvalid(unknownKind, /unknown record kind 4/);

    const oc = (): Buffer =>
      encodeOpenCodeRecord({ path: v.str('/a.py'), realPath: '/a.py', sha256: SHA });
    const nameEnd = 28 + 'io.open_code'.length;
    const badIntent = oc();
    badIntent[nameEnd] = 6;
    expectInvalid(badIntent, /unknown open-code intent 6/);
    const nativeInOpenCode = oc();
    nativeInOpenCode[nameEnd] = 4;
    expectInvalid(nativeInOpenCode, /intent nativecode does not belong in a "io.open_code" record/);
    const dl = (intent: 'ctypes' | 'pythoncode'): Buffer =>
      encodeOpenCodeRecord({ event: 'dlopen', intent, path: v.str('/l.so'), realPath: '/l.so' });
    expectInvalid(dl('pythoncode'), /intent pythoncode does not belong in a "dlopen" record/);
    expect(decodeRecords(dl('ctypes'))[0]).toMatchObject({
      kind: 'open-code',
      event: 'dlopen',
      intent: 'ctypes',
    });
    const badStatus = oc();
    badStatus[nameEnd + 1] = 2;
    expectInvalid(badStatus, /unknown open-code status 2/);
    expectInvalid(
      encodeOpenCodeRecord({ event: 'io.open_codX', path: v.str('/a'), realPath: '' }),
      /must be named "io.open_code"/,
    );
    expectInvalid(
      encodeOpenCodeRecord({ path: v.int(1), realPath: '' }),
      /open-code path must be a str value/,
    );
  });

  it('refuses malformed decision records, naming the field and its offset', () => {
    const nameEnd = 28 + 'e'.length;
    const decision = (): Buffer => encodeDecisionRecord({ event: 'e', eventSeq: 1 });
    const badOutcome = decision();
    badOutcome[nameEnd + 8] = 2;
    expectInvalid(badOutcome, new RegExp(`unknown decision outcome 2 at offset ${nameEnd + 8}`));
    const badAction = decision();
    badAction[nameEnd + 9] = 3;
    expectInvalid(badAction, new RegExp(`unknown decision action 3 at offset ${nameEnd + 9}`));
    const badBy = decision();
    badBy[nameEnd + 10] = 7;
    expectInvalid(badBy, new RegExp(`unknown decision maker 7 at offset ${nameEnd + 10}`));
    expectInvalid(
      encodeDecisionRecord({ event: 'e', eventSeq: 1, reserved: 9 }),
      new RegExp(`decision reserved byte is 9, must be 0 at offset ${nameEnd + 11}`),
    );
    expectInvalid(
      encodeDecisionRecord({ event: 'e', eventSeq: 1, by: 'rule', ruleIndex: null }),
      /decision by a rule names no rule/,
    );
    expectInvalid(
      encodeDecisionRecord({ event: 'e', eventSeq: 1, by: 'default', ruleIndex: 3 }),
      /decision by the default names a rule/,
    );
    const short = decision().subarray(0, nameEnd + 23);
    short.writeUInt32LE(short.length, 0);
    expectInvalid(short, /decision fields needs 24 bytes but only 23 remain in the record/);
    const long = Buffer.concat([decision(), Buffer.from([0])]);
    long.writeUInt32LE(long.length, 0);
    expectInvalid(long, /1 unexpected bytes at the end of the record/);
  });

  it('refuses a sequence number or size beyond 2^53', () => {
    expectInvalid(
      encodeAuditRecord({ seq: 2n ** 53n, event: 'x', args: v.tuple([]) }),
      /sequence number exceeds 2\^53/,
    );
    expectInvalid(
      encodeOpenCodeRecord({ size: 2n ** 53n, path: v.str('/a'), realPath: '' }),
      /file size exceeds 2\^53/,
    );
  });

  it('refuses bytes left over inside a record, and reports their offset', () => {
    const record = audit(v.tuple([]));
    const padded = Buffer.concat([record, Buffer.from([0, 0])]);
    padded.writeUInt32LE(padded.length, 0);
    expectInvalid(
      padded,
      new RegExp(`2 unexpected bytes at the end of the record at offset ${record.length}`),
    );
  });

  it('reports the payload offset of a bad second record', () => {
    const first = audit(v.tuple([]));
    const second = audit(v.tuple([v.none()]));
    second[second.length - 1] = 99;
    expectInvalid(
      Buffer.concat([first, second]),
      new RegExp(`unknown value tag 99 at offset ${first.length + second.length - 1}`),
    );
  });
});

describe('truncation', () => {
  const records = sampleRecords();
  const boundaries = new Set<number>();
  let total = 0;
  for (const r of records) boundaries.add((total += r.length));

  it('a payload cut at any byte is either fewer whole records or a ProtocolError', () => {
    let whole = 0;
    for (let cut = 1; cut < samplePayload.length; cut++) {
      const part = samplePayload.subarray(0, cut);
      if (boundaries.has(cut)) {
        whole++;
        expect(validateEventsPayload(part)).toBe(whole);
      } else {
        expect(() => validateEventsPayload(part), `cut at ${cut}`).toThrow(ProtocolError);
        expect(() => decodeRecords(part), `cut at ${cut}`).toThrow(ProtocolError);
      }
    }
  });

  it('a record whose length claims fewer bytes than its contents is refused at every length', () => {
    for (const record of records) {
      for (let length = 0; length < record.length; length++) {
        const shortened = Buffer.from(record.subarray(0, Math.max(length, 4)));
        shortened.writeUInt32LE(length, 0);
        let error: unknown;
        try {
          validateEventsPayload(shortened);
        } catch (e) {
          error = e;
        }
        expect(error, `length ${length}`).toBeInstanceOf(ProtocolError);
        checkErrorIsPrecise(error as ProtocolError, shortened);
      }
    }
  });
});

/** mulberry32: small, seeded, reproducible. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/**
 * Every check must fire where the problem is: an error found only by the
 * final "record ends where it says" check after reading past the end
 * would mean a bounds check is missing.
 */
function checkErrorIsPrecise(error: ProtocolError, payload: Buffer): void {
  if (/-\d+ unexpected bytes/.test(error.message)) {
    throw new Error(`a value ran past its record unnoticed: ${error.message}`);
  }
  if (error.offset !== undefined && error.offset > payload.length) {
    throw new Error(`error offset ${error.offset} is beyond the payload: ${error.message}`);
  }
}

/** Runs both entry points; anything but success or ProtocolError fails. */
function checkConsistent(payload: Buffer): void {
  let count: number | ProtocolError;
  try {
    count = validateEventsPayload(payload);
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    count = error;
  }
  let decoded: AgentRecord[] | ProtocolError;
  try {
    decoded = decodeRecords(payload);
  } catch (error) {
    if (!(error instanceof ProtocolError)) throw error;
    decoded = error;
  }
  // Plain checks, not expect(): this runs tens of thousands of times.
  if (typeof count === 'number') {
    if (!Array.isArray(decoded)) throw new Error(`validated but decode failed: ${decoded.message}`);
    if (decoded.length !== count) throw new Error(`${count} validated, ${decoded.length} decoded`);
    // Rendering must cope with whatever decoded.
    for (const r of decoded) {
      if (r.kind === 'audit') {
        JSON.stringify(toJsonValue(r.args));
        formatValue(r.args);
      } else if (r.kind === 'open-code') {
        valueText(r.path);
      }
    }
  } else {
    if (Array.isArray(decoded) || decoded.message !== count.message) {
      throw new Error(`validate said "${count.message}" but decode disagreed`);
    }
    checkErrorIsPrecise(count, payload);
  }
}

describe('fuzzing', () => {
  it('random mutations of valid payloads give records or ProtocolError, nothing else', () => {
    const rand = prng(0x5eed);
    const int = (n: number): number => Math.floor(rand() * n);
    let accepted = 0;
    for (let round = 0; round < 20_000; round++) {
      let buf = Buffer.from(samplePayload);
      const mutations = 1 + int(4);
      for (let m = 0; m < mutations; m++) {
        const at = int(buf.length);
        switch (int(6)) {
          case 0:
            buf[at] = (buf[at] as number) ^ (1 << int(8));
            break;
          case 1:
            buf[at] = int(256);
            break;
          case 2:
            if (at + 4 <= buf.length) buf.writeUInt32LE(int(2) ? int(0x10000) : int(2 ** 32), at);
            break;
          case 3:
            buf = buf.subarray(0, at);
            break;
          case 4:
            buf = Buffer.concat([buf.subarray(0, at), Buffer.from([int(256)]), buf.subarray(at)]);
            break;
          default:
            buf = Buffer.concat([buf.subarray(0, at), buf.subarray(at + 1 + int(8))]);
        }
      }
      try {
        checkConsistent(buf);
      } catch (error) {
        throw new Error(`round ${round}, payload ${buf.toString('hex')}: ${String(error)}`, {
          cause: error,
        });
      }
      if (buf.length > 0) {
        try {
          validateEventsPayload(buf);
          accepted++;
        } catch {
          // Expected for most mutations.
        }
      }
    }
    // Some mutations (inside strings, times) keep the payload valid.
    expect(accepted).toBeGreaterThan(0);
  });

  it('random garbage gives ProtocolError, nothing else', () => {
    const rand = prng(42);
    for (let round = 0; round < 5_000; round++) {
      const length = Math.floor(rand() * 200);
      const buf = Buffer.alloc(length);
      for (let i = 0; i < length; i++) buf[i] = Math.floor(rand() * 256);
      // Make some of them look like records so the walk goes deeper.
      if (length >= 30 && rand() < 0.7) {
        buf.writeUInt32LE(length, 0);
        buf[4] = 1 + Math.floor(rand() * 2);
        buf.writeUInt16LE(Math.floor(rand() * 4), 6);
        buf.writeUInt32LE(0, 16);
      }
      checkConsistent(buf);
    }
  });
});

describe('rendering', () => {
  const [, all] = decodeRecords(samplePayload) as [AgentRecord, AgentRecord];
  const args = all.kind === 'audit' ? all.args : v.tuple([]);

  it('renders JSON', () => {
    expect(toJsonValue(args)).toEqual([
      null,
      false,
      true,
      0,
      '-9223372036854775808',
      '9223372036854775807',
      { int_approx: 2 ** 100 },
      1.5,
      { float: '-inf' },
      'héllo',
      { str: 'cut', len: 5000 },
      '/t\\xffmp',
      { bytes: '00010241', len: 4 },
      { bytes: '01'.repeat(256), len: 1000 },
      { bytearray: '6162', len: 2 },
      [1, ['deep']],
      [{ more: 100 }],
      { code: { filename: '/srv/app.py', name: '<module>', firstLine: 1 } },
      { type: 'dict', id: '0x7f00deadbeef' },
    ]);
  });

  it('renders Python-like text', () => {
    const text = (value: Value): string => formatValue(value);
    expect(text(v.tuple([v.int(1)]))).toBe('(1,)');
    expect(text(v.tuple([]))).toBe('()');
    expect(text(v.list([v.none(), v.bool(true)]))).toBe('[None, True]');
    expect(text(v.str("it's"))).toBe('"it\'s"');
    expect(text(v.str('a\nb\\'))).toBe("'a\\nb\\\\'");
    expect(text(v.strFs(Buffer.from([0x61, 0xff]), 'a\udcff'))).toBe("'a\\udcff'");
    expect(text(v.bytes(Buffer.from([0, 0x41, 0x27])))).toBe('b"\\x00A\'"');
    expect(text(v.bytearray(Buffer.from('x')))).toBe("bytearray(b'x')");
    expect(text(v.str('abc', 9000))).toBe("'abc'…(9000 bytes)");
    expect(text(v.tuple([v.int(1)], 70))).toBe('(1, …(70 items))');
    expect(text(v.code('/a.py', 'f', 3))).toBe('<code object f, file "/a.py", line 3>');
    expect(text(v.other('socket', 0xabn))).toBe('<socket object at 0xab>');
    expect(text(v.intApprox(2 ** 70))).toBe('~1.1805916207174113e+21');
    expect(formatValue(v.str('x'.repeat(50)), { maxStringLength: 10 })).toBe(
      "'xxxxxxxxxx'…(50 bytes)",
    );
    expect(formatValue(v.bytes(Buffer.from('abcdef')), { maxBytesLength: 2 })).toBe(
      "b'ab'…(6 bytes)",
    );
    expect(valueText(v.bytes(Buffer.from([0x61, 0xff])))).toBe('a\\xff');
    // A character whose low surrogate is in U+DC80..U+DCFF (the stand-ins
    // for invalid bytes) is text, next to a byte that is not.
    const skull = Buffer.concat([Buffer.from('\u{1F480}/\u{10480}'), Buffer.from([0x80])]);
    expect(valueText(v.bytes(skull))).toBe('\u{1F480}/\u{10480}\\x80');
    const fs = v.strFs(skull, decodeSurrogateEscape(skull));
    expect(valueText(fs)).toBe('\u{1F480}/\u{10480}\\x80');
    expect(toJsonValue(fs)).toBe('\u{1F480}/\u{10480}\\x80');
    expect(text(fs)).toBe("'\u{1F480}/\u{10480}\\udc80'");
  });

  it('renders floats like Python repr', () => {
    expect(pyFloatRepr(1)).toBe('1.0');
    expect(pyFloatRepr(0.1)).toBe('0.1');
    expect(pyFloatRepr(1e16)).toBe('1e+16');
    expect(pyFloatRepr(123456789012345.6)).toBe('123456789012345.6');
    expect(pyFloatRepr(1e-5)).toBe('1e-05');
    expect(pyFloatRepr(0.0001)).toBe('0.0001');
    expect(pyFloatRepr(-0)).toBe('-0.0');
    expect(pyFloatRepr(NaN)).toBe('nan');
    expect(pyFloatRepr(2.5e-300)).toBe('2.5e-300');
  });
});

describe('performance', () => {
  it('validates about a million small records per second or better', () => {
    const record = encodeAuditRecord({
      event: 'open',
      args: v.tuple([
        v.str('/usr/lib/python3.12/encodings/__init__.py'),
        v.str('r'),
        v.int(524288),
      ]),
    });
    const payload = Buffer.concat(Array.from({ length: 10_000 }, () => record));
    validateEventsPayload(payload);
    const start = process.hrtime.bigint();
    for (let i = 0; i < 20; i++) validateEventsPayload(payload);
    const seconds = Number(process.hrtime.bigint() - start) / 1e9;
    const perSecond = 200_000 / seconds;
    // A generous floor so a busy CI machine does not flake; typical is far higher.
    expect(perSecond).toBeGreaterThan(300_000);
  });
});
