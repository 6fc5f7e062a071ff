// A policy that allows exactly what a recorded run did (docs/policy.md,
// "Learning from a session"): every file that ran, pinned by class, real
// path and SHA-256; every audit event name that was raised; everything
// else denied. What a policy denied during the run did not happen, and is
// left out.

import { compileGlob, escapeGlob } from './glob.js';
import { parsePolicy } from './load-policy.js';
import {
  DEFAULT_ASK,
  INTENT_CLASSES,
  POLICY_VERSION,
  formatPolicy,
  type Answer,
  type IntentClass,
  type Policy,
  type Rule,
} from './policy.js';
import { BytesMemo } from '../protocol/bytes-memo.js';
import { RecordScan } from '../protocol/record-scan.js';
import {
  RecordKind,
  decodeRecordAt,
  recordEventAt,
  type AgentRecord,
  type DecisionRecord,
  type OpenCodeRecord,
} from '../protocol/records.js';
import { SessionReader, type RawSessionBlock, type SessionBlock } from '../session-file.js';

/** Records remembered per process for the decision that follows each. */
const RECENT_RECORDS = 256;

export interface LearnOptions {
  /** What the agent does if the inspector goes away; default allow. */
  offline?: Answer;
}

type LearnBlock = SessionBlock | RawSessionBlock;

/**
 * The rule keys of one process's latest records, by sequence number, for
 * the decision that follows each (same thread, next record). A fixed
 * ring: a Map trimmed from the front slows down as V8 keeps its deleted
 * slots (see recent-seqs.ts).
 */
class RecentKeys {
  private readonly seqs = new Float64Array(RECENT_RECORDS);
  private readonly keys = new Array<string>(RECENT_RECORDS);
  /** 1: the key is a file's; 0: an event name. */
  private readonly isFile = new Uint8Array(RECENT_RECORDS);
  private count = 0;

  add(seq: number, key: string, isFile: boolean): void {
    const slot = this.count++ % RECENT_RECORDS;
    this.seqs[slot] = seq;
    this.keys[slot] = key;
    this.isFile[slot] = isFile ? 1 : 0;
  }

  find(seq: number): { key: string; isFile: boolean } | undefined {
    const kept = Math.min(this.count, RECENT_RECORDS);
    for (let k = 1; k <= kept; k++) {
      const slot = (this.count - k) % RECENT_RECORDS;
      if (this.seqs[slot] === seq) {
        return { key: this.keys[slot] as string, isFile: this.isFile[slot] === 1 };
      }
    }
    return undefined;
  }
}

/** A file that ran, as learned: its rule's key and fields. */
interface FileSeen {
  key: string;
  intent: IntentClass;
  realpath: string;
  sha256: string;
}

function fileSeenOf(record: OpenCodeRecord, sha256: string): FileSeen {
  const { intent, realPath: realpath } = record;
  return { key: `${intent}\0${realpath}\0${sha256}`, intent, realpath, sha256 };
}

/** What a session let happen: each rule's key counts the times. */
class Learner {
  readonly files = new Map<
    string,
    { intent: IntentClass; realpath: string; sha256: string; allowed: number }
  >();
  /** By event name. */
  readonly events = new Map<string, number>();
  /** Real paths already judged for pinnable(), which compiles a glob. */
  private readonly pinnableCache = new Map<string, boolean>();
  private readonly recent = new Map<number, RecentKeys>();
  /** Files of open-code records by their bytes after the header; null: a failed open. */
  private readonly filesSeen = new BytesMemo<FileSeen | null>();
  /** Open-code records get body ids: the same files load over and over. */
  private readonly scan = new RecordScan((kind) => kind === RecordKind.OPEN_CODE);
  /** The same, by body id (the scan's), for the bodies the scan told apart. */
  private readonly filesByBody: (FileSeen | null | undefined)[] = [];

  recentOf(session: number): RecentKeys {
    let keys = this.recent.get(session);
    if (keys === undefined) this.recent.set(session, (keys = new RecentKeys()));
    return keys;
  }

  audit(keys: RecentKeys, event: string, seq: number): void {
    // Anyone may raise any name, even an empty one, which no rule can
    // name: the default (deny) covers it.
    if (event === '') return;
    this.events.set(event, (this.events.get(event) ?? 0) + 1);
    keys.add(seq, event, false);
  }

  openCode(keys: RecentKeys, record: OpenCodeRecord): void {
    // A failed open ran nothing.
    if (record.status !== 'ok' || record.sha256 === null) return;
    this.fileRan(keys, record.seq, fileSeenOf(record, record.sha256));
  }

  /**
   * openCode() of the open-code record at `p` of a payload: decoded only
   * the first time its bytes are seen (the same files load over and over).
   */
  openCodeAt(keys: RecentKeys, src: Buffer, p: number, bodyId: number): void {
    let seen = bodyId >= 0 ? this.filesByBody[bodyId] : this.filesSeen.get(src, p);
    if (seen === undefined) {
      const record = decodeRecordAt(src, p) as OpenCodeRecord;
      seen = record.sha256 === null ? null : fileSeenOf(record, record.sha256);
      if (bodyId >= 0) this.filesByBody[bodyId] = seen;
      else this.filesSeen.set(src, p, seen);
    }
    if (seen === null) return;
    this.fileRan(keys, src.readUInt32LE(p + 12) + src.readUInt32LE(p + 16) * 0x1_0000_0000, seen);
  }

