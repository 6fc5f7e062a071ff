// A policy that cannot be used: every problem found, each with its place in
// the file, so one run of the checker tells the user everything to fix.

export type PolicyIssueCode =
  /** The file could not be read at all. */
  | 'unreadable'
  /** Not well-formed JSON. */
  | 'invalid-json'
  /** The same key twice in one object. */
  | 'duplicate-key'
  | 'unknown-key'
  | 'missing-key'
  /** Right key, wrong JSON type. */
  | 'wrong-type'
  /** Right type, value not allowed (unknown action, intent class, scope, range). */
  | 'bad-value'
  | 'bad-glob'
  | 'bad-sha256'
  /** Keys that cannot go together (event and intent, scope on a non-ask rule, …). */
  | 'conflict'
  | 'unsupported-version';

export interface PolicyIssue {
  file: string;
  /** 1-based. */
  line: number;
  /** 1-based, in UTF-16 code units as editors count them. */
  column: number;
  /** 0-based offset into the text. */
  offset: number;
  code: PolicyIssueCode;
  /** Where in the document: "rules[2].sha256", or "" for the document itself. */
  where: string;
  /** Plain words, no position (that is in line / column). */
  message: string;
}

/** One issue as a line: `file:line:column: where: message`. */
export function formatIssue(issue: PolicyIssue): string {
  const where = issue.where === '' ? '' : `${issue.where}: `;
  return `${issue.file}:${issue.line}:${issue.column}: ${where}${issue.message}`;
}

export class PolicyError extends Error {
  readonly file: string;
  /** In file order (then by code and message): stable for the same text. */
  readonly issues: readonly PolicyIssue[];

  constructor(file: string, issues: readonly PolicyIssue[]) {
    const count = issues.length === 1 ? '1 problem' : `${issues.length} problems`;
    super(
      `${file}: invalid policy, ${count}:\n${issues.map((i) => `  ${formatIssue(i)}`).join('\n')}`,
    );
    this.name = 'PolicyError';
    this.file = file;
    this.issues = issues;
  }
}
