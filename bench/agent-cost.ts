// npm run bench:agent — what the agent costs the target, side by side in
// one run: no hook, an empty Python hook, a no-op C hook, and Hookscope
// capturing into a real session file. Medians of repeated runs; compare the
// ratios, not the absolute times (the machine is shared and noisy).
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import crypto from 'node:crypto';

import { AgentServer } from '../main/core/agent-server.js';
import { CaptureRun } from '../main/core/capture-run.js';
import { isSelfOrDescendant } from '../main/core/process-tree.js';
import { SessionRecorder } from '../main/core/recorder.js';
import { agentLibraryPath, makePrivateSocketDir } from '../main/core/runtime-paths.js';
import { SessionWriter } from '../main/core/session-file.js';
import { auditCapableInterpreters } from '../main/test-support/pythons.js';

const LOOPS = Number(process.env.BENCH_LOOPS ?? 1_000_000);
const REPEATS = Number(process.env.BENCH_REPEATS ?? 5);
const STARTUPS = Number(process.env.BENCH_STARTUPS ?? 20);
const NOOP_HOOK = path.resolve(__dirname, '..', 'native', 'agent', 'build', 'noop-hook.so');

type Variant = 'none' | 'python-noop' | 'c-noop' | 'hookscope';
const VARIANTS: Variant[] = ['none', 'python-noop', 'c-noop', 'hookscope'];

const LOOP_SCRIPT = `
import sys, time, json
if sys.argv[2] == 'python-noop':
    sys.addaudithook(lambda event, args: None)
n = int(sys.argv[1])
audit = sys.audit
getframe = sys._getframe
clock = time.thread_time_ns
def run_audit():
    w, c = time.perf_counter_ns(), clock()
    for i in range(n):
        audit("hookscope.bench", i, "two", 3.0)
    return (time.perf_counter_ns() - w) / n, (clock() - c) / n
def run_getframe():
    w, c = time.perf_counter_ns(), clock()
    for i in range(n):
        getframe()
    return (time.perf_counter_ns() - w) / n, (clock() - c) / n
a, g = run_audit(), run_getframe()
print(json.dumps({"audit": a[0], "getframe": g[0], "auditCpu": a[1], "getframeCpu": g[1]}))
`;

const STARTUP_ARGS = ['-c', 'import email, json, http.client, asyncio, decimal'];

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function spawnCollect(cmd: string, args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { env, stdio: ['ignore', 'pipe', 'inherit'] });
    const out: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve(Buffer.concat(out).toString())
        : reject(new Error(`${cmd} exited ${code}`)),
    );
  });
}

/** ns per call: wall clock, and CPU time of the looping thread alone. */
interface LoopResult {
  audit: number;
  getframe: number;
  auditCpu: number;
  getframeCpu: number;
}

async function runLoops(
  py: string,
  variant: Variant,
  dir: string,
): Promise<{ r: LoopResult; drops: bigint }> {
  const args = ['-c', LOOP_SCRIPT, String(LOOPS), variant];
  const env = { ...process.env };
  if (variant === 'c-noop') env.LD_PRELOAD = NOOP_HOOK;
  if (variant !== 'hookscope') {
    return { r: JSON.parse(await spawnCollect(py, args, env)) as LoopResult, drops: 0n };
  }
  const run = await CaptureRun.start({
    command: py,
    args,
    outPath: path.join(dir, `loops-${Date.now()}.hks`),
    stdio: ['ignore', 'pipe', 'inherit'],
    hookscopeVersion: 'bench',
  });
  const out: Buffer[] = [];
  run.child.stdout!.on('data', (b: Buffer) => out.push(b));
  await run.finish();
  return {
    r: JSON.parse(Buffer.concat(out).toString()) as LoopResult,
    drops: run.recorder.droppedTotal,
  };
}

async function timeStartup(py: string, env: NodeJS.ProcessEnv): Promise<number> {
  const t = process.hrtime.bigint();
  await spawnCollect(py, STARTUP_ARGS, env);
  return Number(process.hrtime.bigint() - t) / 1e6;
}

