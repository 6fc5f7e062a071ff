// The event filter: what the table lists (event glob, process, thread,
// argument text, decision, categories, the time range brushed on the
// timeline), named filters kept between sessions, a highlight that marks
// rows without hiding the rest, and the columns shown.
import { useEffect, useState, type FormEvent } from 'react';

import { EVENT_CATEGORIES, type EventCategory } from '../../../main/common/event-taxonomy.js';
import {
  DECISION_FILTERS,
  type DecisionFilter,
  type EventFilter,
} from '../../../main/common/ipc-contract.js';
import { useApp } from '../store/store-context.js';
import { TABLE_COLUMNS } from '../store/table-prefs-slice.js';
import { formatNs } from './time-format.js';

const DECISION_LABELS: Record<DecisionFilter, string> = {
  any: 'any decision',
  none: 'no decision',
  allowed: 'allowed',
  denied: 'denied',
  asked: 'asked',
};

const NUMBER = /^[0-9]{1,10}$/;

export function FilterBar() {
  const filter = useApp((s) => s.filter);
  const setFilter = useApp((s) => s.setFilter);
  const matching = useApp((s) => s.matchingEvents);
  const total = useApp((s) => s.totalEvents);
  const [event, setEvent] = useState(filter.event ?? '');
  const [pid, setPid] = useState(filter.pid === undefined ? '' : String(filter.pid));
  const [tid, setTid] = useState(filter.tid === undefined ? '' : String(filter.tid));
  const [text, setText] = useState(filter.text ?? '');
  const [problem, setProblem] = useState<string | null>(null);

  // Keep the inputs in step when the filter changes elsewhere (process
  // tree, a saved filter, the timeline).
  useEffect(() => {
    setEvent(filter.event ?? '');
    setPid(filter.pid === undefined ? '' : String(filter.pid));
    setTid(filter.tid === undefined ? '' : String(filter.tid));
    setText(filter.text ?? '');
  }, [filter]);

  const apply = (e?: FormEvent) => {
    e?.preventDefault();
    const pidText = pid.trim();
    const tidText = tid.trim();
    if (pidText !== '' && !NUMBER.test(pidText)) {
      setProblem('PID must be a number');
      return;
    }
    if (tidText !== '' && (!NUMBER.test(tidText) || Number(tidText) >= 2 ** 32)) {
      setProblem('TID must be a number');
      return;
    }
    setProblem(null);
    const next: EventFilter = { ...filter };
    delete next.event;
    delete next.pid;
    delete next.tid;
    delete next.text;
    if (event.trim()) next.event = event.trim();
    if (pidText) next.pid = Number(pidText);
    if (tidText) next.tid = Number(tidText);
    if (text.trim()) next.text = text.trim();
    void setFilter(next);
  };
  const clear = () => {
    setProblem(null);
    void setFilter({});
  };
  const active = Object.keys(filter).length > 0;
  const typed = event !== '' || pid !== '' || tid !== '' || text !== '';

  return (
    <div className="filters">
      <form className="filter-bar" onSubmit={apply} aria-label="Filter events">
        <input
          name="event"
          aria-label="Event glob"
          placeholder="event glob, e.g. socket.* or {open,os.*}"
          value={event}
          onChange={(e) => setEvent(e.target.value)}
        />
        <input
          name="pid"
          aria-label="PID"
          placeholder="pid"
          className="narrow"
          value={pid}
          onChange={(e) => setPid(e.target.value)}
        />
        <input
          name="tid"
          aria-label="Thread id"
          placeholder="tid"
          className="narrow"
          value={tid}
          onChange={(e) => setTid(e.target.value)}
        />
        <input
          name="text"
          aria-label="Text in arguments"
          placeholder="text in arguments"
          value={text}
          onChange={(e) => setText(e.target.value)}
        />
        <select
          aria-label="Decision"
          value={filter.decision ?? ''}
          onChange={(e) => {
            const next = { ...filter };
            if (e.target.value === '') delete next.decision;
            else next.decision = e.target.value as DecisionFilter;
            void setFilter(next);
          }}
        >
          <option value="">all events</option>
          {DECISION_FILTERS.map((d) => (
            <option key={d} value={d}>
              {DECISION_LABELS[d]}
            </option>
          ))}
        </select>
        <button type="submit" className="primary">
          Filter
        </button>
        <button type="button" onClick={clear} disabled={!active && !typed}>
          Clear
        </button>
        <span className="count" data-testid="event-count">
          {matching === null
            ? '…'
            : active
              ? `${matching.toLocaleString()} of ${total.toLocaleString()} events`
              : `${total.toLocaleString()} events`}
        </span>
        {problem && (
          <span className="inline-error" role="alert">
            {problem}
          </span>
        )}
      </form>
      <div className="filter-extra">
        <CategoryPicker />
        <TimeRangeChip />
        <SavedFilters />
        <HighlightInput />
        <ColumnPicker />
      </div>
    </div>
  );
}

