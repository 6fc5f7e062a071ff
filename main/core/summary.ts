// A one-pass summary of a session file: who ran, what they did by
// category, which code files were loaded, which processes were launched and
// which network addresses were used. Streams over the reader, so memory
// depends on the number of distinct items, not on the file size; each list
// is capped for files crafted to have millions of distinct names.

import { EVENT_CATEGORIES, categoryOf, type EventCategory } from '../common/event-taxonomy.js';
import { decidedByText, ruleCommentsOf } from './decision-text.js';
import { errnoText } from './errno-text.js';
import { BytesMemo } from './protocol/bytes-memo.js';
import { RecordScan } from './protocol/record-scan.js';
import { RecentRecords } from './recent-seqs.js';
import { formatStack, originOf } from './stack-origin.js';
import {
  RecordKind,
  decodeRecordAt,
  isCodeLoadEvent,
  formatValue,
  recordEventAt,
  valueText,
  type AgentRecord,
  type DecidedBy,
  type DecisionRecord,
  type OpenCodeIntent,
  type OpenCodeRecord,
  type StackFrame,
  type Value,
} from './protocol/records.js';
import {
  SessionReader,
  type AttachInfo,
  type NoticeInfo,
  type PolicyInfo,
  type ProcessEndReason,
  type RawEventsBlock,
  type RawSessionBlock,
  type RunEndInfo,
  type RunInfo,
  type SessionBlock,
  type TornTail,
} from './session-file.js';

/** Distinct entries kept per list (event names, code files, …). */
export const SUMMARY_LIST_LIMIT = 50_000;

export interface ProcessSummary {
  session: number;
  pid: number;
  ppid: number;
  parentSession: number | null;
  exe: string;
  argv: string[];
  cwd: string;
  pythonVersion: string;
  agentVersion: string;
  /** Wall-clock start (ms since the epoch), from the agent's HELLO. */
  startedAtMs: number;
  end: {
    reason: ProcessEndReason;
    endTimeMs: number;
    exitCode: number | null;
    signal: string | null;
  } | null;
  /** Records present in the file for this process. */
  records: number;
  /** Records the agent said it produced (BYE), when known. */
  recordsTotal: bigint | null;
  /** Records the agent lost because its ring was full (cumulative). */
  dropped: bigint;
}

export interface CategoryCount {
  category: EventCategory;
  label: string;
  count: number;
}

export interface EventCount {
  event: string;
  category: EventCategory;
  count: number;
}

/** One code file, unique by real path and content hash. */
export interface CodeLoad {
  path: string;
  realPath: string;
  /** null when the open or read failed. */
  sha256: string | null;
  size: number;
  intent: OpenCodeIntent;
  /** errno of the failure, when sha256 is null. */
  errno: number | null;
  count: number;
  pids: number[];
}

export interface SubprocessLaunch {
  /** subprocess.Popen, os.system, os.exec, os.posix_spawn, os.spawn, pty.spawn. */
  event: string;
  executable: string | null;
  argv: string[];
  /** Shell-like rendering of executable and argv. */
  commandLine: string;
  count: number;
  pids: number[];
}

export interface SocketUse {
  /** connect, bind, sendto or getaddrinfo. */
  operation: string;
  address: string;
  count: number;
  pids: number[];
}

/** Denials of one kind: same process set, subject and deciding rule. */
export interface Denial {
  /** The event name, or `io.open_code` for code that was not let run. */
  event: string;
  /** For code: its intent class and real path (null when the record was not seen). */
  intent: OpenCodeIntent | null;
  realPath: string | null;
  /** Index of the deciding rule in the policy file; null for the default. */
  ruleIndex: number | null;
  by: DecidedBy;
  /** "rule 2 (no shells)", "the default", "the headless --ask answer, asked by rule 3". */
  decidedBy: string;
  count: number;
  pids: number[];
  /** The Python stack of the first of them, innermost first (null when not recorded). */
  stack: StackFrame[] | null;
}

/** Frames of a denial's stack shown in the summary. */
const SUMMARY_STACK_FRAMES = 4;

export interface SessionSummary {
  path: string;
  run: RunInfo | null;
  /** The policy the run enforced, if any. */
  policy: PolicyInfo | null;
  runEnd: RunEndInfo | null;
  /** Attach mode: how the attach went (the last one in the file). */
  attach: AttachInfo | null;
  processes: ProcessSummary[];
  /** Audit and open-code records; decision records are not events and are not counted. */
  totalEvents: number;
  /** Every category, in display order, including those with no events. */
  byCategory: CategoryCount[];
  /** Most frequent first. */
  byEvent: EventCount[];
  codeLoaded: CodeLoad[];
  subprocesses: SubprocessLaunch[];
  sockets: SocketUse[];
  /** Every denial recorded (events and code), grouped. */
  denials: Denial[];
  deniedTotal: number;
  droppedTotal: bigint;
  notices: NoticeInfo[];
  truncated: TornTail | null;
  /** Distinct entries not kept because a list hit SUMMARY_LIST_LIMIT. */
  omitted: {
    events: number;
    codeLoaded: number;
    subprocesses: number;
    sockets: number;
    denials: number;
  };
}