async function startupComparison(
  py: string,
  dir: string,
): Promise<{ plain: number; hooked: number; events: number }> {
  // One agent server for all hooked starts; plain and hooked starts
  // alternate so both sides see the same machine noise.
  const socketDir = makePrivateSocketDir();
  const token = crypto.randomBytes(32);
  const writer = SessionWriter.create(
    path.join(dir, `startup-${path.basename(path.dirname(path.dirname(py)))}-${Date.now()}.hks`),
  );
  const recorder = new SessionRecorder(writer);
  const server = new AgentServer({
    socketDir,
    token,
    acceptsPid: (pid) => isSelfOrDescendant(pid, process.pid),
    sink: recorder,
  });
  await server.listen();
  const hookEnv: NodeJS.ProcessEnv = {
    ...process.env,
    LD_PRELOAD: agentLibraryPath(),
    HOOKSCOPE_SOCKET: server.socketPath,
    HOOKSCOPE_TOKEN: token.toString('hex'),
    HOOKSCOPE_SERVER_UID: String(process.getuid!()),
  };
  const plainEnv: NodeJS.ProcessEnv = { ...process.env };
  delete plainEnv.LD_PRELOAD;
  // Warm the page cache and __pycache__ first.
  await spawnCollect(py, STARTUP_ARGS, plainEnv);
  const plain: number[] = [];
  const hooked: number[] = [];
  for (let i = 0; i < STARTUPS; i++) {
    plain.push(await timeStartup(py, plainEnv));
    hooked.push(await timeStartup(py, hookEnv));
  }
  await server.waitForIdle(3000);
  await server.close();
  writer.close();
  fs.rmSync(socketDir, { recursive: true, force: true });
  let events = 0;
  for (const p of recorder.processes.values()) events += p.records;
  if (recorder.processes.size !== STARTUPS)
    throw new Error(`expected ${STARTUPS} recorded starts, got ${recorder.processes.size}`);
  return { plain: median(plain), hooked: median(hooked), events: Math.round(events / STARTUPS) };
}

// The inspector's own children must not inherit the agent by accident.
function assertAgentBuilt(): void {
  agentLibraryPath();
  if (!fs.existsSync(NOOP_HOOK)) throw new Error(`missing ${NOOP_HOOK}: run npm run build`);
}

async function main(): Promise<void> {
  assertAgentBuilt();
  const pythons = auditCapableInterpreters();
  const chosen = process.env.BENCH_PYTHON
    ? pythons.filter((p) => p.path === process.env.BENCH_PYTHON)
    : pythons
        .filter((p) => p.path.startsWith('/usr/bin/'))
        .slice(0, 1)
        .concat(pythons.slice(-1));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hookscope-bench-'));
  console.log(
    `agent cost: ${LOOPS} iterations per loop, median of ${REPEATS} runs, ${os.cpus().length} CPUs\n`,
  );
  for (const py of chosen) {
    const samples = new Map<Variant, LoopResult[]>(VARIANTS.map((v) => [v, []]));
    let drops = 0n;
    for (let rep = 0; rep < REPEATS; rep++) {
      for (const v of VARIANTS) {
        const { r, drops: d } = await runLoops(py.path, v, dir);
        samples.get(v)!.push(r);
        drops += d;
      }
    }
    const med = (v: Variant, k: keyof LoopResult) => median(samples.get(v)!.map((s) => s[k]));
    const added = (v: Variant, k: keyof LoopResult) => med(v, k) - med('none', k);
    const cell = (v: Variant, k: keyof LoopResult) =>
      v === 'none'
        ? `${med(v, k).toFixed(1)}`
        : `${med(v, k).toFixed(1)} (+${added(v, k).toFixed(1)})`;
    console.log(`CPython ${py.version} (${py.path})`);
    console.log('ns per call (added over no hook): wall clock, and CPU time of the target thread');
    console.log(
      '| hook | sys.audit 3 args, wall | sys.audit, thread CPU | sys._getframe, wall | sys._getframe, thread CPU |',
    );
    console.log('|---|---|---|---|---|');
    for (const v of VARIANTS) {
      console.log(
        `| ${v} | ${cell(v, 'audit')} | ${cell(v, 'auditCpu')} | ${cell(v, 'getframe')} | ${cell(v, 'getframeCpu')} |`,
      );
    }
    const ratio = (a: Variant, b: Variant, k: keyof LoopResult) =>
      (added(a, k) / added(b, k)).toFixed(2);
    for (const [label, ka, kg] of [
      ['wall', 'audit', 'getframe'],
      ['thread CPU', 'auditCpu', 'getframeCpu'],
    ] as const) {
      console.log(
        `${label}: hookscope / c-noop ${ratio('hookscope', 'c-noop', ka)}x audit, ${ratio('hookscope', 'c-noop', kg)}x getframe (target ≤ 2x); ` +
          `python-noop / hookscope ${ratio('python-noop', 'hookscope', ka)}x audit, ${ratio('python-noop', 'hookscope', kg)}x getframe (target ≥ 4x)`,
      );
    }
    console.log(`records dropped by a full ring during the hookscope runs: ${drops}`);
    const s = await startupComparison(py.path, dir);
    console.log(
      `import-heavy start-up (${STARTUP_ARGS[1]}), median of ${STARTUPS}: plain ${s.plain.toFixed(1)} ms, hookscope ${s.hooked.toFixed(1)} ms, ratio ${(s.hooked / s.plain).toFixed(3)} (target ≤ 1.05), ${s.events} events/start\n`,
    );
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
