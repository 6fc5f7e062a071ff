// npm run bench:attach — what attaching costs, side by side in one run:
// gdb injection (CPython 3.8–3.13 on the host) and sys.remote_exec
// (CPython 3.14 in the test chroot). For each: the attach wall time (from
// the request to the probe event) and the target's longest pause, measured
// inside the target by a ticker thread that sleeps 1 ms at a time and
// records the longest gap between its ticks. Median of ATTACHES attaches
// (the first loads the agent, the rest re-arm it), then the ratio between
// the two methods: the machine is shared and noisy, compare the ratios.
import { type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';

import { AttachRun } from '../main/core/attach-run.js';
import { auditCapableInterpreters } from '../main/test-support/pythons.js';
import { ensureSidChroot, spawnInChroot } from '../main/test-support/sid-chroot.js';
import { startProcess } from '../main/test-support/processes.js';

const ATTACHES = Number(process.env.BENCH_ATTACHES ?? 10);

// The main thread runs bytecode every 2 ms (sys.remote_exec needs that);
// a line on stdin asks for the longest tick gap since the last question.
const TARGET = `
import select, sys, threading, time
longest = 0.0
def ticker():
    global longest
    last = time.perf_counter()
    while True:
        time.sleep(0.001)
        now = time.perf_counter()
        longest = max(longest, now - last)
        last = now
threading.Thread(target=ticker, daemon=True).start()
print("ready", flush=True)
while True:
    ready, _, _ = select.select([sys.stdin], [], [], 0.002)
    if ready:
        if not sys.stdin.readline():
            break
        print("%.3f" % (longest * 1000.0), flush=True)
        longest = 0.0
`;

interface Sample {
  wallMs: number;
  tickerPauseMs: number;
  reportedPauseMs: number;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

class Target {
  private readonly lines: AsyncIterator<string>;
  constructor(readonly child: ChildProcess) {
    this.lines = readline.createInterface({ input: child.stdout! })[Symbol.asyncIterator]();
  }
  async next(): Promise<string> {
    const r = await this.lines.next();
    if (r.done) throw new Error('target ended');
    return r.value;
  }
  /** Longest gap between ticks since the last call, in ms. */
  async longestGapMs(): Promise<number> {
    this.child.stdin!.write('\n');
    return Number(await this.next());
  }
}

async function measure(target: Target, pid: number): Promise<Sample[]> {
  if ((await target.next()) !== 'ready') throw new Error('target did not start');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hookscope-bench-attach-'));
  const samples: Sample[] = [];
  try {
    for (let i = 0; i < ATTACHES; i++) {
      await new Promise((r) => setTimeout(r, 100));
      await target.longestGapMs(); // reset
      const started = performance.now();
      const run = await AttachRun.start({
        pid,
        outPath: path.join(dir, `${i}.hks`),
        hookscopeVersion: 'bench',
      });
      const wallMs = performance.now() - started;
      const tickerPauseMs = await target.longestGapMs();
      await run.detach();
      await run.finish('detached');
      samples.push({ wallMs, tickerPauseMs, reportedPauseMs: run.attach.longestPauseMs });
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return samples;
}

interface Row {
  method: string;
  python: string;
  samples: Sample[] | null;
  note: string;
}

function fmt(ms: number): string {
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`;
}

async function gdbRow(): Promise<Row> {
  const py =
    auditCapableInterpreters().find((p) => p.path.startsWith('/usr/')) ??
    auditCapableInterpreters()[0];
  if (!py) return { method: 'gdb', python: '-', samples: null, note: 'no CPython 3.8+ here' };
  const w = startProcess(py.path, ['-u', '-c', TARGET], { stdio: ['pipe', 'pipe', 'inherit'] });
  try {
    return {
      method: 'gdb',
      python: py.version,
      samples: await measure(new Target(w.child), w.pid),
      note: '',
    };
  } finally {
    w.kill();
  }
}

async function remoteExecRow(): Promise<Row> {
  let chroot;
  try {
    chroot = await ensureSidChroot();
  } catch (err) {
    return { method: 'remote_exec', python: '-', samples: null, note: (err as Error).message };
  }
  const child = spawnInChroot(chroot, [chroot.python, '-u', '-c', TARGET], {
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  try {
    return {
      method: 'remote_exec',
      python: chroot.version,
      samples: await measure(new Target(child), child.pid!),
      note: '',
    };
  } finally {
    child.kill('SIGKILL');
  }
}

async function main(): Promise<void> {
  const rows = [await gdbRow(), await remoteExecRow()];
  const header = [
    'method',
    'CPython',
    'attaches',
    'wall, first',
    'wall, median',
    'pause (ticker), first',
    'pause (ticker), median',
    'pause (reported), median',
  ];
  const table: string[][] = [header];
  for (const r of rows) {
    if (!r.samples) {
      table.push([r.method, r.python, '0', `not measured: ${r.note}`]);
      continue;
    }
    const s = r.samples;
    table.push([
      r.method,
      r.python,
      String(s.length),
      fmt(s[0]!.wallMs),
      fmt(median(s.map((x) => x.wallMs))),
      fmt(s[0]!.tickerPauseMs),
      fmt(median(s.map((x) => x.tickerPauseMs))),
      fmt(median(s.map((x) => x.reportedPauseMs))),
    ]);
  }
  const widths = header.map((_, i) => Math.max(...table.map((row) => (row[i] ?? '').length)));
  for (const row of table) console.log(row.map((c, i) => c.padEnd(widths[i]!)).join('  '));
  const [g, x] = rows;
  if (g?.samples && x?.samples) {
    const ratio = (f: (s: Sample) => number): string =>
      (median(g.samples!.map(f)) / median(x.samples!.map(f))).toFixed(1);
    console.log(
      `\ngdb / remote_exec: wall ${ratio((s) => s.wallMs)}x, ` +
        `target pause ${ratio((s) => s.tickerPauseMs)}x (ticker medians)`,
    );
  }
  console.log(
    'targets (issue 3): wall < 3 s (gdb) / < 1 s (remote_exec); pause < 300 ms / < 20 ms',
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