/** A keyed list of counted entries that stops growing at the limit. */
class CappedList<T extends { count: number; pids: number[] }> {
  readonly items = new Map<string, T>();
  omitted = 0;

  add(key: string, pid: number | null, make: () => T): void {
    let item = this.items.get(key);
    if (item === undefined) {
      if (this.items.size >= SUMMARY_LIST_LIMIT) {
        this.omitted++;
        return;
      }
      item = make();
      this.items.set(key, item);
    }
    item.count++;
    if (pid !== null && !item.pids.includes(pid) && item.pids.length < 16) item.pids.push(pid);
  }
}

interface SessionState {
  summary: ProcessSummary | null;
  records: number;
  dropped: bigint;
  /**
   * Recent open-code records by seq, for the decision that follows each one
   * (same thread, next record). Bounded: a decision far from its record
   * would be an agent bug, and is then shown without the file.
   */
  recentCode: RecentRecords<CodeSeen>;
}

/** What a denial shows of the code it stopped. */
type CodeSeen = Pick<OpenCodeRecord, 'intent' | 'realPath' | 'path'>;

/** A list entry a record counts in: its key, and how to make it the first time. */
interface Entry<T> {
  key: string;
  make: () => T;
}

/**
 * What an audit record whose arguments matter (readsArguments) counts in,
 * or what an open-code record does: both depend only on the record's bytes
 * after its header, so they are worked out once per distinct bytes.
 */
interface ArgumentsSeen {
  launch: Entry<SubprocessLaunch> | null;
  socket: Entry<SocketUse> | null;
}
interface CodeLoadSeen {
  load: Entry<CodeLoad>;
  code: CodeSeen;
}

/** Open-code records remembered per process for their decisions. */
const RECENT_CODE_LIMIT = 256;

/**
 * Summarises a session block by block: `add` every block in file order,
 * `result` whenever (again after more blocks: a live file is summarised as
 * it grows, without reading it again).
 */
export class SessionSummarizer {
  /** A block, decoded or with its events as bytes (only some records are then decoded). */
  readonly add: (block: SessionBlock | RawSessionBlock) => void;
  readonly result: () => SessionSummary;

