// `hookscope show FILE`: prints the events of a session file, as readable
// lines or as JSON lines, streaming (a session may be hundreds of MB).

import { categoryOf } from '../common/event-taxonomy.js';
import { describeDecision, ruleCommentsOf, type RuleComments } from '../core/decision-text.js';
import { looksLikeJsonReport, readJsonReportBlocks } from '../core/json-report.js';
import { formatStack, originOf } from '../core/stack-origin.js';
import {
  formatValue,
  textOf,
  toJsonValue,
  type AgentRecord,
  type AuditRecord,
  type DecisionRecord,
  type JsonValue,
  type OpenCodeRecord,
} from '../core/protocol/records.js';
import { eventMatcher } from '../core/event-glob.js';
import {
  SessionFileError,
  SessionReader,
  type ProcessInfo,
  type SessionBlock,
} from '../core/session-file.js';
import { errnoText } from '../core/errno-text.js';
import { printable, shellQuote } from '../core/summary.js';

export { eventMatcher };

export interface ShowOptions {
  /** Glob over event names, e.g. "socket.*" or "{open,os.*}". */
  event?: string;
  /** Only events of processes with this pid. */
  pid?: number;
  /** One JSON object per event line instead of text. */
  json?: boolean;
}

/** Text mode cuts longer strings and bytes (JSON keeps everything recorded). */
const TEXT_MAX_STRING = 200;
const TEXT_MAX_BYTES = 48;
/** Output is batched into writes of about this size. */
const WRITE_BATCH = 64 * 1024;

/**
 * Prints the events of session file `file` to `out`; problems go to `err`.
 *
 * Exit codes: 0 when the file was read to its end, including a file with a
 * torn (truncated or damaged) tail — everything complete is printed, then a
 * one-line warning on `err` says how many bytes at which offset were cut;
 * 2 when the file cannot be read (missing, not a session file, newer
 * format, invalid block) or an option is invalid, with one line on `err`.
 * If `out` closes early (e.g. piped into `head`), printing stops quietly.
 *
 * JSON lines carry `session`, `pid`, `tid`, `seq`, `time_ns` (a string:
 * CLOCK_MONOTONIC ns exceed 2^53), `rel_ms` (since the process's agent
 * started), `kind`, `event`, `category` and `args` (see toJsonValue), plus
 * `args_truncated` when the agent cut the arguments; open-code records add
 * `path`, `real_path`, `size`, `sha256`, `intent` and, when opening failed,
 * `error` ({errno, message}). An event the policy decided on (a denial, or
 * any `ask`) carries `decision`: {outcome, action, by, rule (index, or null
 * for the default), comment (the rule's, when the session holds the policy
 * and the rule has one), waited_ns (a string), seq (of the decision record)}.
 * A decision whose event is no longer held (more than DECISION_WINDOW event
 * lines apart; an agent bug) is printed as its own line with `kind`
 * "decision", `event_seq` and `decision`.
 *
 * Text mode also prints `#` lines for processes starting and ending, drops,
 * notices, and decisions (`# denied by rule 2 (no shells)`, right after the
 * record decided; with `[decides pid/tid seq N]` when another record came
 * between them).
 */