  private fileRan(keys: RecentKeys, seq: number, seen: FileSeen): void {
    const file = this.files.get(seen.key);
    if (file !== undefined) file.allowed++;
    else {
      let ok = this.pinnableCache.get(seen.realpath);
      if (ok === undefined) {
        ok = pinnable(seen.realpath);
        if (this.pinnableCache.size < 65536) this.pinnableCache.set(seen.realpath, ok);
      }
      if (!ok) return;
      this.files.set(seen.key, {
        intent: seen.intent,
        realpath: seen.realpath,
        sha256: seen.sha256,
        allowed: 1,
      });
    }
    keys.add(seq, seen.key, true);
  }

  /** A record the policy of that run denied did not happen: its decision takes it back. */
  decision(keys: RecentKeys, record: DecisionRecord): void {
    if (record.outcome !== 'denied') return;
    const decided = keys.find(Number(record.eventSeq));
    if (decided === undefined) return;
    if (decided.isFile) {
      const file = this.files.get(decided.key);
      if (file !== undefined) file.allowed--;
    } else {
      const seen = this.events.get(decided.key);
      if (seen !== undefined) this.events.set(decided.key, seen - 1);
    }
  }

  /** An events block, decoded or as bytes (only names are needed of most records). */
  block(block: Extract<LearnBlock, { type: 'events' }>): void {
    const keys = this.recentOf(block.sessionId);
    if (!Buffer.isBuffer(block.records)) {
      for (const record of block.records) this.record(keys, record);
      return;
    }
    const src = block.records;
    const scan = this.scan;
    const out = scan.out;
    for (let n = scan.first(src); n > 0; n = scan.next()) {
      for (let i = 0; i < 3 * n; i += 3) {
        const p = out[i] as number;
        const kind = src[p + 4];
        if (kind === RecordKind.AUDIT) {
          const id = out[i + 1] as number;
          const seq = src.readUInt32LE(p + 12) + src.readUInt32LE(p + 16) * 0x1_0000_0000;
          this.audit(keys, id >= 0 ? (scan.events[id] as string) : recordEventAt(src, p), seq);
        } else if (kind === RecordKind.OPEN_CODE)
          this.openCodeAt(keys, src, p, out[i + 2] as number);
        else this.record(keys, decodeRecordAt(src, p));
      }
    }
  }

  private record(keys: RecentKeys, record: AgentRecord): void {
    if (record.kind === 'audit') this.audit(keys, record.event, record.seq);
    else if (record.kind === 'open-code') this.openCode(keys, record);
    else this.decision(keys, record);
  }
}

/**
 * Learns from a session: a path to a session file, an open SessionReader,
 * or its blocks (decoded, or with events as bytes). The result is sorted
 * (intents by class, real path and digest, then events by name), so one
 * session always gives the same policy, and it has been through
 * parsePolicy.
 */
export async function learnPolicy(
  session: string | SessionReader | AsyncIterable<LearnBlock> | Iterable<LearnBlock>,
  options: LearnOptions = {},
): Promise<Policy> {
  const blocks =
    typeof session === 'string'
      ? (await SessionReader.open(session)).rawBlocks()
      : session instanceof SessionReader
        ? session.rawBlocks()
        : session;

  const learner = new Learner();
  let command: string[] | null = null;
  for await (const block of blocks) {
    if (block.type === 'run') command = block.run.command;
    if (block.type === 'events') learner.block(block);
  }
  const { files, events } = learner;

  const classOrder = (c: IntentClass): number => INTENT_CLASSES.indexOf(c);
  const fileRules: Rule[] = [...files.values()]
    .filter((f) => f.allowed > 0)
    .sort(
      (a, b) =>
        classOrder(a.intent) - classOrder(b.intent) ||
        compareText(a.realpath, b.realpath) ||
        compareText(a.sha256, b.sha256),
    )
    .map((f) => ({
      action: 'allow',
      intent: f.intent,
      realpath: escapeGlob(f.realpath),
      sha256: f.sha256,
    }));
  const eventRules: Rule[] = [...events]
    .filter(([, allowed]) => allowed > 0)
    .map(([name]) => name)
    .sort(compareText)
    .map((name) => ({ action: 'allow', event: escapeGlob(name) }));

  const policy: Policy = {
    version: POLICY_VERSION,
    comment:
      command === null
        ? 'Learned from a recorded session'
        : `Learned from a recorded session of: ${command.join(' ')}`,
    default: 'deny',
    ask: { ...DEFAULT_ASK },
    offline: options.offline ?? 'allow',
    rules: [...fileRules, ...eventRules],
  };
  // Through the file form and back: what is returned is exactly what a
  // saved copy will load as, and a learned policy that would not load is a
  // bug to hear about now.
  return parsePolicy(formatPolicy(policy), '<learned policy>');
}

/**
 * Whether a real path can be written as a rule. readlink may name things
 * that are not normalised absolute paths ("pipe:[123]", or a path ending in
 * " (deleted)" that still is one): those are left to the default.
 */
function pinnable(realpath: string): boolean {
  return realpath !== '' && !('message' in compileGlob(escapeGlob(realpath), 'path'));
}

/** Code-unit order: the same on every machine, unlike localeCompare. */
function compareText(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
