// npm run bench:reports — what exporting a large session costs, per format,
// side by side with a plain copy of the session file's bytes (the ratio is
// what to read: these machines are shared and noisy), and the exporter's
// peak memory for a session 10x smaller, to show it does not grow with the
// session. Each export runs in its own Node process (`hookscope report`),
// timed from outside, after a sync, five times, each right after a copy:
// the ratio is the median of the five pairs', so that the machine's speed,
// which drifts over a run of this bench, is the same on both sides. Its
// peak RSS is what the process itself reports at exit.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { REPORT_FORMATS } from '../main/core/report.js';
import { writeBenchSession } from '../main/test-support/bench-session.js';
import { CLI } from '../main/test-support/cli.js';

const EVENTS = Number(process.env.BENCH_EVENTS ?? 1_000_000);

interface Measured {
  seconds: number;
  peakMb: number;
  bytes: number;
}

/**
 * Runs `node args` and measures its wall time and its own peak RSS: a
 * preloaded hook writes process.resourceUsage().maxRSS (KiB) at exit.
 */
function measure(args: string[], out: string, preload: string): Measured {
  fs.rmSync(out, { force: true });
  const rssFile = `${out}.rss`;
  // What earlier runs wrote is on the disk first: their write-back would
  // otherwise land in this run's time, by chance (up to twice the time
  // seen for the same export).
  spawnSync('sync');
  const t = process.hrtime.bigint();
  const r = spawnSync(process.execPath, ['-r', preload, ...args], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: { ...process.env, HOOKSCOPE_BENCH_RSS: rssFile },
    encoding: 'utf8',
  });
  const seconds = Number(process.hrtime.bigint() - t) / 1e9;
  if (r.status !== 0) throw new Error(`${args.join(' ')} failed: ${r.stderr}`);
  const peakMb = Number(fs.readFileSync(rssFile, 'utf8')) / 1024;
  return { seconds, peakMb, bytes: fs.existsSync(out) ? fs.statSync(out).size : 0 };
}

function copyArgs(from: string, to: string): string[] {
  return ['-e', `require('node:fs').copyFileSync(${JSON.stringify(from)}, ${JSON.stringify(to)})`];
}

function main(): void {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hookscope-bench-reports-'));
  try {
    const big = path.join(dir, 'big.hks');
    const small = path.join(dir, 'small.hks');
    writeBenchSession(big, EVENTS);
    writeBenchSession(small, EVENTS / 10);
    const sizeMb = fs.statSync(big).size / 1e6;
    console.log(
      `reports: a ${EVENTS.toLocaleString('en')}-event session (${sizeMb.toFixed(1)} MB), each export in its own process\n`,
    );
    const preload = path.join(dir, 'rss.js');
    fs.writeFileSync(
      preload,
      "process.on('exit', () => require('node:fs').writeFileSync(process.env.HOOKSCOPE_BENCH_RSS, String(process.resourceUsage().maxRSS)));\n",
    );
    const copyOut = path.join(dir, 'copy.hks');
    const copy = (): Measured => measure(copyArgs(big, copyOut), copyOut, preload);
    console.log(
      '| format | seconds, median (five runs) | copy beside it, median | ratio to the copy, median of the five pairs (target ≤ 3) | output MB | peak RSS MB, full session | peak RSS MB, 1/10 session |',
    );
    console.log('|---|---|---|---|---|---|---|');
    const copyPeak = copy();
    console.log(
      `| copy of the bytes | | ${copyPeak.seconds.toFixed(2)} | 1.00 | ${(copyPeak.bytes / 1e6).toFixed(1)} | ${copyPeak.peakMb.toFixed(0)} | |`,
    );
    const median = (xs: number[]): number =>
      [...xs].sort((a, b) => a - b)[xs.length >> 1] as number;
    for (const format of REPORT_FORMATS) {
      const out = path.join(dir, `out.${format}`);
      const pairs = Array.from({ length: 5 }, () => {
        const c = copy();
        return {
          copy: c,
          run: measure([CLI, 'report', big, '--format', format, '--out', out], out, preload),
        };
      });
      const runs = pairs.map((p) => p.run).sort((a, b) => a.seconds - b.seconds);
      const full = runs[2] as Measured;
      const copySeconds = median(pairs.map((p) => p.copy.seconds));
      const ratio = median(pairs.map((p) => p.run.seconds / p.copy.seconds));
      const tenth = measure(
        [CLI, 'report', small, '--format', format, '--out', `${out}.small`],
        `${out}.small`,
        preload,
      );
      // Each output goes once measured: a gigabyte of finished reports
      // left for the disk to write back slows the next export's writes.
      fs.rmSync(out, { force: true });
      fs.rmSync(`${out}.small`, { force: true });
      console.log(
        `| ${format} | ${full.seconds.toFixed(2)} (${runs.map((r) => r.seconds.toFixed(2)).join(', ')}) | ${copySeconds.toFixed(2)} | ${ratio.toFixed(2)} | ${(full.bytes / 1e6).toFixed(1)} | ${full.peakMb.toFixed(0)} | ${tenth.peakMb.toFixed(0)} |`,
      );
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main();