export async function showCommand(
  file: string,
  opts: ShowOptions,
  out: NodeJS.WritableStream,
  err: NodeJS.WritableStream,
): Promise<number> {
  const fail = (message: string): number => {
    err.write(`hookscope show: ${message}\n`);
    return 2;
  };
  if (opts.pid !== undefined && !(Number.isInteger(opts.pid) && opts.pid >= 0)) {
    return fail(`--pid must be a process id (a non-negative integer), got ${opts.pid}`);
  }
  let matchEvent: ((event: string) => boolean) | null = null;
  if (opts.event !== undefined) {
    try {
      matchEvent = eventMatcher(opts.event);
    } catch (error) {
      return fail(
        `invalid --event glob ${JSON.stringify(opts.event)}: ${(error as Error).message}`,
      );
    }
  }

  // A session file, or a JSON report of one (`hookscope report --format json`).
  let reader: { blocks(): AsyncIterable<SessionBlock>; close(): Promise<void> };
  try {
    reader = looksLikeJsonReport(file)
      ? { blocks: () => readJsonReportBlocks(file), close: async () => {} }
      : await SessionReader.open(file);
  } catch (error) {
    if (error instanceof SessionFileError) return fail(error.message);
    throw error;
  }

  const sink = new LineSink(out);
  const sessions = new Map<number, SessionView>();
  const json = opts.json === true;
  const pending = new PendingJsonLines(sink);
  let comments: RuleComments = [];
  /** The last event line printed in text mode, for the decision line after it. */
  let lastPrinted: { session: number; seq: number } | null = null;
  const pidMatches = (pid: number | undefined): boolean =>
    opts.pid === undefined || pid === opts.pid;

  try {
    for await (const block of reader.blocks()) {
      if (sink.closed) break;
      switch (block.type) {
        case 'process': {
          const view = sessionView(block.process);
          sessions.set(block.process.session, view);
          if (!json && pidMatches(view.pid)) {
            const p = block.process;
            await sink.line(
              `# process ${p.pid} started (ppid ${p.ppid}, session ${p.session}, ` +
                `Python ${p.pythonVersion.split(' ')[0] ?? '?'}): ${p.argv.map(shellQuote).join(' ')}`,
            );
          }
          break;
        }
        case 'events': {
          const view = sessions.get(block.sessionId);
          if (!pidMatches(view?.pid)) break;
          for (const record of block.records) {
            // A decision carries the name of what it decides, so the same
            // filter keeps a decision exactly when it keeps its event.
            if (matchEvent !== null && !matchEvent(record.event)) continue;
            if (record.kind === 'decision') {
              if (json) {
                await pending.decision(record, block.sessionId, view, comments);
              } else {
                const decided =
                  lastPrinted !== null &&
                  lastPrinted.session === block.sessionId &&
                  BigInt(lastPrinted.seq) === record.eventSeq;
                const where = decided
                  ? ''
                  : ` [decides ${view?.pid ?? '?'}/${record.tid} seq ${record.eventSeq}]`;
                await sink.line(`# ${printable(describeDecision(record, comments))}${where}`);
                if (record.stack !== null) {
                  const origin = originOf(record.stack);
                  if (origin !== null) await sink.line(`#   from ${printable(origin.module)}`);
                  for (const l of formatStack(record.stack, '#   ')) await sink.line(printable(l));
                }
              }
              continue;
            }
            if (json) {
              await pending.event(
                jsonLine(record, block.sessionId, view),
                block.sessionId,
                record.seq,
              );
            } else {
              await sink.line(textLine(record, view));
              lastPrinted = { session: block.sessionId, seq: record.seq };
            }
          }
          break;
        }
        case 'policy':
          comments = ruleCommentsOf(block.policy);
          if (!json) {
            await sink.line(
              `# policy ${printable(block.policy.file)} (sha256 ${block.policy.sha256}, ` +
                `${block.policy.askAnswer === 'interactive' ? 'asks answered interactively' : `ask rules answered ${block.policy.askAnswer}`})`,
            );
          }
          break;
        case 'drops': {
          const view = sessions.get(block.sessionId);
          if (!json && pidMatches(view?.pid)) {
            await sink.line(
              `# process ${view?.pid ?? '?'}: ${block.droppedTotal} records dropped so far (agent buffer full)`,
            );
          }
          break;
        }
        case 'process-end': {
          const e = block.processEnd;
          const view = sessions.get(e.session);
          if (!json && pidMatches(view?.pid)) {
            const how =
              e.reason === 'exited'
                ? `exited${e.exitCode != null ? ` with code ${e.exitCode}` : ''}`
                : e.reason === 'killed'
                  ? `killed${e.signal ? ` by ${e.signal}` : ''}`
                  : e.reason === 'detached'
                    ? 'detached (the process goes on, unrecorded)'
                    : 'disconnected without saying goodbye';
            await sink.line(`# process ${view?.pid ?? '?'} ${how}`);
          }
          break;
        }
        case 'notice':
          if (!json) {
            await sink.line(`# ${block.notice.level}: ${printable(block.notice.message)}`);
          }
          break;
        case 'attach':
          if (!json) {
            const a = block.attach;
            await sink.line(
              `# attached to process ${a.pid} via ${a.method}: events before ` +
                `${new Date(a.hooksActiveAtMs).toISOString()} were not seen`,
            );
          }
          break;
        case 'run':
        case 'run-end':
          break;
        case 'end':
          await pending.flush();
          await sink.flush();
          if (block.truncated) {
            const t = block.truncated;
            err.write(
              `hookscope show: warning: ${file} is truncated: ${t.bytesCut} bytes at offset ${t.offset} ` +
                `could not be read (${t.reason}); everything before them was shown\n`,
            );
          }
          break;
      }
    }
    await pending.flush();
    await sink.flush();
  } catch (error) {
    await pending.flush();
    await sink.flush();
    if (error instanceof SessionFileError) return fail(error.message);
    throw error;
  } finally {
    await reader.close();
  }
  return 0;
}

