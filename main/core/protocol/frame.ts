// Frame layer of the agent ↔ main protocol (docs/protocol.md, "Frames").
// native/agent/src/wire.h is the C side of the same contract.

/** `HSK1`, the first four bytes of every frame. */
export const FRAME_MAGIC: Buffer = Buffer.from('HSK1', 'latin1');
export const FRAME_HEADER_SIZE = 12;
export const PROTOCOL_VERSION = 1;

export enum FrameType {
  HELLO = 1,
  WELCOME = 2,
  EVENTS = 3,
  DROPS = 4,
  BYE = 5,
  /** main → agent: stop capturing, send BYE, close (attach mode's detach). */
  DETACH = 6,
  /** agent → main: a thread waits for an answer to an `ask` (docs/protocol.md, "Asks"). */
  ASK = 7,
  /** main → agent: the answer to an ASK. */
  ANSWER = 8,
  /**
   * main → agent: the compiled policy. Attach mode: right after WELCOME
   * (empty: none new). Any mode, later: replaces the enforced policy
   * (answered by POLICY_ACK; docs/protocol.md, "Replacing the policy").
   */
  POLICY = 9,
  /** main → agent: someone is reading this ask; keep it waiting a while longer. */
  HOLD = 10,
  /** agent → main: what became of a POLICY frame sent after the handshake. */
  POLICY_ACK = 11,
}

/** Largest payload the agent may send to main. */
export const MAX_AGENT_PAYLOAD = 1024 * 1024;
/** Largest payload main may send to the agent. */
export const MAX_MAIN_PAYLOAD = 64 * 1024;

const MAGIC_U32 = FRAME_MAGIC.readUInt32LE(0);

/**
 * Anything the peer sent that breaks the protocol contract. The connection
 * that produced it must be closed; the message says what was wrong and, when
 * known, `offset` says where (in the frame stream or in a payload).
 */
export class ProtocolError extends Error {
  readonly offset: number | undefined;

  /** `offsetLabel` names what the offset counts in, e.g. "stream offset". */
  constructor(message: string, offset?: number, offsetLabel = 'offset') {
    super(offset === undefined ? message : `${message} at ${offsetLabel} ${offset}`);
    this.name = 'ProtocolError';
    this.offset = offset;
  }
}

export interface Frame {
  type: FrameType;
  payload: Buffer;
}

/**
 * Thrown by FrameDecoder.push. Frames that were complete before the bad
 * header in the same push are in `framesBefore`, so a caller that wants to
 * keep what a peer sent before it went wrong does not lose them.
 */
export class FrameStreamError extends ProtocolError {
  readonly framesBefore: Frame[];

  constructor(message: string, offset: number, framesBefore: Frame[]) {
    super(message, offset, 'stream offset');
    this.name = 'FrameStreamError';
    this.framesBefore = framesBefore;
  }
}

export function isFrameType(value: number): value is FrameType {
  return value >= FrameType.HELLO && value <= FrameType.POLICY_ACK && Number.isInteger(value);
}

export function frameTypeName(type: number): string {
  return isFrameType(type) ? FrameType[type] : `unknown(${type})`;
}

/** Builds one frame: the 12-byte header followed by `payload`. */
export function encodeFrame(type: FrameType, payload: Buffer): Buffer {
  if (!isFrameType(type)) {
    throw new RangeError(`encodeFrame: unknown frame type ${String(type)}`);
  }
  if (payload.length > 0xffffffff) {
    throw new RangeError(`encodeFrame: payload of ${payload.length} bytes does not fit a frame`);
  }
  const frame = Buffer.allocUnsafe(FRAME_HEADER_SIZE + payload.length);
  frame.writeUInt32LE(MAGIC_U32, 0);
  frame[4] = PROTOCOL_VERSION;
  frame[5] = type;
  frame.writeUInt16LE(0, 6);
  frame.writeUInt32LE(payload.length, 8);
  payload.copy(frame, FRAME_HEADER_SIZE);
  return frame;
}

/**
 * Streaming frame decoder for one connection.
 *
 * Chunks are queued as they arrive and each byte is copied at most once
 * (when a frame spans chunks); a payload that lies inside one chunk is
 * returned as a view of it. Waiting for a large payload costs O(1) per
 * chunk, so a 1 MiB frame arriving in small pieces is not quadratic.
 *
 * The header is checked as soon as its 12 bytes are in, so an oversize or
 * garbage frame is refused before its payload is buffered. After an error
 * the decoder stays failed: the connection is unusable.
 */
