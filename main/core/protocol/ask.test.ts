import { describe, expect, it } from 'vitest';

import {
  encodeAuditRecord,
  encodeDecisionRecord,
  encodeOpenCodeRecord,
  v,
} from '../../test-support/wire-encoder.js';
import { ANSWER_SIZE, MAX_HOLD_MS, encodeAnswer, encodeHold, parseAsk } from './ask.js';
import { ProtocolError } from './frame.js';

function askPayload(
  record: Buffer,
  fields: {
    id?: number;
    rule?: number;
    scope?: number;
    reserved?: number;
    timeoutMs?: number;
  } = {},
): Buffer {
  const head = Buffer.alloc(16);
  head.writeUInt32LE(fields.id ?? 7, 0);
  head.writeUInt32LE(fields.rule ?? 3, 4);
  head[8] = fields.scope ?? 1;
  head[9] = fields.reserved ?? 0;
  head.writeUInt32LE(fields.timeoutMs ?? 30_000, 12);
  return Buffer.concat([head, record]);
}

const audit = encodeAuditRecord({
  seq: 4,
  tid: 99,
  event: 'subprocess.Popen',
  args: v.tuple([v.str('/bin/sh'), v.tuple([v.str('sh'), v.str('-c')])]),
});

describe('parseAsk', () => {
  it('reads the id, rule, scope, timeout and the record asked about', () => {
    const ask = parseAsk(askPayload(audit));
    expect(ask).toMatchObject({ askId: 7, ruleIndex: 3, scope: 'process', timeoutMs: 30_000 });
    expect(ask.record).toMatchObject({ kind: 'audit', event: 'subprocess.Popen', tid: 99, seq: 4 });
  });

  it('reads an intent, and the default as a null rule', () => {
    const record = encodeOpenCodeRecord({ path: v.str('/srv/app.py'), realPath: '/srv/app.py' });
    const ask = parseAsk(askPayload(record, { rule: 0xffffffff, scope: 3 }));
    expect(ask.ruleIndex).toBeNull();
    expect(ask.scope).toBe('always');
    expect(ask.record).toMatchObject({ kind: 'open-code', realPath: '/srv/app.py' });
  });

  const bad: Array<[string, Buffer, RegExp]> = [
    ['a short header', Buffer.alloc(15), /shorter than its header/],
    ['an unknown scope', askPayload(audit, { scope: 4 }), /unknown scope 4 at offset 8/],
    ['a reserved byte set', askPayload(audit, { reserved: 2 }), /reserved bytes must be 0/],
    ['a zero timeout', askPayload(audit, { timeoutMs: 0 }), /zero timeout/],
    ['no record', askPayload(Buffer.alloc(0)), /ASK record: EVENTS payload is empty/],
    ['two records', askPayload(Buffer.concat([audit, audit])), /carries 2 records/],
    [
      'a decision record',
      askPayload(encodeDecisionRecord({ event: 'e', eventSeq: 1 })),
      /carries a decision record/,
    ],
    ['a torn record', askPayload(audit.subarray(0, audit.length - 1)), /ASK record:/],
  ];
  for (const [name, payload, message] of bad) {
    it(`refuses ${name}`, () => {
      expect(() => parseAsk(payload)).toThrow(ProtocolError);
      expect(() => parseAsk(payload)).toThrow(message);
    });
  }
});

describe('encodeAnswer', () => {
  it('lays out id, outcome, who and whether the agent keeps it', () => {
    const a = encodeAnswer({
      askId: 0x01020304,
      outcome: 'deny',
      by: 'user',
      rememberInProcess: true,
    });
    expect(a.length).toBe(ANSWER_SIZE);
    expect([...a]).toEqual([4, 3, 2, 1, 1, 2, 1, 0]);
    const b = encodeAnswer({
      askId: 9,
      outcome: 'allow',
      by: 'remembered',
      rememberInProcess: false,
    });
    expect([...b]).toEqual([9, 0, 0, 0, 0, 6, 0, 0]);
  });
});

describe('encodeHold', () => {
  it('lays out the id and the time, capped at MAX_HOLD_MS', () => {
    expect([...encodeHold(7, 2500)]).toEqual([7, 0, 0, 0, 0xc4, 0x09, 0, 0]);
    expect(encodeHold(7, 10 * MAX_HOLD_MS).readUInt32LE(4)).toBe(MAX_HOLD_MS);
  });
});
