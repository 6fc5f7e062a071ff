import { describe, expect, it } from 'vitest';

import {
  encodeByePayload,
  encodeDropsPayload,
  encodeHelloPayload,
} from '../../test-support/wire-encoder.js';
import { ProtocolError } from './frame.js';
import { encodeWelcome, parseBye, parseDrops, parseHello, parseWelcome } from './hello.js';

describe('parseHello', () => {
  it('decodes every field', () => {
    const token = Buffer.alloc(32);
    for (let i = 0; i < 32; i++) token[i] = i;
    const hello = parseHello(
      encodeHelloPayload({
        token,
        pid: 321,
        ppid: 300,
        uid: 1000,
        flags: 0b0101,
        startMonotonicNs: 123_456_789_012_345n,
        startRealtimeNs: 1_700_000_000_123_456_789n,
        exe: '/usr/bin/python3.12',
        cwd: Buffer.from([0x2f, 0x74, 0xff, 0x70]),
        pythonVersion: '3.12.3 (main, Apr 10 2024)',
        agentVersion: '0.1.0',
        argv: ['python3', '-c', 'print("é")'],
      }),
    );
    expect(hello).toEqual({
      protocolVersion: 1,
      token,
      pid: 321,
      ppid: 300,
      uid: 1000,
      flags: {
        preInit: true,
        initializedAtStart: false,
        auditHook: true,
        openCodeHook: false,
        attached: false,
        policy: false,
      },
      startMonotonicNs: 123_456_789_012_345n,
      startRealtimeNs: 1_700_000_000_123_456_789n,
      exe: '/usr/bin/python3.12',
      cwd: '/t\ufffdp',
      pythonVersion: '3.12.3 (main, Apr 10 2024)',
      agentVersion: '0.1.0',
      argv: ['python3', '-c', 'print("é")'],
    });
  });

  it('accepts an empty argv', () => {
    expect(parseHello(encodeHelloPayload({ argv: [] })).argv).toEqual([]);
  });

  it('throws ProtocolError when cut at any point', () => {
    const payload = encodeHelloPayload();
    for (let cut = 0; cut < payload.length; cut++) {
      expect(() => parseHello(payload.subarray(0, cut)), `cut at ${cut}`).toThrow(ProtocolError);
    }
  });

  it('names the field that is cut short', () => {
    expect(() => parseHello(encodeHelloPayload().subarray(0, 20))).toThrow(
      /HELLO: token needs 32 bytes but only 16 remain at offset 4/,
    );
  });

  it('refuses trailing bytes', () => {
    const payload = Buffer.concat([encodeHelloPayload(), Buffer.from([0])]);
    expect(() => parseHello(payload)).toThrow(/1 unexpected bytes after the last field/);
  });

  it('refuses another protocol version', () => {
    expect(() => parseHello(encodeHelloPayload({ protocolVersion: 2 }))).toThrow(
      /unsupported protocol version 2/,
    );
  });

  it('refuses a string length that runs past the payload', () => {
    const payload = encodeHelloPayload({ argv: [] });
    const exeLengthOffset = 4 + 32 + 16 + 16;
    payload.writeUInt32LE(0xfffffff0, exeLengthOffset);
    expect(() => parseHello(payload)).toThrow(/executable needs 4294967280 bytes/);
  });

  it('refuses an absurd argv count without allocating for it', () => {
    const payload = encodeHelloPayload({ argv: [] });
    payload.writeUInt32LE(0xffffffff, payload.length - 4);
    expect(() => parseHello(payload)).toThrow(/argv count 4294967295 cannot fit/);
  });
});

describe('WELCOME, DROPS, BYE', () => {
  it('encodes WELCOME as an 8-byte payload', () => {
    const payload = encodeWelcome(0, 7);
    expect(payload.toString('hex')).toBe('0000000007000000');
    expect(parseWelcome(payload)).toEqual({ status: 0, sessionId: 7 });
    expect(() => encodeWelcome(-1, 1)).toThrow(RangeError);
    expect(() => encodeWelcome(0, 2 ** 32)).toThrow(RangeError);
  });

  it('parses DROPS', () => {
    expect(parseDrops(encodeDropsPayload(2n ** 60n))).toBe(2n ** 60n);
    expect(() => parseDrops(Buffer.alloc(7))).toThrow(ProtocolError);
    expect(() => parseDrops(Buffer.alloc(9))).toThrow(/unexpected bytes/);
  });

  it('parses BYE', () => {
    expect(parseBye(encodeByePayload(10n, 2n, 0))).toEqual({
      recordsTotal: 10n,
      droppedTotal: 2n,
      reason: 'exit',
    });
    expect(parseBye(encodeByePayload(1n, 0n, 1)).reason).toBe('detach');
    expect(() => parseBye(encodeByePayload(1n, 0n, 2))).toThrow(/unknown reason 2/);
    const bye = encodeByePayload(1n, 0n, 0);
    for (let cut = 0; cut < bye.length; cut++) {
      expect(() => parseBye(bye.subarray(0, cut))).toThrow(ProtocolError);
    }
  });
});
