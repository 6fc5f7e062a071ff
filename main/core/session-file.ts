// Session files (.hks): docs/session-format.md.
//
// The writer appends whole blocks with synchronous writes at explicit
// offsets, so a SIGKILL of the inspector loses at most the block being
// written, and the reader treats a short or damaged block as the end of the
// readable part ("torn tail") instead of failing.

import * as fs from 'node:fs';
import * as zlib from 'node:zlib';
import type { FileHandle } from 'node:fs/promises';
import { open as openFile } from 'node:fs/promises';

import { ProtocolError } from './protocol/frame.js';
import type { Hello } from './protocol/hello.js';
import { populatePages } from './native-addon.js';
import { checkEventsPayload, nativeChunkRead } from './protocol/native-check.js';
import { decodeCheckedRecords, type AgentRecord } from './protocol/records.js';

export const SESSION_MAGIC: Buffer = Buffer.from('HKSCSESS', 'latin1');
export const SESSION_FORMAT_VERSION = 1;
export const SESSION_HEADER_SIZE = 16;
export const BLOCK_HEADER_SIZE = 12;
/**
 * Largest block payload the reader accepts. Real blocks are at most one
 * EVENTS payload (1 MiB) plus 4 bytes; a larger length can only come from
 * damage, and must not make the reader allocate gigabytes.
 */
export const MAX_BLOCK_PAYLOAD = 64 * 1024 * 1024;

export enum BlockType {
  RUN = 1,
  PROCESS = 2,
  EVENTS = 3,
  DROPS = 4,
  PROCESS_END = 5,
  NOTICE = 6,
  RUN_END = 7,
  ATTACH = 8,
  POLICY = 9,
}

// ------------------------------------------------------------ block data

/** `run` block: the first block of every session file. */
export interface RunInfo {
  hookscopeVersion: string;
  command: string[];
  cwd: string;
  startedAtMs: number;
  socketDir: string;
  /** How the agent got in: started with it (`run`) or attached to a running process. */
  mode?: 'launch' | 'attach';
  /** Attach mode: the process attached to. */
  targetPid?: number;
}

export interface ProcessFlags {
  preInit: boolean;
  initializedAtStart: boolean;
  auditHook: boolean;
  openCodeHook: boolean;
  /** Attach mode (absent in older files): events before the attach were not seen. */
  attached?: boolean;
  /** The agent enforced the run's policy (absent in older files). */
  policy?: boolean;
}

/** `process` block: a process joined (its agent said HELLO and was accepted). */
export interface ProcessInfo {
  session: number;
  pid: number;
  ppid: number;
  parentSession: number | null;
  uid: number;
  exe: string;
  argv: string[];
  cwd: string;
  pythonVersion: string;
  agentVersion: string;
  /** Decimal string: CLOCK_MONOTONIC ns exceed 2^53. */
  startMonotonicNs: string;
  /** Decimal string: ns since the epoch. */
  startRealtimeNs: string;
  flags: ProcessFlags;
}

export type ProcessEndReason = 'exited' | 'killed' | 'disconnected' | 'detached';

export interface ProcessEndInfo {
  session: number;
  endTimeMs: number;
  reason: ProcessEndReason;
  exitCode?: number | null;
  /** Signal name, e.g. "SIGKILL". */
  signal?: string | null;
  /** From BYE; a u64 count, written as a decimal string (or a number). */
  recordsTotal?: string | number;
  droppedTotal?: string | number;
}

export type NoticeLevel = 'info' | 'warning' | 'error';

export interface NoticeInfo {
  timeMs: number;
  level: NoticeLevel;
  message: string;
}

/** `attach` block: how an attach went (attach mode only). */
export interface AttachInfo {
  pid: number;
  method: 'gdb' | 'lldb' | 'remote_exec';
  /** When the inspector started the attach. */
  requestedAtMs: number;
  /** When the probe event arrived: events before this moment were not seen. */
  hooksActiveAtMs: number;
  /** requestedAtMs → hooksActiveAtMs. */
  attachWallMs: number;
  /** Longest time the target was held still by the attach, and how that was measured. */
  longestPauseMs: number;
  pauseMeasuredBy: string;
  /** The agent was already loaded (an earlier attach or launch) and was re-armed. */
  reattached: boolean;
}

/** `policy` block: the policy a run enforced, written at its start. */
export interface PolicyInfo {
  /** The policy file as given (absolute path). */
  file: string;
  /** Lowercase hex SHA-256 of the file's bytes. */
  sha256: string;
  /** The file's text: rule indexes in decision records point into it. */
  text: string;
  /** What `ask` rules became: the headless answer, or asked interactively. */
  askAnswer: 'allow' | 'deny' | 'interactive';
}

export interface RunEndInfo {
  endedAtMs: number;
  exitCode: number | null;
  signal: string | null;
}

/** What the reader could not read at the end of a file. */
export interface TornTail {
  /** File offset of the first block that could not be read. */
  offset: number;
  /** Bytes from `offset` to the end of the file. */
  bytesCut: number;
  /** Why the block there is unreadable. */
  reason: string;
}

