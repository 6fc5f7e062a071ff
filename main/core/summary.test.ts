import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import {
  SAMPLE,
  writeEnforcedSampleSession,
  writeSampleSession,
} from '../test-support/sample-session.js';
import { writeBenchSession } from '../test-support/bench-session.js';
import { offsetsOf } from '../test-support/wire-arbitraries.js';
import { processInfo } from '../test-support/session-blocks.js';
import {
  encodeAuditRecord,
  encodeDecisionRecord,
  encodeOpenCodeRecord,
  v,
} from '../test-support/wire-encoder.js';
import { NATIVE_LOAD_EVENT, decodeRecordAt } from './protocol/records.js';
import { scanWithAddon } from './protocol/record-scan.js';
import {
  SessionReader,
  SessionWriter,
  type RawSessionBlock,
  type SessionBlock,
} from './session-file.js';
import {
  SUMMARY_LIST_LIMIT,
  SessionSummarizer,
  formatSummary,
  socketAddress,
  summarizeSession,
  type SessionSummary,
} from './summary.js';

let dir: string;
let file: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hks-summary-'));
  file = path.join(dir, 'sample.hks');
  writeSampleSession(file);
});
afterAll(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

/** Audit records of these names (no arguments), as bytes and decoded, as one events block. */
function namedRecords(
  names: string[],
  offset: number,
): { raw: RawSessionBlock; decoded: SessionBlock } {
  const records = Buffer.concat(
    names.map((event, seq) => encodeAuditRecord({ event, seq, args: v.tuple([]) })),
  );
  const offsets = offsetsOf(records);
  return {
    raw: { type: 'events', offset, sessionId: 1, records, count: offsets.length },
    decoded: {
      type: 'events',
      offset,
      sessionId: 1,
      records: offsets.map((p) => decodeRecordAt(records, p)),
    },
  };
}

/** The summary of `blocks`, added in order. */
function summaryOf(...blocks: (SessionBlock | RawSessionBlock)[]): SessionSummary {
  const summarizer = new SessionSummarizer('p.hks');
  for (const block of blocks) summarizer.add(block);
  return summarizer.result();
}

describe('summarizeSession', () => {
  it('gives the same summary from decoded blocks and from bytes', async () => {
    const bench = path.join(dir, 'bench.hks');
    writeBenchSession(bench, 30_000);
    const enforced = path.join(dir, 'enforced.hks');
    writeEnforcedSampleSession(enforced, { withStack: true });
    // Names the target chose that are also names of Object's own members.
    const odd = path.join(dir, 'odd.hks');
    const w = SessionWriter.create(odd, { overwrite: true });
    w.writeEvents(
      1,
      Buffer.concat(
        ['constructor', 'toString', '__proto__', 'subprocess.Popen'].map((event, seq) =>
          encodeAuditRecord({ event, seq, args: v.tuple([v.str('/bin/x'), v.list([v.str('x')])]) }),
        ),
      ),
    );
    w.close();
    for (const f of [file, bench, enforced, odd]) {
      const fromBytes = await summarizeSession(f);
      const decoded = await summarizeSession(f, (await SessionReader.open(f)).blocks());
      expect(fromBytes).toEqual(decoded);
    }
    const oddSummary = await summarizeSession(odd);
    expect(oddSummary.totalEvents).toBe(4);
    expect(oddSummary.subprocesses.map((s) => s.event)).toEqual(['subprocess.Popen']);
  });

  it('gives the same summary from bytes as from decoded records, records repeating or not', async () => {
    // Records whose bytes after the header repeat (the summary remembers
    // what it made of those bytes) among others that differ by one field.
    const record = fc.oneof(
      fc
        .record({
          event: fc.constantFrom('subprocess.Popen', 'os.system', 'os.spawn', 'pty.spawn', 'open'),
          exe: fc.constantFrom('/bin/ls', '/bin/sh'),
          argv: fc.array(fc.constantFrom('-l', "it's", 'a b', '\n'), { maxLength: 3 }),
          truncated: fc.boolean(),
        })
        .map(
          (r) => (seq: number) =>
            encodeAuditRecord({
              seq,
              event: r.event,
              args: v.tuple([
                r.event === 'os.spawn' ? v.int(0) : v.str(r.exe),
                v.list(
                  r.argv.map((a) => v.str(a)),
                  r.truncated ? r.argv.length + 2 : undefined,
                ),
                v.str(r.exe),
              ]),
            }),
        ),
      fc
        .record({
          event: fc.constantFrom('socket.connect', 'socket.bind', 'socket.getaddrinfo'),
          host: fc.constantFrom('10.0.0.1', '::1', 'example.org'),
          port: fc.constantFrom(80, 443),
        })
        .map(
          (r) => (seq: number) =>
            encodeAuditRecord({
              seq,
              event: r.event,
              args:
                r.event === 'socket.getaddrinfo'
                  ? v.tuple([v.str(r.host), v.int(r.port)])
                  : v.tuple([v.int(3), v.tuple([v.str(r.host), v.int(r.port)])]),
            }),
        ),
      fc
        .record({
          native: fc.boolean(),
          status: fc.constantFrom(0, 0, 1),
          file: fc.constantFrom('/srv/a.py', '/srv/b.py', '/srv/é.so'),
          digest: fc.nat(1),
          mtime: fc.nat(2),
          real: fc.boolean(),
        })
        .map(
          (r) => (seq: number) =>
            encodeOpenCodeRecord({
              seq,
              event: r.native ? NATIVE_LOAD_EVENT : undefined,
              intent: r.native ? 'nativecode' : 'pythoncode',
              status: r.status,
              errno: r.status === 0 ? 0 : 13,
              mtimeNs: BigInt(r.mtime),
              sha256: Buffer.alloc(32, r.digest),
              path: v.str(r.file),
              realPath: r.real ? r.file : '',
            }),
        ),
      fc.constantFrom(
        (seq: number) =>
          encodeDecisionRecord({ seq, event: 'io.open_code', eventSeq: Math.max(0, seq - 1) }),
        (seq: number) =>
          encodeDecisionRecord({
            seq,
            event: 'dlopen',
            eventSeq: Math.max(0, seq - 1),
            by: 'default',
            ruleIndex: null,
          }),
      ),
    );
    // The sample's two processes, for the records' pids: the same records
    // come from the first, the second, then the first again (a record's
    // bytes count in their entry for each process they come from).
    const processes: Extract<SessionBlock, { type: 'process' }>[] = [];
    for await (const block of (await SessionReader.open(file)).blocks()) {
      if (block.type === 'process') processes.push(block);
    }
    expect(processes.length).toBeGreaterThanOrEqual(2);
    const sessionIds = [0, 1, 0].map(
      (i) => (processes[i] as (typeof processes)[0]).process.session,
    );
    fc.assert(
      fc.property(fc.array(record, { minLength: 1, maxLength: 50 }), (makers) => {
        const records = Buffer.concat(makers.map((make, seq) => make(seq)));
        const offsets: number[] = [];
        for (let p = 0; p < records.length; p += records.readUInt32LE(p)) offsets.push(p);
        const summarize = (
          events: (sessionId: number) => SessionBlock | RawSessionBlock,
        ): unknown => {
          const summarizer = new SessionSummarizer('p.hks');
          for (const p of processes) summarizer.add(p);
          for (const sessionId of sessionIds) summarizer.add(events(sessionId));
          return summarizer.result();
        };
        const decoded = summarize((sessionId) => ({
          type: 'events',
          offset: 99,
          sessionId,
          records: offsets.map((p) => decodeRecordAt(records, p)),
        }));
        const raw = (sessionId: number): RawSessionBlock => ({
          type: 'events',
          offset: 99,
          sessionId,
          records,
          count: offsets.length,
        });
        expect(summarize(raw)).toEqual(decoded);
        // And as without the addon's record scan: every record worked out in TypeScript.
        scanWithAddon(false);
        try {
          expect(summarize(raw)).toEqual(decoded);
        } finally {
          scanWithAddon(true);
        }
      }),
      { numRuns: Number(globalThis.process.env['FAST_CHECK_RUNS'] ?? 300) },
    );
  });

  it('counts the same from bytes past the list limit of event names, names repeating', () => {
    // More distinct names than the record scan has ids for and than the list
    // keeps; the early names repeat after the list is full.
    const names = Array.from({ length: SUMMARY_LIST_LIMIT + 300 }, (_, i) => `e${i}`);
    const order = [...names, ...names.slice(0, 5000), ...names.slice(-50)];
    const { raw, decoded: decodedBlock } = namedRecords(order, 16);
    const decoded = summaryOf(decodedBlock);
    expect(decoded.omitted.events).toBe(350);
    expect(decoded.byEvent.find((e) => e.event === 'e0')?.count).toBe(2);
    expect(summaryOf(raw)).toEqual(decoded);
  });

  it('counts the same from bytes past the list limit of subprocesses, commands repeating in two processes', () => {
    // More distinct commands than the list keeps, each raised twice, from
    // one process then another: the scan lists a command's first record
    // in each process and counts the rest by their bytes.
    const limit = SUMMARY_LIST_LIMIT + 20;
    const commands = Array.from({ length: limit }, (_, i) => `/bin/c${i}`);
    const order = [...commands, ...commands, '/bin/c0', `/bin/c${limit - 1}`];
    const records = Buffer.concat(
      order.map((exe, seq) =>
        encodeAuditRecord({
          event: 'subprocess.Popen',
          seq,
          args: v.tuple([v.str(exe), v.list([v.str(exe)])]),
        }),
      ),
    );
    const offsets = offsetsOf(records);
    const processBlock = (session: number, pid: number): SessionBlock => ({
      type: 'process',
      offset: 0,
      process: processInfo(session, pid),
    });
    const blocks = (raw: boolean): (SessionBlock | RawSessionBlock)[] => [
      processBlock(1, 101),
      processBlock(2, 102),
      ...[1, 2, 1].map((sessionId): SessionBlock | RawSessionBlock =>
        raw
          ? { type: 'events', offset: 16, sessionId, records, count: offsets.length }
          : {
              type: 'events',
              offset: 16,
              sessionId,
              records: offsets.map((p) => decodeRecordAt(records, p)),
            },
      ),
    ];
    const decoded = summaryOf(...blocks(false));
    expect(decoded.omitted.subprocesses).toBe(3 * (2 * 20 + 1));
    const first = decoded.subprocesses.find((s) => s.commandLine === '/bin/c0');
    expect(first).toMatchObject({ count: 3 * 3, pids: [101, 102] });
    expect(summaryOf(...blocks(true))).toEqual(decoded);
  });

  it('gives the pids from bytes as from decoded records when a process block comes late, or twice', () => {
    // The same connects before the process is known, after it, and after a
    // second process block gives the session another pid.
    const records = Buffer.concat(
      [0, 1].map((seq) =>
        encodeAuditRecord({
          event: 'socket.connect',
          seq,
          args: v.tuple([v.int(3), v.tuple([v.str('10.0.0.1'), v.int(80)])]),
        }),
      ),
    );
    const offsets = offsetsOf(records);
    const processBlock = (pid: number): SessionBlock => ({
      type: 'process',
      offset: 0,
      process: processInfo(7, pid),
    });
    const events = (raw: boolean): SessionBlock | RawSessionBlock =>
      raw
        ? { type: 'events', offset: 16, sessionId: 7, records, count: offsets.length }
        : {
            type: 'events',
            offset: 16,
            sessionId: 7,
            records: offsets.map((p) => decodeRecordAt(records, p)),
          };
    const blocks = (raw: boolean): (SessionBlock | RawSessionBlock)[] => [
      events(raw),
      processBlock(4242),
      events(raw),
      events(raw),
      processBlock(5555),
      events(raw),
    ];
    const decoded = summaryOf(...blocks(false));
    expect(decoded.sockets.map((s) => [s.count, s.pids])).toEqual([[8, [4242, 5555]]]);
    expect(summaryOf(...blocks(true))).toEqual(decoded);
  });

  it('counts names first seen in bytes after the list is full as the decoded records count them', () => {
    // The list filled by decoded blocks; then blocks of bytes with names
    // the record scan still takes, which the summary may not list.
    const first = namedRecords(
      Array.from({ length: SUMMARY_LIST_LIMIT + 10 }, (_, i) => `n${i}`),
      16,
    ).decoded;
    const late = namedRecords(['late.one', 'late.two', 'late.one', 'n3', 'late.one'], 32);
    const decoded = summaryOf(first, late.decoded);
    expect(decoded.omitted.events).toBe(10 + 4);
    expect(decoded.byEvent.find((e) => e.event === 'late.one')).toBeUndefined();
    expect(decoded.byEvent.find((e) => e.event === 'n3')?.count).toBe(2);
    expect(summaryOf(first, late.raw)).toEqual(decoded);
  });

  it('summarises processes, categories, code, subprocesses, sockets and drops', async () => {
    const s = await summarizeSession(file);
    expect(s.run?.command).toEqual(['python3', 'app.py']);
    expect(s.runEnd?.exitCode).toBe(0);
    expect(s.totalEvents).toBe(10);
    expect(s.processes.map((p) => [p.pid, p.records, p.dropped, p.end?.reason])).toEqual([
      [SAMPLE.parentPid, 6, 0n, 'exited'],
      [SAMPLE.childPid, 4, 5n, 'exited'],
    ]);
    expect(s.processes[1]?.recordsTotal).toBe(9n);
    expect(s.processes[0]?.startedAtMs).toBe(1_700_000_000_001);
    expect(Object.fromEntries(s.byCategory.map((c) => [c.category, c.count]))).toEqual({
      imports: 3,
      code: 0,
      files: 1,
      processes: 2,
      network: 3,
      native: 1,
      serialization: 0,
      sys: 0,
      other: 0,
    });
    expect(s.byEvent[0]).toEqual({ event: 'io.open_code', category: 'imports', count: 2 });
    expect(s.codeLoaded).toEqual([
      {
        path: '/usr/lib/python3.12/json/__init__.py',
        realPath: '/usr/lib/python3.12/json/__init__.py',
        sha256: SAMPLE.sha256.toString('hex'),
        size: 12_345,
        intent: 'pythoncode',
        errno: null,
        count: 1,
        pids: [SAMPLE.parentPid],
      },
      {
        path: '/srv/missing.py',
        realPath: '',
        sha256: null,
        size: 0,
        intent: 'pythoncode',
        errno: 2,
        count: 1,
        pids: [SAMPLE.childPid],
      },
    ]);
    expect(s.subprocesses.map((p) => [p.event, p.executable, p.commandLine])).toEqual([
      ['subprocess.Popen', '/bin/ls', "/bin/ls -la 'my dir'"],
      ['os.system', '/bin/sh', "/bin/sh -c 'echo hi'"],
    ]);
    expect(s.sockets.map((x) => [x.operation, x.address, x.pids])).toEqual([
      ['getaddrinfo', 'example.com:443', [SAMPLE.parentPid]],
      ['connect', '93.184.216.34:443', [SAMPLE.parentPid]],
      ['bind', '/tmp/app.sock', [SAMPLE.childPid]],
    ]);
    expect(s.droppedTotal).toBe(5n);
    expect(s.notices).toHaveLength(1);
    expect(s.truncated).toBeNull();
  });

  it('renders socket addresses', () => {
    expect(socketAddress(v.tuple([v.str('::1'), v.int(8080), v.int(0), v.int(0)]))).toBe(
      '[::1]:8080',
    );
    expect(socketAddress(v.bytes(Buffer.from('\0abstract')))).toBe('@abstract');
    expect(socketAddress(v.tuple([v.str(''), v.int(0)]))).toBe(':0');
  });
});

describe('formatSummary', () => {
  it('prints every section', async () => {
    const text = formatSummary(await summarizeSession(file));
    expect(text).toContain(`Session ${file}`);
    expect(text).toMatch(/command +python3 app\.py/);
    expect(text).toMatch(/result +exit code 0/);
    expect(text).toContain('Processes (2)');
    expect(text).toMatch(/pid 100 +ppid 50 +Python 3\.12\.3 +exited, code 0 +6 records, 0 dropped/);
    expect(text).toContain('Events (10)');
    expect(text).toMatch(/Imports +3/);
    expect(text).toMatch(
      /pythoncode +\/usr\/lib\/python3\.12\/json\/__init__\.py +sha256 cdcdcdcdcdcdcdcd… +12\.1 KiB/,
    );
    expect(text).toMatch(/FAILED \(ENOENT, errno 2\)/);
    expect(text).toContain("subprocess.Popen  /bin/ls -la 'my dir'");
    expect(text).toMatch(/connect +93\.184\.216\.34:443/);
    expect(text).toContain('Dropped records\n  5 records lost');
    expect(text).toContain('warning: refused a connection from pid 999: wrong token');
    expect(text).not.toContain('Truncated');
  });

  it('says none for empty sections and reports a torn tail', async () => {
    const empty = path.join(dir, 'empty.hks');
    const w = SessionWriter.create(empty, { overwrite: true });
    w.writeNotice({ timeMs: 1, level: 'info', message: 'hello' });
    w.close();
    fs.appendFileSync(empty, Buffer.from([1, 2, 3]));
    const text = formatSummary(await summarizeSession(empty));
    expect(text).toContain('Processes (0)\n  none');
    expect(text).toContain('Events (0)\n  none');
    expect(text).toContain('Code loaded (0)\n  none');
    expect(text).toContain('Subprocesses (0)\n  none');
    expect(text).toContain('Network (0)\n  none');
    expect(text).toContain('Dropped records\n  none');
    const noticeEnd = fs.statSync(empty).size - 3;
    expect(text).toContain(
      `Truncated file\n  3 bytes from offset ${noticeEnd} could not be read (block header cut short)`,
    );
  });
});

describe('a run under a policy', () => {
  it('lists each denial and does not count decisions as events', async () => {
    const enforced = path.join(dir, 'enforced.hks');
    writeEnforcedSampleSession(enforced);
    const s = await summarizeSession(enforced);
    expect(s.policy?.file).toBe('/srv/policy.json');
    expect(s.totalEvents).toBe(4);
    expect(s.byEvent.map((e) => e.event).sort()).toEqual([
      'io.open_code',
      'open',
      'socket.connect',
      'subprocess.Popen',
    ]);
    expect(s.processes[0]?.records).toBe(7);
    expect(s.deniedTotal).toBe(3);
    expect(s.denials).toEqual([
      {
        event: 'io.open_code',
        intent: 'bytecode',
        realPath: '/srv/__pycache__/mod.cpython-312.pyc',
        ruleIndex: 0,
        by: 'rule',
        decidedBy: 'rule 0',
        count: 1,
        pids: [SAMPLE.parentPid],
        stack: null,
      },
      {
        event: 'subprocess.Popen',
        intent: null,
        realPath: null,
        ruleIndex: 1,
        by: 'rule',
        decidedBy: 'rule 1 (no subprocesses)',
        count: 1,
        pids: [SAMPLE.parentPid],
        stack: null,
      },
      {
        event: 'socket.connect',
        intent: null,
        realPath: null,
        ruleIndex: 2,
        by: 'headless',
        decidedBy: 'the headless --ask answer, asked by rule 2',
        count: 1,
        pids: [SAMPLE.parentPid],
        stack: null,
      },
    ]);
    const text = formatSummary(s);
    expect(text).toContain(
      'policy    /srv/policy.json (sha256 efefefefefefefef…, ask rules answered deny)',
    );
    expect(text).toContain(
      [
        'Denied (3)',
        '  pid 100  bytecode /srv/__pycache__/mod.cpython-312.pyc  by rule 0',
        '  pid 100  subprocess.Popen                               by rule 1 (no subprocesses)',
        '  pid 100  socket.connect                                 by the headless --ask answer, asked by rule 2',
      ].join('\n'),
    );
    expect(text).toContain('Events (4)');
  });

  it('has no Denied section without a policy', async () => {
    expect(formatSummary(await summarizeSession(file))).not.toContain('Denied');
  });
});
