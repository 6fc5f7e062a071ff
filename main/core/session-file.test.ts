import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import zlib from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { writeSampleSession } from '../test-support/sample-session.js';
import {
  encodeAuditRecord,
  encodeDecisionRecord,
  encodeHelloPayload,
  v,
} from '../test-support/wire-encoder.js';
import { nativeAddon } from './native-addon.js';
import { parseHello } from './protocol/hello.js';
import {
  BLOCK_HEADER_SIZE,
  SESSION_HEADER_SIZE,
  SessionFileError,
  SessionReader,
  SessionWriter,
  processInfoFromHello,
  readSessionBlocks,
  type SessionBlock,
} from './session-file.js';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hks-session-'));
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

let counter = 0;
function tmp(name = 'session'): string {
  return path.join(dir, `${name}-${counter++}.hks`);
}

async function readAll(
  file: string,
  chunkSize?: number,
): Promise<{ blocks: SessionBlock[]; end: Extract<SessionBlock, { type: 'end' }> }> {
  const blocks: SessionBlock[] = [];
  const reader = await SessionReader.open(file, chunkSize ? { chunkSize } : {});
  for await (const block of reader.blocks()) blocks.push(block);
  const end = blocks.pop();
  if (end?.type !== 'end') throw new Error('the reader did not finish with an end item');
  expect(reader.truncated).toEqual(end.truncated);
  return { blocks, end };
}

const hello = parseHello(encodeHelloPayload({ pid: 321, ppid: 1, argv: ['python3', 'x.py'] }));
const records = Buffer.concat([
  encodeAuditRecord({ seq: 0, event: 'import', args: v.tuple([v.str('os')]) }),
  encodeAuditRecord({ seq: 1, event: 'open', args: v.tuple([v.str('/etc/hosts'), v.str('r')]) }),
]);

/** A session of 40 events blocks of about 3 KB each (many 4 KiB chunks). */
function fortyBlocks(name: string): string {
  const file = tmp(name);
  const w = SessionWriter.create(file, { overwrite: false });
  for (let i = 0; i < 40; i++) {
    w.writeEvents(
      1,
      encodeAuditRecord({ seq: i, event: 'x', args: v.tuple([v.str('y'.repeat(3000))]) }),
    );
  }
  w.close();
  return file;
}

/** Writes a session whose last block is `last`; returns the file and block offsets. */
function writeSession(last: (w: SessionWriter) => void): { file: string; offsets: number[] } {
  const file = tmp();
  const w = SessionWriter.create(file, { overwrite: false });
  const offsets: number[] = [];
  const mark = (fn: () => void): void => {
    offsets.push(w.bytesWritten);
    fn();
  };
  mark(() =>
    w.writeRun({
      hookscopeVersion: '0.1.0',
      command: ['python3', 'x.py'],
      cwd: '/srv',
      startedAtMs: 1,
      socketDir: '/tmp/s',
    }),
  );
  mark(() => w.writeProcess(processInfoFromHello(1, hello, null)));
  mark(() => w.writeEvents(1, records));
  mark(() => last(w));
  offsets.push(w.bytesWritten);
  w.close();
  expect(fs.statSync(file).size).toBe(w.bytesWritten);
  return { file, offsets };
}

/**
 * A session of events blocks of about `sizes[i]` KiB each (records of
 * `chars`-character paths, a letter per block), a notice after the blocks
 * `noticeAfter` says: the blocks' payloads.
 */
function writeSizedBlocks(
  file: string,
  sizes: number[],
  chars: number,
  noticeAfter: (i: number) => boolean,
): Buffer[] {
  const payloads = sizes.map((kib, i) =>
    Buffer.concat(
      Array.from({ length: Math.ceil(kib / 4) + 1 }, (_, j) =>
        encodeAuditRecord({
          seq: j,
          event: 'open',
          args: v.tuple([v.str(String.fromCharCode(97 + (i % 26)).repeat(chars)), v.int(j)]),
        }),
      ),
    ),
  );
  const w = SessionWriter.create(file, { overwrite: true });
  payloads.forEach((payload, i) => {
    w.writeEvents(i + 1, payload);
    if (noticeAfter(i)) w.writeNotice({ timeMs: i, level: 'info', message: `after ${i}` });
  });
  w.close();
  return payloads;
}

