// The Perfetto report: Chrome's trace event JSON, which Perfetto (and
// chrome://tracing) open. A track per process and thread; audit events as
// instants; code loads and `exec` as 1 µs slices joined by a flow arrow
// (the file opened for execution → the exec of its code); and each thread's
// wait for a decision as a slice from the ask to the answer. Streamed: one
// trace event per line; the track names, collected on the way, go last.

import { categoryOf } from '../common/event-taxonomy.js';
import { formatValue, textOf } from './protocol/records.js';
import type { SessionBlock } from './session-file.js';

/** Microseconds from the first record, as trace `ts` (fractional µs keep ns). */
function micros(ns: bigint, origin: bigint): number {
  return Number(ns - origin) / 1000;
}

/** The source a `.pyc` was compiled from: what its code's co_filename names. */
export function sourceOfBytecode(pycPath: string): string | null {
  const m = /^(.*)\/__pycache__\/([^/]+?)\.[^/.]+(?:\.opt-\d+)?\.pyc$/.exec(pycPath);
  return m ? `${m[1]}/${m[2]}.py` : null;
}

export async function perfettoReport(
  blocks: AsyncIterable<SessionBlock>,
  write: (text: string) => Promise<void>,
): Promise<void> {
  await write('{"displayTimeUnit":"ns","traceEvents":[\n');
  let first = true;
  let batch = '';
  const emit = async (event: Record<string, unknown>): Promise<void> => {
    batch += `${first ? '' : ',\n'}${JSON.stringify(event)}`;
    first = false;
    if (batch.length > 1 << 16) {
      await write(batch);
      batch = '';
    }
  };
  let origin: bigint | null = null;
  const processes = new Map<number, { pid: number; name: string }>();
  const threads = new Map<string, { pid: number; tid: number }>();
  // Code files opened for execution, by the source path their code names, per process.
  const loads = new Map<string, number>();
  let nextFlow = 1;
  for await (const block of blocks) {
    if (block.type === 'process') {
      const p = block.process;
      // Time 0 is the first agent's start: every record (and every wait) is after it.
      const start = BigInt(p.startMonotonicNs);
      if (origin === null || start < origin) origin = start;
      processes.set(p.session, { pid: p.pid, name: `${p.argv.join(' ') || p.exe} (pid ${p.pid})` });
    }
    if (block.type !== 'events') continue;
    const pid = processes.get(block.sessionId)?.pid ?? block.sessionId;
    for (const r of block.records) {
      origin ??= r.timeNs;
      const ts = micros(r.timeNs, origin);
      threads.set(`${pid}:${r.tid}`, { pid, tid: r.tid });
      if (r.kind === 'decision') {
        if (r.waitedNs > 0n) {
          await emit({
            name: `waited for a decision: ${r.event}`,
            cat: 'intent',
            ph: 'X',
            pid,
            tid: r.tid,
            ts: Math.max(0, micros(r.timeNs - r.waitedNs, origin)),
            dur: Number(r.waitedNs) / 1000,
            args: { outcome: r.outcome, by: r.by, rule: r.ruleIndex },
          });
        }
        continue;
      }
      if (r.kind === 'open-code') {
        const path = textOf(r.path);
        const source = r.intent === 'bytecode' ? sourceOfBytecode(path) : path;
        await emit({
          name: `${r.event} ${r.intent}`,
          cat: categoryOf(r.event),
          ph: 'X',
          pid,
          tid: r.tid,
          ts,
          dur: 1,
          args: { path, realPath: r.realPath, sha256: r.sha256, size: r.size },
        });
        if (source !== null && r.status === 'ok') {
          const id = nextFlow++;
          loads.set(`${pid}\0${source}`, id);
          await emit({ name: 'load → exec', cat: 'flow', ph: 's', id, pid, tid: r.tid, ts });
        }
        continue;
      }
      const code = r.event === 'exec' ? r.args.items[0] : undefined;
      if (code !== undefined && code.type === 'code') {
        const key = `${pid}\0${code.filename.text}`;
        const id = loads.get(key);
        await emit({
          name: 'exec',
          cat: categoryOf(r.event),
          ph: 'X',
          pid,
          tid: r.tid,
          ts,
          dur: 1,
          args: { code: `${code.name.text} in ${code.filename.text}:${code.firstLine}` },
        });
        if (id !== undefined) {
          loads.delete(key);
          await emit({
            name: 'load → exec',
            cat: 'flow',
            ph: 'f',
            bp: 'e',
            id,
            pid,
            tid: r.tid,
            ts,
          });
        }
        continue;
      }
      await emit({
        name: r.event,
        cat: categoryOf(r.event),
        ph: 'i',
        s: 't',
        pid,
        tid: r.tid,
        ts,
        args: { args: formatValue(r.args, { maxStringLength: 200, maxBytesLength: 32 }) },
      });
    }
  }
  for (const p of processes.values()) {
    await emit({ name: 'process_name', ph: 'M', pid: p.pid, tid: 0, args: { name: p.name } });
  }
  for (const t of threads.values()) {
    await emit({
      name: 'thread_name',
      ph: 'M',
      pid: t.pid,
      tid: t.tid,
      args: { name: t.tid === t.pid ? `main thread ${t.tid}` : `thread ${t.tid}` },
    });
  }
  // A load whose code never ran (a failed import) leaves a flow start
  // without an end; trace viewers ignore those.
  await write(`${batch}\n]}\n`);
}