export class FrameDecoder {
  private readonly maxPayload: number;
  private readonly chunks: Buffer[] = [];
  /** Index of the first unconsumed chunk in `chunks`. */
  private head = 0;
  /** Bytes of chunks[head] already consumed. */
  private headOffset = 0;
  /** Unconsumed bytes across all queued chunks. */
  private buffered = 0;
  /** Stream offset of the first unconsumed byte, for error messages. */
  private streamOffset = 0;
  /** Header of the frame whose payload is awaited, once validated. */
  private pending: { type: FrameType; length: number } | null = null;
  private failure: ProtocolError | null = null;

  constructor(maxPayload: number) {
    if (!Number.isInteger(maxPayload) || maxPayload < 0 || maxPayload > 0xffffffff) {
      throw new RangeError(`FrameDecoder: invalid maxPayload ${maxPayload}`);
    }
    this.maxPayload = maxPayload;
  }

  /** Bytes received but not yet returned as part of a frame. */
  get bufferedBytes(): number {
    return this.buffered;
  }

  push(chunk: Buffer): Frame[] {
    if (this.failure) {
      throw new ProtocolError(`frame stream already failed: ${this.failure.message}`);
    }
    if (chunk.length > 0) {
      this.chunks.push(chunk);
      this.buffered += chunk.length;
    }
    const frames: Frame[] = [];
    for (;;) {
      if (this.pending === null) {
        if (this.buffered < FRAME_HEADER_SIZE) break;
        const headerOffset = this.streamOffset;
        const checked = this.checkHeader(this.take(FRAME_HEADER_SIZE));
        if (typeof checked === 'string') {
          this.failure = new FrameStreamError(checked, headerOffset, frames);
          this.release();
          throw this.failure;
        }
        this.pending = checked;
      }
      if (this.buffered < this.pending.length) break;
      const payload = this.take(this.pending.length);
      frames.push({ type: this.pending.type, payload });
      this.pending = null;
    }
    this.compact();
    return frames;
  }

  /** Returns the frame's type and length, or what is wrong with the header. */
  private checkHeader(header: Buffer): { type: FrameType; length: number } | string {
    const magic = header.readUInt32LE(0);
    if (magic !== MAGIC_U32) {
      return `bad frame magic 0x${header.subarray(0, 4).toString('hex')} (expected 0x${FRAME_MAGIC.toString('hex')}, "HSK1")`;
    }
    const version = header[4] ?? 0;
    if (version !== PROTOCOL_VERSION) {
      return `unsupported protocol version ${version} (expected ${PROTOCOL_VERSION})`;
    }
    const type = header[5] ?? 0;
    if (!isFrameType(type)) {
      return `unknown frame type ${type}`;
    }
    // Bytes 6..7 are flags, always 0 in version 1; they carry no meaning yet,
    // so they are not checked (a future minor use would not need a version bump).
    const length = header.readUInt32LE(8);
    if (length > this.maxPayload) {
      return `${FrameType[type]} frame payload of ${length} bytes exceeds the ${this.maxPayload}-byte limit`;
    }
    return { type, length };
  }

  /** Removes `n` buffered bytes (n <= buffered) and returns them. */
  private take(n: number): Buffer {
    if (n === 0) return EMPTY;
    this.buffered -= n;
    this.streamOffset += n;
    const first = this.chunks[this.head] as Buffer;
    const available = first.length - this.headOffset;
    if (n <= available) {
      const view = first.subarray(this.headOffset, this.headOffset + n);
      this.advance(n, available);
      return view;
    }
    const out = Buffer.allocUnsafe(n);
    let written = 0;
    while (written < n) {
      const chunk = this.chunks[this.head] as Buffer;
      const left = chunk.length - this.headOffset;
      const want = Math.min(left, n - written);
      chunk.copy(out, written, this.headOffset, this.headOffset + want);
      written += want;
      this.advance(want, left);
    }
    return out;
  }

  private advance(n: number, availableInHead: number): void {
    if (n === availableInHead) {
      this.chunks[this.head] = EMPTY;
      this.head += 1;
      this.headOffset = 0;
    } else {
      this.headOffset += n;
    }
  }

  /** Drops consumed chunk slots so the queue does not grow without bound. */
  private compact(): void {
    if (this.head === this.chunks.length) {
      this.chunks.length = 0;
      this.head = 0;
    } else if (this.head > 64 && this.head * 2 > this.chunks.length) {
      this.chunks.splice(0, this.head);
      this.head = 0;
    }
  }

  private release(): void {
    this.chunks.length = 0;
    this.head = 0;
    this.headOffset = 0;
    this.buffered = 0;
  }
}

const EMPTY = Buffer.alloc(0);
