// A small but complete session file, written with the real SessionWriter
// and records from the test wire encoder: two processes (a parent and a
// child), imports, code loads (one failed), files, a socket, subprocesses,
// drops, a notice and a clean end.

import { SessionWriter } from '../core/session-file.js';
import {
  encodeAuditRecord,
  encodeDecisionRecord,
  encodeOpenCodeRecord,
  v,
} from './wire-encoder.js';

export const SAMPLE = {
  parentPid: 100,
  childPid: 200,
  startMonotonicNs: 5_000_000_000n,
  sha256: Buffer.alloc(32, 0xcd),
} as const;

const sock = v.other('socket', 0x7f0000001000n);

export function writeSampleSession(path: string): void {
  const w = SessionWriter.create(path, { overwrite: true });
  w.writeRun({
    hookscopeVersion: '0.1.0',
    command: ['python3', 'app.py'],
    cwd: '/srv',
    startedAtMs: 1_700_000_000_000,
    socketDir: '/run/user/1000/hookscope/abc',
  });
  w.writeProcess({
    session: 1,
    pid: SAMPLE.parentPid,
    ppid: 50,
    parentSession: null,
    uid: 1000,
    exe: '/usr/bin/python3.12',
    argv: ['python3', 'app.py'],
    cwd: '/srv',
    pythonVersion: '3.12.3 (main, Apr 10 2024) [GCC 13.2.0]',
    agentVersion: '0.1.0',
    startMonotonicNs: SAMPLE.startMonotonicNs.toString(),
    startRealtimeNs: '1700000000001000000',
    flags: { preInit: true, initializedAtStart: false, auditHook: true, openCodeHook: true },
  });
  const t = (ms: number): bigint => SAMPLE.startMonotonicNs + BigInt(ms * 1_000_000);
  w.writeEvents(
    1,
    Buffer.concat([
      encodeAuditRecord({
        seq: 0,
        tid: 100,
        timeNs: t(1),
        event: 'import',
        args: v.tuple([v.str('json'), v.none(), v.list([v.str('/usr/lib/python3.12')])]),
      }),
      encodeOpenCodeRecord({
        seq: 1,
        tid: 100,
        timeNs: t(1.5),
        intent: 'pythoncode',
        size: 12_345,
        sha256: SAMPLE.sha256,
        path: v.str('/usr/lib/python3.12/json/__init__.py'),
        realPath: '/usr/lib/python3.12/json/__init__.py',
      }),
      encodeAuditRecord({
        seq: 2,
        tid: 100,
        timeNs: t(2),
        event: 'open',
        args: v.tuple([v.str('/etc/hosts'), v.str('r'), v.int(524288)]),
      }),
      encodeAuditRecord({
        seq: 3,
        tid: 101,
        timeNs: t(3),
        event: 'socket.getaddrinfo',
        args: v.tuple([v.str('example.com'), v.int(443), v.int(0), v.int(1), v.int(6)]),
      }),
      encodeAuditRecord({
        seq: 4,
        tid: 101,
        timeNs: t(4),
        event: 'socket.connect',
        args: v.tuple([sock, v.tuple([v.str('93.184.216.34'), v.int(443)])]),
      }),
      encodeAuditRecord({
        seq: 5,
        tid: 100,
        timeNs: t(5),
        event: 'subprocess.Popen',
        args: v.tuple([
          v.str('/bin/ls'),
          v.list([v.str('/bin/ls'), v.str('-la'), v.str('my dir')]),
          v.none(),
          v.none(),
        ]),
      }),
    ]),
  );
  w.writeProcess({
    session: 2,
    pid: SAMPLE.childPid,
    ppid: SAMPLE.parentPid,
    parentSession: 1,
    uid: 1000,
    exe: '/usr/bin/python3.12',
    argv: ['python3', '-c', 'import os'],
    cwd: '/srv',
    pythonVersion: '3.12.3 (main)',
    agentVersion: '0.1.0',
    startMonotonicNs: '6000000000',
    startRealtimeNs: '1700000001000000000',
    flags: { preInit: true, initializedAtStart: false, auditHook: true, openCodeHook: true },
  });
  w.writeEvents(
    2,
    Buffer.concat([
      encodeAuditRecord({
        seq: 0,
        tid: 200,
        timeNs: 6_000_500_000n,
        event: 'os.system',
        args: v.tuple([v.bytes(Buffer.from('echo hi'))]),
      }),
      encodeOpenCodeRecord({
        seq: 1,
        tid: 200,
        timeNs: 6_001_000_000n,
        intent: 'pythoncode',
        status: 1,
        errno: 2,
        path: v.str('/srv/missing.py'),
        realPath: '',
      }),
      encodeAuditRecord({
        seq: 7,
        tid: 200,
        timeNs: 6_002_000_000n,
        event: 'socket.bind',
        args: v.tuple([sock, v.str('/tmp/app.sock')]),
      }),
      encodeAuditRecord({
        seq: 8,
        tid: 200,
        timeNs: 6_003_000_000n,
        event: 'ctypes.dlopen',
        args: v.tuple([v.str('libc.so.6')]),
      }),
    ]),
  );
  w.writeDrops(2, 5n);
  w.writeProcessEnd({
    session: 2,
    endTimeMs: 1_700_000_002_000,
    reason: 'exited',
    exitCode: 0,
    recordsTotal: '9',
    droppedTotal: '5',
  });
  w.writeNotice({
    timeMs: 1_700_000_002_500,
    level: 'warning',
    message: 'refused a connection from pid 999: wrong token',
  });
  w.writeProcessEnd({
    session: 1,
    endTimeMs: 1_700_000_003_000,
    reason: 'exited',
    exitCode: 0,
    recordsTotal: 6,
    droppedTotal: 0,
  });
  w.writeRunEnd({ endedAtMs: 1_700_000_003_100, exitCode: 0, signal: null });
  w.close();
}