  constructor(path: string) {
    let run: RunInfo | null = null;
    let policy: PolicyInfo | null = null;
    let comments = ruleCommentsOf(null);
    let runEnd: RunEndInfo | null = null;
    let attach: AttachInfo | null = null;
    let truncated: TornTail | null = null;
    const sessions = new Map<number, SessionState>();
    const processes: ProcessSummary[] = [];
    const notices: NoticeInfo[] = [];
    const categoryCounts = new Map<EventCategory, number>();
    const eventCounts = new Map<string, number>();
    let eventsOmitted = 0;
    let totalEvents = 0;
    const code = new CappedList<CodeLoad>();
    const launches = new CappedList<SubprocessLaunch>();
    const sockets = new CappedList<SocketUse>();
    const denials = new CappedList<Denial>();
    let deniedTotal = 0;
    const argumentsSeen = new BytesMemo<ArgumentsSeen>();
    const codeSeen = new BytesMemo<CodeLoadSeen>();
    // Names by id, and the two memos by body id where the scan tells the
    // bodies apart (the BytesMemos above take the rest).
    // An audit event whose arguments do not matter here (nearly all) is
    // only counted, and the addon counts it (one number per name, read by
    // result()): such a name takes its entry in eventCounts at its first
    // record, as count() would; one the full list refuses is counted here,
    // record by record, as before.
    const admitted = (event: string): boolean => {
      if (!eventCounts.has(event)) {
        if (eventCounts.size >= SUMMARY_LIST_LIMIT) return false;
        eventCounts.set(event, 0);
      }
      return true;
    };
    const quietName = (kind: RecordKind, event: string): boolean =>
      kind === RecordKind.AUDIT && !readsArguments(event) && admitted(event);
    // An audit event whose arguments go to the subprocess and socket lists
    // counts in the entry its bytes give, with its pid: the scan lists the
    // first record of each distinct bytes for each pid (the scan's epoch
    // is the block's pid, as the summary knows it then: a process block
    // may come late, or twice) and counts the rest by their bytes' id,
    // which result() adds to the entries (most of those records are a few
    // commands and peers raised over and over).
    const epochs = new Map<number | null, number>();
    const epochOf = (pid: number | null): number => {
      let epoch = epochs.get(pid);
      if (epoch === undefined) epochs.set(pid, (epoch = epochs.size));
      return epoch;
    };
    const countsBodies = (kind: RecordKind, event: string): boolean =>
      kind === RecordKind.AUDIT && readsArguments(event) && admitted(event);
    const scan = new RecordScan(
      (kind, event) =>
        kind === RecordKind.OPEN_CODE || (kind === RecordKind.AUDIT && readsArguments(event)),
      quietName,
      countsBodies,
    );
    const argumentsByBody: (ArgumentsSeen | undefined)[] = [];
    const codeByBody: (CodeLoadSeen | undefined)[] = [];
    // By name id: whether an audit event's arguments are read; and events
    // counted here rather than in eventCounts, where the name has its entry
    // from its first record on (result() adds them up): a Map update per
    // record was a tenth of the summary.
    const readsById: (boolean | undefined)[] = [];
    const countsById: number[] = [];
    const admittedById: (boolean | undefined)[] = [];
    const countById = (id: number, event: string): void => {
      const admitted = admittedById[id];
      if (admitted === true) {
        totalEvents++;
        countsById[id] = (countsById[id] as number) + 1;
      } else if (admitted === false) count(event);
      else {
        // The first record of the name takes (or is refused) its entry, as
        // count() would have.
        count(event);
        admittedById[id] = eventCounts.has(event);
        countsById[id] = 0;
      }
    };

    const session = (id: number): SessionState => {
      let state = sessions.get(id);
      if (state === undefined) {
        state = {
          summary: null,
          records: 0,
          dropped: 0n,
          recentCode: new RecentRecords(RECENT_CODE_LIMIT),
        };
        sessions.set(id, state);
      }
      return state;
    };

    /** One record of the process whose state this is. */
    const addRecord = (state: SessionState, pid: number | null, record: AgentRecord): void => {
      if (record.kind === 'decision') {
        if (record.outcome === 'denied') {
          deniedTotal++;
          const code = isCodeLoadEvent(record.event)
            ? state.recentCode.find(0, Number(record.eventSeq))
            : undefined;
          addDenial(denials, record, code, pid, decidedByText(record, comments));
        }
        return;
      }
      count(record.event);
      if (record.kind === 'open-code') {
        const { entry } = codeLoadOf(record);
        code.add(entry.key, pid, entry.make);
        state.recentCode.add(0, record.seq, record);
      } else addArguments(argumentsOf(record), pid);
    };

    const addArguments = (seen: ArgumentsSeen, pid: number | null): void => {
      if (seen.launch !== null) launches.add(seen.launch.key, pid, seen.launch.make);
      if (seen.socket !== null) sockets.add(seen.socket.key, pid, seen.socket.make);
    };

    /**
     * An event (not a decision) in the totals. Counted by name; the names'
     * categories are added up at the end, except for names past the list's
     * limit, counted in their category now.
     */
    const count = (event: string): void => {
      totalEvents++;
      const seen = eventCounts.get(event);
      if (seen !== undefined) eventCounts.set(event, seen + 1);
      else if (eventCounts.size < SUMMARY_LIST_LIMIT) eventCounts.set(event, 1);
      else {
        eventsOmitted++;
        const category = categoryOf(event);
        categoryCounts.set(category, (categoryCounts.get(category) ?? 0) + 1);
      }
    };

    this.add = (block: SessionBlock | RawSessionBlock): void => {
      switch (block.type) {
        case 'run':
          run = block.run;
          break;
        case 'policy':
          policy = block.policy;
          comments = ruleCommentsOf(policy);
          break;
        case 'run-end':
          runEnd = block.runEnd;
          break;
        case 'attach':
          attach = block.attach;
          break;
        case 'notice':
          if (notices.length < SUMMARY_LIST_LIMIT) notices.push(block.notice);
          break;
        case 'process': {
          const p = block.process;
          const state = session(p.session);
          state.summary = {
            session: p.session,
            pid: p.pid,
            ppid: p.ppid,
            parentSession: p.parentSession,
            exe: p.exe,
            argv: p.argv,
            cwd: p.cwd,
            pythonVersion: p.pythonVersion,
            agentVersion: p.agentVersion,
            startedAtMs: Number(BigInt(p.startRealtimeNs) / 1_000_000n),
            end: null,
            records: 0,
            recordsTotal: null,
            dropped: 0n,
          };
          processes.push(state.summary);
          break;
        }
        case 'process-end': {
          const e = block.processEnd;
          const state = session(e.session);
          if (e.droppedTotal !== undefined) {
            state.dropped = maxBig(state.dropped, BigInt(e.droppedTotal));
          }
          if (state.summary) {
            state.summary.end = {
              reason: e.reason,
              endTimeMs: e.endTimeMs,
              exitCode: e.exitCode ?? null,
              signal: e.signal ?? null,
            };
            if (e.recordsTotal !== undefined) state.summary.recordsTotal = BigInt(e.recordsTotal);
          }
          break;
        }
        case 'drops': {
          const state = session(block.sessionId);
          state.dropped = maxBig(state.dropped, block.droppedTotal);
          break;
        }
        case 'events': {
          const state = session(block.sessionId);
          const pid = state.summary?.pid ?? null;
          if (!Buffer.isBuffer(block.records)) {
            state.records += block.records.length;
            for (const r of block.records) addRecord(state, pid, r);
            break;
          }
          // As bytes: an audit event's arguments matter only for the
          // subprocess and socket lists; the rest is counted by name.
          const src = block.records;
          state.records += (block as RawEventsBlock).count;
          scan.setEpoch(epochOf(pid));
          const out = scan.out;
          for (let n = scan.first(src); n > 0; n = scan.next()) {
            for (let i = 0; i < 3 * n; i += 3) {
              const p = out[i] as number;
              const kind = src[p + 4];
              if (kind === RecordKind.DECISION) {
                addRecord(state, pid, decodeRecordAt(src, p));
                continue;
              }
              const nameId = out[i + 1] as number;
              const bodyId = out[i + 2] as number;
              let reads: boolean;
              if (nameId >= 0) {
                const event = scan.events[nameId] as string;
                countById(nameId, event);
                reads = readsById[nameId] ??= kind === RecordKind.AUDIT && readsArguments(event);
              } else {
                const event = recordEventAt(src, p);
                count(event);
                reads = kind === RecordKind.AUDIT && readsArguments(event);
              }
              if (kind === RecordKind.AUDIT && !reads) continue;
              if (kind === RecordKind.AUDIT) {
                let seen = bodyId >= 0 ? argumentsByBody[bodyId] : argumentsSeen.get(src, p);
                if (seen === undefined) {
                  seen = argumentsOf(decodeRecordAt(src, p));
                  if (bodyId >= 0) argumentsByBody[bodyId] = seen;
                  else argumentsSeen.set(src, p, seen);
                }
                addArguments(seen, pid);
                continue;
              }
              let seen = bodyId >= 0 ? codeByBody[bodyId] : codeSeen.get(src, p);
              if (seen === undefined) {
                const record = decodeRecordAt(src, p) as OpenCodeRecord;
                const { intent, realPath, path } = record;
                seen = { load: codeLoadOf(record).entry, code: { intent, realPath, path } };
                if (bodyId >= 0) codeByBody[bodyId] = seen;
                else codeSeen.set(src, p, seen);
              }
              code.add(seen.load.key, pid, seen.load.make);
              const seq = src.readUInt32LE(p + 12) + src.readUInt32LE(p + 16) * 0x1_0000_0000;
              state.recentCode.add(0, seq, seen.code);
            }
          }
          break;
        }
        case 'end':
          truncated = block.truncated;
          break;
      }
    };

    this.result = (): SessionSummary => {
      let droppedTotal = 0n;
      for (const state of sessions.values()) {
        droppedTotal += state.dropped;
        if (state.summary) {
          state.summary.records = state.records;
          state.summary.dropped = state.dropped;
        }
      }

      const counts = new Map(eventCounts);
      countsById.forEach((n, id) => {
        const event = scan.events[id] as string;
        if (n > 0) counts.set(event, (counts.get(event) as number) + n);
      });
      let quietTotal = 0;
      scan.quietCounts().forEach((n, id) => {
        if (n === 0) return;
        const event = scan.events[id] as string;
        counts.set(event, (counts.get(event) as number) + n);
        quietTotal += n;
      });
      // Records the scan counted by their bytes, in the entries (or the
      // omitted counts) their bytes' first record went to.
      const launchesMore = new Map<SubprocessLaunch, number>();
      const socketsMore = new Map<SocketUse, number>();
      let launchesOmitted = launches.omitted;
      let socketsOmitted = sockets.omitted;
      scan.bodyCounts().forEach((n, id) => {
        const seen = n > 0 ? argumentsByBody[id] : undefined;
        if (seen === undefined) return;
        if (seen.launch !== null) {
          const item = launches.items.get(seen.launch.key);
          if (item === undefined) launchesOmitted += n;
          else launchesMore.set(item, (launchesMore.get(item) ?? 0) + n);
        }
        if (seen.socket !== null) {
          const item = sockets.items.get(seen.socket.key);
          if (item === undefined) socketsOmitted += n;
          else socketsMore.set(item, (socketsMore.get(item) ?? 0) + n);
        }
      });
      const byCategory = new Map(categoryCounts);
      for (const [event, n] of counts) {
        const category = categoryOf(event);
        byCategory.set(category, (byCategory.get(category) ?? 0) + n);
      }
      return {
        path,
        run,
        policy,
        runEnd,
        attach,
        processes: [...processes],
        totalEvents: totalEvents + quietTotal,
        byCategory: EVENT_CATEGORIES.map((c) => ({
          category: c.id,
          label: c.label,
          count: byCategory.get(c.id) ?? 0,
        })),
        byEvent: [...counts]
          .map(([event, count]) => ({ event, category: categoryOf(event), count }))
          .sort((a, b) => b.count - a.count || (a.event < b.event ? -1 : 1)),
        codeLoaded: [...code.items.values()],
        subprocesses: [...launches.items.values()].map((item) => countedMore(item, launchesMore)),
        sockets: [...sockets.items.values()].map((item) => countedMore(item, socketsMore)),
        denials: [...denials.items.values()],
        deniedTotal,
        droppedTotal,
        notices: [...notices],
        truncated,
        omitted: {
          events: eventsOmitted,
          codeLoaded: code.omitted,
          subprocesses: launchesOmitted,
          sockets: socketsOmitted,
          denials: denials.omitted,
        },
      };
    };
  }
}

