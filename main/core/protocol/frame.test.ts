import { describe, expect, it } from 'vitest';

import {
  FRAME_HEADER_SIZE,
  FrameDecoder,
  FrameStreamError,
  FrameType,
  MAX_AGENT_PAYLOAD,
  MAX_MAIN_PAYLOAD,
  ProtocolError,
  encodeFrame,
  type Frame,
} from './frame.js';

function frames(): Buffer[] {
  return [
    encodeFrame(FrameType.HELLO, Buffer.from('hello payload')),
    encodeFrame(FrameType.EVENTS, Buffer.alloc(3000, 7)),
    encodeFrame(FrameType.DROPS, Buffer.alloc(8, 1)),
    encodeFrame(FrameType.BYE, Buffer.alloc(0)),
    encodeFrame(FrameType.EVENTS, Buffer.from([1, 2, 3])),
  ];
}

function summary(list: Frame[]): Array<[FrameType, string]> {
  return list.map((f) => [f.type, f.payload.toString('hex')]);
}

describe('encodeFrame', () => {
  it('writes the documented header', () => {
    const frame = encodeFrame(FrameType.WELCOME, Buffer.from([9, 9]));
    expect(frame.subarray(0, 4).toString('latin1')).toBe('HSK1');
    expect(frame[4]).toBe(1);
    expect(frame[5]).toBe(2);
    expect(frame.readUInt16LE(6)).toBe(0);
    expect(frame.readUInt32LE(8)).toBe(2);
    expect(frame.length).toBe(FRAME_HEADER_SIZE + 2);
  });

  it('refuses an unknown type', () => {
    expect(() => encodeFrame(12 as FrameType, Buffer.alloc(0))).toThrow(RangeError);
  });

  it('has the documented limits', () => {
    expect(MAX_AGENT_PAYLOAD).toBe(1 << 20);
    expect(MAX_MAIN_PAYLOAD).toBe(64 << 10);
  });
});

describe('FrameDecoder', () => {
  const stream = Buffer.concat(frames());
  const expected = summary(frames().map((f) => new FrameDecoder(1 << 20).push(f)[0] as Frame));

  it('decodes frames merged in one chunk', () => {
    expect(summary(new FrameDecoder(MAX_AGENT_PAYLOAD).push(stream))).toEqual(expected);
  });

  it('decodes frames split at every possible point', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const d = new FrameDecoder(MAX_AGENT_PAYLOAD);
      const got = [...d.push(stream.subarray(0, cut)), ...d.push(stream.subarray(cut))];
      expect(summary(got)).toEqual(expected);
      expect(d.bufferedBytes).toBe(0);
    }
  });

  it('decodes a byte-at-a-time stream', () => {
    const d = new FrameDecoder(MAX_AGENT_PAYLOAD);
    const got: Frame[] = [];
    for (let i = 0; i < stream.length; i++) got.push(...d.push(stream.subarray(i, i + 1)));
    expect(summary(got)).toEqual(expected);
  });

  it('decodes random chunkings', () => {
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    for (let round = 0; round < 200; round++) {
      const d = new FrameDecoder(MAX_AGENT_PAYLOAD);
      const got: Frame[] = [];
      let p = 0;
      while (p < stream.length) {
        const n = 1 + rand(700);
        got.push(...d.push(stream.subarray(p, p + n)));
        p += n;
      }
      expect(summary(got)).toEqual(expected);
    }
  });

  it('accepts a payload of exactly the limit and handles a large one in small chunks', () => {
    const big = encodeFrame(FrameType.EVENTS, Buffer.alloc(MAX_AGENT_PAYLOAD, 0x5a));
    const d = new FrameDecoder(MAX_AGENT_PAYLOAD);
    const got: Frame[] = [];
    for (let p = 0; p < big.length; p += 1000) got.push(...d.push(big.subarray(p, p + 1000)));
    expect(got).toHaveLength(1);
    expect(got[0]?.payload.length).toBe(MAX_AGENT_PAYLOAD);
    expect(got[0]?.payload.every((b) => b === 0x5a)).toBe(true);
  });

  const errors: Array<[string, (h: Buffer) => void, RegExp]> = [
    ['bad magic', (h) => h.write('XSK1', 0, 'latin1'), /bad frame magic/],
    ['bad version', (h) => (h[4] = 2), /unsupported protocol version 2/],
    ['unknown type 0', (h) => (h[5] = 0), /unknown frame type 0/],
    ['unknown type 12', (h) => (h[5] = 12), /unknown frame type 12/],
    [
      'oversize length',
      (h) => h.writeUInt32LE(MAX_MAIN_PAYLOAD + 1, 8),
      /payload of 65537 bytes exceeds the 65536-byte limit/,
    ],
  ];
  for (const [name, mutate, message] of errors) {
    it(`throws ProtocolError on ${name}, keeping earlier frames`, () => {
      const good = encodeFrame(FrameType.DROPS, Buffer.alloc(8));
      const bad = encodeFrame(FrameType.EVENTS, Buffer.alloc(4));
      mutate(bad);
      const d = new FrameDecoder(MAX_MAIN_PAYLOAD);
      let caught: unknown;
      try {
        d.push(Buffer.concat([good, bad]));
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(ProtocolError);
      expect(caught).toBeInstanceOf(FrameStreamError);
      const e = caught as FrameStreamError;
      expect(e.message).toMatch(message);
      expect(e.message).toContain(`stream offset ${good.length}`);
      expect(e.offset).toBe(good.length);
      expect(e.framesBefore).toHaveLength(1);
      // The stream stays failed.
      expect(() => d.push(good)).toThrow(/already failed/);
    });
  }

  it('refuses an oversize header before the payload arrives', () => {
    const header = encodeFrame(FrameType.EVENTS, Buffer.alloc(0));
    header.writeUInt32LE(0xffffffff, 8);
    expect(() => new FrameDecoder(MAX_AGENT_PAYLOAD).push(header)).toThrow(ProtocolError);
  });

  it('waits for a full header before judging it', () => {
    const d = new FrameDecoder(MAX_AGENT_PAYLOAD);
    expect(d.push(Buffer.from('garbage'))).toEqual([]);
    expect(() => d.push(Buffer.from('garbage'))).toThrow(/bad frame magic/);
  });
});