/** Blocks as the reader yields them; `offset` is the block's file offset. */
export type SessionBlock =
  | { type: 'run'; offset: number; run: RunInfo }
  | { type: 'process'; offset: number; process: ProcessInfo }
  | { type: 'events'; offset: number; sessionId: number; records: AgentRecord[] }
  | { type: 'drops'; offset: number; sessionId: number; droppedTotal: bigint }
  | { type: 'process-end'; offset: number; processEnd: ProcessEndInfo }
  | { type: 'notice'; offset: number; notice: NoticeInfo }
  | { type: 'run-end'; offset: number; runEnd: RunEndInfo }
  | { type: 'attach'; offset: number; attach: AttachInfo }
  | { type: 'policy'; offset: number; policy: PolicyInfo }
  /** Always the last item: where reading stopped, and why if early. */
  | { type: 'end'; offset: number; truncated: TornTail | null };

/**
 * An `events` block as `rawBlocks()` yields it: the records checked
 * (validateEventsPayload) but not decoded, for readers that write or skip
 * most records without making objects of them (the reports).
 */
export interface RawEventsBlock {
  type: 'events';
  offset: number;
  sessionId: number;
  /** The records, back to back: a view of the reader's buffer, never overwritten. */
  records: Buffer;
  /** How many records `records` holds. */
  count: number;
}

export type RawSessionBlock = Exclude<SessionBlock, { type: 'events' }> | RawEventsBlock;

/** The `process` block for an accepted HELLO. */
export function processInfoFromHello(
  session: number,
  hello: Hello,
  parentSession: number | null,
): ProcessInfo {
  return {
    session,
    pid: hello.pid,
    ppid: hello.ppid,
    parentSession,
    uid: hello.uid,
    exe: hello.exe,
    argv: hello.argv,
    cwd: hello.cwd,
    pythonVersion: hello.pythonVersion,
    agentVersion: hello.agentVersion,
    startMonotonicNs: hello.startMonotonicNs.toString(),
    startRealtimeNs: hello.startRealtimeNs.toString(),
    flags: { ...hello.flags },
  };
}

// ---------------------------------------------------------------- errors

/** A session file that cannot be created, written or read; says which and why. */
export class SessionFileError extends Error {
  readonly path: string;
  /** The errno code (ENOENT, ENOSPC, …) when the cause is a system error. */
  readonly code: string | undefined;

  constructor(path: string, message: string, code?: string) {
    super(message);
    this.name = 'SessionFileError';
    this.path = path;
    this.code = code;
  }
}

function errnoCode(error: unknown): string | undefined {
  if (typeof error === 'object' && error !== null && 'code' in error) {
    const code = (error as { code: unknown }).code;
    return typeof code === 'string' ? code : undefined;
  }
  return undefined;
}

const ERRNO_TEXT: Readonly<Record<string, string>> = {
  ENOENT: 'no such file or directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  EISDIR: 'is a directory',
  ENOTDIR: 'a component of the path is not a directory',
  EEXIST: 'already exists',
  EROFS: 'read-only file system',
  EFBIG: 'file too large',
  EIO: 'input/output error',
  EMFILE: 'too many open files',
  ENAMETOOLONG: 'file name too long',
};

function fsError(path: string, action: string, error: unknown): SessionFileError {
  const code = errnoCode(error);
  const text =
    (code !== undefined ? ERRNO_TEXT[code] : undefined) ??
    (error instanceof Error ? error.message : String(error));
  return new SessionFileError(path, `cannot ${action} ${path}: ${text}`, code);
}

// ---------------------------------------------------------------- writer

export interface SessionWriterOptions {
  /** Replace an existing file (truncate) instead of refusing it (exclusive create). */
  overwrite: boolean;
}

/**
 * Appends blocks to a new session file. Every method writes one whole
 * block synchronously before returning. A failed write (ENOSPC…) is cut
 * back off the file so later blocks are still readable, then reported as a
 * SessionFileError; the writer stays usable.
 */
export class SessionWriter {
  readonly path: string;
  private fd: number | null;
  private offset = 0;

  private constructor(path: string, fd: number) {
    this.path = path;
    this.fd = fd;
  }

  /**
   * Creates the file (mode 0600: sessions hold argv, paths and arguments)
   * and writes the file header. Without `overwrite` an existing file is
   * refused (EEXIST), so a typo cannot destroy an earlier recording.
   */
  static create(path: string, options: SessionWriterOptions = { overwrite: false }): SessionWriter {
    let fd: number;
    try {
      fd = fs.openSync(path, options.overwrite ? 'w' : 'wx', 0o600);
    } catch (error) {
      throw fsError(path, 'create session file', error);
    }
    const writer = new SessionWriter(path, fd);
    const header = Buffer.alloc(SESSION_HEADER_SIZE);
    SESSION_MAGIC.copy(header, 0);
    header.writeUInt32LE(SESSION_FORMAT_VERSION, 8);
    try {
      writer.append([header]);
    } catch (error) {
      writer.close();
      throw error;
    }
    return writer;
  }

  /** Bytes in the file so far, header included. */
  get bytesWritten(): number {
    return this.offset;
  }

  writeRun(run: RunInfo): void {
    this.writeJson(BlockType.RUN, run);
  }

  writeProcess(process: ProcessInfo): void {
    this.writeJson(BlockType.PROCESS, process);
  }

