// The rules editor's state: one policy file opened for editing, a working
// copy changed rule by rule, and saving through `policy.write`, which
// checks it with the real policy checker and pushes it to live runs.
import type { StateCreator } from 'zustand';

import type {
  HookscopeApi,
  IntentOutcome,
  IntentScope,
  PolicyActionName,
  PolicyArgMatcherRow,
  PolicyDocument,
  PolicyProblemRow,
  PolicyReadResult,
  PolicyRuleRow,
} from '../../../main/common/ipc-contract.js';
import { messageOf, type AppState, type LoadStatus } from './app-store.js';

export const INTENT_CLASS_NAMES = [
  'pythoncode',
  'bytecode',
  'zipimport',
  'nativecode',
  'ctypes',
  'unknown',
] as const;

/** A rule as the form edits it: text fields, turned into a rule by `ruleFromDraft`. */
export interface RuleDraft {
  action: PolicyActionName;
  kind: 'event' | 'intent';
  /** Event name globs, one per line. */
  events: string;
  /** Intent classes, or ['*'] for all. */
  intents: string[];
  /** `args` as JSON text ("" for none). */
  args: string;
  path: string;
  pathPrefix: string;
  realpath: string;
  realpathPrefix: string;
  sha256: string;
  module: string;
  package: string;
  executable: string;
  /** Process ids separated by commas or spaces. */
  pid: string;
  scope: '' | IntentScope;
  comment: string;
  disabled: boolean;
}

export interface RuleEdit {
  /** The rule's index; null while adding a new one (it goes at the end). */
  index: number | null;
  draft: RuleDraft;
  /** Problems of this rule: the form's own (args JSON, pids) and the checker's. */
  problems: { field: string | null; message: string }[];
  checking: boolean;
}

export interface PolicySettingsChange {
  default?: PolicyActionName;
  timeoutMs?: number;
  timeoutAction?: IntentOutcome;
  offline?: IntentOutcome;
  comment?: string;
}

export interface PolicySlice {
  /** The path typed into the editor's file box. */
  policyPath: string;
  policyStatus: LoadStatus;
  policyError: string | null;
  /** The working copy; null before anything is opened. */
  policyDoc: PolicyDocument | null;
  /** The file the working copy is saved to; null for a new or pasted policy. */
  policyFile: string | null;
  /** SHA-256 of the file as opened: a save is refused if someone changed it since. */
  policyBaseSha: string | null;
  policyDirty: boolean;
  /** Problems from the last check (open, import or save). */
  policyProblems: PolicyProblemRow[];
  policyLiveRuns: number;
  policySaving: boolean;
  /** The outcome of the last save or export, in words. */
  policyMessage: string | null;
  /** A path waiting for "discard unsaved changes?" before it is opened. */
  policyPendingOpen: string | null;
  ruleEdit: RuleEdit | null;

  setPolicyPath: (path: string) => void;
  /** Opens `path` (default: the path box); asks first when there are unsaved changes. */
  openPolicy: (path?: string, discard?: boolean) => Promise<void>;
  cancelPendingOpen: () => void;
  newPolicy: () => void;
  /** Replaces the working copy with another file's policy (kept unsaved). */
  importPolicyFile: (path: string) => Promise<void>;
  /** Replaces the working copy with pasted JSON (kept unsaved). */
  importPolicyText: (text: string) => Promise<void>;
  savePolicy: () => Promise<void>;
  exportPolicy: (path: string, overwrite: boolean) => Promise<void>;
  setPolicySettings: (change: PolicySettingsChange) => void;
  moveRule: (index: number, delta: -1 | 1) => void;
  toggleRule: (index: number) => void;
  deleteRule: (index: number) => void;
  startRuleEdit: (index: number | null) => void;
  setRuleDraft: (change: Partial<RuleDraft>) => void;
  cancelRuleEdit: () => void;
  /** Checks the edited rule in its policy and, when it has no problem, puts it in. */
  applyRuleEdit: () => Promise<boolean>;
}

const NEW_POLICY: PolicyDocument = {
  version: 1,
  default: 'ask',
  ask: { timeoutMs: 30000, timeoutAction: 'deny' },
  offline: 'allow',
  rules: [],
};

