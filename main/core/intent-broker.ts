// The main-side half of interactive asks: every ASK an agent sends becomes
// a pending intent that someone (the UI, a test's scripted answerer, a rule
// in the inspector) answers. It remembers answers for their scope, so a
// retry loop or a second process is not asked again, and it forgets an
// intent the moment its thread stops waiting (timeout, process gone).
// Plain Node: no UI, no Electron.

import type { IntentMatch, IntentOutcome, PendingSubjectRow } from '../common/ipc-contract.js';
import type { AgentProcess, AskSink } from './agent-server.js';
import { answerKey, subjectFromRecord, type Subject } from './policy/match.js';
import { MAX_HOLD_MS, type AnswerFrame, type AskFrame, type AskScope } from './protocol/ask.js';
import { decodeRecords, formatValue, toJsonValue, type StackFrame } from './protocol/records.js';
import { originOf } from './stack-origin.js';

/** What is asked about, in a form any transport can carry: the UI contract's own type. */
export type PendingSubject = PendingSubjectRow;

export interface PendingIntent {
  /** `<session>.<ask id>`: unique for the life of the broker. */
  id: string;
  /** The agent session (one per target process). */
  session: number;
  pid: number;
  tid: number;
  executable: string;
  subject: PendingSubject;
  /** Index of the asking rule in the policy file; null when the default asked. */
  ruleIndex: number | null;
  /** The asking rule's scope: what an answer without a scope is remembered for. */
  scope: AskScope;
  /** The asking thread's Python stack, innermost first; null when not sent. */
  stack: StackFrame[] | null;
  /** The module (and its top-level package) outside the standard library that asked; null when unknown. */
  module: string | null;
  package: string | null;
  /** Wall clock (ms since the epoch) when the ask arrived. */
  askedAtMs: number;
  /** When the target stops waiting and applies the policy's timeout answer. */
  deadlineAtMs: number;
}

/** How a pending intent stopped being pending. */
export type ResolvedBy = 'user' | 'remembered' | 'timeout' | 'offline';

export type IntentUpdate =
  | { type: 'pending'; intent: PendingIntent }
  | { type: 'resolved'; id: string; outcome: IntentOutcome | null; by: ResolvedBy };

export interface IntentAnswer {
  outcome: IntentOutcome;
  /**
   * How long the answer holds: `once` (this intent only), `process` (the
   * rest of its process), `session` (every process of this run), `always`
   * (also handed to `onLastingAnswer`, to be written into the policy).
   * Defaults to the asking rule's scope.
   */
  scope?: AskScope;
  /** With `always`: what the written rule matches (default `exact`). */
  match?: IntentMatch;
}

/** An `always` answer, for whoever keeps the policy file. */
export interface LastingAnswer {
  subject: Subject;
  outcome: IntentOutcome;
  match: IntentMatch;
  /** The `ask` rule that asked; a lasting rule goes just above it. */
  ruleIndex: number | null;
}

export class IntentError extends Error {
  constructor(
    readonly code: 'not-found' | 'gone',
    message: string,
  ) {
    super(message);
    this.name = 'IntentError';
  }
}

/** How an answer or a hold reaches a session's agent; false when its connection is gone. */
export interface AskChannel {
  answer(session: number, answer: AnswerFrame): boolean;
  hold(session: number, askId: number, ms: number): boolean;
}

export interface IntentBrokerOptions {
  /** Sends an ANSWER to a session's agent; false when its connection is gone. */
  send?: (session: number, answer: AnswerFrame) => boolean;
  onLastingAnswer?: (answer: LastingAnswer) => void;
  /** Wall clock in ms; tests may pin it. */
  nowMs?: () => number;
}

interface Waiting {
  intent: PendingIntent;
  subject: Subject;
  key: string;
  askId: number;
  /** Sequence number of the record asked about: the agent's decision names it. */
  seq: bigint;
  timer: NodeJS.Timeout;
}

/**
 * The agent decides a timeout by itself and says so in a decision record;
 * this timer only clears an intent whose process went quiet, so it waits a
 * little longer than the agent does.
 */
const TIMEOUT_GRACE_MS = 5_000;

/** Remembered answers beyond this are dropped oldest first (bounded memory). */
const MAX_REMEMBERED = 10_000;

