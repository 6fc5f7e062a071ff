// The event table: only the rows in view (plus a few) are in the DOM, so a
// session of a million events scrolls like one of a hundred. Rows come in
// pages from the core as they scroll into view.
import { useEffect, useRef, useState, type KeyboardEvent } from 'react';

import type { EventRow, EventSort, EventSortColumn } from '../../../main/common/ipc-contract.js';
import { EVENT_PAGE_SIZE } from '../store/session-view-slice.js';
import { useApp } from '../store/store-context.js';
import { TABLE_COLUMNS, type TableColumnId } from '../store/table-prefs-slice.js';
import { Empty, ErrorState, Loading } from './states.js';
import { formatOffsetSeconds } from './time-format.js';

export const ROW_HEIGHT_PX = 24;
/** Rows rendered above and below the visible ones. */
const OVERSCAN_ROWS = 10;

export function EventTable() {
  const matching = useApp((s) => s.matchingEvents);
  const pages = useApp((s) => s.pages);
  const error = useApp((s) => s.eventsError);
  const ensureRows = useApp((s) => s.ensureRows);
  const selected = useApp((s) => s.selectedEvent);
  const select = useApp((s) => s.selectEvent);
  const selectedPosition = useApp((s) => s.selectedPosition);
  const moveSelection = useApp((s) => s.moveSelection);
  const filter = useApp((s) => s.filter);
  const setFilter = useApp((s) => s.setFilter);
  const columns = useApp((s) => s.columns);
  const sort = useApp((s) => s.sort);
  const setSort = useApp((s) => s.setSort);

  const scroller = useRef<HTMLDivElement>(null);
  const [scrollTop, setScrollTop] = useState(0);
  const [viewHeight, setViewHeight] = useState(600);

  useEffect(() => {
    const el = scroller.current;
    if (el === null) return;
    const observer = new ResizeObserver(() => setViewHeight(el.clientHeight));
    observer.observe(el);
    setViewHeight(el.clientHeight);
    return () => observer.disconnect();
  }, [matching === null]);

  // A new filter or order starts at the top.
  useEffect(() => {
    scroller.current?.scrollTo({ top: 0 });
    setScrollTop(0);
  }, [filter, sort]);

  // Keep the keyboard-selected row in view.
  useEffect(() => {
    const el = scroller.current;
    if (el === null || selectedPosition === null) return;
    const top = selectedPosition * ROW_HEIGHT_PX;
    if (top < el.scrollTop) el.scrollTop = top;
    else if (top + ROW_HEIGHT_PX > el.scrollTop + el.clientHeight) {
      el.scrollTop = top + ROW_HEIGHT_PX - el.clientHeight;
    }
  }, [selectedPosition]);

  const onKeyDown = (e: KeyboardEvent<HTMLDivElement>) => {
    const page = Math.max(1, Math.floor(viewHeight / ROW_HEIGHT_PX) - 1);
    const moves: Record<string, number> = {
      ArrowDown: 1,
      ArrowUp: -1,
      PageDown: page,
      PageUp: -page,
      Home: -Infinity,
      End: Infinity,
    };
    const delta = moves[e.key];
    if (delta === undefined) {
      if (e.key === 'Escape') select(null);
      return;
    }
    e.preventDefault();
    const count = matching ?? 0;
    void moveSelection(delta === Infinity ? count : delta === -Infinity ? -count : delta);
  };

  const count = matching ?? 0;
  const first = Math.max(0, Math.floor(scrollTop / ROW_HEIGHT_PX) - OVERSCAN_ROWS);
  const last = Math.min(
    count - 1,
    Math.ceil((scrollTop + viewHeight) / ROW_HEIGHT_PX) + OVERSCAN_ROWS,
  );

  useEffect(() => {
    if (count > 0) void ensureRows(first, last);
  }, [first, last, count, pages, ensureRows]);

  if (error !== null && matching === null) {
    return (
      <ErrorState
        title="Could not read events"
        message={error}
        onRetry={() => void setFilter(filter)}
      />
    );
  }
  if (matching === null) return <Loading what="events" />;

  const rows = [];
  for (let i = first; i <= last; i++) {
    const row = pages[Math.floor(i / EVENT_PAGE_SIZE)]?.[i % EVENT_PAGE_SIZE];
    rows.push(
      row === undefined ? (
        <div key={i} className="ev-row ev-pending" style={{ top: i * ROW_HEIGHT_PX }} role="row">
          <span className="ev-cell">…</span>
        </div>
      ) : (
        <EventLine
          key={i}
          position={i}
          row={row}
          columns={columns}
          selected={selected?.index === row.index}
          onSelect={() => select(row, i)}
        />
      ),
    );
  }

  return (
    <div className="event-table" role="grid" aria-label="Events" aria-rowcount={count}>
      <div className="ev-row ev-header" role="row">
        {columns.map((id) => (
          <ColumnHeader key={id} id={id} sort={sort} onSort={(next) => void setSort(next)} />
        ))}
      </div>
      {error !== null && (
        <div className="inline-error" role="alert">
          {error}
        </div>
      )}
      <div
        className="ev-scroll"
        ref={scroller}
        onScroll={(e) => setScrollTop(e.currentTarget.scrollTop)}
        onKeyDown={onKeyDown}
        tabIndex={0}
        aria-label="Event rows: arrow keys, Page Up/Down, Home and End move the selection"
      >
        {count === 0 ? (
          <Empty title="No events match">
            {Object.keys(filter).length > 0
              ? 'Change or clear the filter.'
              : 'Nothing was recorded yet.'}
          </Empty>
        ) : (
          <div className="ev-space" style={{ height: count * ROW_HEIGHT_PX }}>
            {rows}
          </div>
        )}
      </div>
    </div>
  );
}