describe('SessionWriter and SessionReader', () => {
  it('round-trips every block type', async () => {
    const file = tmp();
    writeSampleSession(file);
    const { blocks, end } = await readAll(file);
    expect(end.truncated).toBeNull();
    expect(end.offset).toBe(fs.statSync(file).size);
    expect(blocks.map((b) => b.type)).toEqual([
      'run',
      'process',
      'events',
      'process',
      'events',
      'drops',
      'process-end',
      'notice',
      'process-end',
      'run-end',
    ]);
    const [run, proc, events] = blocks;
    expect(run).toMatchObject({ type: 'run', offset: SESSION_HEADER_SIZE });
    expect(run?.type === 'run' && run.run.command).toEqual(['python3', 'app.py']);
    expect(proc?.type === 'process' && proc.process).toMatchObject({
      session: 1,
      pid: 100,
      startMonotonicNs: '5000000000',
      flags: { preInit: true, openCodeHook: true },
    });
    expect(events?.type === 'events' && events.records.map((r) => r.event)).toEqual([
      'import',
      'io.open_code',
      'open',
      'socket.getaddrinfo',
      'socket.connect',
      'subprocess.Popen',
    ]);
    const drops = blocks[5];
    expect(drops).toMatchObject({ type: 'drops', sessionId: 2, droppedTotal: 5n });
    const processEnd = blocks[6];
    expect(processEnd?.type === 'process-end' && processEnd.processEnd).toEqual({
      session: 2,
      endTimeMs: 1_700_000_002_000,
      reason: 'exited',
      exitCode: 0,
      recordsTotal: '9',
      droppedTotal: '5',
    });
    expect(blocks[9]).toMatchObject({
      type: 'run-end',
      runEnd: { endedAtMs: 1_700_000_003_100, exitCode: 0, signal: null },
    });
  });

  it('writes the documented header and block layout', () => {
    const { file, offsets } = writeSession((w) => w.writeDrops(7, 2n ** 40n));
    const bytes = fs.readFileSync(file);
    expect(bytes.subarray(0, 8).toString('latin1')).toBe('HKSCSESS');
    expect(bytes.readUInt32LE(8)).toBe(1);
    expect(bytes.readUInt32LE(12)).toBe(0);
    const at = offsets[3] as number;
    expect(bytes.readUInt32LE(at)).toBe(12);
    expect(bytes[at + 4]).toBe(4);
    expect(bytes.subarray(at + 5, at + 8)).toEqual(Buffer.alloc(3));
    const payload = bytes.subarray(at + 12, at + 24);
    expect(bytes.readUInt32LE(at + 8)).toBe(zlib.crc32(Buffer.concat([Buffer.from([4]), payload])));
    expect(payload.readUInt32LE(0)).toBe(7);
    expect(payload.readBigUInt64LE(4)).toBe(2n ** 40n);
  });

  it('reads blocks larger than the read chunk, and many blocks across chunks', async () => {
    const file = tmp();
    const w = SessionWriter.create(file, { overwrite: false });
    const big = Buffer.concat(
      Array.from({ length: 300 }, (_, i) =>
        encodeAuditRecord({ seq: i, event: 'open', args: v.tuple([v.str('x'.repeat(3000))]) }),
      ),
    );
    for (let i = 0; i < 5; i++) w.writeEvents(1, big);
    for (let i = 0; i < 500; i++) w.writeNotice({ timeMs: i, level: 'info', message: `n${i}` });
    w.close();
    const { blocks, end } = await readAll(file, 4096);
    expect(end.truncated).toBeNull();
    expect(blocks.filter((b) => b.type === 'events')).toHaveLength(5);
    const notices = blocks.flatMap((b) => (b.type === 'notice' ? [b.notice.message] : []));
    expect(notices).toEqual(Array.from({ length: 500 }, (_, i) => `n${i}`));
    // Earlier blocks stay intact after later reads (no buffer reuse).
    const first = blocks[0];
    expect(first?.type === 'events' && first.records[299]?.seq).toBe(299);
  });

  it('reads any mix of block sizes with any chunk size, every block intact, and a cut anywhere', async () => {
    // The chunk after the buffered bytes is read ahead into a buffer of its
    // own, after 256 KiB of room for the partial block before it: blocks
    // whose tail fits that room, blocks whose tail does not, blocks larger
    // than a chunk, and the views handed out before each.
    const file = tmp('mix');
    const cutFile = tmp('mix-cut');
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 700 }), { minLength: 1, maxLength: 14 }),
        fc.constantFrom(4096, 65_536, 300_000, 1 << 20),
        fc.double({ min: 0, max: 1, noNaN: true }),
        async (sizes, chunkSize, cutAt) => {
          const payloads = writeSizedBlocks(file, sizes, 4000, (i) => i % 3 === 0);
          const whole = fs.readFileSync(file);
          for (const raw of [true, false]) {
            const reader = await SessionReader.open(file, { chunkSize });
            const seen: { sessionId: number; records: Buffer | number }[] = [];
            for await (const block of raw ? reader.rawBlocks() : reader.blocks()) {
              if (block.type !== 'events') continue;
              seen.push({
                sessionId: block.sessionId,
                records: Buffer.isBuffer(block.records) ? block.records : block.records.length,
              });
            }
            // Compared once all are read: no later read overwrote a view.
            expect(seen.map((b) => b.sessionId)).toEqual(payloads.map((_, i) => i + 1));
            seen.forEach((b, i) => {
              const payload = payloads[i] as Buffer;
              if (Buffer.isBuffer(b.records)) expect(b.records.equals(payload)).toBe(true);
              else expect(b.records).toBe(Math.ceil((sizes[i] as number) / 4) + 1);
            });
          }
          // Cut anywhere: the blocks before the cut, and the cut reported.
          const cut =
            SESSION_HEADER_SIZE + Math.floor(cutAt * (whole.length - SESSION_HEADER_SIZE));
          fs.writeFileSync(cutFile, whole.subarray(0, cut));
          const { blocks, end } = await readAll(cutFile, chunkSize);
          const offsets = blocks.map((b) => b.offset);
          const next = end.truncated?.offset ?? cut;
          expect(offsets.every((o) => o < next)).toBe(true);
          if (end.truncated === null) expect(end.offset).toBe(cut);
          else expect(end.truncated.offset + end.truncated.bytesCut).toBe(cut);
        },
      ),
      { numRuns: 25 },
    );
  });

  it('with reuseBuffers, keeps a block intact until the block two after it is asked for, and uses chunk buffers again', async () => {
    const file = tmp('reuse');
    let reusedRuns = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 0, max: 300 }), { minLength: 2, maxLength: 40 }),
        fc.constantFrom(4096, 16_384, 65_536),
        async (sizes, chunkSize) => {
          const payloads = writeSizedBlocks(file, sizes, 3000, (i) => i % 4 === 1);
          const buffersUsed: number[] = [];
          for (const reuseBuffers of [false, true]) {
            const reader = await SessionReader.open(file, { chunkSize });
            // The consumer the option is for: it still reads the block before
            // the one it was just given (json's and csv's, which format one
            // block while they read the next).
            let before: { records: Buffer; index: number } | null = null;
            let index = 0;
            const buffers = new Set<ArrayBufferLike>();
            for await (const block of reader.rawBlocks({ reuseBuffers })) {
              if (before !== null) {
                expect(before.records.equals(payloads[before.index] as Buffer)).toBe(true);
              }
              before = null;
              if (block.type !== 'events') continue;
              expect(block.records.equals(payloads[index] as Buffer)).toBe(true);
              before = { records: block.records, index };
              buffers.add(block.records.buffer);
              index++;
            }
            expect(index).toBe(payloads.length);
            buffersUsed.push(buffers.size);
          }
          // Never more buffers than without the option; fewer once a few
          // chunks were read.
          expect(buffersUsed[1]).toBeLessThanOrEqual(buffersUsed[0] as number);
          if ((buffersUsed[1] as number) < (buffersUsed[0] as number)) reusedRuns++;
        },
      ),
      { numRuns: 40 },
    );
    expect(reusedRuns).toBeGreaterThan(0);
  });

  it('reads one chunk for one block, and ahead only from the second chunk on', async () => {
    const file = fortyBlocks('one');
    // Every read of a FileHandle (the reader's and open's header read), and
    // every chunk the addon reads ahead, counted.
    const probe = await fs.promises.open(file, 'r');
    const proto = Object.getPrototypeOf(probe) as { read: (...args: unknown[]) => unknown };
    await probe.close();
    const read = proto.read;
    let reads = 0;
    proto.read = function (this: unknown, ...args: unknown[]) {
      reads++;
      return read.apply(this, args);
    };
    const addon = nativeAddon<{ readChunk: (...args: unknown[]) => unknown }>();
    const readChunk = addon.readChunk;
    addon.readChunk = (...args: unknown[]) => {
      reads++;
      return readChunk(...args);
    };
    try {
      const one = await SessionReader.open(file, { chunkSize: 4096 });
      const before = reads;
      for await (const block of one.rawBlocks()) {
        if (block.type === 'events') break;
      }
      expect(reads - before).toBe(1);
      const all = await SessionReader.open(file, { chunkSize: 4096 });
      let events = 0;
      for await (const block of all.rawBlocks()) if (block.type === 'events') events++;
      expect(events).toBe(40);
      // 40 blocks of 3 KB in chunks of 4 KiB: about one read a block.
      expect(reads - before).toBeGreaterThan(30);
    } finally {
      proto.read = read;
      addon.readChunk = readChunk;
    }
  });

  it('an abandoned reader closes its file with a chunk still being read ahead', async () => {
    const file = fortyBlocks('abandon');
    const fds = (): number => fs.readdirSync('/proc/self/fd').length;
    const before = fds();
    for (let i = 0; i < 20; i++) {
      const reader = await SessionReader.open(file, { chunkSize: 4096 });
      for await (const block of reader.rawBlocks()) {
        if (block.type === 'events') break;
      }
    }
    expect(fds()).toBe(before);
  });

  it('starts at a given block offset, and refuses one inside the file header', async () => {
    const { file, offsets } = writeSession((w) =>
      w.writeNotice({ timeMs: 1, level: 'info', message: 'last' }),
    );
    const reader = await SessionReader.open(file, { startOffset: offsets[2] });
    const types: string[] = [];
    for await (const block of reader.blocks()) types.push(block.type);
    expect(types).toEqual(['events', 'notice', 'end']);
    await expect(SessionReader.open(file, { startOffset: 3 })).rejects.toThrow(
      /invalid start offset 3/,
    );
  });

  it('round-trips the policy block and decision records', async () => {
    const file = tmp();
    const w = SessionWriter.create(file, { overwrite: false });
    const text = '{ "version": 1, "default": "deny" }\n';
    const policy = {
      file: '/srv/ci/policy.json',
      sha256: 'ab'.repeat(32),
      text,
      askAnswer: 'deny' as const,
    };
    w.writePolicy(policy);
    w.writeEvents(
      1,
      Buffer.concat([
        encodeAuditRecord({ seq: 0, event: 'subprocess.Popen', args: v.tuple([]) }),
        encodeDecisionRecord({
          seq: 1,
          event: 'subprocess.Popen',
          eventSeq: 0,
          ruleIndex: null,
          by: 'default',
        }),
      ]),
    );
    w.close();
    const { blocks } = await readAll(file);
    expect(blocks[0]).toEqual({ type: 'policy', offset: SESSION_HEADER_SIZE, policy });
    const events = blocks[1];
    expect(events?.type === 'events' && events.records[1]).toMatchObject({
      kind: 'decision',
      eventSeq: 0n,
      outcome: 'denied',
      by: 'default',
      ruleIndex: null,
    });
    // The block is JSON with exactly the documented keys.
    const raw = fs.readFileSync(file);
    const length = raw.readUInt32LE(SESSION_HEADER_SIZE);
    expect(raw[SESSION_HEADER_SIZE + 4]).toBe(9);
    const start = SESSION_HEADER_SIZE + BLOCK_HEADER_SIZE;
    expect(Object.keys(JSON.parse(raw.subarray(start, start + length).toString()))).toEqual([
      'file',
      'sha256',
      'text',
      'askAnswer',
    ]);
  });

  it('refuses a policy block of the wrong shape', async () => {
    const file = tmp();
    const w = SessionWriter.create(file, { overwrite: false });
    w.writePolicy({ file: '/p.json', sha256: 'AB', text: '', askAnswer: 'deny' });
    w.close();
    const reading = async (): Promise<void> => {
      for await (const block of readSessionBlocks(file)) void block;
    };
    await expect(reading()).rejects.toThrow(
      /policy block at offset 16 is invalid: "sha256" must be 64 lowercase hex digits/,
    );
  });

  it('skips unknown block types', async () => {
    const { file } = writeSession((w) => w.writeNotice({ timeMs: 1, level: 'info', message: 'x' }));
    const payload = Buffer.from('from the future');
    const header = Buffer.alloc(BLOCK_HEADER_SIZE);
    header.writeUInt32LE(payload.length, 0);
    header[4] = 99;
    header.writeUInt32LE(zlib.crc32(payload, zlib.crc32(Buffer.from([99]))), 8);
    fs.appendFileSync(file, Buffer.concat([header, payload]));
    const { blocks, end } = await readAll(file);
    expect(end.truncated).toBeNull();
    expect(blocks.map((b) => b.type)).toEqual(['run', 'process', 'events', 'notice']);
  });
});

