// The SARIF 2.1.0 report: one result per denied or asked intent (rule id,
// message, the Python frame that caused it), for code-scanning dashboards.
import path from 'node:path';

import { decidedByText, ruleCommentsOf, type RuleComments } from './decision-text.js';
import { BytesMemo } from './protocol/bytes-memo.js';
import {
  RecordKind,
  decodeRecordAt,
  isCodeLoadEvent,
  textOf,
  type DecisionRecord,
  type OpenCodeRecord,
} from './protocol/records.js';
import { RecentRecords } from './recent-seqs.js';
import { RawSelection, type Filter, type Sink } from './report-selection.js';
import type { PolicyInfo, RawSessionBlock } from './session-file.js';
import { originOf } from './stack-origin.js';
import { HOOKSCOPE_VERSION } from './version.js';

/** What a SARIF result shows of the code a decision stopped. */
type SarifCode = Pick<OpenCodeRecord, 'intent' | 'realPath' | 'path' | 'sha256'>;

const SARIF_SCHEMA = 'https://json.schemastore.org/sarif-2.1.0.json';

export async function sarifReport(
  blocks: AsyncIterable<RawSessionBlock>,
  filter: Filter,
  sink: Sink,
  sessionPath: string,
): Promise<void> {
  let policy: PolicyInfo | null = null;
  let comments: RuleComments = [];
  const pids = new Map<number, number>();
  // The code record each decision of code decides (same session, by seq),
  // bounded. What a result shows of it depends on its bytes after the
  // header alone: decoded once per distinct bytes (decoding every one of
  // them was a fifth of the report).
  const recentCode = new RecentRecords<SarifCode>(4096);
  const codeSeen = new BytesMemo<SarifCode>();
  const rules = new Map<string, { id: string; text: string }>();
  let started = false;
  const head = (): string =>
    `{"$schema":${JSON.stringify(SARIF_SCHEMA)},"version":"2.1.0","runs":[{"results":[`;
  const selection = new RawSelection(filter);
  for await (const block of blocks) {
    selection.see(block);
    if (block.type === 'policy') {
      policy = block.policy;
      comments = ruleCommentsOf(policy);
    }
    if (block.type === 'process') pids.set(block.process.session, block.process.pid);
    if (block.type !== 'events') continue;
    for (const p of selection.records(block)) {
      // Only intents and decisions matter here: audit records (nearly all
      // of a session) are passed over without being decoded.
      const src = block.records;
      const kind = src[p + 4];
      if (kind === RecordKind.AUDIT) continue;
      if (kind === RecordKind.OPEN_CODE) {
        let code = codeSeen.get(src, p);
        if (code === undefined) {
          const { intent, realPath, path, sha256 } = decodeRecordAt(src, p) as OpenCodeRecord;
          code = { intent, realPath, path, sha256 };
          codeSeen.set(src, p, code);
        }
        const seq = src.readUInt32LE(p + 12) + src.readUInt32LE(p + 16) * 0x1_0000_0000;
        recentCode.add(block.sessionId, seq, code);
        continue;
      }
      const record = decodeRecordAt(src, p);
      if (record.kind !== 'decision') continue;
      if (record.outcome !== 'denied' && record.action !== 'ask') continue;
      const ruleId =
        record.ruleIndex === null ? 'hookscope/default' : `hookscope/rule-${record.ruleIndex}`;
      if (!rules.has(ruleId)) {
        rules.set(ruleId, {
          id: ruleId,
          text:
            record.ruleIndex === null
              ? "the policy's default"
              : (comments[record.ruleIndex] ?? `rule ${record.ruleIndex} of the policy`),
        });
      }
      const code = isCodeLoadEvent(record.event)
        ? recentCode.find(block.sessionId, Number(record.eventSeq))
        : undefined;
      const result = sarifResult(record, ruleId, code, pids.get(block.sessionId) ?? null, comments);
      const text = `${started ? ',' : ''}${JSON.stringify(result)}`;
      if (!started) {
        await sink.write(head());
        started = true;
      }
      await sink.write(text);
    }
  }
  if (!started) await sink.write(head());
  const driver = {
    name: 'Hookscope',
    version: HOOKSCOPE_VERSION,
    rules: [...rules.values()].map((r) => ({
      id: r.id,
      shortDescription: { text: r.text },
    })),
  };
  const run = {
    tool: { driver },
    originalUriBaseIds: {},
    properties: {
      session: path.basename(sessionPath),
      ...(policy !== null ? { policy: policy.file, policySha256: policy.sha256 } : {}),
    },
  };
  // The results array is open: close it and add the rest of the run.
  const rest = JSON.stringify(run).slice(1);
  await sink.write(`],${rest}]}\n`);
}

function sarifResult(
  decision: DecisionRecord,
  ruleId: string,
  code: SarifCode | undefined,
  pid: number | null,
  comments: RuleComments,
): Record<string, unknown> {
  const what = code ? `${code.intent} ${code.realPath || textOf(code.path)}` : decision.event;
  const message = `${what}: ${decision.outcome} by ${decidedByText(decision, comments)}${pid !== null ? ` in process ${pid}` : ''}`;
  const origin = originOf(decision.stack);
  const frame = decision.stack === null ? undefined : decision.stack[origin?.frame ?? 0];
  const locations =
    frame !== undefined && frame.file.startsWith('/')
      ? [
          {
            physicalLocation: {
              artifactLocation: { uri: fileUri(frame.file) },
              region: { startLine: Math.max(1, frame.line) },
            },
            ...(origin
              ? { logicalLocations: [{ fullyQualifiedName: `${origin.module}.${frame.function}` }] }
              : {}),
          },
        ]
      : [];
  return {
    ruleId,
    level: decision.outcome === 'denied' ? 'error' : 'warning',
    message: { text: message },
    locations,
    properties: {
      event: decision.event,
      outcome: decision.outcome,
      decidedBy: decision.by,
      waitedNs: decision.waitedNs.toString(),
      ...(code ? { realPath: code.realPath, sha256: code.sha256, intent: code.intent } : {}),
      ...(origin ? { module: origin.module, package: origin.package } : {}),
      ...(pid !== null ? { pid } : {}),
    },
  };
}

function fileUri(file: string): string {
  return `file://${file.split('/').map(encodeURIComponent).join('/')}`;
}