const EMPTY_DRAFT: RuleDraft = {
  action: 'deny',
  kind: 'event',
  events: '',
  intents: [],
  args: '',
  path: '',
  pathPrefix: '',
  realpath: '',
  realpathPrefix: '',
  sha256: '',
  module: '',
  package: '',
  executable: '',
  pid: '',
  scope: '',
  comment: '',
  disabled: false,
};

const TEXT_FIELDS = [
  'path',
  'pathPrefix',
  'realpath',
  'realpathPrefix',
  'sha256',
  'module',
  'package',
  'executable',
  'comment',
] as const;

/** The form's view of a rule. */
export function draftFromRule(rule: PolicyRuleRow): RuleDraft {
  const list = (v: string | string[] | undefined): string[] =>
    v === undefined ? [] : Array.isArray(v) ? v : [v];
  const draft: RuleDraft = {
    ...EMPTY_DRAFT,
    action: rule.action,
    kind: rule.intent !== undefined ? 'intent' : 'event',
    events: list(rule.event).join('\n'),
    intents: list(rule.intent),
    args: rule.args !== undefined ? JSON.stringify(rule.args, null, 2) : '',
    pid: rule.pid === undefined ? '' : (Array.isArray(rule.pid) ? rule.pid : [rule.pid]).join(', '),
    scope: rule.scope ?? '',
    disabled: rule.disabled === true,
  };
  for (const key of TEXT_FIELDS) draft[key] = rule[key] ?? '';
  return draft;
}

/**
 * The rule a draft describes, or the form's own problems (what only the
 * form can know: JSON that does not parse, a pid that is not a number).
 * Everything else is the checker's to say, on the rule as written.
 */
export function ruleFromDraft(
  draft: RuleDraft,
): { ok: true; rule: PolicyRuleRow } | { ok: false; problems: RuleEdit['problems'] } {
  const problems: RuleEdit['problems'] = [];
  const rule: PolicyRuleRow = { action: draft.action };
  const one = (items: string[]): string | string[] | undefined =>
    items.length === 0 ? undefined : items.length === 1 ? items[0] : items;
  if (draft.kind === 'event') {
    const events = one(
      draft.events
        .split('\n')
        .map((e) => e.trim())
        .filter((e) => e !== ''),
    );
    if (events !== undefined) rule.event = events;
    else problems.push({ field: 'event', message: 'name at least one event (or "**" for all)' });
    const args = draft.args.trim();
    if (args !== '') {
      try {
        const parsed: unknown = JSON.parse(args);
        if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
          problems.push({
            field: 'args',
            message: 'arguments must be a JSON object, e.g. {"0": "/etc/passwd"}',
          });
        } else {
          rule.args = parsed as Record<string, PolicyArgMatcherRow>;
        }
      } catch (error) {
        problems.push({ field: 'args', message: `not JSON: ${messageOf(error)}` });
      }
    }
  } else {
    const intents = one(draft.intents);
    if (intents !== undefined) rule.intent = intents;
    else problems.push({ field: 'intent', message: 'choose at least one intent class (or all)' });
  }
  for (const key of TEXT_FIELDS) {
    const value = key === 'comment' ? draft[key] : draft[key].trim();
    // Intent-only fields on an event rule are the checker's to refuse,
    // but a field the form hides for this kind is left out.
    if (value === '') continue;
    if (
      draft.kind === 'event' &&
      ['path', 'pathPrefix', 'realpath', 'realpathPrefix', 'sha256'].includes(key)
    ) {
      continue;
    }
    rule[key] = value;
  }
  const pidText = draft.pid.trim();
  if (pidText !== '') {
    const pids = pidText.split(/[\s,]+/).filter((p) => p !== '');
    const numbers = pids.map(Number);
    if (numbers.some((n) => !Number.isInteger(n))) {
      problems.push({
        field: 'pid',
        message: 'process ids are whole numbers, separated by commas',
      });
    } else {
      rule.pid = numbers.length === 1 ? (numbers[0] as number) : numbers;
    }
  }
  if (draft.scope !== '' && draft.action === 'ask') rule.scope = draft.scope;
  if (draft.disabled) rule.disabled = true;
  return problems.length > 0 ? { ok: false, problems } : { ok: true, rule };
}