describe('torn tail', () => {
  const lastBlocks: Array<[string, (w: SessionWriter) => void]> = [
    ['notice', (w) => w.writeNotice({ timeMs: 1, level: 'error', message: 'protocol error' })],
    ['events', (w) => w.writeEvents(1, records)],
    ['drops', (w) => w.writeDrops(1, 3n)],
  ];

  for (const [name, last] of lastBlocks) {
    it(`cuts a ${name} block at every offset and keeps the blocks before it`, async () => {
      const { file, offsets } = writeSession(last);
      const bytes = fs.readFileSync(file);
      const lastStart = offsets[3] as number;
      const cutFile = tmp('cut');
      for (let cut = lastStart; cut < bytes.length; cut++) {
        fs.writeFileSync(cutFile, bytes.subarray(0, cut));
        const { blocks, end } = await readAll(cutFile);
        expect(blocks.map((b) => b.type)).toEqual(['run', 'process', 'events']);
        if (cut === lastStart) {
          expect(end.truncated).toBeNull();
        } else {
          expect(end.truncated).toMatchObject({ offset: lastStart, bytesCut: cut - lastStart });
          expect(end.truncated?.reason).toMatch(/cut short/);
        }
      }
    });

    it(`detects a flipped byte anywhere in a last ${name} block`, async () => {
      const { file, offsets } = writeSession(last);
      const bytes = fs.readFileSync(file);
      const lastStart = offsets[3] as number;
      const flipped = tmp('flip');
      for (let at = lastStart; at < bytes.length; at++) {
        const copy = Buffer.from(bytes);
        copy[at] = (copy[at] as number) ^ 0x10;
        fs.writeFileSync(flipped, copy);
        const { blocks, end } = await readAll(flipped);
        expect(
          blocks.map((b) => b.type),
          `flip at ${at}`,
        ).toEqual(['run', 'process', 'events']);
        expect(end.truncated, `flip at ${at}`).toMatchObject({
          offset: lastStart,
          bytesCut: bytes.length - lastStart,
        });
      }
    });
  }

  it('stops at a damaged block in the middle and reports everything after it as cut', async () => {
    const { file, offsets } = writeSession((w) => w.writeDrops(1, 1n));
    const bytes = fs.readFileSync(file);
    const eventsStart = offsets[2] as number;
    const at = eventsStart + BLOCK_HEADER_SIZE + 10;
    bytes[at] = (bytes[at] as number) ^ 0xff;
    fs.writeFileSync(file, bytes);
    const { blocks, end } = await readAll(file);
    expect(blocks.map((b) => b.type)).toEqual(['run', 'process']);
    expect(end.truncated).toEqual({
      offset: eventsStart,
      bytesCut: bytes.length - eventsStart,
      reason: 'CRC mismatch',
    });
  });

  it('reports an absurd block length as damage without allocating for it', async () => {
    const { file, offsets } = writeSession((w) => w.writeDrops(1, 1n));
    const bytes = fs.readFileSync(file);
    bytes.writeUInt32LE(0xfffffff0, offsets[3] as number);
    fs.writeFileSync(file, bytes);
    const { end } = await readAll(file);
    expect(end.truncated?.reason).toMatch(/exceeds/);
  });

  it('reads a file with only its header as an empty session', async () => {
    const { file } = writeSession((w) => w.writeDrops(1, 1n));
    fs.truncateSync(file, SESSION_HEADER_SIZE);
    const { blocks, end } = await readAll(file);
    expect(blocks).toEqual([]);
    expect(end).toEqual({ type: 'end', offset: SESSION_HEADER_SIZE, truncated: null });
  });
});

