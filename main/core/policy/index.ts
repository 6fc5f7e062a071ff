// The policy model's public surface (docs/policy.md, "API").

import schema from './policy-schema.json';

export {
  COMPILED_POLICY_MAGIC,
  MAX_COMPILED_POLICY_BYTES,
  PolicyCompileError,
  compilePolicy,
  type CompileOptions,
} from './compile.js';
export {
  compileGlob,
  escapeGlob,
  type Glob,
  type GlobFlavour,
  type GlobProblem,
  type GlobTokens,
} from './glob.js';
export { learnPolicy, type LearnOptions } from './learn.js';
export { loadPolicy, parsePolicy, readPolicyFile, type PolicyFile } from './load-policy.js';
export {
  answerKey,
  evaluate,
  subjectFromRecord,
  type AuditSubject,
  type Decision,
  type IntentSubject,
  type Subject,
  type SubjectOrigin,
} from './match.js';
export {
  PolicyError,
  formatIssue,
  type PolicyIssue,
  type PolicyIssueCode,
} from './policy-error.js';
export {
  ACTIONS,
  ANSWERS,
  ANY_INTENT,
  INTENT_CLASSES,
  POLICY_VERSION,
  SCOPES,
  formatPolicy,
  type Action,
  type Answer,
  type ArgMatcher,
  type AskSettings,
  type IntentClass,
  type IntentPattern,
  type Policy,
  type Rule,
  type Scope,
} from './policy.js';

/** JSON Schema (draft-07) of the file format, for editors and other tools. */
export const POLICY_SCHEMA: Readonly<Record<string, unknown>> = schema;
