// Runs the agent's C unit tests (ring, SHA-256) under ASan/UBSan.
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { expect, it } from 'vitest';

it('agent C unit tests pass under AddressSanitizer and UBSan', () => {
  const out = execFileSync('make', ['-s', '-C', path.join(__dirname), 'check'], {
    encoding: 'utf8',
    timeout: 300_000,
  });
  expect(out).toContain('agent unit tests: all passed');
});