interface SessionView {
  pid: number;
  startMonotonicNs: bigint;
}

function sessionView(p: ProcessInfo): SessionView {
  return { pid: p.pid, startMonotonicNs: BigInt(p.startMonotonicNs) };
}

function relativeMs(record: AgentRecord, view: SessionView | undefined): number | null {
  if (view === undefined) return null;
  // Microsecond resolution is plenty for display and stays exact in a number.
  return Number((record.timeNs - view.startMonotonicNs) / 1000n) / 1000;
}

/** The fields every JSON line starts with, events and decisions alike. */
function recordFields(
  record: AgentRecord,
  session: number,
  view: SessionView | undefined,
): Record<string, JsonValue> {
  return {
    session,
    pid: view?.pid ?? null,
    tid: record.tid,
    seq: record.seq,
    time_ns: record.timeNs.toString(),
    rel_ms: relativeMs(record, view),
    kind: record.kind,
    event: record.event,
  };
}

function jsonLine(
  record: AuditRecord | OpenCodeRecord,
  session: number,
  view: SessionView | undefined,
): Record<string, JsonValue> {
  const line: Record<string, JsonValue> = {
    ...recordFields(record, session, view),
    category: categoryOf(record.event),
  };
  if (record.kind === 'audit') {
    line.args = toJsonValue(record.args);
  } else {
    line.args = [toJsonValue(record.path)];
    line.path = textOf(record.path);
    line.real_path = record.realPath;
    line.size = record.size;
    line.sha256 = record.sha256;
    line.intent = record.intent;
    if (record.status === 'error') {
      line.error = { errno: record.errno, message: errnoText(record.errno) };
    }
  }
  if (record.argsTruncated) line.args_truncated = true;
  return line;
}

function textLine(record: AuditRecord | OpenCodeRecord, view: SessionView | undefined): string {
  const ms = relativeMs(record, view);
  const time = ms === null ? '?' : `${ms < 0 ? '' : '+'}${ms.toFixed(3)}`;
  const who = `${view?.pid ?? '?'}/${record.tid}`;
  const prefix = `${time.padStart(12)} ms  ${who.padEnd(13)} `;
  const options = { maxStringLength: TEXT_MAX_STRING, maxBytesLength: TEXT_MAX_BYTES };
  if (record.kind === 'audit') {
    const args = record.args.items.map((a) => formatValue(a, options));
    if (record.args.truncated) args.push(`…(${record.args.fullCount} args)`);
    const cut = record.argsTruncated ? ' [arguments cut short]' : '';
    return `${prefix}${printable(record.event)}(${args.join(', ')})${cut}`;
  }
  const path = formatValue(record.path, options);
  const real =
    record.realPath !== '' && record.realPath !== textOf(record.path)
      ? ` -> ${printable(record.realPath)}`
      : '';
  if (record.status === 'error') {
    return `${prefix}${record.event} ${record.intent} ${path}${real} FAILED (${errnoText(record.errno)})`;
  }
  return `${prefix}${record.event} ${record.intent} ${path}${real} sha256=${record.sha256 ?? ''} size=${record.size}`;
}