/**
 * Summarises the session file at `path`. `blocks`, when given, are that
 * file's blocks already being read by someone else.
 */
export async function summarizeSession(
  path: string,
  blocks?: AsyncIterable<SessionBlock | RawSessionBlock>,
): Promise<SessionSummary> {
  const source = blocks ?? (await SessionReader.open(path)).rawBlocks();
  const summarizer = new SessionSummarizer(path);
  for await (const block of source) summarizer.add(block);
  return summarizer.result();
}

/** `item` with `more` records counted (a copy; the item itself when none). */
function countedMore<T extends { count: number }>(item: T, more: Map<T, number>): T {
  const n = more.get(item);
  return n === undefined ? item : { ...item, count: item.count + n };
}

function addDenial(
  list: CappedList<Denial>,
  decision: DecisionRecord,
  code: CodeSeen | undefined,
  pid: number | null,
  decidedBy: string,
): void {
  const intent = code?.intent ?? null;
  const realPath = code === undefined ? null : code.realPath || valueText(code.path);
  const key = `${decision.event}\0${intent}\0${realPath}\0${decision.ruleIndex}\0${decision.by}`;
  list.add(key, pid, () => ({
    event: decision.event,
    intent,
    realPath,
    ruleIndex: decision.ruleIndex,
    by: decision.by,
    decidedBy,
    count: 0,
    pids: [],
    stack: decision.stack,
  }));
}

