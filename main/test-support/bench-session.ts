// Large synthetic sessions for the benchmarks: real session files written
// with the real writer, events of every category from a few processes and
// threads, with a denial now and then (and its stack) so that decision
// marks, filters and reports have something to show.
import { SessionWriter } from '../core/session-file.js';
import {
  encodeAuditRecord,
  encodeDecisionRecord,
  encodeOpenCodeRecord,
  v,
} from './wire-encoder.js';

/** Events per events block, as the recorder writes them in bursts. */
const BLOCK_EVENTS = 2000;
/** One event in this many is denied (a decision record follows it). */
const DENY_EVERY = 5000;

const AUDIT_EVENTS = [
  'open',
  'import',
  'socket.connect',
  'exec',
  'os.listdir',
  'subprocess.Popen',
  'ctypes.dlopen',
  'pickle.find_class',
  'sys._getframe',
  'object.__getattr__',
] as const;

/**
 * Writes `events` events (decisions are extra records) from `processes`
 * processes, 1 µs apart on one clock, to `file`.
 */
export function writeBenchSession(file: string, events: number, processes = 4): void {
  const w = SessionWriter.create(file, { overwrite: true });
  w.writeRun({
    hookscopeVersion: 'bench',
    command: ['python3', 'app.py'],
    cwd: '/srv',
    startedAtMs: 1_700_000_000_000,
    socketDir: '/tmp/hookscope-bench',
  });
  const startNs = 1_000_000_000n;
  for (let p = 0; p < processes; p++) {
    w.writeProcess({
      session: p + 1,
      pid: 4000 + p,
      ppid: p === 0 ? 1 : 4000,
      parentSession: p === 0 ? null : 1,
      uid: 1000,
      exe: '/usr/bin/python3',
      argv: ['python3', p === 0 ? 'app.py' : `worker-${p}.py`],
      cwd: '/srv',
      pythonVersion: '3.12.3',
      agentVersion: 'bench',
      startMonotonicNs: (startNs + BigInt(p) * 1000n).toString(),
      startRealtimeNs: '1700000000000000000',
      flags: { preInit: true, initializedAtStart: false, auditHook: true, openCodeHook: true },
    });
  }
  const batches: Buffer[][] = Array.from({ length: processes }, () => []);
  const seqs = new Array<number>(processes).fill(0);
  for (let i = 0; i < events; i++) {
    const p = i % processes;
    const batch = batches[p] as Buffer[];
    const seq = seqs[p] as number;
    seqs[p] = seq + 1;
    const tid = 100 + (i % 3);
    const timeNs = startNs + BigInt(i) * 1000n;
    if (i % 10 === 0) {
      batch.push(
        encodeOpenCodeRecord({
          seq,
          tid,
          timeNs,
          intent: 'pythoncode',
          // A module has one content in a run: loading its path again
          // gives the same size and digest (as a learned policy expects).
          size: 1000 + ((i % 5000) % 97),
          sha256: Buffer.alloc(32, (i % 5000) % 251),
          path: v.str(`/srv/app/mod_${i % 5000}.py`),
          realPath: `/srv/app/mod_${i % 5000}.py`,
        }),
      );
    } else {
      const event = AUDIT_EVENTS[i % AUDIT_EVENTS.length] as string;
      batch.push(
        encodeAuditRecord({
          seq,
          tid,
          timeNs,
          event,
          args:
            event === 'socket.connect'
              ? v.tuple([v.other('socket', 0x1000n), v.tuple([v.str('10.0.0.1'), v.int(443)])])
              : v.tuple([v.str(`/srv/data/file_${i % 1000}.txt`), v.str('r'), v.int(524288)]),
        }),
      );
    }
    if (i % DENY_EVERY === DENY_EVERY - 1) {
      seqs[p] = seq + 2;
      batch.push(
        encodeDecisionRecord({
          seq: seq + 1,
          tid,
          timeNs,
          event: 'subprocess.Popen',
          eventSeq: seq,
          ruleIndex: 0,
          stack: [
            ['/usr/lib/python3.12/subprocess.py', '_execute_child', 1800, 'subprocess'],
            ['/srv/app.py', 'run_job', 42, '__main__'],
          ],
        }),
      );
    }
    if (batch.length >= BLOCK_EVENTS) {
      w.writeEvents(p + 1, Buffer.concat(batch));
      batch.length = 0;
    }
  }
  batches.forEach((batch, p) => {
    if (batch.length > 0) w.writeEvents(p + 1, Buffer.concat(batch));
  });
  for (let p = 0; p < processes; p++) {
    w.writeProcessEnd({
      session: p + 1,
      endTimeMs: 1_700_000_010_000,
      reason: 'exited',
      exitCode: 0,
      recordsTotal: seqs[p] as number,
      droppedTotal: 0,
    });
  }
  w.writeRunEnd({ endedAtMs: 1_700_000_010_100, exitCode: 0, signal: null });
  w.close();
}
