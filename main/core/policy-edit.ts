// The rules editor's side of the core (docs/ui.md, `policy.*`): a policy
// file read for editing with every problem it has, and a policy written
// back only once the checker and the compiler accept it, in one step
// (temporary file and rename), so a run that starts from it, or a reader,
// never sees half a file. Plain Node; UiApi pushes what is written to the
// runs that enforce it.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import type { PolicyDocument, PolicyProblemRow, PolicyReadResult } from '../common/ipc-contract.js';
import type { PolicyDelivery } from './agent-server.js';
import { compilePolicy, PolicyCompileError } from './policy/compile.js';
import { parsePolicy } from './policy/load-policy.js';
import { formatIssue, PolicyError, type PolicyIssue } from './policy/policy-error.js';
import { RULE_KEYS, type Policy } from './policy/policy.js';

/** The policy file limit the agent also reads by (docs/protocol.md). */
const MAX_POLICY_FILE_BYTES = 1024 * 1024;
const TOP_KEYS = ['$schema', 'version', 'comment', 'default', 'ask', 'offline', 'rules'] as const;

/** Why a write was refused before anything was checked (not a policy problem). */
export class PolicyWriteRefused extends Error {
  constructor(
    readonly reason: 'exists' | 'changed' | 'not-a-file',
    message: string,
  ) {
    super(message);
    this.name = 'PolicyWriteRefused';
  }
}

/** A checked policy, ready to write: the exact text, and the model it parses to. */
export interface CheckedPolicy {
  text: string;
  policy: Policy;
}

/**
 * Reads a policy file for editing. Unlike loadPolicy it does not throw on
 * a bad policy: the problems come back beside the document, so they can
 * be fixed in the editor. Throws (ENOENT etc.) only when the file cannot
 * be read at all.
 */
export function readPolicyForEdit(file: string): Omit<PolicyReadResult, 'liveRuns'> {
  const st = fs.statSync(file);
  if (!st.isFile()) throw new PolicyWriteRefused('not-a-file', `${file} is not a regular file`);
  if (st.size > MAX_POLICY_FILE_BYTES) {
    throw new PolicyWriteRefused(
      'not-a-file',
      `${file} is ${st.size} bytes; a policy file is at most ${MAX_POLICY_FILE_BYTES}`,
    );
  }
  const bytes = fs.readFileSync(file);
  return { ...parsePolicyForEdit(bytes.toString('utf8'), file), path: file, sha256: sha256(bytes) };
}

/** The same for text that is not (yet) in a file: an import by pasting. */
export function parsePolicyForEdit(
  text: string,
  fileForMessages: string,
): Omit<PolicyReadResult, 'liveRuns'> {
  let problems: PolicyProblemRow[] = [];
  try {
    parsePolicy(text, fileForMessages);
  } catch (error) {
    if (!(error instanceof PolicyError)) throw error;
    problems = error.issues.map(problemRow);
  }
  let document: PolicyDocument | null = null;
  try {
    const parsed: unknown = JSON.parse(text.startsWith('\uFEFF') ? text.slice(1) : text);
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed)) {
      // What the file says, problems and all: the editor shows it to be fixed.
      document = parsed as PolicyDocument;
    }
  } catch {
    // invalid-json is among the problems already.
  }
  return {
    path: null,
    sha256: sha256(Buffer.from(text, 'utf8')),
    text,
    policy: document,
    problems,
  };
}

/**
 * The text a document is written as: two-space JSON with keys in the
 * documented order (unknown keys after them, so the checker names them
 * rather than the writer dropping them), `$schema` kept, final newline.
 */
export function formatDocument(document: PolicyDocument): string {
  const source = document as unknown as Record<string, unknown>;
  const ordered: Record<string, unknown> = {};
  for (const key of TOP_KEYS) if (source[key] !== undefined) ordered[key] = source[key];
  for (const key of Object.keys(source)) if (!(key in ordered)) ordered[key] = source[key];
  if (Array.isArray(source.rules)) {
    ordered.rules = source.rules.map((rule: unknown) => {
      if (typeof rule !== 'object' || rule === null || Array.isArray(rule)) return rule;
      const r = rule as Record<string, unknown>;
      const out: Record<string, unknown> = {};
      for (const key of RULE_KEYS) if (r[key] !== undefined) out[key] = r[key];
      for (const key of Object.keys(r)) if (!(key in out)) out[key] = r[key];
      return out;
    });
  }
  return `${JSON.stringify(ordered, null, 2)}\n`;
}