function maxBig(a: bigint, b: bigint): bigint {
  return a > b ? a : b;
}

/** The code-loaded entry an open-code record counts in. */
function codeLoadOf(record: OpenCodeRecord): { entry: Entry<CodeLoad> } {
  const path = valueText(record.path);
  const key =
    record.sha256 !== null
      ? `ok\0${record.realPath}\0${record.sha256}`
      : `error\0${path}\0${record.errno}`;
  return {
    entry: {
      key,
      make: () => ({
        path,
        realPath: record.realPath,
        sha256: record.sha256,
        size: record.size,
        intent: record.intent,
        errno: record.sha256 === null ? record.errno : null,
        count: 0,
        pids: [],
      }),
    },
  };
}

/** The subprocess and socket entries an audit record counts in. */
function argumentsOf(record: AgentRecord): ArgumentsSeen {
  return { launch: launchOf(record), socket: socketOf(record) };
}

// ------------------------------------------------------------ subprocesses

/** Which argument holds the executable and which the argv, per event. */
const LAUNCH_EVENTS: Readonly<Record<string, { exe: number | null; argv: number | null }>> = {
  'subprocess.Popen': { exe: 0, argv: 1 },
  'os.exec': { exe: 0, argv: 1 },
  'os.posix_spawn': { exe: 0, argv: 1 },
  'os.spawn': { exe: 1, argv: 2 },
  'pty.spawn': { exe: null, argv: 0 },
  'os.system': { exe: null, argv: null },
};

/** Whether the lists need the arguments of an audit event of this name. */
function readsArguments(event: string): boolean {
  return (
    Object.hasOwn(LAUNCH_EVENTS, event) ||
    Object.hasOwn(SOCKET_EVENTS, event) ||
    event === 'socket.getaddrinfo'
  );
}

