// The rules editor: one policy file (docs/policy.md), its rules in order
// with what each matches, and the changes a person makes to them. Saving
// goes through the real policy checker (problems are shown on the rule
// they are about) and reaches running processes that enforce the file at
// once. Every control is a button, input or select: keyboard only works.
import { useEffect, useId, useState, type FormEvent, type KeyboardEvent } from 'react';

import {
  POLICY_RULE_KEYS,
  type IntentOutcome,
  type IntentScope,
  type PolicyActionName,
  type PolicyProblemRow,
  type PolicyRuleRow,
} from '../../../main/common/ipc-contract.js';
import { describeMatch, INTENT_CLASS_NAMES, type RuleDraft } from '../store/policy-slice.js';
import { useApp } from '../store/store-context.js';
import { BrowseButton } from './desktop-shell.js';
import { Empty, ErrorState, Loading } from './states.js';

const ACTIONS: PolicyActionName[] = ['allow', 'deny', 'ask'];
const ANSWERS: IntentOutcome[] = ['allow', 'deny'];
const SCOPES: IntentScope[] = ['once', 'process', 'session', 'always'];

export function RulesEditor() {
  const status = useApp((s) => s.policyStatus);
  const error = useApp((s) => s.policyError);
  const doc = useApp((s) => s.policyDoc);
  const path = useApp((s) => s.policyPath);
  const openPolicy = useApp((s) => s.openPolicy);
  // The open session's policy, when it enforces one: what is edited by default.
  const sessionPolicy = useApp((s) => s.overview?.policy?.file ?? null);

  useEffect(() => {
    if (status === 'idle' && doc === null && path === '' && sessionPolicy !== null) {
      void openPolicy(sessionPolicy);
    }
  }, [status, doc, path, sessionPolicy, openPolicy]);

  return (
    <div className="rules-editor">
      <PolicyFileBar />
      {status === 'loading' && <Loading what="the policy" />}
      {status === 'error' && error !== null && (
        <ErrorState
          title="Cannot open the policy"
          message={error}
          {...(path.trim() !== '' ? { onRetry: () => void openPolicy() } : {})}
        />
      )}
      {status !== 'loading' && doc === null && status !== 'error' && (
        <Empty title="No policy open">
          Type the absolute path of a policy file and press Open, or start a New policy.
          {sessionPolicy === null && ' A session that enforces a policy opens its file here.'}
        </Empty>
      )}
      {status !== 'loading' && doc !== null && (
        <>
          <SaveBar />
          <PolicySettings />
          <RuleList />
          <RuleForm />
          <ImportExport />
        </>
      )}
    </div>
  );
}

function PolicyFileBar() {
  const path = useApp((s) => s.policyPath);
  const setPath = useApp((s) => s.setPolicyPath);
  const openPolicy = useApp((s) => s.openPolicy);
  const newPolicy = useApp((s) => s.newPolicy);
  const pending = useApp((s) => s.policyPendingOpen);
  const cancelPending = useApp((s) => s.cancelPendingOpen);
  const file = useApp((s) => s.policyFile);
  const liveRuns = useApp((s) => s.policyLiveRuns);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void openPolicy();
  };
  return (
    <section className="panel" aria-labelledby="rules-title">
      <div className="panel-head">
        <h2 id="rules-title">Rules</h2>
        <span className="hint">
          {file === null
            ? 'Edit a policy file; running processes that enforce it get a saved change at once.'
            : `${file}${liveRuns > 0 ? ` — enforced by ${liveRuns} running run${liveRuns === 1 ? '' : 's'}` : ''}`}
        </span>
      </div>
      <form className="rules-file" onSubmit={submit}>
        <label>
          Policy file
          <span className="path-field">
            <input
              name="policyFile"
              placeholder="/path/to/policy.json"
              value={path}
              onChange={(e) => setPath(e.target.value)}
            />
            {/* Desktop only: the web host cannot show native dialogs. */}
            <BrowseButton
              purpose="policy"
              label="Browse for a policy file to edit"
              onChosen={(chosen) => {
                setPath(chosen);
                void openPolicy(chosen);
              }}
            />
          </span>
        </label>
        <button type="submit">Open</button>
        <button type="button" onClick={newPolicy}>
          New policy
        </button>
      </form>
      {pending !== null && (
        <div className="rules-confirm" role="alertdialog" aria-label="Unsaved changes">
          <span>The policy has unsaved changes. Discard them and open {pending}?</span>
          <button type="button" onClick={() => void openPolicy(pending, true)}>
            Discard and open
          </button>
          <button type="button" autoFocus onClick={cancelPending}>
            Keep editing
          </button>
        </div>
      )}
    </section>
  );
}