/** The policy text of the enforced sample: rule 1 has a comment, rule 0 none. */
export const ENFORCED_POLICY_TEXT = `${JSON.stringify(
  {
    version: 1,
    default: 'allow',
    rules: [
      { action: 'deny', intent: 'bytecode', realpathPrefix: '/srv/' },
      { action: 'deny', event: 'subprocess.Popen', comment: 'no subprocesses' },
      { action: 'ask', event: 'socket.connect' },
    ],
  },
  null,
  2,
)}\n`;

/**
 * A run under a policy: one process whose subprocess.Popen was denied by
 * rule 1, a stale .pyc denied by rule 0, a socket.connect asked and
 * answered headless, and an `open` that was simply allowed (no decision).
 */
export function writeEnforcedSampleSession(
  path: string,
  options: { withStack?: boolean } = {},
): void {
  const w = SessionWriter.create(path, { overwrite: true });
  w.writeRun({
    hookscopeVersion: '0.1.0',
    command: ['python3', 'app.py'],
    cwd: '/srv',
    startedAtMs: 1_700_000_000_000,
    socketDir: '/run/user/1000/hookscope/abc',
  });
  w.writePolicy({
    file: '/srv/policy.json',
    sha256: 'ef'.repeat(32),
    text: ENFORCED_POLICY_TEXT,
    askAnswer: 'deny',
  });
  w.writeProcess({
    session: 1,
    pid: SAMPLE.parentPid,
    ppid: 50,
    parentSession: null,
    uid: 1000,
    exe: '/usr/bin/python3.12',
    argv: ['python3', 'app.py'],
    cwd: '/srv',
    pythonVersion: '3.12.3 (main)',
    agentVersion: '0.1.0',
    startMonotonicNs: SAMPLE.startMonotonicNs.toString(),
    startRealtimeNs: '1700000000001000000',
    flags: { preInit: true, initializedAtStart: false, auditHook: true, openCodeHook: true },
  });
  const t = (ms: number): bigint => SAMPLE.startMonotonicNs + BigInt(ms * 1_000_000);
  w.writeEvents(
    1,
    Buffer.concat([
      encodeOpenCodeRecord({
        seq: 0,
        tid: 100,
        timeNs: t(1),
        intent: 'bytecode',
        size: 10,
        sha256: SAMPLE.sha256,
        path: v.str('/srv/__pycache__/mod.cpython-312.pyc'),
        realPath: '/srv/__pycache__/mod.cpython-312.pyc',
      }),
      encodeDecisionRecord({
        seq: 1,
        tid: 100,
        timeNs: t(1),
        event: 'io.open_code',
        eventSeq: 0,
        ruleIndex: 0,
      }),
      encodeAuditRecord({
        seq: 2,
        tid: 100,
        timeNs: t(2),
        event: 'open',
        args: v.tuple([v.str('/etc/hosts')]),
      }),
      encodeAuditRecord({
        seq: 3,
        tid: 100,
        timeNs: t(3),
        event: 'subprocess.Popen',
        args: v.tuple([v.str('/bin/ls'), v.list([v.str('ls')]), v.none(), v.none()]),
      }),
      encodeDecisionRecord({
        seq: 4,
        tid: 100,
        timeNs: t(3),
        event: 'subprocess.Popen',
        eventSeq: 3,
        ruleIndex: 1,
        waitedNs: 2_500_000n,
        ...(options.withStack
          ? {
              stack: [
                ['/usr/lib/python3.12/subprocess.py', '_execute_child', 1800, 'subprocess'],
                ['/srv/app.py', 'list_files', 12, '__main__'],
                ['/srv/app.py', '<module>', 20, '__main__'],
              ] as Array<[string, string, number, string | null]>,
            }
          : {}),
      }),
      encodeAuditRecord({
        seq: 5,
        tid: 100,
        timeNs: t(4),
        event: 'socket.connect',
        args: v.tuple([v.other('socket', 1n), v.tuple([v.str('10.0.0.1'), v.int(80)])]),
      }),
      encodeDecisionRecord({
        seq: 6,
        tid: 100,
        timeNs: t(4),
        event: 'socket.connect',
        eventSeq: 5,
        action: 'ask',
        by: 'headless',
        ruleIndex: 2,
      }),
    ]),
  );
  w.writeProcessEnd({
    session: 1,
    endTimeMs: 1_700_000_003_000,
    reason: 'exited',
    exitCode: 0,
    recordsTotal: 7,
    droppedTotal: 0,
  });
  w.writeRunEnd({ endedAtMs: 1_700_000_003_100, exitCode: 0, signal: null });
  w.close();
}
