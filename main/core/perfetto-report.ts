// The Perfetto report: Chrome's trace event JSON, which Perfetto (and
// chrome://tracing) open. A track per process and thread; audit events as
// instants; code loads and `exec` as 1 µs slices joined by a flow arrow
// (the file opened for execution → the exec of its code); and each thread's
// wait for a decision as a slice from the ask to the answer. Streamed: one
// trace event per line; the track names, collected on the way, go last.

import { categoryOf } from '../common/event-taxonomy.js';
import { textOf } from './protocol/records.js';
import { TextBatch, formatArgs, jsonString, memoText } from './report-text.js';
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
  const batch = new TextBatch({ write });
  /**
   * Appends one trace event, already JSON text (a million of them: no
   * objects); the batch is flushed once per record, not per event.
   */
  const emit = (event: string): void => {
    batch.add(first ? event : `,\n${event}`);
    first = false;
  };
  let origin: bigint | null = null;
  const processes = new Map<number, { pid: number; name: string }>();
  // Threads in the order first seen (their names go last), by pid then tid.
  const threads: Array<{ pid: number; tid: number }> = [];
  const seenThreads = new Map<number, Set<number>>();
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
    let tids = seenThreads.get(pid);
    if (tids === undefined) seenThreads.set(pid, (tids = new Set()));
    for (const r of block.records) {
      if (batch.full) await batch.flush();
      origin ??= r.timeNs;
      const ts = micros(r.timeNs, origin);
      if (!tids.has(r.tid)) {
        tids.add(r.tid);
        threads.push({ pid, tid: r.tid });
      }
      // "pid":…,"tid":…,"ts":…: every event of this record has them.
      const where = `"pid":${pid},"tid":${r.tid},"ts":`;
      if (r.kind === 'decision') {
        if (r.waitedNs > 0n) {
          const startTs = Math.max(0, micros(r.timeNs - r.waitedNs, origin));
          emit(
            `{"name":${jsonString(`waited for a decision: ${r.event}`)},"cat":"intent","ph":"X",${where}${startTs},"dur":${Number(r.waitedNs) / 1000},"args":{"outcome":"${r.outcome}","by":"${r.by}","rule":${r.ruleIndex ?? 'null'}}}`,
          );
        }
        continue;
      }
      if (r.kind === 'open-code') {
        const path = textOf(r.path);
        const source = r.intent === 'bytecode' ? sourceOfBytecode(path) : path;
        emit(
          `{"name":${jsonString(`${r.event} ${r.intent}`)},"cat":${categoryJson(r.event)},"ph":"X",${where}${ts},"dur":1,"args":{"path":${jsonString(path)},"realPath":${jsonString(r.realPath)},"sha256":${r.sha256 === null ? 'null' : `"${r.sha256}"`},"size":${r.size}}}`,
        );
        if (source !== null && r.status === 'ok') {
          const id = nextFlow++;
          loads.set(`${pid}\0${source}`, id);
          emit(`{"name":"load → exec","cat":"flow","ph":"s","id":${id},${where}${ts}}`);
        }
        continue;
      }
      const code = r.event === 'exec' ? r.args.items[0] : undefined;
      if (code !== undefined && code.type === 'code') {
        const key = `${pid}\0${code.filename.text}`;
        const id = loads.get(key);
        emit(
          `{"name":"exec","cat":${categoryJson(r.event)},"ph":"X",${where}${ts},"dur":1,"args":{"code":${jsonString(`${code.name.text} in ${code.filename.text}:${code.firstLine}`)}}}`,
        );
        if (id !== undefined) {
          loads.delete(key);
          emit(`{"name":"load → exec","cat":"flow","ph":"f","bp":"e","id":${id},${where}${ts}}`);
        }
        continue;
      }
      emit(
        `${instantHead(r.event)}${where}${ts},"args":{"args":${jsonString(formatArgs(r.args, ARGS_FORMAT))}}}`,
      );
    }
  }
  for (const p of processes.values()) {
    emit(
      JSON.stringify({ name: 'process_name', ph: 'M', pid: p.pid, tid: 0, args: { name: p.name } }),
    );
  }
  for (const t of threads) {
    emit(
      JSON.stringify({
        name: 'thread_name',
        ph: 'M',
        pid: t.pid,
        tid: t.tid,
        args: { name: t.tid === t.pid ? `main thread ${t.tid}` : `thread ${t.tid}` },
      }),
    );
  }
  // A load whose code never ran (a failed import) leaves a flow start
  // without an end; trace viewers ignore those.
  batch.add('\n]}\n');
  await batch.flush();
}

const ARGS_FORMAT = { maxStringLength: 200, maxBytesLength: 32 };

/** "cat" of an event name, as JSON. */
const categoryJson = memoText((event) => jsonString(categoryOf(event)));

/** An instant event up to its "pid": `{"name":…,"cat":…,"ph":"i","s":"t",`. */
const instantHead = memoText(
  (event) =>
    `{"name":${jsonString(event)},"cat":${jsonString(categoryOf(event))},"ph":"i","s":"t",`,
);