function SaveBar() {
  const dirty = useApp((s) => s.policyDirty);
  const saving = useApp((s) => s.policySaving);
  const message = useApp((s) => s.policyMessage);
  const file = useApp((s) => s.policyFile);
  const save = useApp((s) => s.savePolicy);
  const problems = useApp((s) => s.policyProblems);
  const rulesCount = useApp((s) => s.policyDoc?.rules.length ?? 0);
  return (
    <div className="rules-save">
      <button
        type="button"
        className="primary"
        disabled={saving}
        onClick={() => void save()}
        title={file === null ? 'Saves to the path typed above (a new file)' : `Saves ${file}`}
      >
        {saving ? 'Saving…' : 'Save'}
      </button>
      <span className="hint">
        {rulesCount} rule{rulesCount === 1 ? '' : 's'}
        {dirty ? ' · unsaved changes' : ''}
      </span>
      <span role="status" className={problems.length > 0 ? 'inline-error' : 'rules-message'}>
        {message}
      </span>
    </div>
  );
}

function PolicySettings() {
  const doc = useApp((s) => s.policyDoc);
  const set = useApp((s) => s.setPolicySettings);
  const problems = useApp((s) => s.policyProblems).filter((p) => p.ruleIndex === null);
  const id = useId();
  if (doc === null) return null;
  return (
    <section className="panel" aria-labelledby={`${id}-settings`}>
      <div className="panel-head">
        <h3 id={`${id}-settings`}>Settings</h3>
      </div>
      <div className="rules-settings">
        <label>
          Default (no rule matches)
          <select
            value={doc.default}
            onChange={(e) => set({ default: e.target.value as PolicyActionName })}
          >
            {ACTIONS.map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
        </label>
        <label>
          Ask timeout (ms)
          <input
            type="number"
            min={1}
            max={3600000}
            value={doc.ask.timeoutMs}
            onChange={(e) => set({ timeoutMs: Number(e.target.value) })}
          />
        </label>
        <label>
          On timeout
          <select
            value={doc.ask.timeoutAction}
            onChange={(e) => set({ timeoutAction: e.target.value as IntentOutcome })}
          >
            {ANSWERS.map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
        </label>
        <label>
          Inspector gone (offline)
          <select
            value={doc.offline}
            onChange={(e) => set({ offline: e.target.value as IntentOutcome })}
          >
            {ANSWERS.map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
        </label>
        <label className="rules-wide">
          Comment
          <input value={doc.comment ?? ''} onChange={(e) => set({ comment: e.target.value })} />
        </label>
      </div>
      <ProblemList problems={problems} label="Problems in the settings" />
    </section>
  );
}

function ProblemList({ problems, label }: { problems: PolicyProblemRow[]; label: string }) {
  if (problems.length === 0) return null;
  return (
    <ul className="rules-problems" aria-label={label}>
      {problems.map((p, i) => (
        <li key={i} className="inline-error" title={p.text}>
          {p.where !== '' ? <code>{p.where}</code> : null} {p.message}
        </li>
      ))}
    </ul>
  );
}

function RuleList() {
  const rules = useApp((s) => s.policyDoc?.rules ?? []);
  const problems = useApp((s) => s.policyProblems);
  const startEdit = useApp((s) => s.startRuleEdit);
  const editing = useApp((s) => s.ruleEdit);
  return (
    <section className="panel" aria-labelledby="rules-list-title">
      <div className="panel-head">
        <h3 id="rules-list-title">Rules, first match wins</h3>
        <button type="button" onClick={() => startEdit(null)} disabled={editing !== null}>
          Add rule
        </button>
      </div>
      {rules.length === 0 ? (
        <Empty title="No rules">Every event and intent gets the default. Add a rule.</Empty>
      ) : (
        <ol className="rules-list">
          {rules.map((rule, index) => (
            <RuleRow
              key={index}
              rule={rule}
              index={index}
              last={index === rules.length - 1}
              problems={problems.filter((p) => p.ruleIndex === index)}
            />
          ))}
        </ol>
      )}
    </section>
  );
}

function RuleRow({
  rule,
  index,
  last,
  problems,
}: {
  rule: PolicyRuleRow;
  index: number;
  last: boolean;
  problems: PolicyProblemRow[];
}) {
  const move = useApp((s) => s.moveRule);
  const toggle = useApp((s) => s.toggleRule);
  const remove = useApp((s) => s.deleteRule);
  const startEdit = useApp((s) => s.startRuleEdit);
  const editing = useApp((s) => s.ruleEdit !== null);
  const disabled = typeof rule === 'object' && rule !== null && rule.disabled === true;
  const name = `rule ${index}`;
  const comment = typeof rule === 'object' && rule !== null ? rule.comment : undefined;
  const action = typeof rule === 'object' && rule !== null ? String(rule.action) : '?';
  return (
    <li className={disabled ? 'rules-row rules-row-disabled' : 'rules-row'} aria-label={name}>
      <span className="rules-index">{index}</span>
      <span className={`rules-action rules-action-${action}`}>{action}</span>
      <span className="rules-match">
        {describeMatch(rule)}
        {comment !== undefined && <span className="rules-comment">{String(comment)}</span>}
        {disabled && <span className="rules-off">disabled</span>}
        <ProblemList problems={problems} label={`Problems in ${name}`} />
      </span>
      <span className="rules-buttons">
        <button
          type="button"
          onClick={() => startEdit(index)}
          disabled={editing}
          aria-label={`Edit ${name}`}
        >
          Edit
        </button>
        <button
          type="button"
          onClick={() => {
            move(index, -1);
            focusRuleButton(index - 1, 'Move', 'up');
          }}
          disabled={index === 0}
          aria-label={`Move ${name} up`}
        >
          ↑
        </button>
        <button
          type="button"
          onClick={() => {
            move(index, 1);
            focusRuleButton(index + 1, 'Move', 'down');
          }}
          disabled={last}
          aria-label={`Move ${name} down`}
        >
          ↓
        </button>
        <button
          type="button"
          onClick={() => toggle(index)}
          aria-label={`${disabled ? 'Enable' : 'Disable'} ${name}`}
        >
          {disabled ? 'Enable' : 'Disable'}
        </button>
        <button
          type="button"
          onClick={() => {
            remove(index);
            focusRuleButton(index, 'Edit');
          }}
          disabled={editing}
          aria-label={`Delete ${name}`}
        >
          Delete
        </button>
      </span>
    </li>
  );
}

function RuleForm() {
  const edit = useApp((s) => s.ruleEdit);
  const setDraft = useApp((s) => s.setRuleDraft);
  const cancel = useApp((s) => s.cancelRuleEdit);
  const apply = useApp((s) => s.applyRuleEdit);
  const id = useId();
  if (edit === null) return null;
  const d = edit.draft;
  const problemsOf = (field: string): string[] =>
    edit.problems.filter((p) => p.field === field).map((p) => p.message);
  const otherProblems = edit.problems.filter(
    (p) => p.field === null || !FORM_FIELDS.includes(p.field),
  );
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void apply().then((applied) => {
      if (applied) focusRuleButton(edit.index, 'Edit');
    });
  };
  const onKeyDown = (e: KeyboardEvent) => {
    if (e.key === 'Escape') {
      cancel();
      focusRuleButton(edit.index, 'Edit');
    }
  };
  const text = (field: keyof RuleDraft & string, label: string, placeholder = '') => {
    const errors = problemsOf(field);
    return (
      <label>
        {label}
        <input
          name={field}
          value={d[field] as string}
          placeholder={placeholder}
          aria-invalid={errors.length > 0}
          aria-describedby={errors.length > 0 ? `${id}-${field}-error` : undefined}
          onChange={(e) => setDraft({ [field]: e.target.value })}
        />
        <FieldErrors id={`${id}-${field}-error`} errors={errors} />
      </label>
    );
  };
  const intentErrors = problemsOf('intent');
  const eventErrors = problemsOf('event');
  const argsErrors = problemsOf('args');
  return (
    <section className="panel" aria-labelledby={`${id}-title`}>
      <div className="panel-head">
        <h3 id={`${id}-title`}>{edit.index === null ? 'New rule' : `Edit rule ${edit.index}`}</h3>
        <span className="hint">Esc cancels. All the fields given must match.</span>
      </div>
      <form className="rules-form" onSubmit={submit} onKeyDown={onKeyDown}>
        <label>
          Action
          <select
            name="action"
            autoFocus
            value={d.action}
            onChange={(e) => setDraft({ action: e.target.value as PolicyActionName })}
          >
            {ACTIONS.map((a) => (
              <option key={a} value={a}>
                {a}
              </option>
            ))}
          </select>
        </label>
        <fieldset>
          <legend>About</legend>
          <label className="check">
            <input
              type="radio"
              name="kind"
              checked={d.kind === 'event'}
              onChange={() => setDraft({ kind: 'event' })}
            />{' '}
            audit events
          </label>
          <label className="check">
            <input
              type="radio"
              name="kind"
              checked={d.kind === 'intent'}
              onChange={() => setDraft({ kind: 'intent' })}
            />{' '}
            code about to run (intents)
          </label>
        </fieldset>
        {d.kind === 'event' ? (
          <>
            <label>
              Event names or globs, one per line
              <textarea
                name="events"
                rows={2}
                placeholder={'socket.connect\nsubprocess.*'}
                value={d.events}
                aria-invalid={eventErrors.length > 0}
                onChange={(e) => setDraft({ events: e.target.value })}
              />
              <FieldErrors id={`${id}-event-error`} errors={eventErrors} />
            </label>
            <label>
              Arguments (JSON: position → matcher)
              <textarea
                name="args"
                rows={2}
                placeholder={'{"0": {"glob": "/bin/*sh"}}'}
                value={d.args}
                aria-invalid={argsErrors.length > 0}
                onChange={(e) => setDraft({ args: e.target.value })}
              />
              <FieldErrors id={`${id}-args-error`} errors={argsErrors} />
            </label>
          </>
        ) : (
          <>
            <fieldset aria-invalid={intentErrors.length > 0}>
              <legend>Intent classes</legend>
              {(['*', ...INTENT_CLASS_NAMES] as const).map((c) => (
                <label key={c} className="check">
                  <input
                    type="checkbox"
                    checked={d.intents.includes(c)}
                    onChange={(e) =>
                      setDraft({
                        intents: e.target.checked
                          ? [...d.intents, c]
                          : d.intents.filter((x) => x !== c),
                      })
                    }
                  />{' '}
                  {c === '*' ? 'all (*)' : c}
                </label>
              ))}
              <FieldErrors id={`${id}-intent-error`} errors={intentErrors} />
            </fieldset>
            {text('realpath', 'Real path glob', '/srv/app/**/*.py')}
            {text('realpathPrefix', 'Real path prefix', '/usr/lib/python3.12/')}
            {text('path', 'Path glob (as CPython passed it)')}
            {text('pathPrefix', 'Path prefix')}
            {text('sha256', 'SHA-256', '64 lowercase hex digits')}
          </>
        )}
        {text('module', 'Module glob', 'requests.*')}
        {text('package', 'Package', 'requests')}
        {text('executable', 'Executable glob', '/usr/bin/python3*')}
        {text('pid', 'Process ids', '4242, 4243')}
        {d.action === 'ask' && (
          <label>
            Remember an answer for
            <select
              name="scope"
              value={d.scope}
              onChange={(e) => setDraft({ scope: e.target.value as RuleDraft['scope'] })}
            >
              <option value="">once (default)</option>
              {SCOPES.map((s) => (
                <option key={s} value={s}>
                  {s}
                </option>
              ))}
            </select>
            <FieldErrors id={`${id}-scope-error`} errors={problemsOf('scope')} />
          </label>
        )}
        {text('comment', 'Comment (shown as the reason of a decision)')}
        <label className="check">
          <input
            type="checkbox"
            checked={d.disabled}
            onChange={(e) => setDraft({ disabled: e.target.checked })}
          />{' '}
          Disabled (kept in the file, matches nothing)
        </label>
        {otherProblems.length > 0 && (
          <ul className="rules-problems" aria-label="Problems in this rule">
            {otherProblems.map((p, i) => (
              <li key={i} className="inline-error">
                {p.field !== null ? <code>{p.field}</code> : null} {p.message}
              </li>
            ))}
          </ul>
        )}
        <div className="launch-actions">
          <button type="submit" className="primary" disabled={edit.checking}>
            {edit.checking ? 'Checking…' : edit.index === null ? 'Add' : 'Apply'}
          </button>
          <button
            type="button"
            onClick={() => {
              cancel();
              focusRuleButton(edit.index, 'Edit');
            }}
          >
            Cancel
          </button>
        </div>
      </form>
    </section>
  );
}

/** Fields the form shows next to an input; the checker's problems on others go at the end. */
const FORM_FIELDS: readonly string[] = POLICY_RULE_KEYS.filter(
  (key) => key !== 'action' && key !== 'disabled',
);

function FieldErrors({ id, errors }: { id: string; errors: string[] }) {
  if (errors.length === 0) return null;
  return (
    <span id={id} className="inline-error" role="alert">
      {errors.join('; ')}
    </span>
  );
}

function ImportExport() {
  const importFile = useApp((s) => s.importPolicyFile);
  const importText = useApp((s) => s.importPolicyText);
  const exportPolicy = useApp((s) => s.exportPolicy);
  const saving = useApp((s) => s.policySaving);
  const [importPath, setImportPath] = useState('');
  const [pasted, setPasted] = useState('');
  const [exportPath, setExportPath] = useState('');
  const [overwrite, setOverwrite] = useState(false);
  return (
    <section className="panel" aria-labelledby="rules-io-title">
      <div className="panel-head">
        <h3 id="rules-io-title">Import and export</h3>
        <span className="hint">
          An import replaces the rules above; nothing is written until Save.
        </span>
      </div>
      <div className="rules-io">
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void importFile(importPath);
          }}
        >
          <label>
            Import from a file
            <span className="path-field">
              <input
                name="importPath"
                placeholder="/path/to/other-policy.json"
                value={importPath}
                onChange={(e) => setImportPath(e.target.value)}
              />
              <BrowseButton
                purpose="policy"
                label="Browse for a policy file to import"
                onChosen={setImportPath}
              />
            </span>
          </label>
          <button type="submit">Import file</button>
        </form>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void importText(pasted);
          }}
        >
          <label>
            Or paste a policy (JSON)
            <textarea
              name="pastedPolicy"
              rows={3}
              value={pasted}
              onChange={(e) => setPasted(e.target.value)}
            />
          </label>
          <button type="submit" disabled={pasted.trim() === ''}>
            Import pasted
          </button>
        </form>
        <form
          onSubmit={(e) => {
            e.preventDefault();
            void exportPolicy(exportPath, overwrite);
          }}
        >
          <label>
            Export to a file
            <input
              name="exportPath"
              placeholder="/path/to/copy.json"
              value={exportPath}
              onChange={(e) => setExportPath(e.target.value)}
            />
          </label>
          <label className="check">
            <input
              type="checkbox"
              checked={overwrite}
              onChange={(e) => setOverwrite(e.target.checked)}
            />{' '}
            Replace the file if it exists
          </label>
          <button type="submit" disabled={saving}>
            Export
          </button>
        </form>
      </div>
    </section>
  );
}

