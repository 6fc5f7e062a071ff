// The UI API's pending-intent count, as the desktop shell follows it to ask
// for attention: a real run with an interactive policy, answered in-process.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import type { PendingIntentRow, RunStatus } from '../common/ipc-contract.js';
import { tempDir } from '../test-support/cli.js';
import { auditCapableInterpreters, type Interpreter } from '../test-support/pythons.js';
import { UiApi } from './ui-api.js';

const python = auditCapableInterpreters().at(-1) as Interpreter;

describe('UiApi.onPendingIntents', () => {
  it('reports 1 when a thread starts waiting and 0 once it is answered', async () => {
    const dir = tempDir('hookscope-ui-intents-');
    const policy = path.join(dir, 'policy.json');
    fs.writeFileSync(
      policy,
      JSON.stringify({
        version: 1,
        default: 'allow',
        rules: [{ action: 'ask', event: 'hookscope.test.ask' }],
      }),
    );
    const logged: string[] = [];
    const api = new UiApi({ sessionDir: path.join(dir, 'sessions'), log: (l) => logged.push(l) });
    const counts: number[] = [];
    api.onPendingIntents((n) => counts.push(n));
    const started = await api.call(
      'run.start',
      {
        command: python.path,
        args: ['-c', 'import sys; sys.audit("hookscope.test.ask", 1)'],
        policyPath: policy,
      },
      'test',
    );
    expect(started.ok, JSON.stringify(started)).toBe(true);
    const runId = (started as { ok: true; result: RunStatus }).result.runId;
    let intents: PendingIntentRow[] = [];
    const deadline = Date.now() + 30_000;
    while (intents.length === 0 && Date.now() < deadline) {
      const r = await api.call('intents.list', {}, 'test');
      intents = (r as { ok: true; result: { intents: PendingIntentRow[] } }).result.intents;
      if (intents.length === 0) await new Promise((res) => setTimeout(res, 50));
    }
    expect(intents.map((i) => i.runId)).toEqual([runId]);
    expect(counts).toEqual([1]);
    const answered = await api.call(
      'intents.answer',
      { id: intents[0]?.id, outcome: 'allow' },
      'test',
    );
    expect(answered.ok).toBe(true);
    expect(counts).toEqual([1, 0]);
    await api.close();
    expect(logged).toEqual([]);
  });
});