  /** `records` is an EVENTS payload exactly as received (already validated). */
  writeEvents(sessionId: number, records: Buffer): void {
    checkU32(sessionId, 'session id');
    if (records.length === 0) throw new RangeError('writeEvents: no records');
    if (records.length + 4 > MAX_BLOCK_PAYLOAD) {
      throw new RangeError(`writeEvents: ${records.length} bytes of records is too large`);
    }
    const head = Buffer.alloc(BLOCK_HEADER_SIZE + 4);
    head.writeUInt32LE(sessionId, BLOCK_HEADER_SIZE);
    const idBytes = head.subarray(BLOCK_HEADER_SIZE);
    fillBlockHeader(head, BlockType.EVENTS, 4 + records.length, [idBytes, records]);
    // Two buffers in one writev: the (up to 1 MiB) payload is not copied.
    this.append([head, records]);
  }

  writeDrops(sessionId: number, droppedTotal: bigint): void {
    checkU32(sessionId, 'session id');
    if (droppedTotal < 0n || droppedTotal > 0xffff_ffff_ffff_ffffn) {
      throw new RangeError(`writeDrops: dropped total ${droppedTotal} is not a u64`);
    }
    const block = Buffer.alloc(BLOCK_HEADER_SIZE + 12);
    block.writeUInt32LE(sessionId, BLOCK_HEADER_SIZE);
    block.writeBigUInt64LE(droppedTotal, BLOCK_HEADER_SIZE + 4);
    fillBlockHeader(block, BlockType.DROPS, 12, [block.subarray(BLOCK_HEADER_SIZE)]);
    this.append([block]);
  }

  writeProcessEnd(end: ProcessEndInfo): void {
    this.writeJson(BlockType.PROCESS_END, end);
  }

  writeNotice(notice: NoticeInfo): void {
    this.writeJson(BlockType.NOTICE, notice);
  }

  writeAttach(attach: AttachInfo): void {
    this.writeJson(BlockType.ATTACH, attach);
  }

  writePolicy(policy: PolicyInfo): void {
    this.writeJson(BlockType.POLICY, policy);
  }

  writeRunEnd(end: RunEndInfo): void {
    this.writeJson(BlockType.RUN_END, end);
  }

  /** Closes the file; later writes throw. Safe to call twice. */
  close(): void {
    if (this.fd === null) return;
    const fd = this.fd;
    this.fd = null;
    try {
      fs.closeSync(fd);
    } catch (error) {
      throw fsError(this.path, 'close', error);
    }
  }

  private writeJson(type: BlockType, value: object): void {
    const payload = Buffer.from(JSON.stringify(value), 'utf8');
    const block = Buffer.allocUnsafe(BLOCK_HEADER_SIZE + payload.length);
    payload.copy(block, BLOCK_HEADER_SIZE);
    fillBlockHeader(block, type, payload.length, [payload]);
    this.append([block]);
  }

  private append(buffers: Buffer[]): void {
    if (this.fd === null) {
      throw new SessionFileError(
        this.path,
        `cannot write ${this.path}: the session file is closed`,
      );
    }
    const fd = this.fd;
    const total = buffers.reduce((sum, b) => sum + b.length, 0);
    let done = 0;
    try {
      while (done < total) {
        done += fs.writevSync(fd, remainingAfter(buffers, done), this.offset + done);
      }
    } catch (error) {
      // Remove the partial block: a torn block in the middle would hide
      // every later block from the reader.
      if (done > 0) {
        try {
          fs.ftruncateSync(fd, this.offset);
        } catch {
          // The write error below is the one worth reporting.
        }
      }
      throw fsError(this.path, 'write to', error);
    }
    this.offset += total;
  }
}

function remainingAfter(buffers: Buffer[], skip: number): Buffer[] {
  if (skip === 0) return buffers;
  const out: Buffer[] = [];
  for (const b of buffers) {
    if (skip >= b.length) {
      skip -= b.length;
    } else {
      out.push(skip > 0 ? b.subarray(skip) : b);
      skip = 0;
    }
  }
  return out;
}

/** Writes the 12-byte block header at the start of `target`. */
function fillBlockHeader(
  target: Buffer,
  type: BlockType,
  payloadLength: number,
  payloadParts: Buffer[],
): void {
  target.writeUInt32LE(payloadLength, 0);
  target[4] = type;
  target[5] = 0;
  target[6] = 0;
  target[7] = 0;
  let crc = zlib.crc32(target.subarray(4, 5));
  for (const part of payloadParts) crc = zlib.crc32(part, crc);
  target.writeUInt32LE(crc, 8);
}

function checkU32(value: number, what: string): void {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) {
    throw new RangeError(`${what} must be an integer from 0 to 2^32-1, got ${value}`);
  }
}

// ---------------------------------------------------------------- reader

export interface RawBlocksOptions {
  /**
   * Reads chunks into buffers used before once their blocks are done with:
   * a block's bytes (an events block's records) then stay as they are only
   * until the block two after it is asked for, counting every block this
   * reader yields (one a consumer passes over, or a filter drops, counts).
   * For a consumer that keeps no view of them past that (decoded values
   * are copies). Faster: a new buffer's pages fault as they are first
   * written.
   */
  reuseBuffers?: boolean;
}

export interface SessionReaderOptions {
  /** Read size; blocks larger than this are read whole regardless. */
  chunkSize?: number;
  /**
   * File offset of the first block to read (default: just after the file
   * header). A viewer that indexed a growing file resumes at the offset
   * where its last pass stopped, or reads one block it indexed earlier.
   */
  startOffset?: number;
}

