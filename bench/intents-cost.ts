// npm run bench:intents — what judging every event against a policy costs
// the target, side by side in one run: capture alone, and capture with a
// 100-rule policy enforced in the agent (no rule matches the benchmark's
// event, so every rule is tried and the default applies: the worst case for
// a linear rule list). Medians of repeated runs of a sys.audit loop; the
// ratio is what to read, not the absolute times (shared, noisy machine).
// Then the round trip of an interactive `ask` (agent → inspector → an
// answer from a subscriber of the intent broker, standing in for a rule in
// the inspector → agent), timed per call inside the target, against the
// same event answered by a local allow rule (no round trip).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { CaptureRun, type RunPolicy } from '../main/core/capture-run.js';
import { compilePolicy, parsePolicy } from '../main/core/policy/index.js';
import { auditCapableInterpreters } from '../main/test-support/pythons.js';

const LOOPS = Number(process.env.BENCH_LOOPS ?? 500_000);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 5);
const RULES = 100;
const ASKS = Number(process.env.BENCH_ASKS ?? 10_000);

const ASK_SCRIPT = `
import sys, time, json
n = int(sys.argv[1])
audit = sys.audit
clock = time.perf_counter_ns
times = []
for i in range(n):
    t = clock()
    audit("hookscope.bench.ask", i)
    times.append(clock() - t)
times.sort()
print(json.dumps({"p50": times[n // 2], "p99": times[(n * 99) // 100]}))
`;

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

/** p50/p99 ns of one sys.audit judged by `action` (ask: answered through the broker). */
async function askLatency(
  py: string,
  dir: string,
  action: 'allow' | 'ask',
): Promise<{ p50: number; p99: number; asked: number }> {
  const text = `${JSON.stringify({
    version: 1,
    default: 'allow',
    ask: { timeoutMs: 10_000, timeoutAction: 'deny' },
    rules: [{ action, event: 'hookscope.bench.ask' }],
  })}\n`;
  const parsed = parsePolicy(text, '<bench ask policy>');
  const run = await CaptureRun.start({
    command: py,
    args: ['-c', ASK_SCRIPT, String(ASKS)],
    outPath: path.join(dir, `${Date.now()}-${Math.random().toString(36).slice(2)}.hks`),
    stdio: ['ignore', 'pipe', 'inherit'],
    hookscopeVersion: 'bench',
    policy: {
      file: '<bench ask policy>',
      text,
      compiled: compilePolicy(parsed, { askAnswer: 'interactive' }),
      askAnswer: 'interactive',
    },
  });
  let asked = 0;
  run.intents!.subscribe((u) => {
    if (u.type !== 'pending') return;
    asked++;
    run.intents!.answer(u.intent.id, { outcome: 'allow', scope: 'once' });
  });
  const out: Buffer[] = [];
  run.child.stdout!.on('data', (b: Buffer) => out.push(b));
  await run.finish();
  return { ...(JSON.parse(Buffer.concat(out).toString()) as { p50: number; p99: number }), asked };
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
    console.log(
      `\nask round trip: ${ASKS} sys.audit calls, each timed in the target (perf_counter_ns)\n`,
    );
    console.log(
      '| CPython | local allow rule p50 / p99, µs | ask answered in the inspector p50 / p99, µs | asks that crossed | p50 target < 2000 µs |',
    );
    console.log('|---|---|---|---|---|');
    for (const py of chosen) {
      const local = await askLatency(py.path, dir, 'allow');
      const ask = await askLatency(py.path, dir, 'ask');
      const us = (ns: number): string => (ns / 1000).toFixed(1);
      console.log(
        `| ${py.version} | ${us(local.p50)} / ${us(local.p99)} | ${us(ask.p50)} / ${us(ask.p99)} | ${ask.asked} | ${ask.p50 < 2_000_000 ? 'met' : 'missed'} |`,
      );
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
