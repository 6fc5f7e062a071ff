import { useApp } from '../store/store-context.js';
import { ErrorBoundary } from './error-boundary.js';
import { ShellNotice, useDesktopShell } from './desktop-shell.js';
import { IntentBadge, IntentQueue, useIntentFeed } from './intent-queue.js';
import { ProcessPicker } from './process-picker.js';
import { RulesEditor } from './rules-editor.js';
import { SessionView } from './session-view.js';
import { SessionsList } from './sessions-list.js';

export function App() {
  const screen = useApp((s) => s.screen);
  const showScreen = useApp((s) => s.showScreen);
  const sessionPath = useApp((s) => s.sessionPath);
  useIntentFeed();
  useDesktopShell();
  const tab = (id: typeof screen, label: string, disabled = false) => (
    <button
      type="button"
      role="tab"
      aria-selected={screen === id}
      className={screen === id ? 'tab tab-active' : 'tab'}
      disabled={disabled}
      title={disabled ? 'Open a session or launch a command first' : undefined}
      onClick={() => showScreen(id)}
    >
      {label}
    </button>
  );
  return (
    <div className="app">
      <header className="app-header">
        <span className="brand">Hookscope</span>
        <nav role="tablist" aria-label="Screens">
          {tab('processes', 'Processes')}
          {tab('sessions', 'Sessions')}
          {tab(
            'session',
            sessionPath ? `Session: ${baseName(sessionPath)}` : 'Session',
            sessionPath === null,
          )}
          {tab('rules', 'Rules')}
        </nav>
        <IntentBadge />
      </header>
      <ShellNotice />
      <IntentQueue />
      <main className="app-main">
        <ErrorBoundary resetKey={screen}>
          {screen === 'processes' && <ProcessPicker />}
          {screen === 'sessions' && <SessionsList />}
          {screen === 'session' && <SessionView />}
          {screen === 'rules' && <RulesEditor />}
        </ErrorBoundary>
      </main>
    </div>
  );
}

export function NoConnection() {
  return (
    <div className="app">
      <header className="app-header">
        <span className="brand">Hookscope</span>
      </header>
      <main className="app-main">
        <div className="state state-error" role="alert">
          <strong>Not connected</strong>
          <p>
            This page needs the address that <code>hookscope serve</code> printed, with its{' '}
            <code>?token=…</code>. Open that address again.
          </p>
        </div>
      </main>
    </div>
  );
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}
