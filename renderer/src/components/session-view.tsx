// One session: its processes as a tree, the filter bar, the timeline, the
// virtualised event table and the detail of the selected event. A session being
// recorded by a run started here is followed live.
import { useEffect, useState } from 'react';

import type { SessionOverview, SessionProcessRow } from '../../../main/common/ipc-contract.js';
import { INDEXING_POLL_MS } from '../store/session-view-slice.js';
import { useApp } from '../store/store-context.js';
import { EventDetail } from './event-detail.js';
import { EventTable } from './event-table.js';
import { ExportDialog } from './export-dialog.js';
import { FilterBar } from './filter-bar.js';
import { Empty, ErrorState, Loading } from './states.js';
import { Timeline } from './timeline.js';

export function SessionView() {
  const path = useApp((s) => s.sessionPath);
  const overview = useApp((s) => s.overview);
  const status = useApp((s) => s.overviewStatus);
  const error = useApp((s) => s.overviewError);
  const progress = useApp((s) => s.openProgress);
  const open = useApp((s) => s.openSession);
  const run = useApp((s) => s.run);
  const watchLive = useApp((s) => s.watchLiveSession);
  const live = run !== null && run.state === 'running';

  // Follow a live run: the change feed says when its file grew.
  useEffect(() => (live ? watchLive() : undefined), [live, path, watchLive]);
  // A large file shows its first part at once; the rest comes while it is read.
  const indexing = overview?.indexing ?? null;
  const pollLive = useApp((s) => s.pollLive);
  useEffect(() => {
    if (indexing === null || live) return;
    const timer = window.setInterval(() => void pollLive(), INDEXING_POLL_MS);
    return () => window.clearInterval(timer);
  }, [indexing === null, live, pollLive]);

  if (path === null) {
    return <Empty title="No session open">Open a saved session or launch a command.</Empty>;
  }
  if (status === 'error' && error !== null) {
    return (
      <ErrorState
        title={`Could not open ${path}`}
        message={error}
        onRetry={() => void open(path)}
      />
    );
  }
  if (overview === null) {
    if (progress === null || progress.totalBytes === 0) return <Loading what="the session" />;
    const percent = Math.min(100, Math.round((progress.readBytes / progress.totalBytes) * 100));
    return (
      <div className="state state-loading" role="status">
        <span className="spinner" aria-hidden="true" /> Reading the session:{' '}
        <progress max={100} value={percent} aria-label="Reading the session" /> {percent}% of{' '}
        {(progress.totalBytes / 1e6).toFixed(1)} MB
      </div>
    );
  }
  return (
    <div className="session">
      <SessionHeader overview={overview} />
      <div className="session-body">
        <ProcessTree processes={overview.processes} />
        <div className="session-events">
          <FilterBar />
          <Timeline />
          <EventTable />
        </div>
        <EventDetail />
      </div>
    </div>
  );
}

