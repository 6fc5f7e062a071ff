// The queue of intents waiting for an answer: a thread in a target is
// blocked until someone here allows or denies what it is about to do (or
// the policy's timeout answers for them). Shown above every screen, so it
// cannot be missed; each card says what, who asked, from where, and how
// long is left.
import { useEffect, useState, type KeyboardEvent } from 'react';

import type {
  IntentMatch,
  IntentOutcome,
  IntentScope,
  PendingIntentRow,
} from '../../../main/common/ipc-contract.js';

/** How often a card that is being read renews its hold (each holds INTENT_HOLD_MS). */
const HOLD_EVERY_MS = 1000;
import { useApp } from '../store/store-context.js';
import { baseName } from './app.js';
import { StackFrames } from './stack-frames.js';

/** Keeps the queue current while the inspector is open; names the count in the title. */
export function useIntentFeed(): void {
  const watchIntents = useApp((s) => s.watchIntents);
  const count = useApp((s) => s.intents.length);
  useEffect(() => watchIntents(), [watchIntents]);
  useEffect(() => {
    document.title = count > 0 ? `(${count}) Hookscope — waiting for you` : 'Hookscope';
    // A new question asks for the window (the desktop shell raises it).
    if (count > 0) window.focus();
  }, [count]);
}

/** The header's count of waiting intents; nothing when none wait. */
export function IntentBadge() {
  const count = useApp((s) => s.intents.length);
  if (count === 0) return null;
  return (
    <a className="badge badge-ask" href="#intent-queue" aria-live="polite">
      {count} waiting for an answer
    </a>
  );
}

function useNow(everyMs: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}

export function IntentQueue() {
  const intents = useApp((s) => s.intents);
  const error = useApp((s) => s.intentsError);
  if (intents.length === 0 && error === null) return null;
  return (
    <section id="intent-queue" className="intent-queue" aria-label="Waiting for your answer">
      {error !== null && (
        <p className="inline-error" role="alert">
          Could not read the waiting intents: {error}
        </p>
      )}
      {intents.map((intent, i) => (
        <IntentCard key={intent.id} intent={intent} first={i === 0} />
      ))}
    </section>
  );
}

/** What an Always rule written into the policy may cover, by what was asked. */
const MATCHES: Record<'audit' | 'intent', Array<{ match: IntentMatch; label: string }>> = {
  intent: [
    { match: 'exact', label: 'this file, these bytes' },
    { match: 'prefix', label: 'anything in its folder' },
    { match: 'hash', label: 'these bytes, from any path' },
  ],
  audit: [
    { match: 'exact', label: 'these arguments' },
    { match: 'name', label: 'any arguments' },
  ],
};

const LASTING_SCOPES: Array<{ scope: IntentScope; label: string }> = [
  { scope: 'process', label: 'for this process' },
  { scope: 'session', label: 'for this session' },
  { scope: 'always', label: 'always (written into the policy)' },
];