describe('errors', () => {
  async function openError(file: string): Promise<SessionFileError> {
    try {
      await SessionReader.open(file);
    } catch (error) {
      expect(error).toBeInstanceOf(SessionFileError);
      return error as SessionFileError;
    }
    throw new Error('expected SessionReader.open to fail');
  }

  it('says a file is not a session file', async () => {
    const empty = tmp('empty');
    fs.writeFileSync(empty, '');
    expect((await openError(empty)).message).toBe(
      `${empty} is not a Hookscope session file (it is empty)`,
    );
    const text = tmp('text');
    fs.writeFileSync(text, 'hello, this is not a session file at all\n');
    expect((await openError(text)).message).toMatch(/is not a Hookscope session file/);
    const short = tmp('short');
    fs.writeFileSync(short, 'HKSCSE');
    expect((await openError(short)).message).toMatch(/is not a Hookscope session file \(only 6/);
  });

  it('refuses a newer format version with a clear message', async () => {
    const file = tmp('newer');
    const header = Buffer.alloc(16);
    header.write('HKSCSESS', 0, 'latin1');
    header.writeUInt32LE(2, 8);
    fs.writeFileSync(file, header);
    expect((await openError(file)).message).toMatch(
      /uses session format version 2, but this Hookscope reads only version 1/,
    );
  });

  it('explains missing files and directories', async () => {
    const missing = path.join(dir, 'nope.hks');
    const e = await openError(missing);
    expect(e.message).toBe(`cannot open ${missing}: no such file or directory`);
    expect(e.code).toBe('ENOENT');
    expect((await openError(dir)).message).toBe(`cannot read ${dir}: is a directory`);
  });

  it('refuses to overwrite without overwrite, and overwrites with it', () => {
    const file = tmp();
    fs.writeFileSync(file, 'precious');
    expect(() => SessionWriter.create(file, { overwrite: false })).toThrow(
      `cannot create session file ${file}: already exists`,
    );
    expect(fs.readFileSync(file, 'utf8')).toBe('precious');
    SessionWriter.create(file, { overwrite: true }).close();
    expect(fs.statSync(file).size).toBe(SESSION_HEADER_SIZE);
  });

  it('explains create failures', () => {
    const noDir = path.join(dir, 'missing-dir', 'x.hks');
    expect(() => SessionWriter.create(noDir, { overwrite: false })).toThrow(
      /cannot create session file .*missing-dir\/x\.hks: no such file or directory/,
    );
    expect(() => SessionWriter.create(dir, { overwrite: true })).toThrow(/is a directory/);
  });

  it.runIf(fs.existsSync('/dev/full'))('reports a full disk as ENOSPC', () => {
    let error: unknown;
    try {
      SessionWriter.create('/dev/full', { overwrite: true });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(SessionFileError);
    expect((error as SessionFileError).code).toBe('ENOSPC');
    expect((error as SessionFileError).message).toBe(
      'cannot write to /dev/full: no space left on device',
    );
  });

  it('refuses writes after close', () => {
    const w = SessionWriter.create(tmp(), { overwrite: false });
    w.close();
    w.close();
    expect(() => w.writeDrops(1, 1n)).toThrow(/closed/);
  });

  it('reports a block with a valid CRC but invalid content as an error', async () => {
    const file = tmp();
    const w = SessionWriter.create(file, { overwrite: false });
    w.writeEvents(1, Buffer.from([1, 2, 3, 4, 5]));
    w.close();
    const reading = async (): Promise<void> => {
      for await (const block of readSessionBlocks(file)) void block;
    };
    await expect(reading()).rejects.toThrow(
      /events block at offset 16 is invalid: malformed record data: record length/,
    );
  });

  it('refuses JSON blocks of the wrong shape', async () => {
    const file = tmp();
    const w = SessionWriter.create(file, { overwrite: false });
    w.writeNotice({ timeMs: 1, level: 'loud' as 'info', message: 'x' });
    w.close();
    const reading = async (): Promise<void> => {
      for await (const block of readSessionBlocks(file)) void block;
    };
    await expect(reading()).rejects.toThrow(
      /notice block at offset 16 is invalid: "level" must be one of info, warning, error/,
    );
  });
});