/**
 * Keeps the keyboard focus with the rule after the list changes under it:
 * on the moved rule's button (or its other arrow at the top or bottom),
 * or on the Edit button of the rule that took a deleted one's place (Add
 * rule when there is none). Runs after React has rendered the change.
 */
function focusRuleButton(index: number | null, verb: 'Move' | 'Edit', direction?: 'up' | 'down') {
  setTimeout(() => {
    const byLabel = (label: string): HTMLButtonElement | null =>
      document.querySelector<HTMLButtonElement>(`button[aria-label="${label}"]`);
    const candidates: string[] = [];
    if (index !== null && verb === 'Move' && direction !== undefined) {
      candidates.push(`Move rule ${index} ${direction}`);
      candidates.push(`Move rule ${index} ${direction === 'up' ? 'down' : 'up'}`);
    }
    if (index !== null) candidates.push(`Edit rule ${index}`);
    if (index !== null && index > 0) candidates.push(`Edit rule ${index - 1}`);
    for (const label of candidates) {
      const button = byLabel(label);
      if (button !== null && !button.disabled) {
        button.focus();
        return;
      }
    }
    const add = Array.from(document.querySelectorAll<HTMLButtonElement>('button')).find(
      (b) => b.textContent === 'Add rule',
    );
    add?.focus();
  }, 0);
}