function SessionHeader({ overview }: { overview: SessionOverview }) {
  const run = useApp((s) => s.run);
  const detach = useApp((s) => s.detach);
  const [detaching, setDetaching] = useState(false);
  const exporting = useApp((s) => s.exportDialogOpen);
  const openExport = useApp((s) => s.openExportDialog);
  const closeExport = useApp((s) => s.closeExportDialog);
  const state =
    run?.state === 'running'
      ? 'live'
      : run?.state === 'detached'
        ? 'detached'
        : overview.indexing !== null
          ? 'reading…'
          : overview.endedAtMs !== null
            ? overview.signal
              ? `ended by ${overview.signal}`
              : `ended with code ${overview.exitCode ?? '?'}`
            : run?.state === 'failed'
              ? `failed: ${run.error ?? ''}`
              : 'incomplete';
  return (
    <div className="session-head">
      <div>
        <span
          className={`badge ${state === 'live' ? 'badge-live' : ''}`}
          data-testid="session-state"
        >
          {state}
        </span>{' '}
        <code className="cmd">{overview.command ? overview.command.join(' ') : overview.path}</code>
        {run?.mode === 'attach' && run.state === 'running' && (
          <button
            type="button"
            disabled={detaching}
            title="Stop recording; the process runs on with the agent in pass-through"
            onClick={() => {
              setDetaching(true);
              void detach().finally(() => setDetaching(false));
            }}
          >
            {detaching ? 'Detaching…' : 'Detach'}
          </button>
        )}
        <button
          type="button"
          title="Write a report of this session: HTML, JSON, CSV, Perfetto, SARIF or a policy"
          onClick={openExport}
        >
          Export…
        </button>
        {exporting && <ExportDialog onClose={closeExport} />}
      </div>
      {overview.attach !== null && (
        <div className="hint" data-testid="attach-note">
          Attached via {overview.attach.method} in {Math.round(overview.attach.attachWallMs)} ms
          (longest pause {overview.attach.longestPauseMs} ms
          {overview.attach.reattached ? ', agent re-armed' : ''}) at{' '}
          {new Date(overview.attach.hooksActiveAtMs).toLocaleTimeString()}: nothing the process did
          before that was seen.
        </div>
      )}
      {overview.policy !== null && (
        <div className="hint">
          Policy {overview.policy.file}
          {overview.policy.askAnswer === 'interactive'
            ? ': its ask rules wait for your answer here'
            : `: ask rules answered ${overview.policy.askAnswer}`}
        </div>
      )}
      <div className="stats">
        {overview.indexing !== null && (
          <span className="warn" data-testid="indexing" role="status">
            reading the file:{' '}
            {Math.round(
              (overview.indexing.readBytes / Math.max(1, overview.indexing.totalBytes)) * 100,
            )}
            % of {(overview.indexing.totalBytes / 1e6).toFixed(1)} MB
          </span>
        )}
        <span>{overview.totalEvents.toLocaleString()} events</span>
        <span>{overview.processes.length} processes</span>
        {overview.droppedTotal !== '0' && (
          <span className="warn">{overview.droppedTotal} dropped (agent buffer full)</span>
        )}
        {overview.truncated && run?.state !== 'running' && (
          <span className="warn" title={overview.truncated.reason}>
            damaged tail: {overview.truncated.bytesCut} bytes not readable
          </span>
        )}
      </div>
    </div>
  );
}

interface TreeNode {
  process: SessionProcessRow;
  children: TreeNode[];
}

function buildTree(processes: SessionProcessRow[]): TreeNode[] {
  const nodes = new Map(
    processes.map((p) => [p.session, { process: p, children: [] as TreeNode[] }]),
  );
  const roots: TreeNode[] = [];
  for (const node of nodes.values()) {
    const parent =
      node.process.parentSession === null ? undefined : nodes.get(node.process.parentSession);
    (parent ? parent.children : roots).push(node);
  }
  return roots;
}

function processState(p: SessionProcessRow): string {
  if (p.end === null) return 'running';
  if (p.end.reason === 'killed') return `killed${p.end.signal ? ` (${p.end.signal})` : ''}`;
  if (p.end.reason === 'disconnected') return 'disconnected';
  if (p.end.reason === 'detached') return 'detached (still running)';
  return `exited ${p.end.exitCode ?? ''}`.trim();
}

function ProcessTree({ processes }: { processes: SessionProcessRow[] }) {
  const filter = useApp((s) => s.filter);
  const setFilter = useApp((s) => s.setFilter);
  const roots = buildTree(processes);
  const renderNode = (node: TreeNode) => {
    const p = node.process;
    const selected = filter.pid === p.pid;
    return (
      <li key={p.session}>
        <button
          type="button"
          className={selected ? 'proc proc-selected' : 'proc'}
          title={`${p.argv.join(' ')}\n${p.pythonVersion}`}
          onClick={() => void setFilter({ ...filter, pid: selected ? undefined : p.pid })}
        >
          <span className="num">{p.pid}</span> <span className="cmd">{p.argv.join(' ')}</span>
          <span className="proc-meta">
            {processState(p)} · {p.events.toLocaleString()} events
            {p.dropped !== '0' ? ` · ${p.dropped} dropped` : ''}
          </span>
        </button>
        {node.children.length > 0 && <ul>{node.children.map(renderNode)}</ul>}
      </li>
    );
  };
  return (
    <aside className="panel proc-tree" aria-label="Processes of this session">
      <h3>Processes</h3>
      {processes.length === 0 ? (
        <Empty title="No Python process joined yet" />
      ) : (
        <ul>{roots.map(renderNode)}</ul>
      )}
    </aside>
  );
}