export class IntentBroker implements AskSink {
  private readonly waiting = new Map<string, Waiting>();
  /** Answers kept for the session (scopes `session` and `always`), by rule and subject. */
  private readonly remembered = new Map<string, IntentOutcome>();
  private readonly listeners = new Set<(update: IntentUpdate) => void>();
  private send: (session: number, answer: AnswerFrame) => boolean;
  private sendHold: (session: number, askId: number, ms: number) => boolean = () => false;
  private lastingHandler: ((answer: LastingAnswer) => void) | undefined;
  private readonly nowMs: () => number;

  constructor(private readonly options: IntentBrokerOptions = {}) {
    this.send = options.send ?? (() => false);
    this.lastingHandler = options.onLastingAnswer;
    this.nowMs = options.nowMs ?? Date.now;
  }

  /** Where `always` answers go (the keeper of the policy file). */
  onLastingAnswer(handler: (answer: LastingAnswer) => void): void {
    this.lastingHandler = handler;
  }

  /**
   * The run's policy was replaced: answers kept for the session were given
   * to rules by their index, which may now name other rules (the agents
   * forget theirs too), so they are forgotten. Waiting asks stay.
   */
  policyReplaced(): void {
    this.remembered.clear();
  }

  /** The subject of a pending intent, for checks before it is answered. */
  subjectOf(id: string): Subject | undefined {
    return this.waiting.get(id)?.subject;
  }

  /** Where answers go; set once the agent server exists. */
  bind(send: ((session: number, answer: AnswerFrame) => boolean) | AskChannel): void {
    if (typeof send === 'function') {
      this.send = send;
    } else {
      this.send = (session, answer) => send.answer(session, answer);
      this.sendHold = (session, askId, ms) => send.hold(session, askId, ms);
    }
  }

  /**
   * Someone is reading this intent: its thread keeps waiting at least `ms`
   * more (at most MAX_HOLD_MS per call; call again to keep holding). The
   * countdown a UI shows then stands still. Returns the new deadline;
   * throws IntentError `not-found` when it is no longer pending.
   */
  hold(id: string, ms: number): number {
    const w = this.waiting.get(id);
    if (w === undefined) throw new IntentError('not-found', `no pending intent ${id}`);
    const span = Math.max(0, Math.min(MAX_HOLD_MS, ms));
    this.sendHold(w.intent.session, w.askId, span);
    const deadline = Math.max(w.intent.deadlineAtMs, this.nowMs() + span);
    if (deadline !== w.intent.deadlineAtMs) {
      w.intent = { ...w.intent, deadlineAtMs: deadline };
      clearTimeout(w.timer);
      w.timer = setTimeout(
        () => this.resolve(id, null, 'timeout'),
        deadline - this.nowMs() + TIMEOUT_GRACE_MS,
      );
      w.timer.unref();
    }
    return deadline;
  }

  /** Intents waiting for an answer, oldest first. */
  list(): PendingIntent[] {
    return [...this.waiting.values()].map((w) => w.intent);
  }

