// Property tests of the frame decoder (docs/protocol.md, "Frames"): the
// socket server feeds it whatever a peer sends, so any bytes in any
// chunking must either decode or fail with ProtocolError (the documented
// error, after which the connection is closed), and frames the encoder
// builds must come back exactly, however the stream is cut.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

import {
  FRAME_HEADER_SIZE,
  FrameDecoder,
  FrameType,
  MAX_AGENT_PAYLOAD,
  MAX_MAIN_PAYLOAD,
  ProtocolError,
  encodeFrame,
  type Frame,
} from './frame.js';

/** Bounded: seconds, not minutes (FAST_CHECK_RUNS raises it for a longer local run). */
const RUNS = Number(process.env['FAST_CHECK_RUNS'] ?? 300);

const frameTypes = fc.constantFrom(
  ...Object.values(FrameType).filter((t): t is FrameType => typeof t === 'number'),
);

/** Splits `bytes` at the given cut points (taken modulo its length). */
function chunked(bytes: Buffer, cuts: number[]): Buffer[] {
  const points = [...new Set(cuts.map((c) => (bytes.length ? c % bytes.length : 0)))]
    .filter((c) => c > 0)
    .sort((a, b) => a - b);
  const out: Buffer[] = [];
  let start = 0;
  for (const p of points) {
    out.push(bytes.subarray(start, p));
    start = p;
  }
  out.push(bytes.subarray(start));
  return out;
}

/** A header that is valid except where the generator says, to reach past the magic check. */
const nearlyValidStream = fc
  .tuple(
    fc.array(fc.tuple(frameTypes, fc.uint8Array({ maxLength: 64 })), { maxLength: 4 }),
    fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
  )
  .map(([frames, flips]) => {
    const bytes = Buffer.concat(frames.map(([t, p]) => encodeFrame(t, Buffer.from(p))));
    for (const [at, value] of flips) if (bytes.length) bytes[at % bytes.length] = value;
    return bytes;
  });

function pushAll(decoder: FrameDecoder, chunks: Buffer[]): Frame[] {
  const frames: Frame[] = [];
  for (const chunk of chunks) frames.push(...decoder.push(chunk));
  return frames;
}

describe('FrameDecoder on untrusted bytes', () => {
  it('decodes or throws ProtocolError, and stays failed after an error', () => {
    fc.assert(
      fc.property(
        fc.oneof(
          fc.uint8Array({ maxLength: 512 }).map((a) => Buffer.from(a)),
          nearlyValidStream,
        ),
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.constantFrom(MAX_AGENT_PAYLOAD, MAX_MAIN_PAYLOAD, 16),
        (bytes, cuts, maxPayload) => {
          const decoder = new FrameDecoder(maxPayload);
          let failed = false;
          for (const chunk of chunked(bytes, cuts)) {
            try {
              for (const frame of decoder.push(chunk)) {
                expect(frame.payload.length).toBeLessThanOrEqual(maxPayload);
              }
            } catch (error) {
              expect(error).toBeInstanceOf(ProtocolError);
              failed = true;
            }
          }
          if (failed) expect(() => decoder.push(Buffer.alloc(1))).toThrow(ProtocolError);
          expect(decoder.bufferedBytes).toBeLessThanOrEqual(bytes.length);
        },
      ),
      { numRuns: RUNS * 4 },
    );
  });

  it('gives back every encoded frame, in order, however the stream is cut', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(frameTypes, fc.uint8Array({ maxLength: 300 })), {
          minLength: 1,
          maxLength: 8,
        }),
        fc.array(fc.nat(), { maxLength: 12 }),
        (specs, cuts) => {
          const stream = Buffer.concat(specs.map(([t, p]) => encodeFrame(t, Buffer.from(p))));
          const frames = pushAll(new FrameDecoder(MAX_AGENT_PAYLOAD), chunked(stream, cuts));
          expect(frames.map((f) => [f.type, [...f.payload]])).toEqual(
            specs.map(([t, p]) => [t, [...p]]),
          );
        },
      ),
      { numRuns: RUNS },
    );
  });

  it('refuses a payload over the limit from its header alone', () => {
    fc.assert(
      fc.property(frameTypes, fc.integer({ min: 1, max: 1 << 20 }), (type, over) => {
        const header = encodeFrame(type, Buffer.alloc(0));
        header.writeUInt32LE(MAX_MAIN_PAYLOAD + over, 8);
        const decoder = new FrameDecoder(MAX_MAIN_PAYLOAD);
        expect(() => decoder.push(header.subarray(0, FRAME_HEADER_SIZE))).toThrow(ProtocolError);
      }),
      { numRuns: RUNS },
    );
  });
});
