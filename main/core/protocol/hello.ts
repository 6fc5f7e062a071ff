// Payloads of the control frames: HELLO, WELCOME, DROPS and BYE
// (docs/protocol.md). Every read is bounds-checked; anything malformed is a
// ProtocolError naming the field and the payload offset.

import { PROTOCOL_VERSION, ProtocolError } from './frame.js';

export const TOKEN_LENGTH = 32;

export interface HelloFlags {
  /** Loaded before Py_Initialize (launch mode). */
  preInit: boolean;
  /** The interpreter was already initialised when the agent started. */
  initializedAtStart: boolean;
  auditHook: boolean;
  openCodeHook: boolean;
  /** Attach mode: hooks registered in a running process; earlier events were not seen. */
  attached: boolean;
  /** A compiled policy is loaded and enforced by the agent. */
  policy: boolean;
}

export interface Hello {
  protocolVersion: number;
  /** The 32 raw token bytes; compare with crypto.timingSafeEqual. */
  token: Buffer;
  pid: number;
  ppid: number;
  uid: number;
  flags: HelloFlags;
  /** CLOCK_MONOTONIC at agent start; record times are on the same clock. */
  startMonotonicNs: bigint;
  /** CLOCK_REALTIME (ns since the epoch) read at the same moment. */
  startRealtimeNs: bigint;
  // Paths and argv are bytes on the wire; they are decoded as UTF-8 with
  // U+FFFD for invalid sequences, which is what a display needs.
  exe: string;
  cwd: string;
  pythonVersion: string;
  agentVersion: string;
  argv: string[];
}

export const HELLO_FLAG_PRE_INIT = 1 << 0;
export const HELLO_FLAG_INITIALIZED_AT_START = 1 << 1;
export const HELLO_FLAG_AUDIT_HOOK = 1 << 2;
export const HELLO_FLAG_OPEN_CODE_HOOK = 1 << 3;
export const HELLO_FLAG_ATTACHED = 1 << 4;
export const HELLO_FLAG_POLICY = 1 << 5;

/** WELCOME status values; only 0 is defined by protocol version 1. */
export const WelcomeStatus = { ACCEPTED: 0 } as const;

export type ByeReason = 'exit' | 'detach';

export interface Bye {
  recordsTotal: bigint;
  droppedTotal: bigint;
  reason: ByeReason;
}

/** Bounds-checked little-endian reader over one payload. */
class PayloadCursor {
  private pos = 0;

  constructor(
    private readonly buf: Buffer,
    private readonly what: string,
  ) {}

  private need(n: number, field: string): number {
    const at = this.pos;
    if (this.buf.length - at < n) {
      throw new ProtocolError(
        `${this.what}: ${field} needs ${n} bytes but only ${this.buf.length - at} remain`,
        at,
      );
    }
    this.pos = at + n;
    return at;
  }

  u32(field: string): number {
    return this.buf.readUInt32LE(this.need(4, field));
  }

  u64(field: string): bigint {
    return this.buf.readBigUInt64LE(this.need(8, field));
  }

  bytes(n: number, field: string): Buffer {
    const at = this.need(n, field);
    return this.buf.subarray(at, at + n);
  }