/** One line saying what a rule matches, for the list. */
export function describeMatch(rule: PolicyRuleRow): string {
  // A file with problems may hold anything where a rule should be.
  if (typeof rule !== 'object' || rule === null || Array.isArray(rule)) {
    return `not a rule: ${JSON.stringify(rule)}`;
  }
  const list = (v: string | string[] | number | number[]): string =>
    Array.isArray(v) ? v.join(', ') : String(v);
  const parts: string[] = [];
  if (rule.event !== undefined) parts.push(`event ${list(rule.event)}`);
  if (rule.intent !== undefined) parts.push(`intent ${list(rule.intent)}`);
  if (rule.args !== undefined) {
    parts.push(
      `args ${Object.entries(rule.args)
        .map(([k, v]) => `${k}=${JSON.stringify(v)}`)
        .join(' ')}`,
    );
  }
  for (const key of [
    'path',
    'pathPrefix',
    'realpath',
    'realpathPrefix',
    'module',
    'package',
    'executable',
  ] as const) {
    if (rule[key] !== undefined) parts.push(`${key} ${rule[key]}`);
  }
  if (rule.sha256 !== undefined) parts.push(`sha256 ${rule.sha256.slice(0, 12)}…`);
  if (rule.pid !== undefined) parts.push(`pid ${list(rule.pid)}`);
  if (rule.scope !== undefined) parts.push(`remembered: ${rule.scope}`);
  return parts.join(' · ');
}

function withRules(doc: PolicyDocument, rules: PolicyRuleRow[]): PolicyDocument {
  return { ...doc, rules };
}

/**
 * What the editor works on: the document when it is an object, filled in
 * where the file leaves settings to their defaults.
 */
function workingCopy(read: PolicyReadResult): PolicyDocument | null {
  if (read.policy === null) return null;
  const doc = read.policy;
  return {
    ...doc,
    ask: { ...NEW_POLICY.ask, ...(typeof doc.ask === 'object' && doc.ask !== null ? doc.ask : {}) },
    offline: doc.offline ?? NEW_POLICY.offline,
    rules: Array.isArray(doc.rules) ? doc.rules : [],
  };
}

