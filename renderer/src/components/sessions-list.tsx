import { useEffect } from 'react';

import { useApp } from '../store/store-context.js';
import { BrowseButton } from './desktop-shell.js';
import { Empty, ErrorState, Loading } from './states.js';

export function SessionsList() {
  const files = useApp((s) => s.sessionFiles);
  const directory = useApp((s) => s.sessionDirectory);
  const status = useApp((s) => s.sessionsStatus);
  const error = useApp((s) => s.sessionsError);
  const load = useApp((s) => s.loadSessions);
  const open = useApp((s) => s.openSession);
  useEffect(() => {
    void load();
  }, [load]);
  return (
    <section className="panel" aria-labelledby="sessions-title">
      <div className="panel-head">
        <h2 id="sessions-title">Saved sessions</h2>
        {directory && <span className="hint">in {directory}</span>}
        <button type="button" onClick={() => void load()} disabled={status === 'loading'}>
          Refresh
        </button>
        <BrowseButton
          purpose="session"
          label="Open a session file"
          onChosen={(path) => void open(path)}
        >
          Open…
        </BrowseButton>
      </div>
      {status === 'error' && error !== null ? (
        <ErrorState title="Could not list sessions" message={error} onRetry={() => void load()} />
      ) : status !== 'ready' && files.length === 0 ? (
        <Loading what="sessions" />
      ) : files.length === 0 ? (
        <Empty title="No saved sessions yet">
          Launch a command from the Processes screen, or record one with{' '}
          <code>npx hookscope run -- python3 app.py</code>.
        </Empty>
      ) : (
        <div className="table-scroll">
          <table className="grid" aria-label="Sessions">
            <thead>
              <tr>
                <th>Session file</th>
                <th>Size</th>
                <th>Modified</th>
                <th />
              </tr>
            </thead>
            <tbody>
              {files.map((f) => (
                <tr key={f.path}>
                  <td className="cmd" title={f.path}>
                    {f.name}
                  </td>
                  <td className="num">{formatBytes(f.sizeBytes)}</td>
                  <td>{new Date(f.modifiedAtMs).toLocaleString()}</td>
                  <td>
                    <button type="button" onClick={() => void open(f.path)}>
                      Open
                    </button>
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(1)} MiB`;
}