function IntentCard({ intent, first }: { intent: PendingIntentRow; first: boolean }) {
  const answer = useApp((s) => s.answerIntent);
  const hold = useApp((s) => s.holdIntent);
  const busy = useApp((s) => s.answering[intent.id] === true);
  // While the card is hovered or has the focus, the thread is held: the
  // countdown stands still and resumes when the reader looks away.
  const [hovered, setHovered] = useState(false);
  const [focused, setFocused] = useState(false);
  const looking = hovered || focused;
  useEffect(() => {
    // Being answered: holding it now would only race the answer.
    if (!looking || busy) return;
    void hold(intent.id);
    const timer = setInterval(() => void hold(intent.id), HOLD_EVERY_MS);
    return () => clearInterval(timer);
  }, [looking, busy, hold, intent.id]);
  const error = useApp((s) => s.answerErrors[intent.id]);
  const now = useNow(250);
  const [scope, setScope] = useState<IntentScope>(
    intent.scope === 'once' ? 'session' : intent.scope,
  );
  const [match, setMatch] = useState<IntentMatch>('exact');
  const secondsLeft = Math.max(0, Math.ceil((intent.deadlineAtMs - now) / 1000));
  const reply = (outcome: IntentOutcome, lasting: boolean) =>
    void answer(intent.id, outcome, lasting ? scope : 'once', lasting ? match : undefined);
  const onKey = (e: KeyboardEvent) => {
    if (busy || e.target instanceof HTMLSelectElement) return;
    if (e.key === 'a') reply('allow', false);
    else if (e.key === 'd') reply('deny', false);
  };
  const s = intent.subject;
  const title = s.kind === 'audit' ? s.event : `${s.intent} ${s.realPath || s.path}`;
  const rule =
    intent.ruleIndex === null
      ? "the policy's default"
      : `rule ${intent.ruleIndex}${intent.ruleComment ? ` (${intent.ruleComment})` : ''}`;
  return (
    <article
      className="intent-card"
      aria-label={`Waiting: ${title}`}
      tabIndex={0}
      onKeyDown={onKey}
      onMouseEnter={() => setHovered(true)}
      onMouseLeave={() => setHovered(false)}
      onFocus={() => setFocused(true)}
      onBlur={(e) => {
        if (!e.currentTarget.contains(e.relatedTarget as Node | null)) setFocused(false);
      }}
      // The first card takes the focus, so A / D answer it at once.
      ref={(el) => {
        if (first && el && !el.contains(document.activeElement)) el.focus({ preventScroll: true });
      }}
    >
      <header className="intent-head">
        <strong className="intent-title">{title}</strong>
        <span className="intent-countdown" title="The target answers by itself at the deadline">
          {secondsLeft} s left, then {intent.timeoutAction}
          {looking ? ' (paused while you read)' : ''}
        </span>
      </header>
      <dl className="intent-facts">
        <dt>Process</dt>
        <dd>
          {baseName(intent.executable)} pid {intent.pid}, thread {intent.tid}
        </dd>
        <dt>From</dt>
        <dd>{intent.module ? `${intent.module} (package ${intent.package})` : 'unknown'}</dd>
        {s.kind === 'audit' ? (
          <>
            <dt>Arguments</dt>
            <dd className="mono">
              {s.argsText}
              {s.argsTruncated ? ' (cut short when recorded)' : ''}
            </dd>
          </>
        ) : (
          <>
            <dt>Path</dt>
            <dd className="mono">{s.path}</dd>
            <dt>Real path</dt>
            <dd className="mono">{s.realPath}</dd>
            <dt>SHA-256</dt>
            <dd className="mono">{s.sha256 ?? 'unreadable'}</dd>
            <dt>Size</dt>
            <dd>{s.sizeBytes} bytes</dd>
          </>
        )}
        <dt>Asked by</dt>
        <dd>{rule}</dd>
      </dl>
      {intent.stack !== null && intent.stack.length > 0 && <StackFrames stack={intent.stack} />}
      <div className="intent-actions">
        <button
          type="button"
          className="allow"
          disabled={busy}
          onClick={() => reply('allow', false)}
        >
          Allow once <kbd>A</kbd>
        </button>
        <button type="button" className="deny" disabled={busy} onClick={() => reply('deny', false)}>
          Deny once <kbd>D</kbd>
        </button>
        <span className="intent-lasting">
          <button type="button" disabled={busy} onClick={() => reply('allow', true)}>
            Always allow
          </button>
          <button type="button" disabled={busy} onClick={() => reply('deny', true)}>
            Always deny
          </button>
          <select
            aria-label="How long an Always answer holds"
            value={scope}
            disabled={busy}
            onChange={(e) => setScope(e.target.value as IntentScope)}
          >
            {LASTING_SCOPES.map((o) => (
              <option key={o.scope} value={o.scope}>
                {o.label}
              </option>
            ))}
          </select>
          {scope === 'always' && (
            <select
              aria-label="What the written rule matches"
              value={match}
              disabled={busy}
              onChange={(e) => setMatch(e.target.value as IntentMatch)}
            >
              {MATCHES[intent.subject.kind].map((o) => (
                <option key={o.match} value={o.match}>
                  {o.label}
                </option>
              ))}
            </select>
          )}
        </span>
      </div>
      {error !== undefined && (
        <p className="inline-error" role="alert">
          {error}
        </p>
      )}
    </article>
  );
}
