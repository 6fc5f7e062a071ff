// ASK and ANSWER frames (docs/protocol.md, "Asks"): how a thread in the
// target that an interactive `ask` rule caught waits for the inspector.
// native/agent/src/ask.c is the C side of the same contract.

import { ProtocolError } from './frame.js';
import {
  DECISION_BY_DEFAULT_INDEX,
  decodeRecords,
  decodeStack,
  skipStack,
  type AuditRecord,
  type OpenCodeRecord,
  type StackFrame,
} from './records.js';

/** ASK flags (payload byte 9). */
const ASK_FLAG_STACK = 1;

/** id, rule, scope, reserved, timeout: the fixed part before the record. */
const ASK_HEADER_SIZE = 16;
export const ANSWER_SIZE = 8;

/** Scope codes of the compiled policy, in order. */
const SCOPES = ['once', 'process', 'session', 'always'] as const;
export type AskScope = (typeof SCOPES)[number];

/** An ASK, as the agent sent it. */
export interface AskFrame {
  /** The agent's id for this ask, unique among its waiting asks. */
  askId: number;
  /** Index of the `ask` rule in the policy file; null when the default asked. */
  ruleIndex: number | null;
  /** The asking rule's scope: how long an answer is remembered. */
  scope: AskScope;
  /** How long the thread waits before the timeout answer applies. */
  timeoutMs: number;
  /** What is asked about; `timeNs` is when the ask was made. */
  record: AuditRecord | OpenCodeRecord;
  /** The asking thread's Python stack, innermost first; null when not sent. */
  stack: StackFrame[] | null;
}

/** Parses and validates an ASK payload; throws ProtocolError. */
export function parseAsk(payload: Buffer): AskFrame {
  if (payload.length < ASK_HEADER_SIZE) {
    throw new ProtocolError(`ASK payload of ${payload.length} bytes is shorter than its header`);
  }
  const scope = payload[8] as number;
  if (scope >= SCOPES.length) throw new ProtocolError(`ASK has an unknown scope ${scope}`, 8);
  const flags = payload[9] as number;
  if ((flags & ~ASK_FLAG_STACK) !== 0 || payload.readUInt16LE(10) !== 0) {
    throw new ProtocolError('ASK reserved bytes must be 0', 9);
  }
  const timeoutMs = payload.readUInt32LE(12);
  if (timeoutMs === 0) throw new ProtocolError('ASK has a zero timeout', 12);
  let body = payload.subarray(ASK_HEADER_SIZE);
  let stack: StackFrame[] | null = null;
  if ((flags & ASK_FLAG_STACK) !== 0) {
    // The record says how long it is; the stack follows it.
    const recordLength = body.length >= 4 ? body.readUInt32LE(0) : body.length + 1;
    if (recordLength > body.length) throw new ProtocolError('ASK record runs past the payload');
    try {
      if (skipStack(body, recordLength, body.length) !== body.length) {
        throw new ProtocolError('bytes after the stack');
      }
    } catch (error) {
      throw new ProtocolError(`ASK stack: ${(error as Error).message}`);
    }
    stack = decodeStack(body, recordLength).frames;
    body = body.subarray(0, recordLength);
  }
  let records;
  try {
    records = decodeRecords(body);
  } catch (error) {
    throw new ProtocolError(`ASK record: ${(error as Error).message}`);
  }
  if (records.length !== 1) {
    throw new ProtocolError(`ASK carries ${records.length} records, must carry exactly one`);
  }
  const record = records[0] as AuditRecord | OpenCodeRecord | { kind: 'decision' };
  if (record.kind === 'decision') throw new ProtocolError('ASK carries a decision record');
  const rule = payload.readUInt32LE(4);
  return {
    askId: payload.readUInt32LE(0),
    ruleIndex: rule === DECISION_BY_DEFAULT_INDEX ? null : rule,
    scope: SCOPES[scope] as AskScope,
    timeoutMs,
    record,
    stack,
  };
}

/** Who answered, as the agent records it in its decision. */
export type AnswerSource = 'user' | 'remembered';
const SOURCE_CODES: Readonly<Record<AnswerSource, number>> = { user: 2, remembered: 6 };

export interface AnswerFrame {
  askId: number;
  outcome: 'allow' | 'deny';
  by: AnswerSource;
  /** The agent keeps the answer for the rest of its process (scope above `once`). */
  rememberInProcess: boolean;
}

/** The longest one HOLD keeps an ask waiting (the agent caps it too). */
export const MAX_HOLD_MS = 10_000;

/** HOLD: keep ask `askId` waiting at least `ms` more (someone is reading it). */
export function encodeHold(askId: number, ms: number): Buffer {
  const out = Buffer.alloc(8);
  out.writeUInt32LE(askId >>> 0, 0);
  out.writeUInt32LE(Math.max(0, Math.min(MAX_HOLD_MS, Math.round(ms))), 4);
  return out;
}

export function encodeAnswer(answer: AnswerFrame): Buffer {
  const out = Buffer.alloc(ANSWER_SIZE);
  out.writeUInt32LE(answer.askId >>> 0, 0);
  out[4] = answer.outcome === 'deny' ? 1 : 0;
  out[5] = SOURCE_CODES[answer.by];
  out[6] = answer.rememberInProcess ? 1 : 0;
  return out;
}