/** The columns that sort, and the table order each means. */
const SORTS: Partial<Record<TableColumnId, EventSortColumn>> = {
  time: 'time',
  procTime: 'time',
  pid: 'pid',
  tid: 'tid',
  event: 'event',
  category: 'category',
  decision: 'decision',
};

function ColumnHeader({
  id,
  sort,
  onSort,
}: {
  id: TableColumnId;
  sort: EventSort | null;
  onSort: (sort: EventSort | null) => void;
}) {
  const info = TABLE_COLUMNS.find((c) => c.id === id);
  const column = SORTS[id];
  const label = info?.label ?? id;
  if (column === undefined) {
    return (
      <span className={`ev-cell ev-${id}`} role="columnheader" title={info?.title}>
        {label}
      </span>
    );
  }
  const active = sort?.column === column;
  // Ascending, then descending, then back to file order.
  const next: EventSort | null = !active
    ? { column, descending: false }
    : !sort.descending
      ? { column, descending: true }
      : null;
  return (
    <span
      className={`ev-cell ev-${id}`}
      role="columnheader"
      aria-sort={active ? (sort.descending ? 'descending' : 'ascending') : 'none'}
    >
      <button
        type="button"
        className="sort"
        title={`${info?.title ?? label}: sort`}
        onClick={() => onSort(next)}
      >
        {label}
        {active ? (sort.descending ? ' ▼' : ' ▲') : ''}
      </button>
    </span>
  );
}

function cellText(row: EventRow, id: TableColumnId): string {
  switch (id) {
    case 'time':
      return formatOffsetSeconds(row.offsetNs);
    case 'procTime':
      return row.sinceStartMs.toFixed(3);
    case 'pid':
      return String(row.pid);
    case 'tid':
      return String(row.tid);
    case 'seq':
      return String(row.seq);
    case 'event':
      return row.event;
    case 'category':
      return row.category;
    case 'decision':
      return row.decision === null
        ? ''
        : `${row.decision.outcome}${row.decision.asked ? ' (asked)' : ''}`;
    case 'args':
      return row.argsSummary;
  }
}

const NUMERIC = new Set<TableColumnId>(['time', 'procTime', 'pid', 'tid', 'seq']);

function EventLine({
  row,
  columns,
  position,
  selected,
  onSelect,
}: {
  row: EventRow;
  columns: TableColumnId[];
  position: number;
  selected: boolean;
  onSelect: () => void;
}) {
  const classes = ['ev-row'];
  if (selected) classes.push('ev-selected');
  if (row.highlighted) classes.push('ev-highlighted');
  if (row.decision?.outcome === 'denied') classes.push('ev-denied');
  return (
    <div
      className={classes.join(' ')}
      style={{ top: position * ROW_HEIGHT_PX }}
      role="row"
      aria-rowindex={position + 1}
      aria-selected={selected}
      data-event={row.event}
      data-highlighted={row.highlighted || undefined}
      onClick={onSelect}
    >
      {columns.map((id) => {
        const text = cellText(row, id);
        let className = `ev-cell ev-${id}`;
        if (NUMERIC.has(id)) className += ' num';
        if (id === 'category') className += ` cat-${row.category}`;
        if (id === 'decision' && row.decision !== null) className += ` dec-${row.decision.outcome}`;
        return (
          <span key={id} className={className} title={id === 'args' ? text : undefined}>
            {text}
          </span>
        );
      })}
    </div>
  );
}
