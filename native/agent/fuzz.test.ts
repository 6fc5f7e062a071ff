// Bounded libFuzzer runs of the agent's untrusted-input parsers
// (docs/fuzzing.md): each target starts from the seed corpus kept in
// native/agent/fuzz/corpus/<target>/ and runs for FUZZ_SECONDS. Any crash,
// sanitizer report, leak or slow input fails the test with the reproducer.
// Without clang this skips locally, and fails in CI (process.env.CI).
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

const AGENT = __dirname;
const REPO_ROOT = path.resolve(AGENT, '..', '..');
/** The addon's target: the events checker every session file's blocks pass. */
const ADDON_FUZZ = path.join(REPO_ROOT, 'native', 'addon', 'fuzz');
/** Each target: where its Makefile, sources and seed corpus are, and where it is built. */
const TARGETS = [
  ...['fuzz-control', 'fuzz-policy', 'fuzz-encode', 'fuzz-stack'].map((name) => ({
    name,
    dir: path.join(AGENT, 'fuzz'),
    binary: path.join(AGENT, 'build', 'fuzz', name),
    maxLen: 8192,
  })),
  ...['fuzz-events-check', 'fuzz-record-scan'].map((name) => ({
    name,
    dir: ADDON_FUZZ,
    binary: path.join(REPO_ROOT, 'native', 'addon', 'build', 'fuzz', name),
    // Room for a few records at their 16 KiB limit.
    maxLen: 65536,
  })),
];
/** Per target: six targets and the build stay under three minutes. */
const FUZZ_SECONDS = Number(process.env['HOOKSCOPE_FUZZ_SECONDS'] ?? 20);
/** One input running longer than this is a hang: the agent must never wait unbounded. */
const INPUT_TIMEOUT_S = 5;

function findClang(): string | null {
  for (const name of [
    'clang',
    'clang-14',
    'clang-15',
    'clang-16',
    'clang-17',
    'clang-18',
    'clang-19',
  ]) {
    const r = spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' });
    if (r.status === 0 && r.stdout.trim()) return r.stdout.trim();
  }
  return null;
}

const clang = findClang();
const inCi = Boolean(process.env['CI']);
if (!clang && !inCi) {
  console.warn(
    'fuzz.test.ts: skipped, clang not found (Debian: apt-get install clang libclang-rt-14-dev)',
  );
}

/** Describes what libFuzzer left behind, for the failure message. */
function reproducers(dir: string, target: string, makeDir: string, binary: string): string {
  const saved = path.join(REPO_ROOT, 'artifacts', 'fuzz');
  const lines: string[] = [];
  for (const name of fs.readdirSync(dir)) {
    if (!/^(crash|leak|timeout|oom|slow-unit)-/.test(name)) continue;
    const bytes = fs.readFileSync(path.join(dir, name));
    fs.mkdirSync(saved, { recursive: true });
    const kept = path.join(saved, `${target}-${name}`);
    fs.copyFileSync(path.join(dir, name), kept);
    lines.push(
      `reproducer ${kept} (${bytes.length} bytes), base64: ${bytes.toString('base64')}`,
      `  rerun: make -C ${path.relative(REPO_ROOT, makeDir)} fuzz && ${path.relative(REPO_ROOT, binary)} ${kept}`,
    );
  }
  return lines.join('\n');
}

describe.skipIf(!clang && !inCi)('agent fuzz targets (bounded run)', () => {
  it('builds the fuzz targets with clang', () => {
    if (!clang) {
      throw new Error(
        'clang is required in CI for the fuzz targets: apt-get install clang libclang-rt-14-dev',
      );
    }
    execFileSync('make', ['-s', '-C', AGENT, 'fuzz'], { encoding: 'utf8', timeout: 120_000 });
    execFileSync('make', ['-s', '-C', ADDON_FUZZ, 'fuzz'], { encoding: 'utf8', timeout: 120_000 });
  });

  for (const { name: target, dir, binary, maxLen } of TARGETS) {
    it(`${target} survives ${FUZZ_SECONDS} s from its seed corpus`, () => {
      if (!clang) throw new Error('clang is required in CI for the fuzz targets (see above)');
      expect(fs.existsSync(binary), `${binary} (built by the test above)`).toBe(true);
      const work = fs.mkdtempSync(path.join(os.tmpdir(), `hookscope-${target}-`));
      try {
        const grown = path.join(work, 'corpus');
        fs.mkdirSync(grown);
        const seeds = path.join(dir, 'corpus', target);
        expect(fs.readdirSync(seeds).length).toBeGreaterThan(0);
        // New inputs go to the first directory (a temporary one): the
        // repository's seed corpus is only read.
        const run = spawnSync(
          binary,
          [
            `-max_total_time=${FUZZ_SECONDS}`,
            `-timeout=${INPUT_TIMEOUT_S}`,
            '-rss_limit_mb=2048',
            `-max_len=${maxLen}`,
            '-print_final_stats=1',
            `-artifact_prefix=${work}/`,
            grown,
            seeds,
          ],
          { encoding: 'utf8', timeout: (FUZZ_SECONDS + 60) * 1000, maxBuffer: 64 << 20 },
        );
        const found = reproducers(work, target, dir === ADDON_FUZZ ? dir : AGENT, binary);
        const stats = /stat::number_of_executed_units:\s*(\d+)/.exec(run.stderr)?.[1];
        if (run.status !== 0 || found) {
          throw new Error(
            `${target} failed (exit ${run.status}, signal ${run.signal}):\n${found}\n` +
              run.stderr.split('\n').slice(-60).join('\n'),
          );
        }
        console.log(`${target}: ${stats ?? '?'} inputs in ${FUZZ_SECONDS} s, no failure`);
      } finally {
        fs.rmSync(work, { recursive: true, force: true });
      }
    });
  }
});