  /** `lstr`: u32 length, then that many bytes; decoded lossily. */
  lstr(field: string): string {
    const length = this.u32(`${field} length`);
    const at = this.need(length, field);
    return this.buf.toString('utf8', at, at + length);
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  get offset(): number {
    return this.pos;
  }

  end(): void {
    if (this.pos !== this.buf.length) {
      throw new ProtocolError(
        `${this.what}: ${this.buf.length - this.pos} unexpected bytes after the last field`,
        this.pos,
      );
    }
  }
}

export function parseHello(payload: Buffer): Hello {
  const r = new PayloadCursor(payload, 'HELLO');
  const versionOffset = r.offset;
  const protocolVersion = r.u32('protocol version');
  if (protocolVersion !== PROTOCOL_VERSION) {
    throw new ProtocolError(
      `HELLO: unsupported protocol version ${protocolVersion} (expected ${PROTOCOL_VERSION})`,
      versionOffset,
    );
  }
  // Copied so the token does not keep the whole receive buffer alive.
  const token = Buffer.from(r.bytes(TOKEN_LENGTH, 'token'));
  const pid = r.u32('pid');
  const ppid = r.u32('ppid');
  const uid = r.u32('uid');
  const rawFlags = r.u32('flags');
  const flags: HelloFlags = {
    preInit: (rawFlags & HELLO_FLAG_PRE_INIT) !== 0,
    initializedAtStart: (rawFlags & HELLO_FLAG_INITIALIZED_AT_START) !== 0,
    auditHook: (rawFlags & HELLO_FLAG_AUDIT_HOOK) !== 0,
    openCodeHook: (rawFlags & HELLO_FLAG_OPEN_CODE_HOOK) !== 0,
    attached: (rawFlags & HELLO_FLAG_ATTACHED) !== 0,
    policy: (rawFlags & HELLO_FLAG_POLICY) !== 0,
  };
  const startMonotonicNs = r.u64('agent start (monotonic)');
  const startRealtimeNs = r.u64('agent start (wall clock)');
  const exe = r.lstr('executable');
  const cwd = r.lstr('working directory');
  const pythonVersion = r.lstr('Python version');
  const agentVersion = r.lstr('agent version');
  const countOffset = r.offset;
  const argc = r.u32('argv count');
  // Each entry takes at least its 4-byte length: refuse an absurd count
  // before allocating anything for it.
  if (argc > r.remaining / 4) {
    throw new ProtocolError(
      `HELLO: argv count ${argc} cannot fit in the ${r.remaining} remaining bytes`,
      countOffset,
    );
  }
  const argv: string[] = [];
  for (let i = 0; i < argc; i++) argv.push(r.lstr(`argv[${i}]`));
  r.end();
  return {
    protocolVersion,
    token,
    pid,
    ppid,
    uid,
    flags,
    startMonotonicNs,
    startRealtimeNs,
    exe,
    cwd,
    pythonVersion,
    agentVersion,
    argv,
  };
}

/**
 * The WELCOME *payload* (`u32 status`, `u32 session_id`); wrap it with
 * `encodeFrame(FrameType.WELCOME, …)` to send it.
 */
export function encodeWelcome(status: number, sessionId: number): Buffer {
  checkU32(status, 'WELCOME status');
  checkU32(sessionId, 'WELCOME session id');
  const payload = Buffer.allocUnsafe(8);
  payload.writeUInt32LE(status, 0);
  payload.writeUInt32LE(sessionId, 4);
  return payload;
}

/** Inverse of encodeWelcome, for tests and tools that play the agent. */
export function parseWelcome(payload: Buffer): { status: number; sessionId: number } {
  const r = new PayloadCursor(payload, 'WELCOME');
  const status = r.u32('status');
  const sessionId = r.u32('session id');
  r.end();
  return { status, sessionId };
}

/** DROPS payload: the cumulative number of records the agent lost. */
export function parseDrops(payload: Buffer): bigint {
  const r = new PayloadCursor(payload, 'DROPS');
  const droppedTotal = r.u64('dropped total');
  r.end();
  return droppedTotal;
}

export function parseBye(payload: Buffer): Bye {
  const r = new PayloadCursor(payload, 'BYE');
  const recordsTotal = r.u64('records total');
  const droppedTotal = r.u64('dropped total');
  const reasonOffset = r.offset;
  const rawReason = r.u32('reason');
  r.end();
  let reason: ByeReason;
  if (rawReason === 0) reason = 'exit';
  else if (rawReason === 1) reason = 'detach';
  else {
    throw new ProtocolError(
      `BYE: unknown reason ${rawReason} (0 = exit, 1 = detach)`,
      reasonOffset,
    );
  }
  return { recordsTotal, droppedTotal, reason };
}

function checkU32(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new RangeError(`${what} must be an integer from 0 to 2^32-1, got ${value}`);
  }
}
