// A target for interactive-ask tests: a policy that asks about every
// subprocess.Popen, and a script that tries two (first, second) and writes
// what happened to each ("first refused second ran") to a result file.
import fs from 'node:fs';
import path from 'node:path';

import { tempDir } from './cli.js';

export interface AskTarget {
  dir: string;
  policy: string;
  script: string;
  /** Written by the script when it ends: "<first outcome> <second outcome>". */
  result: string;
}

export function writePopenAskTarget(prefix: string): AskTarget {
  const dir = tempDir(prefix);
  const policy = path.join(dir, 'policy.json');
  fs.writeFileSync(
    policy,
    JSON.stringify({
      version: 1,
      default: 'allow',
      ask: { timeoutMs: 120000, timeoutAction: 'deny' },
      rules: [{ action: 'ask', event: 'subprocess.Popen', comment: 'no surprise processes' }],
    }),
  );
  const result = path.join(dir, 'result.txt');
  const script = path.join(dir, 'target.py');
  fs.writeFileSync(
    script,
    [
      'import subprocess',
      'out = []',
      'for word in ("first", "second"):',
      '    try:',
      '        subprocess.run(["/bin/echo", word], stdout=subprocess.DEVNULL)',
      '        out.append(word + " ran")',
      '    except PermissionError:',
      '        out.append(word + " refused")',
      `open(${JSON.stringify(result)}, "w").write(" ".join(out))`,
    ].join('\n'),
  );
  return { dir, policy, script, result };
}