const DEFAULT_CHUNK_SIZE = 1024 * 1024;
/**
 * Room before a chunk read ahead for the partial block the chunk before it
 * ends with; a longer one is copied with the chunk into a new buffer.
 */
const READ_AHEAD_RESERVE = 256 * 1024;

interface ReadAhead {
  buf: Buffer;
  /** Bytes read (0: end of file), or why the read failed. */
  reading: Promise<number | Error>;
}

/**
 * Reads a session file block by block with bounded memory: at most one
 * chunk plus one block is held, whatever the file size.
 *
 *   const reader = await SessionReader.open(path);
 *   for await (const block of reader.blocks()) { … }
 *
 * `open` throws SessionFileError when the file cannot be opened, is not a
 * session file, or is from a newer format. `blocks()` yields every
 * readable block and then one `end` item that says whether (and where) the
 * tail was cut. It throws SessionFileError only when a block passed its CRC
 * yet its content is invalid (a writer bug, not damage).
 */
export class SessionReader {
  readonly path: string;
  readonly formatVersion: number;
  private handle: FileHandle | null;
  private readonly chunkSize: number;
  private started = false;
  private tail: TornTail | null = null;

  private buf: Buffer = Buffer.alloc(0);
  /** Unconsumed bytes are buf[start, end). */
  private start = 0;
  private end = 0;
  /** File offset of buf[start]. */
  private fileOffset = SESSION_HEADER_SIZE;
  private eof = false;
  /** The chunk after the buffered bytes, being read (fill). */
  private ahead: ReadAhead | null = null;
  /** Whether fill read a chunk already: read-ahead starts with the second. */
  private readBefore = false;
  /**
   * Reuse (rawBlocks' option): chunk buffers left behind, each with the
   * number of the last block handed out before it was (blocks count from
   * 1), and the number of the last block whose bytes are no longer used.
   */
  private reuse = false;
  private retired: { buf: Buffer; lastBlock: number }[] = [];
  private handedOut = 0;
  private doneThrough = 0;

  private constructor(
    path: string,
    handle: FileHandle,
    version: number,
    chunkSize: number,
    startOffset: number,
  ) {
    this.path = path;
    this.handle = handle;
    this.formatVersion = version;
    this.chunkSize = chunkSize;
    this.fileOffset = startOffset;
  }

