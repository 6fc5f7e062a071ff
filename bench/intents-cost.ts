// npm run bench:intents — what judging every event against a policy costs
// the target, side by side in one run: capture alone, and capture with a
// 100-rule policy enforced in the agent (no rule matches the benchmark's
// event, so every rule is tried and the default applies: the worst case for
// a linear rule list). Medians of repeated runs of a sys.audit loop; the
// ratio is what to read, not the absolute times (shared, noisy machine).
// The round trip of an interactive `ask` is not measured: protocol version 1
// answers asks headlessly, inside the agent.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { CaptureRun, type RunPolicy } from '../main/core/capture-run.js';
import { compilePolicy, parsePolicy } from '../main/core/policy/index.js';
import { auditCapableInterpreters } from '../main/test-support/pythons.js';

const LOOPS = Number(process.env.BENCH_LOOPS ?? 500_000);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 5);
const RULES = 100;

const LOOP_SCRIPT = `
import sys, time, json
n = int(sys.argv[1])
audit = sys.audit
clock = time.thread_time_ns
w, c = time.perf_counter_ns(), clock()
for i in range(n):
    audit("hookscope.bench", i, "two", 3.0)
print(json.dumps({"wall": (time.perf_counter_ns() - w) / n, "cpu": (clock() - c) / n}))
`;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** 100 rules of the kinds people write: exact names, globs, argument matchers. */
function benchPolicy(): RunPolicy {
  const rules = [];
  for (let i = 0; i < RULES; i++) {
    if (i % 3 === 0) rules.push({ action: 'deny', event: `bench.never.${i}` });
    else if (i % 3 === 1) rules.push({ action: 'deny', event: `bench.glob${i}.*` });
    else rules.push({ action: 'deny', event: 'open', args: { '0': { prefix: `/bench/${i}/` } } });
  }
  const text = `${JSON.stringify({ version: 1, default: 'allow', rules }, null, 2)}\n`;
  const file = '<bench policy>';
  const policy = parsePolicy(text, file);
  return { file, text, compiled: compilePolicy(policy, { askAnswer: 'deny' }), askAnswer: 'deny' };
}

async function loop(
  py: string,
  dir: string,
  policy: RunPolicy | undefined,
): Promise<{ wall: number; cpu: number }> {
  const run = await CaptureRun.start({
    command: py,
    args: ['-c', LOOP_SCRIPT, String(LOOPS)],
    outPath: path.join(dir, `${Date.now()}-${Math.random().toString(36).slice(2)}.hks`),
    stdio: ['ignore', 'pipe', 'inherit'],
    hookscopeVersion: 'bench',
    ...(policy ? { policy } : {}),
  });
  const out: Buffer[] = [];
  run.child.stdout!.on('data', (b: Buffer) => out.push(b));
  await run.finish();
  return JSON.parse(Buffer.concat(out).toString()) as { wall: number; cpu: number };
}

async function main(): Promise<void> {
  const pythons = auditCapableInterpreters();
  const chosen = pythons
    .filter((p) => p.path.startsWith('/usr/bin/'))
    .slice(0, 1)
    .concat(pythons.slice(-1));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hookscope-bench-intents-'));
  const policy = benchPolicy();
  console.log(
    `policy cost: ${LOOPS} sys.audit calls per run, median of ${REPEATS} runs, ${RULES} rules\n`,
  );
  console.log(
    '| CPython | capture alone, ns/event (thread CPU) | capture + 100 rules | ratio (target ≤ 1.5) |',
  );
  console.log('|---|---|---|---|');
  try {
    for (const py of chosen) {
      const alone: number[] = [];
      const judged: number[] = [];
      for (let i = 0; i < REPEATS; i++) {
        alone.push((await loop(py.path, dir, undefined)).cpu);
        judged.push((await loop(py.path, dir, policy)).cpu);
      }
      const a = median(alone);
      const j = median(judged);
      console.log(`| ${py.version} | ${a.toFixed(1)} | ${j.toFixed(1)} | ${(j / a).toFixed(2)} |`);
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log(
    '\nask round trip (agent → inspector → agent): not measured — asks are answered headlessly in protocol version 1',
  );
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
