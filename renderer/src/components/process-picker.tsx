// The process picker: what runs here, which of it is CPython, and whether
// Hookscope could attach (with the reason and the fix when not); and the
// Launch form, which starts a command with the agent preloaded.
import { useEffect, useMemo, useRef, type FormEvent } from 'react';

import type { ProcessRow } from '../../../main/common/ipc-contract.js';
import { visibleProcesses } from '../store/processes-slice.js';
import { useApp } from '../store/store-context.js';
import { BrowseButton } from './desktop-shell.js';
import { Empty, ErrorState, Loading } from './states.js';

export function ProcessPicker() {
  return (
    <div className="picker">
      <LaunchForm />
      <ProcessList />
    </div>
  );
}

function ProcessList() {
  const processes = useApp((s) => s.processes);
  const status = useApp((s) => s.processesStatus);
  const error = useApp((s) => s.processesError);
  const search = useApp((s) => s.processSearch);
  const pythonOnly = useApp((s) => s.pythonOnly);
  const load = useApp((s) => s.loadProcesses);
  const setSearch = useApp((s) => s.setProcessSearch);
  const setPythonOnly = useApp((s) => s.setPythonOnly);

  useEffect(() => {
    void load();
  }, [load]);
  const rows = useMemo(
    () => visibleProcesses(processes, search, pythonOnly),
    [processes, search, pythonOnly],
  );

  return (
    <section className="panel" aria-labelledby="processes-title">
      <div className="panel-head">
        <h2 id="processes-title">Processes</h2>
        <input
          type="search"
          placeholder="Search pid, user, command…"
          aria-label="Search processes"
          value={search}
          onChange={(e) => setSearch(e.target.value)}
        />
        <label className="check">
          <input
            type="checkbox"
            checked={pythonOnly}
            onChange={(e) => setPythonOnly(e.target.checked)}
          />{' '}
          CPython only
        </label>
        <button type="button" onClick={() => void load()} disabled={status === 'loading'}>
          Refresh
        </button>
      </div>
      {status === 'error' && error !== null ? (
        <ErrorState title="Could not list processes" message={error} onRetry={() => void load()} />
      ) : status !== 'ready' && processes.length === 0 ? (
        <Loading what="processes" />
      ) : rows.length === 0 ? (
        <Empty title={search ? `No process matches “${search}”` : 'No CPython process is running'}>
          {pythonOnly
            ? 'Untick “CPython only” to see every process, or launch a command above.'
            : null}
        </Empty>
      ) : (
        <div className="table-scroll">
          <table className="grid" aria-label="Processes">
            <thead>
              <tr>
                <th>PID</th>
                <th>User</th>
                <th>Command</th>
                <th>CPython</th>
                <th>Agent</th>
                <th>Attachable</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((p) => (
                <ProcessLine key={p.pid} process={p} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

function ProcessLine({ process: p }: { process: ProcessRow }) {
  const attach = useApp((s) => s.attach);
  const attaching = useApp((s) => s.attaching);
  const error = useApp((s) => s.attachErrors[p.pid]);
  const command = p.cmdline.length ? p.cmdline.join(' ') : (p.exe ?? '?');
  return (
    <tr data-pid={p.pid}>
      <td className="num">{p.pid}</td>
      <td>{p.user}</td>
      <td className="cmd" title={command}>
        {command}
      </td>
      <td>
        {p.python ? `${p.python.version}${p.python.freeThreaded ? ' (free-threaded)' : ''}` : '—'}
      </td>
      <td>{p.agentLoaded ? 'loaded' : '—'}</td>
      <td>
        {p.attach.ok ? (
          <>
            <span className="badge badge-ok">yes, via {p.attach.method}</span>{' '}
            <button
              type="button"
              disabled={attaching !== null}
              aria-label={`Attach to ${p.pid}`}
              onClick={() => void attach(p.pid)}
            >
              {attaching === p.pid ? 'Attaching…' : 'Attach'}
            </button>
            {error !== undefined && (
              <div className="inline-error" role="alert">
                {error}
              </div>
            )}
          </>
        ) : (
          <ul className="reasons">
            {p.attach.reasons.map((r) => (
              <li key={r.code}>
                <span className="badge badge-no">no</span> {r.message}{' '}
                <span className="fix">Fix: {r.fix}</span>
              </li>
            ))}
          </ul>
        )}
      </td>
    </tr>
  );
}

function LaunchForm() {
  const form = useApp((s) => s.launchForm);
  const launching = useApp((s) => s.launching);
  const error = useApp((s) => s.launchError);
  const setForm = useApp((s) => s.setLaunchForm);
  const launch = useApp((s) => s.launch);
  // File → Launch… (desktop menu) puts the cursor in the command field.
  const focusRequest = useApp((s) => s.launchFocusRequest);
  const commandField = useRef<HTMLInputElement>(null);
  useEffect(() => {
    if (focusRequest > 0) commandField.current?.focus();
  }, [focusRequest]);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    void launch();
  };
  return (
    <section className="panel" aria-labelledby="launch-title">
      <div className="panel-head">
        <h2 id="launch-title">Launch</h2>
        <span className="hint">
          Runs a command with the agent preloaded; every Python process it starts is recorded.
        </span>
      </div>
      <form className="launch" onSubmit={submit}>
        <label>
          Command
          <input
            ref={commandField}
            name="command"
            placeholder="python3"
            value={form.command}
            onChange={(e) => setForm({ command: e.target.value })}
            required
          />
        </label>
        <label>
          Arguments, one per line
          <textarea
            name="args"
            rows={3}
            placeholder={'-m\nhttp.server'}
            value={form.args}
            onChange={(e) => setForm({ args: e.target.value })}
          />
        </label>
        <label>
          Working directory
          <input
            name="cwd"
            placeholder="(the server's working directory)"
            value={form.cwd}
            onChange={(e) => setForm({ cwd: e.target.value })}
          />
        </label>
        <label>
          Policy file (optional, for Launch and Attach)
          <span className="path-field">
            <input
              name="policyPath"
              placeholder="/path/to/policy.json — its ask rules wait for you here"
              value={form.policyPath}
              onChange={(e) => setForm({ policyPath: e.target.value })}
            />
            <BrowseButton
              purpose="policy"
              label="Browse for a policy file"
              onChosen={(path) => setForm({ policyPath: path })}
            />
          </span>
        </label>
        <div className="launch-actions">
          <button type="submit" className="primary" disabled={launching}>
            {launching ? 'Starting…' : 'Launch and record'}
          </button>
          {error !== null && (
            <span className="inline-error" role="alert">
              {error}
            </span>
          )}
        </div>
      </form>
    </section>
  );
}