function CategoryPicker() {
  const filter = useApp((s) => s.filter);
  const setFilter = useApp((s) => s.setFilter);
  const chosen = new Set<EventCategory>(filter.categories ?? []);
  const toggle = (id: EventCategory) => {
    const next = new Set(chosen);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    const rest = { ...filter };
    delete rest.categories;
    // Keep the display order, whatever order they were ticked in.
    const categories = EVENT_CATEGORIES.map((c) => c.id).filter((c) => next.has(c));
    void setFilter(categories.length > 0 ? { ...rest, categories } : rest);
  };
  return (
    <details>
      <summary>Categories{chosen.size > 0 ? ` (${chosen.size})` : ': all'}</summary>
      <div role="group" aria-label="Categories">
        {EVENT_CATEGORIES.map((c) => (
          <label key={c.id} title={c.description}>
            <input type="checkbox" checked={chosen.has(c.id)} onChange={() => toggle(c.id)} />{' '}
            <span className={`cat-${c.id}`}>{c.label}</span>
          </label>
        ))}
      </div>
    </details>
  );
}

function TimeRangeChip() {
  const filter = useApp((s) => s.filter);
  const brush = useApp((s) => s.brushTimeline);
  if (filter.fromNs === undefined && filter.toNs === undefined) return null;
  const from = filter.fromNs ?? 0;
  const to = filter.toNs ?? from;
  const precision = Math.max(1, to - from) / 100;
  return (
    <span className="filter-chip" data-testid="time-filter">
      time {formatNs(from, precision)} – {formatNs(to, precision)}{' '}
      <button type="button" aria-label="Clear the time range" onClick={() => void brush(null)}>
        ×
      </button>
    </span>
  );
}

function SavedFilters() {
  const saved = useApp((s) => s.savedFilters);
  const filter = useApp((s) => s.filter);
  const save = useApp((s) => s.saveFilter);
  const remove = useApp((s) => s.deleteSavedFilter);
  const applySaved = useApp((s) => s.applySavedFilter);
  const [choice, setChoice] = useState('');
  const [naming, setNaming] = useState(false);
  const [name, setName] = useState('');
  const [problem, setProblem] = useState<string | null>(null);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const failure = save(name);
    setProblem(failure);
    if (failure === null) {
      setChoice(name.trim());
      setNaming(false);
      setName('');
    }
  };

  return (
    <span className="saved-filters">
      <select
        aria-label="Saved filters"
        value={saved.some((f) => f.name === choice) ? choice : ''}
        onChange={(e) => {
          setChoice(e.target.value);
          if (e.target.value !== '') void applySaved(e.target.value);
        }}
      >
        <option value="">{saved.length === 0 ? 'no saved filters' : 'saved filters…'}</option>
        {saved.map((f) => (
          <option key={f.name} value={f.name}>
            {f.name}
          </option>
        ))}
      </select>
      {choice !== '' && saved.some((f) => f.name === choice) && (
        <button
          type="button"
          onClick={() => {
            remove(choice);
            setChoice('');
          }}
        >
          Delete “{choice}”
        </button>
      )}
      {naming ? (
        <form onSubmit={submit} className="inline-form" aria-label="Save the filter">
          <input
            aria-label="Filter name"
            placeholder="name"
            value={name}
            autoFocus
            onChange={(e) => setName(e.target.value)}
          />
          <button type="submit">Save</button>
          <button
            type="button"
            onClick={() => {
              setNaming(false);
              setProblem(null);
            }}
          >
            Cancel
          </button>
        </form>
      ) : (
        <button
          type="button"
          disabled={Object.keys(filter).length === 0}
          title="Keep this filter under a name"
          onClick={() => setNaming(true)}
        >
          Save filter…
        </button>
      )}
      {problem && (
        <span className="inline-error" role="alert">
          {problem}
        </span>
      )}
    </span>
  );
}

function HighlightInput() {
  const highlight = useApp((s) => s.highlight);
  const setHighlight = useApp((s) => s.setHighlight);
  const [kind, setKind] = useState<'text' | 'event'>('text');
  const [value, setValue] = useState('');
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const v = value.trim();
    void setHighlight(v === '' ? null : kind === 'text' ? { text: v } : { event: v });
  };
  return (
    <form className="inline-form" onSubmit={submit} aria-label="Highlight events">
      <select
        aria-label="Highlight by"
        value={kind}
        onChange={(e) => setKind(e.target.value as 'text' | 'event')}
      >
        <option value="text">highlight text</option>
        <option value="event">highlight events</option>
      </select>
      <input
        aria-label="Highlight"
        placeholder={kind === 'text' ? 'text to mark' : 'event glob to mark'}
        value={value}
        onChange={(e) => setValue(e.target.value)}
      />
      <button type="submit">Mark</button>
      {highlight !== null && (
        <button
          type="button"
          onClick={() => {
            setValue('');
            void setHighlight(null);
          }}
        >
          Unmark
        </button>
      )}
    </form>
  );
}

function ColumnPicker() {
  const columns = useApp((s) => s.columns);
  const toggle = useApp((s) => s.toggleColumn);
  const reset = useApp((s) => s.resetColumns);
  return (
    <details>
      <summary>Columns</summary>
      <div role="group" aria-label="Columns">
        {TABLE_COLUMNS.map((c) => (
          <label key={c.id} title={c.title}>
            <input
              type="checkbox"
              checked={columns.includes(c.id)}
              // The last column stays: a table of no columns shows nothing.
              disabled={columns.length === 1 && columns.includes(c.id)}
              onChange={() => toggle(c.id)}
            />{' '}
            {c.label}
          </label>
        ))}
        <button type="button" onClick={reset}>
          Default columns
        </button>
      </div>
    </details>
  );
}
