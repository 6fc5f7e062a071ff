import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PassThrough, Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { SessionWriter } from '../core/session-file.js';
import {
  SAMPLE,
  writeEnforcedSampleSession,
  writeSampleSession,
} from '../test-support/sample-session.js';
import { encodeAuditRecord, encodeDecisionRecord, v } from '../test-support/wire-encoder.js';
import { eventMatcher, showCommand, type ShowOptions } from './show.js';

let dir: string;
let file: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hks-show-'));
  file = path.join(dir, 'sample.hks');
  writeSampleSession(file);
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

async function show(
  target: string,
  opts: ShowOptions,
): Promise<{ code: number; out: string; err: string }> {
  const out = new PassThrough();
  const err = new PassThrough();
  const outChunks: Buffer[] = [];
  const errChunks: Buffer[] = [];
  out.on('data', (b: Buffer) => outChunks.push(b));
  err.on('data', (b: Buffer) => errChunks.push(b));
  const code = await showCommand(target, opts, out, err);
  return {
    code,
    out: Buffer.concat(outChunks).toString('utf8'),
    err: Buffer.concat(errChunks).toString('utf8'),
  };
}

function jsonLines(text: string): Array<Record<string, unknown>> {
  return text
    .split('\n')
    .filter((line) => line !== '')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

describe('show --json', () => {
  it('prints one object per event with the documented fields', async () => {
    const { code, out, err } = await show(file, { json: true });
    expect(code).toBe(0);
    expect(err).toBe('');
    const lines = jsonLines(out);
    expect(lines).toHaveLength(10);
    expect(lines[0]).toEqual({
      session: 1,
      pid: SAMPLE.parentPid,
      tid: 100,
      seq: 0,
      time_ns: '5001000000',
      rel_ms: 1,
      kind: 'audit',
      event: 'import',
      category: 'imports',
      args: ['json', null, ['/usr/lib/python3.12']],
    });
    expect(lines[1]).toEqual({
      session: 1,
      pid: SAMPLE.parentPid,
      tid: 100,
      seq: 1,
      time_ns: '5001500000',
      rel_ms: 1.5,
      kind: 'open-code',
      event: 'io.open_code',
      category: 'imports',
      args: ['/usr/lib/python3.12/json/__init__.py'],
      path: '/usr/lib/python3.12/json/__init__.py',
      real_path: '/usr/lib/python3.12/json/__init__.py',
      size: 12_345,
      sha256: SAMPLE.sha256.toString('hex'),
      intent: 'pythoncode',
    });
    const failed = lines.find((l) => l.path === '/srv/missing.py');
    expect(failed).toMatchObject({
      pid: SAMPLE.childPid,
      sha256: null,
      error: { errno: 2, message: 'ENOENT, errno 2' },
    });
    const connect = lines.find((l) => l.event === 'socket.connect');
    expect(connect?.args).toEqual([
      { type: 'socket', id: '0x7f0000001000' },
      ['93.184.216.34', 443],
    ]);
    const system = lines.find((l) => l.event === 'os.system');
    expect(system?.args).toEqual([{ bytes: Buffer.from('echo hi').toString('hex'), len: 7 }]);
    // No '#' lines in JSON mode.
    expect(out.split('\n').filter((l) => l.startsWith('#'))).toEqual([]);
  });

  it('filters by event glob, with dots and slashes in names', async () => {
    const sockets = jsonLines((await show(file, { json: true, event: 'socket.*' })).out);
    expect(sockets.map((l) => l.event)).toEqual([
      'socket.getaddrinfo',
      'socket.connect',
      'socket.bind',
    ]);
    const either = jsonLines((await show(file, { json: true, event: '{open,os.*}' })).out);
    expect(either.map((l) => l.event)).toEqual(['open', 'os.system']);
    const exact = jsonLines((await show(file, { json: true, event: 'socket' })).out);
    expect(exact).toEqual([]);
    expect(eventMatcher('ctypes.*')('ctypes.cdata/buffer')).toBe(true);
    expect(eventMatcher('*')('os.startfile/2')).toBe(true);
    expect(eventMatcher('glob.glob/2')('glob.glob/2')).toBe(true);
    expect(eventMatcher('os.*')('socket.connect')).toBe(false);
    expect(eventMatcher('Open')('open')).toBe(false);
  });

  it('filters by pid', async () => {
    const child = jsonLines((await show(file, { json: true, pid: SAMPLE.childPid })).out);
    expect(child.map((l) => l.event)).toEqual([
      'os.system',
      'io.open_code',
      'socket.bind',
      'ctypes.dlopen',
    ]);
    expect(new Set(child.map((l) => l.pid))).toEqual(new Set([SAMPLE.childPid]));
    const both = jsonLines(
      (await show(file, { json: true, pid: SAMPLE.childPid, event: 'socket.*' })).out,
    );
    expect(both.map((l) => l.event)).toEqual(['socket.bind']);
    expect(jsonLines((await show(file, { json: true, pid: 4242 })).out)).toEqual([]);
  });
});

describe('show (text)', () => {
  it('prints readable lines with process context', async () => {
    const { code, out, err } = await show(file, {});
    expect(code).toBe(0);
    expect(err).toBe('');
    const lines = out.trimEnd().split('\n');
    expect(lines[0]).toBe(
      '# process 100 started (ppid 50, session 1, Python 3.12.3): python3 app.py',
    );
    expect(lines[1]).toBe(
      "      +1.000 ms  100/100       import('json', None, ['/usr/lib/python3.12'])",
    );
    expect(out).toContain(
      `io.open_code pythoncode '/usr/lib/python3.12/json/__init__.py' sha256=${SAMPLE.sha256.toString('hex')} size=12345`,
    );
    expect(out).toContain("open('/etc/hosts', 'r', 524288)");
    expect(out).toContain(
      "socket.connect(<socket object at 0x7f0000001000>, ('93.184.216.34', 443))",
    );
    expect(out).toContain("io.open_code pythoncode '/srv/missing.py' FAILED (ENOENT, errno 2)");
    expect(out).toContain('# process 200: 5 records dropped so far');
    expect(out).toContain('# process 200 exited with code 0');
    expect(out).toContain('# warning: refused a connection from pid 999: wrong token');
  });

  it('shows only the chosen process with --pid', async () => {
    const { out } = await show(file, { pid: SAMPLE.parentPid });
    expect(out).toContain('# process 100 started');
    expect(out).not.toContain('# process 200');
    expect(out).not.toContain('os.system');
  });
});

describe('show errors', () => {
  it('refuses a file that is not a session with exit code 2 and one line', async () => {
    const notSession = path.join(dir, 'notes.txt');
    fs.writeFileSync(notSession, 'just some text\n');
    const { code, out, err } = await show(notSession, {});
    expect(code).toBe(2);
    expect(out).toBe('');
    expect(err).toBe(
      `hookscope show: ${notSession} is not a Hookscope session file (wrong magic bytes)\n`,
    );
  });

  it('reports a missing file', async () => {
    const { code, err } = await show(path.join(dir, 'missing.hks'), {});
    expect(code).toBe(2);
    expect(err).toMatch(
      /^hookscope show: cannot open .*missing\.hks: no such file or directory\n$/,
    );
  });

  it('refuses a bad --pid', async () => {
    const { code, err } = await show(file, { pid: Number.NaN });
    expect(code).toBe(2);
    expect(err).toMatch(/--pid must be a process id/);
  });

  it('prints everything complete from a truncated file, then warns, exit 0', async () => {
    const bytes = fs.readFileSync(file);
    const cut = path.join(dir, 'cut.hks');
    fs.writeFileSync(cut, bytes.subarray(0, bytes.length - 5));
    const whole = await show(file, { json: true });
    const torn = await show(cut, { json: true });
    expect(torn.code).toBe(0);
    expect(torn.out).toBe(whole.out);
    const runEndOffset =
      bytes.length -
      (12 + JSON.stringify({ endedAtMs: 1_700_000_003_100, exitCode: 0, signal: null }).length);
    expect(torn.err).toBe(
      `hookscope show: warning: ${cut} is truncated: ${bytes.length - 5 - runEndOffset} bytes at offset ${runEndOffset} ` +
        'could not be read (block cut short (' +
        `${bytes.length - 5 - runEndOffset - 12} of ${bytes.length - runEndOffset - 12} payload bytes)); everything before them was shown\n`,
    );
  });
});

describe('show on large sessions', () => {
  it('respects backpressure of a slow output and prints every line', async () => {
    const big = path.join(dir, 'big.hks');
    const w = SessionWriter.create(big, { overwrite: true });
    const batch = Buffer.concat(
      Array.from({ length: 1000 }, (_, i) =>
        encodeAuditRecord({ seq: i, event: 'open', args: v.tuple([v.str(`/data/file-${i}`)]) }),
      ),
    );
    for (let i = 0; i < 20; i++) w.writeEvents(1, batch);
    w.close();

    let lines = 0;
    let maxBuffered = 0;
    const slow = new Writable({
      highWaterMark: 16 * 1024,
      write(chunk: Buffer, _encoding, callback) {
        for (const b of chunk) if (b === 0x0a) lines++;
        setImmediate(callback);
      },
    });
    const check = setInterval(() => {
      maxBuffered = Math.max(maxBuffered, slow.writableLength);
    }, 1);
    const err = new PassThrough();
    const code = await showCommand(big, {}, slow, err);
    clearInterval(check);
    await new Promise<void>((resolve) => slow.end(resolve));
    expect(code).toBe(0);
    expect(lines).toBe(20_000);
    // One batch of at most ~64 KiB plus a line is ever waiting.
    expect(maxBuffered).toBeLessThan(200 * 1024);
  });

  it('stops quietly when the output closes early', async () => {
    const big = path.join(dir, 'big2.hks');
    const w = SessionWriter.create(big, { overwrite: true });
    const batch = Buffer.concat(
      Array.from({ length: 1000 }, (_, i) =>
        encodeAuditRecord({ seq: i, event: 'open', args: v.tuple([v.str('x'.repeat(100))]) }),
      ),
    );
    for (let i = 0; i < 10; i++) w.writeEvents(1, batch);
    w.close();
    let received = 0;
    const closing = new Writable({
      highWaterMark: 1024,
      write(chunk: Buffer, _encoding, callback) {
        received += chunk.length;
        if (received > 100_000) {
          const error = Object.assign(new Error('write EPIPE'), { code: 'EPIPE' });
          callback(error);
        } else callback();
      },
    });
    const err = new PassThrough();
    const code = await showCommand(big, {}, closing, err);
    expect(code).toBe(0);
    expect(received).toBeLessThan(1_000_000);
  });
});

describe('show with decisions', () => {
  let enforced: string;
  beforeAll(() => {
    enforced = path.join(dir, 'enforced.hks');
    writeEnforcedSampleSession(enforced);
  });

  it('prints a decision line right after the record it decides', async () => {
    const { code, out } = await show(enforced, {});
    expect(code).toBe(0);
    const lines = out.split('\n');
    expect(lines[0]).toBe(
      `# policy /srv/policy.json (sha256 ${'ef'.repeat(32)}, ask rules answered deny)`,
    );
    const after = (needle: string): string | undefined =>
      lines[lines.findIndex((l) => l.includes(needle)) + 1];
    expect(after('io.open_code bytecode')).toBe('# denied by rule 0');
    expect(after('subprocess.Popen(')).toBe(
      '# denied by rule 1 (no subprocesses); waited 2.500 ms',
    );
    expect(after('socket.connect(')).toBe('# denied by the headless --ask answer, asked by rule 2');
    // An allowed event gets no decision line.
    expect(after(' open(')).toContain('subprocess.Popen(');
    // The event filter keeps a decision with its event.
    const popen = (await show(enforced, { event: 'subprocess.*' })).out.split('\n');
    expect(
      popen.filter((l) => l !== '' && !l.startsWith('# process') && !l.startsWith('# policy')),
    ).toEqual([
      expect.stringContaining('subprocess.Popen('),
      '# denied by rule 1 (no subprocesses); waited 2.500 ms',
    ]);
  });

  it('merges decisions into the decided events in --json', async () => {
    const lines = jsonLines((await show(enforced, { json: true })).out);
    expect(lines.map((l) => l.event)).toEqual([
      'io.open_code',
      'open',
      'subprocess.Popen',
      'socket.connect',
    ]);
    expect(lines[0]?.decision).toEqual({
      outcome: 'denied',
      action: 'deny',
      by: 'rule',
      rule: 0,
      waited_ns: '0',
      seq: 1,
    });
    expect(lines[1]).not.toHaveProperty('decision');
    expect(lines[2]?.decision).toEqual({
      outcome: 'denied',
      action: 'deny',
      by: 'rule',
      rule: 1,
      comment: 'no subprocesses',
      waited_ns: '2500000',
      seq: 4,
    });
    expect(lines[3]?.decision).toMatchObject({ action: 'ask', by: 'headless', rule: 2 });
  });

  it('says which record a decision is about when it does not follow it', async () => {
    const far = path.join(dir, 'far.hks');
    const w = SessionWriter.create(far, { overwrite: true });
    w.writeEvents(
      1,
      Buffer.concat([
        ...Array.from({ length: 300 }, (_, i) =>
          encodeAuditRecord({ seq: i, event: 'open', args: v.tuple([]) }),
        ),
        encodeDecisionRecord({
          seq: 300,
          event: 'open',
          eventSeq: 3,
          ruleIndex: null,
          by: 'default',
        }),
        encodeDecisionRecord({
          seq: 301,
          event: 'open',
          eventSeq: 299,
          ruleIndex: null,
          by: 'default',
        }),
      ]),
    );
    w.close();
    const text = (await show(far, {})).out.split('\n');
    expect(text[300]).toBe('# denied by the default [decides ?/1000 seq 3]');
    expect(text[301]).toBe('# denied by the default');
    const lines = jsonLines((await show(far, { json: true })).out);
    // seq 3 had been printed already: the decision is a line of its own, in order.
    expect(lines).toHaveLength(301);
    expect(lines[299]).toMatchObject({ seq: 299, decision: { by: 'default', rule: null } });
    expect(lines[300]).toMatchObject({
      kind: 'decision',
      seq: 300,
      event_seq: '3',
      decision: { outcome: 'denied', by: 'default', rule: null },
    });
  });
});