function launchOf(record: AgentRecord): Entry<SubprocessLaunch> | null {
  if (record.kind !== 'audit') return null;
  // Own keys only: the target names its events, "constructor" included.
  const shape = Object.hasOwn(LAUNCH_EVENTS, record.event)
    ? LAUNCH_EVENTS[record.event]
    : undefined;
  if (shape === undefined) return null;
  const args = record.args.items;
  let executable: string | null = null;
  let argv: string[];
  if (record.event === 'os.system') {
    const command = args[0];
    executable = '/bin/sh';
    argv = ['/bin/sh', '-c', command === undefined ? '' : valueText(command)];
  } else {
    const exeValue = shape.exe === null ? undefined : args[shape.exe];
    if (exeValue !== undefined && exeValue.type !== 'none') executable = valueText(exeValue);
    argv = shape.argv === null ? [] : argvOf(args[shape.argv]);
  }
  let commandLine = argv.map(shellQuote).join(' ');
  if (executable !== null && argv[0] !== executable) {
    commandLine =
      argv.length === 0 ? shellQuote(executable) : `${commandLine} (executable ${executable})`;
  }
  const event = record.event;
  return {
    key: `${event}\0${commandLine}`,
    make: () => ({ event, executable, argv, commandLine, count: 0, pids: [] }),
  };
}

/** argv from a list / tuple of str or bytes, or a single shell string. */
function argvOf(value: Value | undefined): string[] {
  if (value === undefined || value.type === 'none') return [];
  if (value.type === 'list' || value.type === 'tuple') {
    const items = value.items.map(valueText);
    if (value.truncated) items.push(`…(${value.fullCount} items)`);
    return items;
  }
  return [valueText(value)];
}

const SHELL_SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const CONTROL = /[\x00-\x1f\x7f]/;

/** Text made safe for one terminal line: control characters as escapes. */
export function printable(text: string): string {
  return CONTROL.test(text) ? text.replace(CONTROL_ALL, escapeControl) : text;
}

// eslint-disable-next-line no-control-regex -- control characters are what it looks for
const CONTROL_ALL = /[\x00-\x1f\x7f]/g;

function escapeControl(ch: string): string {
  if (ch === '\n') return '\\n';
  if (ch === '\t') return '\\t';
  if (ch === '\r') return '\\r';
  return `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`;
}

/**
 * Quotes an argument the way a POSIX shell would need it, always on one
 * line: arguments with control characters (a `-c` script with newlines)
 * use bash's $'…' form with escapes.
 */
export function shellQuote(arg: string): string {
  if (SHELL_SAFE.test(arg)) return arg;
  if (!CONTROL.test(arg)) return `'${arg.replace(/'/g, `'\\''`)}'`;
  let out = "$'";
  for (const ch of arg) {
    const code = ch.charCodeAt(0);
    if (ch === '\\' || ch === "'") out += `\\${ch}`;
    else if (code < 0x20 || code === 0x7f) out += escapeControl(ch);
    else out += ch;
  }
  return `${out}'`;
}

// ----------------------------------------------------------------- sockets

const SOCKET_EVENTS: Readonly<Record<string, { operation: string; address: number }>> = {
  'socket.connect': { operation: 'connect', address: 1 },
  'socket.bind': { operation: 'bind', address: 1 },
  'socket.sendto': { operation: 'sendto', address: 1 },
};

function socketOf(record: AgentRecord): Entry<SocketUse> | null {
  if (record.kind !== 'audit') return null;
  const args = record.args.items;
  let operation: string;
  let address: string;
  if (record.event === 'socket.getaddrinfo') {
    operation = 'getaddrinfo';
    address = hostPort(args[0], args[1]);
  } else {
    const shape = Object.hasOwn(SOCKET_EVENTS, record.event)
      ? SOCKET_EVENTS[record.event]
      : undefined;
    if (shape === undefined) return null;
    operation = shape.operation;
    address = socketAddress(args[shape.address]);
  }
  return {
    key: `${operation}\0${address}`,
    make: () => ({ operation, address, count: 0, pids: [] }),
  };
}

/** An address as Python's socket module passes it, made readable. */
export function socketAddress(value: Value | undefined): string {
  if (value === undefined) return '?';
  switch (value.type) {
    case 'tuple':
    case 'list':
      // (host, port) for AF_INET, (host, port, flowinfo, scope_id) for AF_INET6.
      if (value.items.length >= 2) return hostPort(value.items[0], value.items[1]);
      return formatValue(value);
    case 'str':
    case 'str_fs':
      return valueText(value); // AF_UNIX path
    case 'bytes':
    case 'bytearray':
      // A leading NUL is the Linux abstract socket namespace, shown as '@'.
      return value.data[0] === 0
        ? `@${valueText({ ...value, data: value.data.subarray(1) })}`
        : valueText(value);
    default:
      return formatValue(value);
  }
}

function hostPort(host: Value | undefined, port: Value | undefined): string {
  const h = host === undefined || host.type === 'none' ? '*' : valueText(host);
  const shownHost = h.includes(':') ? `[${h}]` : h;
  if (port === undefined || port.type === 'none') return shownHost;
  const p = port.type === 'int' ? port.value.toString() : valueText(port);
  return `${shownHost}:${p}`;
}