/**
 * Checks a document as its file would be checked, and compiles it as a
 * live run would get it (so a policy the agent cannot carry is refused
 * before it is written). Problems point into the text that would be
 * written, named by `file`.
 */
export function checkPolicyDocument(
  document: PolicyDocument,
  file: string,
): { ok: true; checked: CheckedPolicy } | { ok: false; problems: PolicyProblemRow[] } {
  const text = formatDocument(document);
  let policy: Policy;
  try {
    policy = parsePolicy(text, file);
  } catch (error) {
    if (error instanceof PolicyError) return { ok: false, problems: error.issues.map(problemRow) };
    throw error;
  }
  try {
    compilePolicy(policy, { askAnswer: 'interactive' });
  } catch (error) {
    if (!(error instanceof PolicyCompileError)) throw error;
    return {
      ok: false,
      problems: [
        {
          text: `${file}: ${error.message}`,
          line: 1,
          column: 1,
          code: 'compile',
          where: '',
          message: error.message,
          ruleIndex: null,
          field: null,
        },
      ],
    };
  }
  return { ok: true, checked: { text, policy } };
}

/**
 * Writes checked policy text to `file` in one step. Refuses an existing
 * file unless `overwrite`, and, with `baseSha256`, a file whose bytes are
 * not those any more. A symbolic link is followed (its target is
 * replaced, the link stays). Keeps the mode of the file it replaces
 * (0600 for a new one). Returns the SHA-256 of what was written.
 */
export function writePolicyFile(
  file: string,
  text: string,
  options: { overwrite: boolean; baseSha256?: string },
): string {
  let target = file;
  let mode = 0o600;
  let existing: Buffer | null = null;
  try {
    target = fs.realpathSync(file);
    const st = fs.statSync(target);
    if (!st.isFile()) throw new PolicyWriteRefused('not-a-file', `${file} is not a regular file`);
    mode = st.mode & 0o777;
    existing = fs.readFileSync(target);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (existing !== null && !options.overwrite) {
    throw new PolicyWriteRefused(
      'exists',
      `${file} exists; confirm replacing it (overwrite) or choose another path`,
    );
  }
  if (
    existing !== null &&
    options.baseSha256 !== undefined &&
    sha256(existing) !== options.baseSha256
  ) {
    throw new PolicyWriteRefused(
      'changed',
      `${file} changed since it was opened (an "always" answer, or another editor); open it again`,
    );
  }
  if (existing === null && options.baseSha256 !== undefined) {
    throw new PolicyWriteRefused('changed', `${file} was removed since it was opened`);
  }
  const bytes = Buffer.from(text, 'utf8');
  // Beside the target, so the rename stays in one file system; a random
  // name and an exclusive create, so nothing placed there first is used.
  const temp = path.join(
    path.dirname(target),
    `.${path.basename(target)}.hookscope-${crypto.randomBytes(6).toString('hex')}.tmp`,
  );
  try {
    fs.writeFileSync(temp, bytes, { mode, flag: 'wx' });
    fs.renameSync(temp, target);
  } catch (error) {
    fs.rmSync(temp, { force: true });
    throw error;
  }
  return sha256(bytes);
}

/** One line for the session file: how a policy replacement went. */
export function policyReplacedNotice(deliveries: readonly PolicyDelivery[]): string {
  const applied = deliveries.filter((d) => d.status === 'applied').length;
  const others = deliveries
    .filter((d) => d.status !== 'applied')
    .map((d) => `process ${d.pid}: ${d.status}`);
  return (
    `the policy was replaced while recording: ${applied} live process${applied === 1 ? '' : 'es'} updated` +
    (others.length > 0 ? ` (${others.join(', ')})` : '')
  );
}

/** The same file, whatever way it was named (symbolic links, `..`). */
export function samePolicyFile(a: string, b: string): boolean {
  const real = (p: string): string => {
    try {
      return fs.realpathSync(p);
    } catch {
      return path.resolve(p);
    }
  };
  return real(a) === real(b);
}

function problemRow(issue: PolicyIssue): PolicyProblemRow {
  const match = /^rules\[(\d+)\](?:\.([A-Za-z0-9$]+))?/.exec(issue.where);
  return {
    text: formatIssue(issue),
    line: issue.line,
    column: issue.column,
    code: issue.code,
    where: issue.where,
    message: issue.message,
    ruleIndex: match ? Number(match[1]) : null,
    field: match
      ? (match[2] ?? null)
      : issue.where === ''
        ? null
        : (issue.where.split('.').pop() ?? null),
  };
}

function sha256(bytes: Buffer): string {
  return crypto.createHash('sha256').update(bytes).digest('hex');
}
