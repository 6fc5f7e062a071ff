// What the built agent library can do, read from its exported symbols, so
// tests of a feature the C side has not landed yet are skipped, not failed.
import { execFileSync } from 'node:child_process';
import path from 'node:path';

import { REPO_ROOT } from './cli.js';

export const AGENT_LIBRARY = path.join(REPO_ROOT, 'native', 'agent', 'build', 'hookscope-agent.so');

/** The agent exports this once it reads and enforces HOOKSCOPE_POLICY. */
export const POLICY_VERSION_SYMBOL = 'hookscope_agent_policy_version';

let enforces: boolean | null = null;

/** True when the built agent exports POLICY_VERSION_SYMBOL (a defined, dynamic symbol). */
export function agentEnforces(): boolean {
  if (enforces === null) {
    let symbols = '';
    try {
      symbols = execFileSync('nm', ['-D', '--defined-only', AGENT_LIBRARY], { encoding: 'utf8' });
    } catch {
      // No nm, or no library: the feature cannot be shown to be there.
    }
    enforces = symbols
      .split('\n')
      .some((line) => line.trim().split(/\s+/).pop() === POLICY_VERSION_SYMBOL);
  }
  return enforces;
}
