// Everything recorded about one event: all arguments, for code opened for
// execution the file identity the agent derived from the descriptor, and
// the policy's decision with the stack of the thread it stopped.
import { categoryLabel } from '../../../main/common/event-taxonomy.js';
import type { ArgValue } from '../../../main/common/ipc-contract.js';
import { useApp } from '../store/store-context.js';
import { StackFrames } from './stack-frames.js';
import { Empty } from './states.js';
import { formatOffsetSeconds } from './time-format.js';

export function EventDetail() {
  const row = useApp((s) => s.selectedEvent);
  const select = useApp((s) => s.selectEvent);
  if (row === null) {
    return (
      <aside className="panel detail" aria-label="Event detail">
        <Empty title="No event selected">Click a row to see all of its arguments.</Empty>
      </aside>
    );
  }
  const id = row.fileIdentity;
  return (
    <aside className="panel detail" aria-label="Event detail">
      <div className="panel-head">
        <h3>{row.event}</h3>
        <button type="button" onClick={() => select(null)} aria-label="Close detail">
          Close
        </button>
      </div>
      <dl className="facts">
        <dt>Category</dt>
        <dd>{categoryLabel(row.category)}</dd>
        <dt>Process / thread</dt>
        <dd>
          {row.pid} / {row.tid}
        </dd>
        <dt>Time</dt>
        <dd>
          {formatOffsetSeconds(row.offsetNs)} s into the session; +{row.sinceStartMs.toFixed(3)} ms
          into the process (monotonic {row.timeNs} ns)
        </dd>
        <dt>Sequence</dt>
        <dd>{row.seq}</dd>
      </dl>
      {row.decision !== null && (
        <>
          <h4>Decision</h4>
          <dl className="facts" data-testid="decision">
            <dt>Outcome</dt>
            <dd className={`dec-${row.decision.outcome}`}>
              {row.decision.outcome}
              {row.decision.asked ? ' (asked)' : ''}
            </dd>
            {row.decision.detail !== null && (
              <>
                <dt>Decided by</dt>
                <dd>
                  {row.decision.detail.by}
                  {row.decision.detail.ruleIndex !== null
                    ? `, rule ${row.decision.detail.ruleIndex}`
                    : ', the default'}
                </dd>
                <dt>Waited</dt>
                <dd>{(Number(row.decision.detail.waitedNs) / 1e6).toFixed(3)} ms</dd>
                {row.decision.detail.module !== null && (
                  <>
                    <dt>From</dt>
                    <dd className="mono">{row.decision.detail.module}</dd>
                  </>
                )}
              </>
            )}
          </dl>
          {row.decision.detail?.stack && row.decision.detail.stack.length > 0 && (
            <StackFrames stack={row.decision.detail.stack} open />
          )}
        </>
      )}
      {id !== null && (
        <>
          <h4>File identity</h4>
          <dl className="facts" data-testid="file-identity">
            <dt>Intent</dt>
            <dd>{id.intent}</dd>
            <dt>Path</dt>
            <dd className="mono">{id.path}</dd>
            <dt>Real path</dt>
            <dd className="mono">{id.realPath || '—'}</dd>
            <dt>Size</dt>
            <dd>{id.sizeBytes.toLocaleString()} bytes</dd>
            <dt>SHA-256</dt>
            <dd className="mono">{id.sha256 ?? '—'}</dd>
            {id.error && (
              <>
                <dt>Error</dt>
                <dd className="warn">{id.error.message}</dd>
              </>
            )}
          </dl>
        </>
      )}
      <h4>Arguments{row.argsTruncated ? ' (cut short by the agent)' : ''}</h4>
      {row.args.length === 0 ? (
        <p className="hint">No arguments.</p>
      ) : (
        <ol className="args" start={0}>
          {row.args.map((arg, i) => (
            <li key={i}>
              <pre>{renderArg(arg)}</pre>
            </li>
          ))}
        </ol>
      )}
    </aside>
  );
}

function renderArg(arg: ArgValue): string {
  return typeof arg === 'string' ? arg : JSON.stringify(arg, null, 2);
}