  static async open(path: string, options: SessionReaderOptions = {}): Promise<SessionReader> {
    let handle: FileHandle;
    try {
      handle = await openFile(path, 'r');
    } catch (error) {
      throw fsError(path, 'open', error);
    }
    try {
      const header = Buffer.alloc(SESSION_HEADER_SIZE);
      let got = 0;
      while (got < SESSION_HEADER_SIZE) {
        const { bytesRead } = await handle.read(header, got, SESSION_HEADER_SIZE - got, got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      const version = checkFileHeader(path, header, got);
      const chunkSize = Math.max(4096, options.chunkSize ?? DEFAULT_CHUNK_SIZE);
      const startOffset = options.startOffset ?? SESSION_HEADER_SIZE;
      if (!Number.isSafeInteger(startOffset) || startOffset < SESSION_HEADER_SIZE) {
        throw new SessionFileError(path, `${path}: invalid start offset ${startOffset}`);
      }
      return new SessionReader(path, handle, version, chunkSize, startOffset);
    } catch (error) {
      await handle.close().catch(() => undefined);
      if (error instanceof SessionFileError) throw error;
      throw fsError(path, 'read', error);
    }
  }

  /** Set once blocks() has finished: the damaged or incomplete tail, if any. */
  get truncated(): TornTail | null {
    return this.tail;
  }

  /** Single pass over the blocks; closes the file when done or abandoned. */
  blocks(): AsyncGenerator<SessionBlock, void, undefined> {
    return this.read(false) as AsyncGenerator<SessionBlock, void, undefined>;
  }

  /**
   * As blocks(), with each events block's records checked but left as
   * bytes. One or the other, once per reader.
   */
  rawBlocks(options: RawBlocksOptions = {}): AsyncGenerator<RawSessionBlock, void, undefined> {
    return this.read(true, options.reuseBuffers === true) as AsyncGenerator<
      RawSessionBlock,
      void,
      undefined
    >;
  }

  private async *read(
    raw: boolean,
    reuse = false,
  ): AsyncGenerator<SessionBlock | RawSessionBlock, void, undefined> {
    if (this.started) throw new Error('SessionReader.blocks() can be iterated only once');
    this.started = true;
    this.reuse = reuse;
    try {
      for (;;) {
        const blockOffset = this.fileOffset;
        if (!(await this.fill(BLOCK_HEADER_SIZE))) {
          if (this.end > this.start) {
            await this.cut(blockOffset, `block header cut short`);
          }
          break;
        }
        const h = this.start;
        const length = this.buf.readUInt32LE(h);
        const type = this.buf[h + 4] as number;
        if (this.buf[h + 5] !== 0 || this.buf[h + 6] !== 0 || this.buf[h + 7] !== 0) {
          await this.cut(blockOffset, 'damaged block header (reserved bytes are not zero)');
          break;
        }
        if (length > MAX_BLOCK_PAYLOAD) {
          await this.cut(
            blockOffset,
            `damaged block header (length ${length} exceeds ${MAX_BLOCK_PAYLOAD})`,
          );
          break;
        }
        if (!(await this.fill(BLOCK_HEADER_SIZE + length))) {
          const present = this.end - this.start - BLOCK_HEADER_SIZE;
          await this.cut(blockOffset, `block cut short (${present} of ${length} payload bytes)`);
          break;
        }
        const p = this.start;
        const payload = this.buf.subarray(p + BLOCK_HEADER_SIZE, p + BLOCK_HEADER_SIZE + length);
        const crc = zlib.crc32(payload, zlib.crc32(this.buf.subarray(p + 4, p + 5)));
        if (crc !== this.buf.readUInt32LE(p + 8)) {
          await this.cut(blockOffset, 'CRC mismatch');
          break;
        }
        this.start += BLOCK_HEADER_SIZE + length;
        this.fileOffset += BLOCK_HEADER_SIZE + length;
        const block = this.decodeBlock(type, payload, blockOffset, raw);
        if (block !== null) {
          this.handedOut++;
          yield block;
          // Asked for the next one: the one before this is done with.
          this.doneThrough = this.handedOut - 1;
        }
      }
      yield { type: 'end', offset: this.fileOffset, truncated: this.tail };
    } finally {
      await this.close();
    }
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    // The chunk being read ahead ends before its file does.
    const ahead = this.ahead;
    this.ahead = null;
    if (ahead !== null) await ahead.reading;
    if (handle) await handle.close();
  }

  /** Records the torn tail: everything from `offset` to the end of the file. */
  private async cut(offset: number, reason: string): Promise<void> {
    let size = this.fileOffset + (this.end - this.start);
    try {
      if (this.handle) size = Math.max(size, (await this.handle.stat()).size);
    } catch {
      // Keep the count of bytes actually seen.
    }
    this.tail = { offset, bytesCut: size - offset, reason };
  }

  /**
   * Makes at least `n` unconsumed bytes available; false at end of file.
   * Data already handed out (block payloads are views of `buf`) is never
   * overwritten: when the buffer is full, a new one is allocated.
   *
   * From the second chunk on, the next chunk is read ahead, while the
   * blocks before it are checked and worked on, into a buffer of its own,
   * after room for the partial block the current chunk ends with (copied
   * in front of it when it comes). A block larger than a chunk is read
   * straight into a buffer of its size.
   */
  private async fill(n: number): Promise<boolean> {
    while (this.end - this.start < n) {
      if (this.eof || this.handle === null) return false;
      const left = this.end - this.start;
      // The first chunk is read as it is needed: a reader of one block
      // (the viewer's, at an offset it indexed) reads nothing more.
      if (this.ahead === null && (!this.readBefore || n - left > this.chunkSize)) {
        this.readBefore = true;
        await this.readInto(n);
        // A reader of the whole file (a report: reuse) has the next chunk
        // read while it works on this one, rather than wait for it then.
        if (this.reuse && !this.eof && this.handle !== null)
          this.ahead = this.readAhead(this.handle);
        continue;
      }
      const ahead = this.ahead ?? this.readAhead(this.handle);
      this.ahead = null;
      const got = await ahead.reading;
      if (got instanceof Error) throw fsError(this.path, 'read', got);
      if (got === 0) {
        this.eof = true;
        continue;
      }
      // Every block handed out so far is in the buffer left behind (the
      // one being read is copied with the chunk).
      if (this.reuse && this.buf.length === READ_AHEAD_RESERVE + this.chunkSize) {
        this.retired.push({ buf: this.buf, lastBlock: this.handedOut });
      }
      if (left <= READ_AHEAD_RESERVE) {
        this.buf.copy(ahead.buf, READ_AHEAD_RESERVE - left, this.start, this.end);
        this.buf = ahead.buf;
        this.start = READ_AHEAD_RESERVE - left;
        this.end = READ_AHEAD_RESERVE + got;
      } else {
        const next = Buffer.allocUnsafe(Math.max(left + got, n));
        this.buf.copy(next, 0, this.start, this.end);
        ahead.buf.copy(next, left, READ_AHEAD_RESERVE, READ_AHEAD_RESERVE + got);
        // Copied from, never handed out.
        if (this.reuse) this.retired.push({ buf: ahead.buf, lastBlock: 0 });
        this.buf = next;
        this.start = 0;
        this.end = left + got;
      }
      if (this.end - this.start >= n && this.handle !== null) {
        this.ahead = this.readAhead(this.handle);
      }
    }
    return true;
  }

  /** Reads what follows the buffered bytes into this.buf, grown to hold `n` unconsumed bytes. */
  private async readInto(n: number): Promise<void> {
    if (this.buf.length - this.start < n) {
      const next = Buffer.allocUnsafe(Math.max(this.chunkSize, n));
      // A reader of the whole file fills it: its pages made present in one
      // call, as a chunk read ahead's are, rather than a fault a page.
      if (this.reuse) populatePages(next);
      this.buf.copy(next, 0, this.start, this.end);
      this.end -= this.start;
      this.start = 0;
      this.buf = next;
    }
    const filePos = this.fileOffset + (this.end - this.start);
    let bytesRead: number;
    try {
      ({ bytesRead } = await this.handle!.read(
        this.buf,
        this.end,
        this.buf.length - this.end,
        filePos,
      ));
    } catch (error) {
      throw fsError(this.path, 'read', error);
    }
    if (bytesRead === 0) this.eof = true;
    this.end += bytesRead;
  }

  /**
   * Starts reading the chunk after the buffered bytes. It settles with the
   * byte count or the error, never rejects: nobody may be waiting for it
   * when it fails (a reader abandoned part-way), and a rejection nobody
   * waits for would end the process.
   */
  private readAhead(handle: FileHandle): ReadAhead {
    const buf = this.reusable() ?? Buffer.allocUnsafe(READ_AHEAD_RESERVE + this.chunkSize);
    const position = this.fileOffset + (this.end - this.start);
    // The addon makes the new buffer's pages present in one call before it
    // reads: one page fault each cost more than the read (chunk-read.cc).
    const readChunk = nativeChunkRead();
    const reading =
      readChunk === null
        ? handle.read(buf, READ_AHEAD_RESERVE, this.chunkSize, position).then((r) => r.bytesRead)
        : readChunk(handle.fd, buf, READ_AHEAD_RESERVE, this.chunkSize, position);
    return {
      buf,
      reading: reading.catch((error: unknown) =>
        error instanceof Error ? error : new Error(String(error)),
      ),
    };
  }

  /**
   * A chunk buffer left behind whose blocks are all done with, for the
   * next chunk: its pages are present and likely in the cache, where a new
   * buffer's fault (11.5 µs a page here) and miss. Kept: two at most.
   */
  private reusable(): Buffer | undefined {
    if (!this.reuse) return undefined;
    const at = this.retired.findIndex((r) => r.lastBlock <= this.doneThrough);
    const taken = at < 0 ? undefined : this.retired.splice(at, 1)[0]?.buf;
    if (this.retired.length > 2) this.retired.splice(0, this.retired.length - 2);
    return taken;
  }

  private decodeBlock(
    type: number,
    payload: Buffer,
    offset: number,
    raw: boolean,
  ): SessionBlock | RawEventsBlock | null {
    const invalid = (what: string, reason: string): SessionFileError =>
      new SessionFileError(
        this.path,
        `${this.path}: ${what} block at offset ${offset} is invalid: ${reason}`,
      );
    switch (type) {
      case BlockType.RUN:
        return { type: 'run', offset, run: parseJsonBlock(payload, parseRunInfo, 'run', invalid) };
      case BlockType.PROCESS:
        return {
          type: 'process',
          offset,
          process: parseJsonBlock(payload, parseProcessInfo, 'process', invalid),
        };
      case BlockType.PROCESS_END:
        return {
          type: 'process-end',
          offset,
          processEnd: parseJsonBlock(payload, parseProcessEnd, 'process-end', invalid),
        };
      case BlockType.NOTICE:
        return {
          type: 'notice',
          offset,
          notice: parseJsonBlock(payload, parseNotice, 'notice', invalid),
        };
      case BlockType.RUN_END:
        return {
          type: 'run-end',
          offset,
          runEnd: parseJsonBlock(payload, parseRunEnd, 'run-end', invalid),
        };
      case BlockType.ATTACH:
        return {
          type: 'attach',
          offset,
          attach: parseJsonBlock(payload, parseAttach, 'attach', invalid),
        };
      case BlockType.POLICY:
        return {
          type: 'policy',
          offset,
          policy: parseJsonBlock(payload, parsePolicyInfo, 'policy', invalid),
        };
      case BlockType.EVENTS: {
        if (payload.length < 5) throw invalid('events', `only ${payload.length} bytes`);
        if (raw) {
          const records = payload.subarray(4);
          let count: number;
          try {
            count = checkEventsPayload(records);
          } catch (error) {
            if (error instanceof ProtocolError) throw invalid('events', error.message);
            throw error;
          }
          return { type: 'events', offset, sessionId: payload.readUInt32LE(0), records, count };
        }
        let records: AgentRecord[];
        try {
          const bytes = payload.subarray(4);
          records = decodeCheckedRecords(bytes, checkEventsPayload(bytes));
        } catch (error) {
          if (error instanceof ProtocolError) throw invalid('events', error.message);
          throw error;
        }
        return { type: 'events', offset, sessionId: payload.readUInt32LE(0), records };
      }
      case BlockType.DROPS:
        if (payload.length !== 12) {
          throw invalid('drops', `payload is ${payload.length} bytes, expected 12`);
        }
        return {
          type: 'drops',
          offset,
          sessionId: payload.readUInt32LE(0),
          droppedTotal: payload.readBigUInt64LE(4),
        };
      default:
        // A block type from a newer writer: skipped, as the format says.
        return null;
    }
  }
}

/** Opens `path` and yields its blocks, ending with the `end` item. */
export async function* readSessionBlocks(
  path: string,
  options: SessionReaderOptions = {},
): AsyncGenerator<SessionBlock, void, undefined> {
  const reader = await SessionReader.open(path, options);
  yield* reader.blocks();
}

function checkFileHeader(path: string, header: Buffer, length: number): number {
  const notSession = (detail: string): SessionFileError =>
    new SessionFileError(path, `${path} is not a Hookscope session file (${detail})`);
  if (length === 0) throw notSession('it is empty');
  const magicLength = Math.min(length, SESSION_MAGIC.length);
  if (!header.subarray(0, magicLength).equals(SESSION_MAGIC.subarray(0, magicLength))) {
    throw notSession('wrong magic bytes');
  }
  if (length < SESSION_HEADER_SIZE) {
    throw notSession(`only ${length} bytes, shorter than the ${SESSION_HEADER_SIZE}-byte header`);
  }
  const version = header.readUInt32LE(8);
  if (version > SESSION_FORMAT_VERSION) {
    throw new SessionFileError(
      path,
      `${path} uses session format version ${version}, but this Hookscope reads only version ${SESSION_FORMAT_VERSION}: upgrade Hookscope to read it`,
    );
  }
  if (version < 1) {
    throw new SessionFileError(path, `${path} has an invalid session format version ${version}`);
  }
  return version;
}

// ------------------------------------------------- JSON block validation

type JsonObject = Record<string, unknown>;

class ShapeError extends Error {}

function parseJsonBlock<T>(
  payload: Buffer,
  parse: (o: JsonObject) => T,
  what: string,
  invalid: (what: string, reason: string) => SessionFileError,
): T {
  let json: unknown;
  try {
    json = JSON.parse(payload.toString('utf8'));
  } catch (error) {
    throw invalid(what, `not JSON (${(error as Error).message})`);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw invalid(what, 'not a JSON object');
  }
  try {
    return parse(json as JsonObject);
  } catch (error) {
    if (error instanceof ShapeError) throw invalid(what, error.message);
    throw error;
  }
}

/**
 * A block of a JSON report other than events, as json-report.ts reads it
 * back (bigints and bytes untagged): checked field by field as the same
 * block's JSON is checked in a session file, so that a report cannot hand
 * `show` what a session could not. Throws an Error saying what is wrong.
 */
export function checkedReportBlock(block: JsonObject): SessionBlock {
  const offset = block['offset'];
  if (typeof offset !== 'number' || !Number.isSafeInteger(offset) || offset < 0) {
    throw new Error(`a ${String(block['type'])} block without a whole "offset"`);
  }
  const body = (key: string): JsonObject => {
    const value = block[key];
    if (typeof value !== 'object' || value === null || Array.isArray(value)) {
      throw new ShapeError(`"${key}" must be an object`);
    }
    return value as JsonObject;
  };
  try {
    switch (block['type']) {
      case 'run':
        return { type: 'run', offset, run: parseRunInfo(body('run')) };
      case 'process':
        return { type: 'process', offset, process: parseProcessInfo(body('process')) };
      case 'process-end':
        return { type: 'process-end', offset, processEnd: parseProcessEnd(body('processEnd')) };
      case 'notice':
        return { type: 'notice', offset, notice: parseNotice(body('notice')) };
      case 'run-end':
        return { type: 'run-end', offset, runEnd: parseRunEnd(body('runEnd')) };
      case 'attach':
        return { type: 'attach', offset, attach: parseAttach(body('attach')) };
      case 'policy':
        return { type: 'policy', offset, policy: parsePolicyInfo(body('policy')) };
      case 'drops': {
        const droppedTotal = block['droppedTotal'];
        if (typeof droppedTotal !== 'bigint' || droppedTotal < 0n) {
          throw new ShapeError('"droppedTotal" must be a count');
        }
        return { type: 'drops', offset, sessionId: int(block, 'sessionId'), droppedTotal };
      }
      case 'end': {
        const cut = block['truncated'];
        if (cut === null) return { type: 'end', offset, truncated: null };
        const tail = body('truncated');
        return {
          type: 'end',
          offset,
          truncated: {
            offset: int(tail, 'offset'),
            bytesCut: int(tail, 'bytesCut'),
            reason: str(tail, 'reason'),
          },
        };
      }
      default:
        throw new ShapeError(`a block of unknown type ${JSON.stringify(block['type'] ?? null)}`);
    }
  } catch (error) {
    if (error instanceof ShapeError) {
      throw new Error(`${String(block['type'])} block: ${error.message}`, { cause: error });
    }
    throw error;
  }
}

function str(o: JsonObject, key: string): string {
  const value = o[key];
  if (typeof value !== 'string') throw new ShapeError(`"${key}" must be a string`);
  return value;
}

function num(o: JsonObject, key: string): number {
  const value = o[key];
  if (typeof value !== 'number' || !Number.isFinite(value)) {
    throw new ShapeError(`"${key}" must be a number`);
  }
  return value;
}

function int(o: JsonObject, key: string): number {
  const value = num(o, key);
  if (!Number.isInteger(value)) throw new ShapeError(`"${key}" must be an integer`);
  return value;
}

function bool(o: JsonObject, key: string): boolean {
  const value = o[key];
  if (typeof value !== 'boolean') throw new ShapeError(`"${key}" must be true or false`);
  return value;
}

function strings(o: JsonObject, key: string): string[] {
  const value = o[key];
  if (!Array.isArray(value) || !value.every((item) => typeof item === 'string')) {
    throw new ShapeError(`"${key}" must be an array of strings`);
  }
  return value as string[];
}

function decimal(o: JsonObject, key: string): string {
  const value = str(o, key);
  if (!/^\d{1,20}$/.test(value)) throw new ShapeError(`"${key}" must be a decimal string`);
  return value;
}

function nullable<T>(o: JsonObject, key: string, get: (o: JsonObject, key: string) => T): T | null {
  return o[key] === null ? null : get(o, key);
}

function optional<T>(
  o: JsonObject,
  key: string,
  get: (o: JsonObject, key: string) => T,
): T | undefined {
  return o[key] === undefined ? undefined : get(o, key);
}

function oneOf<T extends string>(o: JsonObject, key: string, allowed: readonly T[]): T {
  const value = str(o, key);
  if (!(allowed as readonly string[]).includes(value)) {
    throw new ShapeError(`"${key}" must be one of ${allowed.join(', ')}`);
  }
  return value as T;
}

function count(o: JsonObject, key: string): string | number {
  const value = o[key];
  if (typeof value === 'number' && Number.isInteger(value) && value >= 0) return value;
  if (typeof value === 'string' && /^\d{1,20}$/.test(value)) return value;
  throw new ShapeError(`"${key}" must be a count (number or decimal string)`);
}

function parseRunInfo(o: JsonObject): RunInfo {
  return {
    hookscopeVersion: str(o, 'hookscopeVersion'),
    command: strings(o, 'command'),
    cwd: str(o, 'cwd'),
    startedAtMs: num(o, 'startedAtMs'),
    socketDir: str(o, 'socketDir'),
    ...(o['mode'] === undefined ? {} : { mode: oneOf(o, 'mode', ['launch', 'attach'] as const) }),
    ...(o['targetPid'] === undefined ? {} : { targetPid: int(o, 'targetPid') }),
  };
}

function parseAttach(o: JsonObject): AttachInfo {
  return {
    pid: int(o, 'pid'),
    method: oneOf(o, 'method', ['gdb', 'lldb', 'remote_exec'] as const),
    requestedAtMs: num(o, 'requestedAtMs'),
    hooksActiveAtMs: num(o, 'hooksActiveAtMs'),
    attachWallMs: num(o, 'attachWallMs'),
    longestPauseMs: num(o, 'longestPauseMs'),
    pauseMeasuredBy: str(o, 'pauseMeasuredBy'),
    reattached: bool(o, 'reattached'),
  };
}

function parseProcessInfo(o: JsonObject): ProcessInfo {
  const flags = o['flags'];
  if (typeof flags !== 'object' || flags === null || Array.isArray(flags)) {
    throw new ShapeError('"flags" must be an object');
  }
  const f = flags as JsonObject;
  return {
    session: int(o, 'session'),
    pid: int(o, 'pid'),
    ppid: int(o, 'ppid'),
    parentSession: nullable(o, 'parentSession', int),
    uid: int(o, 'uid'),
    exe: str(o, 'exe'),
    argv: strings(o, 'argv'),
    cwd: str(o, 'cwd'),
    pythonVersion: str(o, 'pythonVersion'),
    agentVersion: str(o, 'agentVersion'),
    startMonotonicNs: decimal(o, 'startMonotonicNs'),
    startRealtimeNs: decimal(o, 'startRealtimeNs'),
    flags: {
      preInit: bool(f, 'preInit'),
      initializedAtStart: bool(f, 'initializedAtStart'),
      auditHook: bool(f, 'auditHook'),
      openCodeHook: bool(f, 'openCodeHook'),
      ...(f['attached'] === undefined ? {} : { attached: bool(f, 'attached') }),
      ...(f['policy'] === undefined ? {} : { policy: bool(f, 'policy') }),
    },
  };
}

function parseProcessEnd(o: JsonObject): ProcessEndInfo {
  const end: ProcessEndInfo = {
    session: int(o, 'session'),
    endTimeMs: num(o, 'endTimeMs'),
    reason: oneOf(o, 'reason', ['exited', 'killed', 'disconnected', 'detached'] as const),
  };
  const exitCode = optional(o, 'exitCode', (x, k) => nullable(x, k, int));
  if (exitCode !== undefined) end.exitCode = exitCode;
  const signal = optional(o, 'signal', (x, k) => nullable(x, k, str));
  if (signal !== undefined) end.signal = signal;
  const recordsTotal = optional(o, 'recordsTotal', count);
  if (recordsTotal !== undefined) end.recordsTotal = recordsTotal;
  const droppedTotal = optional(o, 'droppedTotal', count);
  if (droppedTotal !== undefined) end.droppedTotal = droppedTotal;
  return end;
}

function parseNotice(o: JsonObject): NoticeInfo {
  return {
    timeMs: num(o, 'timeMs'),
    level: oneOf(o, 'level', ['info', 'warning', 'error'] as const),
    message: str(o, 'message'),
  };
}

function parsePolicyInfo(o: JsonObject): PolicyInfo {
  const sha256 = str(o, 'sha256');
  if (!/^[0-9a-f]{64}$/.test(sha256)) {
    throw new ShapeError('"sha256" must be 64 lowercase hex digits');
  }
  return {
    file: str(o, 'file'),
    sha256,
    text: str(o, 'text'),
    askAnswer: oneOf(o, 'askAnswer', ['allow', 'deny', 'interactive'] as const),
  };
}

function parseRunEnd(o: JsonObject): RunEndInfo {
  return {
    endedAtMs: num(o, 'endedAtMs'),
    exitCode: nullable(o, 'exitCode', int),
    signal: nullable(o, 'signal', str),
  };
}