export const createPolicySlice =
  (api: HookscopeApi): StateCreator<AppState, [], [], PolicySlice> =>
  (set, get) => {
    /** A structural change: earlier problems may point at other rules now. */
    const change = (doc: PolicyDocument): void =>
      set({ policyDoc: doc, policyDirty: true, policyProblems: [], policyMessage: null });

    const load = async (path: string, asImport: boolean): Promise<void> => {
      set({ policyStatus: 'loading', policyError: null, policyMessage: null, ruleEdit: null });
      try {
        const read = await api.readPolicy({ path });
        const doc = workingCopy(read);
        if (doc === null) {
          // Nothing to edit: the working copy (if any) stays as it was.
          const first = read.problems[0]?.text;
          set({
            policyStatus: 'error',
            policyError: `${path} is not a policy (a JSON object)${first ? `: ${first}` : ''}; fix it in a text editor`,
          });
          return;
        }
        set({
          policyStatus: 'ready',
          policyDoc: doc,
          policyProblems: read.problems,
          ...(asImport
            ? { policyDirty: true, policyMessage: `Imported ${path}: not saved yet` }
            : {
                policyFile: path,
                policyPath: path,
                policyBaseSha: read.sha256,
                policyDirty: false,
                policyLiveRuns: read.liveRuns,
              }),
        });
      } catch (error) {
        set({ policyStatus: 'error', policyError: messageOf(error) });
      }
    };

    return {
      policyPath: '',
      policyStatus: 'idle',
      policyError: null,
      policyDoc: null,
      policyFile: null,
      policyBaseSha: null,
      policyDirty: false,
      policyProblems: [],
      policyLiveRuns: 0,
      policySaving: false,
      policyMessage: null,
      policyPendingOpen: null,
      ruleEdit: null,

      setPolicyPath: (policyPath) => set({ policyPath }),
      openPolicy: async (path, discard = false) => {
        const target = (path ?? get().policyPath).trim();
        if (target === '') {
          set({ policyStatus: 'error', policyError: 'Type the absolute path of a policy file.' });
          return;
        }
        if (get().policyDirty && !discard) {
          set({ policyPendingOpen: target });
          return;
        }
        set({ policyPendingOpen: null });
        await load(target, false);
      },
      cancelPendingOpen: () => set({ policyPendingOpen: null }),
      newPolicy: () =>
        set({
          policyDoc: { ...NEW_POLICY, rules: [] },
          policyFile: null,
          policyBaseSha: null,
          policyDirty: true,
          policyProblems: [],
          policyStatus: 'ready',
          policyError: null,
          policyMessage: 'A new policy: type a path and Save to create the file.',
          ruleEdit: null,
        }),
      importPolicyFile: async (path) => {
        if (!path.trim()) {
          set({ policyMessage: 'Type the absolute path of the policy to import.' });
          return;
        }
        await load(path.trim(), true);
      },
      importPolicyText: async (text) => {
        set({ policyMessage: null });
        try {
          const read = await api.parsePolicy({ text });
          const doc = workingCopy(read);
          if (doc === null) {
            set({
              policyProblems: read.problems,
              policyMessage: 'The pasted text is not a policy (a JSON object).',
            });
            return;
          }
          set({
            policyDoc: doc,
            policyDirty: true,
            policyProblems: read.problems,
            policyStatus: 'ready',
            policyError: null,
            policyMessage: 'Imported the pasted policy: not saved yet',
            ruleEdit: null,
          });
        } catch (error) {
          set({ policyMessage: `Import failed: ${messageOf(error)}` });
        }
      },
      savePolicy: async () => {
        const { policyDoc, policyFile, policyBaseSha } = get();
        if (policyDoc === null) return;
        const target = policyFile ?? get().policyPath.trim();
        if (target === '') {
          set({ policyMessage: 'Type the absolute path to save the new policy to.' });
          return;
        }
        set({ policySaving: true, policyMessage: null });
        try {
          const result = await api.writePolicy({
            path: target,
            policy: policyDoc,
            // The opened file is replaced; a new one must not replace anything.
            overwrite: policyFile !== null,
            ...(policyFile !== null && policyBaseSha !== null ? { baseSha256: policyBaseSha } : {}),
          });
          if (!result.saved) {
            set({
              policySaving: false,
              policyProblems: result.problems,
              policyMessage: `Not saved: ${result.problems.length} problem${result.problems.length === 1 ? '' : 's'}`,
            });
            return;
          }
          const live = result.live;
          const refused = live.notUpdated.map((n) => `process ${n.pid}: ${n.status}`).join(', ');
          set({
            policySaving: false,
            policyDirty: false,
            policyProblems: [],
            policyFile: result.path,
            policyPath: result.path,
            policyBaseSha: result.sha256,
            policyLiveRuns: live.runs,
            policyMessage:
              `Saved — ${live.processesUpdated} live process${live.processesUpdated === 1 ? '' : 'es'} updated` +
              (refused ? ` (not updated: ${refused})` : ''),
          });
        } catch (error) {
          set({ policySaving: false, policyMessage: `Not saved: ${messageOf(error)}` });
        }
      },
      exportPolicy: async (path, overwrite) => {
        const { policyDoc } = get();
        if (policyDoc === null) return;
        if (!path.trim()) {
          set({ policyMessage: 'Type the absolute path to export to.' });
          return;
        }
        set({ policySaving: true, policyMessage: null });
        try {
          const result = await api.writePolicy({ path: path.trim(), policy: policyDoc, overwrite });
          set(
            result.saved
              ? { policySaving: false, policyMessage: `Exported to ${result.path}` }
              : {
                  policySaving: false,
                  policyProblems: result.problems,
                  policyMessage: `Not exported: ${result.problems.length} problem${result.problems.length === 1 ? '' : 's'}`,
                },
          );
        } catch (error) {
          set({ policySaving: false, policyMessage: `Not exported: ${messageOf(error)}` });
        }
      },
      setPolicySettings: (c) => {
        const doc = get().policyDoc;
        if (doc === null) return;
        const next: PolicyDocument = {
          ...doc,
          ...(c.default !== undefined ? { default: c.default } : {}),
          ...(c.offline !== undefined ? { offline: c.offline } : {}),
          ask: {
            timeoutMs: c.timeoutMs ?? doc.ask.timeoutMs,
            timeoutAction: c.timeoutAction ?? doc.ask.timeoutAction,
          },
        };
        if (c.comment !== undefined) {
          if (c.comment === '') delete next.comment;
          else next.comment = c.comment;
        }
        set({ policyDoc: next, policyDirty: true, policyMessage: null });
      },
      moveRule: (index, delta) => {
        const doc = get().policyDoc;
        const to = index + delta;
        if (doc === null || to < 0 || to >= doc.rules.length) return;
        const rules = [...doc.rules];
        [rules[index], rules[to]] = [rules[to] as PolicyRuleRow, rules[index] as PolicyRuleRow];
        change(withRules(doc, rules));
      },
      toggleRule: (index) => {
        const doc = get().policyDoc;
        const rule = doc?.rules[index];
        if (doc === null || rule === undefined) return;
        const { disabled, ...rest } = rule;
        const next: PolicyRuleRow = disabled === true ? rest : { ...rest, disabled: true };
        change(
          withRules(
            doc,
            doc.rules.map((r, i) => (i === index ? next : r)),
          ),
        );
      },
      deleteRule: (index) => {
        const doc = get().policyDoc;
        if (doc === null) return;
        change(
          withRules(
            doc,
            doc.rules.filter((_, i) => i !== index),
          ),
        );
      },
      startRuleEdit: (index) => {
        const rule = index === null ? undefined : get().policyDoc?.rules[index];
        // A broken file may hold something else where a rule should be: it is replaced.
        const isRule = typeof rule === 'object' && rule !== null && !Array.isArray(rule);
        const draft = isRule ? draftFromRule(rule) : { ...EMPTY_DRAFT };
        const problems = get()
          .policyProblems.filter((p) => index !== null && p.ruleIndex === index)
          .map((p) => ({ field: p.field, message: p.message }));
        set({
          ruleEdit: { index: rule !== undefined ? index : null, draft, problems, checking: false },
        });
      },
      setRuleDraft: (c) => {
        const edit = get().ruleEdit;
        if (edit !== null) set({ ruleEdit: { ...edit, draft: { ...edit.draft, ...c } } });
      },
      cancelRuleEdit: () => set({ ruleEdit: null }),
      applyRuleEdit: async () => {
        const edit = get().ruleEdit;
        const doc = get().policyDoc;
        if (edit === null || doc === null) return false;
        const made = ruleFromDraft(edit.draft);
        if (!made.ok) {
          set({ ruleEdit: { ...edit, problems: made.problems } });
          return false;
        }
        const index = edit.index ?? doc.rules.length;
        const rules = [...doc.rules];
        if (edit.index === null) rules.push(made.rule);
        else rules[index] = made.rule;
        const next = withRules(doc, rules);
        // The checker judges the rule in its policy, as the file would be.
        set({ ruleEdit: { ...edit, checking: true } });
        let problems: PolicyProblemRow[];
        try {
          problems = (await api.parsePolicy({ text: JSON.stringify(next) })).problems;
        } catch (error) {
          set({
            ruleEdit: {
              ...edit,
              checking: false,
              problems: [{ field: null, message: messageOf(error) }],
            },
          });
          return false;
        }
        const mine = problems.filter((p) => p.ruleIndex === index);
        if (mine.length > 0) {
          set({
            ruleEdit: {
              ...edit,
              checking: false,
              problems: mine.map((p) => ({ field: p.field, message: p.message })),
            },
          });
          return false;
        }
        set({
          policyDoc: next,
          policyDirty: true,
          policyMessage: null,
          ruleEdit: null,
          // Problems elsewhere stay shown; this rule's are gone.
          policyProblems: problems,
        });
        return true;
      },
    };
  };