// --------------------------------------------------------------- formatting

export interface FormatSummaryOptions {
  /** Entries shown per list before "… and N more" (default 50). */
  maxItems?: number;
}

/** The summary as terminal text: one section per item, aligned columns. */
export function formatSummary(summary: SessionSummary, options: FormatSummaryOptions = {}): string {
  const maxItems = options.maxItems ?? 50;
  const out: string[] = [];
  const section = (title: string): void => {
    if (out.length > 0) out.push('');
    out.push(title);
  };
  const more = (shown: number, total: number, what: string): void => {
    if (total > shown) out.push(`  … and ${total - shown} more ${what}`);
  };

  section(`Session ${summary.path}`);
  const run = summary.run;
  const rows: [string, string][] = [];
  if (run) {
    rows.push(['command', run.command.map(shellQuote).join(' ')]);
    rows.push(['cwd', printable(run.cwd)]);
    rows.push(['started', new Date(run.startedAtMs).toISOString()]);
  }
  const attach = summary.attach;
  if (attach) {
    rows.push([
      'attached',
      `pid ${attach.pid} via ${attach.method}${attach.reattached ? ' (agent re-armed)' : ''} in ` +
        `${formatDuration(attach.attachWallMs)}; longest target pause ` +
        `${formatDuration(attach.longestPauseMs)} (${attach.pauseMeasuredBy})`,
    ]);
    rows.push([
      'not seen',
      `everything before ${new Date(attach.hooksActiveAtMs).toISOString()} (hooks became active then)`,
    ]);
  }
  if (summary.policy) {
    const p = summary.policy;
    rows.push([
      'policy',
      `${printable(p.file)} (sha256 ${p.sha256.slice(0, 16)}…, ${p.askAnswer === 'interactive' ? 'asks answered interactively' : `ask rules answered ${p.askAnswer}`})`,
    ]);
  }
  if (summary.runEnd) {
    const end = summary.runEnd;
    if (run) rows.push(['duration', formatDuration(end.endedAtMs - run.startedAtMs)]);
    rows.push([
      'result',
      end.signal !== null
        ? `killed by ${end.signal}`
        : end.exitCode !== null
          ? `exit code ${end.exitCode}`
          : 'unknown',
    ]);
  } else {
    rows.push(['result', 'no end of run recorded (still running, or the inspector was killed)']);
  }
  out.push(...alignColumns(rows, '  '));

  section(`Processes (${summary.processes.length})`);
  if (summary.processes.length === 0) out.push('  none');
  const shownProcesses = summary.processes.slice(0, maxItems);
  const processLines = alignColumns(
    shownProcesses.map((p) => [
      `pid ${p.pid}`,
      `ppid ${p.ppid}`,
      `Python ${p.pythonVersion.split(' ')[0] ?? '?'}`,
      describeEnd(p),
      `${p.records} records, ${p.dropped} dropped`,
    ]),
    '  ',
  );
  shownProcesses.forEach((p, i) => {
    out.push(processLines[i] as string);
    out.push(`      argv  ${p.argv.map(shellQuote).join(' ')}`);
    out.push(`      exe   ${printable(p.exe)}`);
  });
  more(Math.min(maxItems, summary.processes.length), summary.processes.length, 'processes');

  section(`Events (${summary.totalEvents})`);
  const categories = summary.byCategory.filter((c) => c.count > 0);
  if (categories.length === 0) out.push('  none');
  out.push(
    ...alignColumns(
      categories.map((c) => [c.label, String(c.count)]),
      '  ',
      true,
    ),
  );

  section('Most frequent events');
  if (summary.byEvent.length === 0) out.push('  none');
  const topEvents = summary.byEvent.slice(0, Math.min(maxItems, 20));
  out.push(
    ...alignColumns(
      topEvents.map((e) => [printable(e.event), String(e.count)]),
      '  ',
      true,
    ),
  );
  more(topEvents.length, summary.byEvent.length + summary.omitted.events, 'event names');

  section(`Code loaded (${summary.codeLoaded.length + summary.omitted.codeLoaded})`);
  if (summary.codeLoaded.length === 0) out.push('  none');
  const codeRows: string[][] = summary.codeLoaded
    .slice(0, maxItems)
    .map((c) => [
      c.intent,
      printable(c.path === c.realPath || c.realPath === '' ? c.path : `${c.path} -> ${c.realPath}`),
      c.sha256 === null
        ? `FAILED (${errnoText(c.errno ?? 0)})`
        : `sha256 ${c.sha256.slice(0, 16)}…`,
      c.sha256 === null ? '' : formatBytes(c.size),
      c.count > 1 ? `×${c.count}` : '',
    ]);
  out.push(...alignColumns(codeRows, '  '));
  more(codeRows.length, summary.codeLoaded.length + summary.omitted.codeLoaded, 'files');

  section(`Subprocesses (${summary.subprocesses.length + summary.omitted.subprocesses})`);
  if (summary.subprocesses.length === 0) out.push('  none');
  out.push(
    ...alignColumns(
      summary.subprocesses
        .slice(0, maxItems)
        .map((s) => [pidsText(s.pids), s.event, s.commandLine, s.count > 1 ? `×${s.count}` : '']),
      '  ',
    ),
  );
  more(
    Math.min(maxItems, summary.subprocesses.length),
    summary.subprocesses.length + summary.omitted.subprocesses,
    'launches',
  );

  section(`Network (${summary.sockets.length + summary.omitted.sockets})`);
  if (summary.sockets.length === 0) out.push('  none');
  out.push(
    ...alignColumns(
      summary.sockets
        .slice(0, maxItems)
        .map((s) => [
          pidsText(s.pids),
          s.operation,
          printable(s.address),
          s.count > 1 ? `×${s.count}` : '',
        ]),
      '  ',
    ),
  );
  more(
    Math.min(maxItems, summary.sockets.length),
    summary.sockets.length + summary.omitted.sockets,
    'addresses',
  );

  if (summary.policy !== null || summary.deniedTotal > 0) {
    section(`Denied (${summary.deniedTotal})`);
    if (summary.denials.length === 0) out.push('  none');
    const shown = summary.denials.slice(0, maxItems);
    const rows = alignColumns(
      shown.map((d) => [
        pidsText(d.pids),
        printable(
          isCodeLoadEvent(d.event)
            ? d.intent === null
              ? `${d.event} (file not in the recording)`
              : `${d.intent} ${d.realPath ?? ''}`
            : d.event,
        ),
        `by ${printable(d.decidedBy)}`,
        d.count > 1 ? `×${d.count}` : '',
      ]),
      '  ',
    );
    rows.forEach((row, i) => {
      out.push(row);
      const stack = shown[i]?.stack;
      if (!stack) return;
      const origin = originOf(stack);
      if (origin !== null) out.push(`      from ${printable(origin.module)}`);
      for (const line of formatStack(stack.slice(0, SUMMARY_STACK_FRAMES), '      ')) {
        out.push(printable(line));
      }
      if (stack.length > SUMMARY_STACK_FRAMES) {
        out.push(`      … ${stack.length - SUMMARY_STACK_FRAMES} more frames (hookscope show)`);
      }
    });
    more(
      Math.min(maxItems, summary.denials.length),
      summary.denials.length + summary.omitted.denials,
      'denials',
    );
  }

  section('Dropped records');
  out.push(
    summary.droppedTotal === 0n
      ? '  none'
      : `  ${summary.droppedTotal} records lost (the agent's buffer was full); counts above are incomplete`,
  );

  section(`Notices (${summary.notices.length})`);
  if (summary.notices.length === 0) out.push('  none');
  for (const n of summary.notices.slice(0, maxItems)) {
    out.push(`  ${n.level}: ${printable(n.message)}`);
  }
  more(Math.min(maxItems, summary.notices.length), summary.notices.length, 'notices');

  if (summary.truncated) {
    const t = summary.truncated;
    section('Truncated file');
    out.push(
      `  ${t.bytesCut} bytes from offset ${t.offset} could not be read (${t.reason}); ` +
        'everything before them is summarised',
    );
  }
  return out.join('\n') + '\n';
}