  /** Calls `listener` for every new pending intent and every resolution. */
  subscribe(listener: (update: IntentUpdate) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Answers a pending intent. Throws IntentError `not-found` when it is no
   * longer pending (answered, timed out, its process gone), `gone` when its
   * process disconnected as the answer was sent.
   */
  answer(id: string, answer: IntentAnswer): void {
    const w = this.waiting.get(id);
    if (w === undefined) {
      throw new IntentError(
        'not-found',
        `no pending intent ${id}: it was answered, timed out, or its process ended`,
      );
    }
    const scope = answer.scope ?? w.intent.scope;
    if (scope === 'session' || scope === 'always') {
      this.rememberAnswer(w.key, answer.outcome);
      if (scope === 'always') {
        this.lastingHandler?.({
          subject: w.subject,
          outcome: answer.outcome,
          match: answer.match ?? 'exact',
          ruleIndex: w.intent.ruleIndex,
        });
      }
    }
    const delivered = this.deliver(w, answer.outcome, 'user', scope !== 'once');
    if (!delivered) throw new IntentError('gone', `the process of intent ${id} has disconnected`);
    // The same question waiting elsewhere (another thread or process) has
    // its answer now too, when the answer holds beyond this one intent.
    if (scope === 'session' || scope === 'always') {
      for (const other of [...this.waiting.values()]) {
        if (other.key === w.key) this.deliver(other, answer.outcome, 'remembered', true);
      }
    }
  }

  // ---- AskSink (called by the agent server)

  asked(process: AgentProcess, ask: AskFrame): void {
    const subject = subjectFromRecord(ask.record, {
      pid: process.hello.pid,
      executable: process.hello.exe,
    });
    const key = `${ask.ruleIndex ?? 'default'}\0${answerKey(subject)}`;
    const known = this.remembered.get(key);
    if (known !== undefined) {
      this.send(process.sessionId, {
        askId: ask.askId,
        outcome: known,
        by: 'remembered',
        rememberInProcess: true,
      });
      return;
    }
    const now = this.nowMs();
    const id = `${process.sessionId}.${ask.askId}`;
    const origin = originOf(ask.stack);
    const intent: PendingIntent = {
      id,
      session: process.sessionId,
      pid: process.hello.pid,
      tid: ask.record.tid,
      executable: process.hello.exe,
      subject: describe(ask),
      ruleIndex: ask.ruleIndex,
      scope: ask.scope,
      stack: ask.stack,
      module: origin?.module ?? null,
      package: origin?.package ?? null,
      askedAtMs: now,
      deadlineAtMs: now + ask.timeoutMs,
    };
    const timer = setTimeout(
      () => this.resolve(id, null, 'timeout'),
      ask.timeoutMs + TIMEOUT_GRACE_MS,
    );
    timer.unref();
    const previous = this.waiting.get(id);
    if (previous !== undefined) this.resolve(id, null, 'offline'); // an id reused: the old ask is over
    this.waiting.set(id, {
      intent,
      subject,
      key,
      askId: ask.askId,
      seq: BigInt(ask.record.seq),
      timer,
    });
    this.emit({ type: 'pending', intent });
  }

  hasWaiting(sessionId: number): boolean {
    for (const w of this.waiting.values()) if (w.intent.session === sessionId) return true;
    return false;
  }

  /** Decisions the agent took by itself (timeout, offline) end their pending intents. */
  records(sessionId: number, payload: Buffer): void {
    for (const record of decodeRecords(payload)) {
      if (record.kind !== 'decision' || (record.by !== 'timeout' && record.by !== 'offline'))
        continue;
      for (const w of this.waiting.values()) {
        if (w.intent.session === sessionId && w.seq === record.eventSeq) {
          this.resolve(w.intent.id, record.outcome === 'denied' ? 'deny' : 'allow', record.by);
          break;
        }
      }
    }
  }

  processGone(sessionId: number): void {
    for (const w of [...this.waiting.values()]) {
      if (w.intent.session === sessionId) this.resolve(w.intent.id, null, 'offline');
    }
  }

  /** Forgets everything pending (the run is over); their agents answer offline. */
  close(): void {
    for (const id of [...this.waiting.keys()]) this.resolve(id, null, 'offline');
  }

  private deliver(w: Waiting, outcome: IntentOutcome, by: 'user' | 'remembered', keep: boolean) {
    const sent = this.send(w.intent.session, {
      askId: w.askId,
      outcome,
      by,
      rememberInProcess: keep,
    });
    this.resolve(w.intent.id, sent ? outcome : null, sent ? by : 'offline');
    return sent;
  }

  private resolve(id: string, outcome: IntentOutcome | null, by: ResolvedBy): void {
    const w = this.waiting.get(id);
    if (w === undefined) return;
    clearTimeout(w.timer);
    this.waiting.delete(id);
    this.emit({ type: 'resolved', id, outcome, by });
  }

  private rememberAnswer(key: string, outcome: IntentOutcome): void {
    this.remembered.delete(key);
    this.remembered.set(key, outcome);
    if (this.remembered.size > MAX_REMEMBERED) {
      this.remembered.delete(this.remembered.keys().next().value as string);
    }
  }

  private emit(update: IntentUpdate): void {
    for (const listener of [...this.listeners]) {
      try {
        listener(update);
      } catch {
        // One failing listener must not keep the others (or the agent) waiting.
      }
    }
  }
}

function describe(ask: AskFrame): PendingSubject {
  const r = ask.record;
  if (r.kind === 'audit') {
    return {
      kind: 'audit',
      event: r.event,
      args: toJsonValue(r.args),
      argsText: formatValue(r.args),
      argsTruncated: r.argsTruncated,
    };
  }
  return {
    kind: 'intent',
    intent: r.intent,
    path: r.path.text,
    realPath: r.realPath,
    sha256: r.sha256,
    sizeBytes: r.size,
  };
}