/**
 * JSON event lines wait here a little before printing, so that the
 * decision record that follows an event (same thread, next record) can be
 * merged into it. Order is kept; at most DECISION_WINDOW lines are held.
 */
const DECISION_WINDOW = 256;

class PendingJsonLines {
  private readonly queue: { key: string; line: Record<string, JsonValue> }[] = [];
  private readonly byKey = new Map<string, Record<string, JsonValue>>();

  constructor(private readonly sink: LineSink) {}

  async event(line: Record<string, JsonValue>, session: number, seq: number): Promise<void> {
    const key = `${session}:${seq}`;
    this.queue.push({ key, line });
    this.byKey.set(key, line);
    if (this.queue.length > DECISION_WINDOW) await this.printOldest();
  }

  async decision(
    record: DecisionRecord,
    session: number,
    view: SessionView | undefined,
    comments: RuleComments,
  ): Promise<void> {
    const decision: Record<string, JsonValue> = {
      outcome: record.outcome,
      action: record.action,
      by: record.by,
      rule: record.ruleIndex,
    };
    const comment = record.ruleIndex === null ? undefined : comments[record.ruleIndex];
    if (comment !== undefined) decision.comment = comment;
    decision.waited_ns = record.waitedNs.toString();
    decision.seq = record.seq;
    if (record.stack !== null) {
      const origin = originOf(record.stack);
      if (origin !== null) {
        decision.module = origin.module;
        decision.package = origin.package;
      }
      decision.stack = record.stack.map((f) => ({
        file: f.file,
        function: f.function,
        line: f.line,
        module: f.module,
      }));
    }
    const line = this.byKey.get(`${session}:${record.eventSeq}`);
    if (line !== undefined) {
      line.decision = decision;
      return;
    }
    // Through the queue, behind the lines still held, to keep the order.
    const standalone: Record<string, JsonValue> = {
      ...recordFields(record, session, view),
      event_seq: record.eventSeq.toString(),
      decision,
    };
    this.queue.push({ key: `decision:${session}:${record.seq}`, line: standalone });
    if (this.queue.length > DECISION_WINDOW) await this.printOldest();
  }

  async flush(): Promise<void> {
    while (this.queue.length > 0) await this.printOldest();
  }

  private async printOldest(): Promise<void> {
    const oldest = this.queue.shift();
    if (oldest === undefined) return;
    this.byKey.delete(oldest.key);
    await this.sink.line(JSON.stringify(oldest.line));
  }
}

/**
 * Batches lines and writes them respecting backpressure: when `out` asks
 * to wait, the reader waits too, so memory stays bounded however large the
 * session. An `out` that errors (EPIPE) or closes marks the sink closed.
 */
class LineSink {
  private parts: string[] = [];
  private size = 0;
  closed = false;

  constructor(private readonly out: NodeJS.WritableStream) {
    out.on('error', () => {
      this.closed = true;
    });
  }

  async line(text: string): Promise<void> {
    if (this.closed) return;
    this.parts.push(text, '\n');
    this.size += text.length + 1;
    if (this.size >= WRITE_BATCH) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.size === 0 || this.closed) {
      this.parts = [];
      this.size = 0;
      return;
    }
    const chunk = this.parts.join('');
    this.parts = [];
    this.size = 0;
    if (!this.out.write(chunk)) await this.drained();
  }

  private drained(): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        this.out.removeListener('drain', done);
        this.out.removeListener('error', onError);
        this.out.removeListener('close', onClose);
        resolve();
      };
      const onError = (): void => {
        this.closed = true;
        done();
      };
      const onClose = (): void => {
        this.closed = true;
        done();
      };
      this.out.on('drain', done);
      this.out.on('error', onError);
      this.out.on('close', onClose);
    });
  }
}