function describeEnd(p: ProcessSummary): string {
  if (p.end === null) return 'no end recorded';
  switch (p.end.reason) {
    case 'exited':
      return p.end.exitCode !== null ? `exited, code ${p.end.exitCode}` : 'exited';
    case 'killed':
      return p.end.signal !== null ? `killed by ${p.end.signal}` : 'killed';
    case 'disconnected':
      return 'disconnected without goodbye';
    case 'detached':
      return 'detached (still running)';
  }
}

function pidsText(pids: number[]): string {
  return pids.length === 0 ? 'pid ?' : `pid ${pids.join(',')}`;
}

/** Pads every column but the last to its widest cell; drops empty trailing cells. */
function alignColumns(rows: string[][], indent: string, rightAlignLast = false): string[] {
  const widths: number[] = [];
  for (const row of rows) {
    row.forEach((cell, i) => {
      widths[i] = Math.max(widths[i] ?? 0, cell.length);
    });
  }
  return rows.map((row) => {
    const cells = row.map((cell, i) => {
      const width = widths[i] ?? 0;
      if (i === row.length - 1) return rightAlignLast ? cell.padStart(width) : cell;
      return cell.padEnd(width);
    });
    return (indent + cells.join('  ')).trimEnd();
  });
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

function formatDuration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}
