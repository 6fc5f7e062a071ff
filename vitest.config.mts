import { defineConfig } from 'vitest/config';

// Tests start real CPython processes and a real socket server; the machine
// has two cores, so keep parallelism modest and timeouts generous.
export default defineConfig({
  test: {
    include: [
      'main/**/*.test.ts',
      'native/**/*.test.ts',
      'bench/**/*.test.ts',
      'renderer/**/*.test.{ts,tsx}',
      'e2e/**/*.test.ts',
    ],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Removes each test file's temporary folders once it has run.
    setupFiles: ['main/test-support/temp-dirs-setup.ts'],
    // The JSON report lets .ci/run print a plain "N passed, N failed" line.
    reporters: ['default', ['json', { outputFile: 'artifacts/test-results.json' }]],
    maxWorkers: 2,
  },
});
