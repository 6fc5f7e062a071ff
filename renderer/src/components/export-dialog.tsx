// The export dialog: a report of the open session (or of the events the
// table's filter lets through) in one of the report formats, written in the
// background with its progress shown; cancellable; nothing is left behind
// when it fails or is cancelled.
import { useEffect, useRef, useState, type FormEvent } from 'react';

import { EXPORT_FORMATS, type ExportFormat } from '../../../main/common/ipc-contract.js';
import { EXPORT_FORMAT_INFO } from '../store/export-slice.js';
import { useApp } from '../store/store-context.js';

/** The report's default name: beside the session, named after it. */
export function defaultExportPath(sessionPath: string, format: ExportFormat): string {
  const base = sessionPath.replace(/\.hks$/, '');
  return `${base}.${EXPORT_FORMAT_INFO[format].extension}`;
}

function megabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(bytes < 1e6 ? 2 : 1)} MB`;
}

export function ExportDialog({ onClose }: { onClose: () => void }) {
  const sessionPath = useApp((s) => s.sessionPath);
  const filter = useApp((s) => s.filter);
  const job = useApp((s) => s.exportJob);
  const error = useApp((s) => s.exportError);
  const start = useApp((s) => s.startExport);
  const cancel = useApp((s) => s.cancelExport);
  const reset = useApp((s) => s.resetExport);
  const nativeDialogs = useApp((s) => s.nativeDialogs);
  const chooseSaveFile = useApp((s) => s.chooseSaveFile);
  const [format, setFormat] = useState<ExportFormat>('html');
  const [scope, setScope] = useState<'session' | 'filter'>('session');
  const [out, setOut] = useState(
    sessionPath === null ? '' : defaultExportPath(sessionPath, 'html'),
  );
  const [outEdited, setOutEdited] = useState(false);
  const [problem, setProblem] = useState<string | null>(null);
  const first = useRef<HTMLSelectElement>(null);

  useEffect(() => {
    first.current?.focus();
    // A finished export from an earlier opening is not shown again.
    if (job !== null && job.state !== 'running') reset();
  }, []);

  const running = job?.state === 'running';
  const filtered = Object.keys(filter).length > 0;
  const filterNote = !filtered
    ? 'The table shows every event: nothing to narrow'
    : format === 'html'
      ? 'The HTML report always covers the whole session'
      : null;
  const close = () => {
    if (running) return;
    reset();
    onClose();
  };

  if (sessionPath === null) return null;

  const chooseFormat = (next: ExportFormat) => {
    setFormat(next);
    // Follow the format with the name, unless the user typed their own.
    if (!outEdited) setOut(defaultExportPath(sessionPath, next));
  };

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const target = out.trim();
    if (!target.startsWith('/')) {
      setProblem('Give the full path of the report, starting with /');
      return;
    }
    setProblem(null);
    void start({
      path: sessionPath,
      format,
      out: target,
      ...(scope === 'filter' && filterNote === null ? { filter } : {}),
    });
  };

  const percent =
    job === null || job.totalBytes === 0 ? 0 : Math.round((job.readBytes / job.totalBytes) * 100);

  return (
    <div
      className="modal-backdrop"
      onKeyDown={(e) => {
        if (e.key === 'Escape') close();
      }}
    >
      <div className="modal" role="dialog" aria-modal="true" aria-labelledby="export-title">
        <h2 id="export-title">Export a report</h2>
        <form onSubmit={submit} aria-label="Export">
          <label>
            Format
            <select
              ref={first}
              value={format}
              disabled={running}
              onChange={(e) => chooseFormat(e.target.value as ExportFormat)}
            >
              {EXPORT_FORMATS.map((f) => (
                <option key={f} value={f}>
                  {EXPORT_FORMAT_INFO[f].label}
                </option>
              ))}
            </select>
          </label>
          <p className="hint">{EXPORT_FORMAT_INFO[format].about}</p>
          <fieldset disabled={running}>
            <legend>Events</legend>
            <label>
              <input
                type="radio"
                name="scope"
                checked={scope === 'session'}
                onChange={() => setScope('session')}
              />{' '}
              the whole session
            </label>
            <label title={filterNote ?? undefined}>
              <input
                type="radio"
                name="scope"
                checked={scope === 'filter' && filterNote === null}
                disabled={filterNote !== null}
                onChange={() => setScope('filter')}
              />{' '}
              the events the table's filter shows
            </label>
            {filterNote !== null && filtered && <p className="hint">{filterNote}</p>}
          </fieldset>
          <label>
            Save as
            <span className="path-row">
              <input
                name="out"
                aria-label="Save as"
                className="mono"
                value={out}
                disabled={running}
                onChange={(e) => {
                  setOut(e.target.value);
                  setOutEdited(true);
                }}
              />
              {nativeDialogs && (
                <button
                  type="button"
                  disabled={running}
                  onClick={() =>
                    void chooseSaveFile(out.slice(out.lastIndexOf('/') + 1)).then((chosen) => {
                      if (chosen !== null) {
                        setOut(chosen);
                        setOutEdited(true);
                      }
                    })
                  }
                >
                  Browse…
                </button>
              )}
            </span>
          </label>
          {(problem ?? error) && (
            <p className="inline-error" role="alert">
              {problem ?? error}
            </p>
          )}
          {job !== null && (
            <div className="export-status" data-testid="export-status" aria-live="polite">
              {job.state === 'running' && (
                <>
                  <progress max={100} value={percent} aria-label="Export progress" /> {percent}% of{' '}
                  {megabytes(job.totalBytes)} read
                </>
              )}
              {job.state === 'done' && (
                <span className="ok">
                  Saved {megabytes(job.outBytes ?? 0)} to <code>{job.out}</code>
                </span>
              )}
              {job.state === 'failed' && (
                <span className="inline-error" role="alert">
                  Export failed: {job.error}
                </span>
              )}
              {job.state === 'cancelled' && <span>Cancelled: nothing was written.</span>}
            </div>
          )}
          <div className="modal-actions">
            {running ? (
              <button type="button" onClick={() => void cancel()}>
                Cancel export
              </button>
            ) : (
              <button type="submit" className="primary">
                {job?.state === 'done' ? 'Export again' : 'Export'}
              </button>
            )}
            <button type="button" onClick={close} disabled={running}>
              Close
            </button>
          </div>
        </form>
      </div>
    </div>
  );
}
