// What the desktop app adds around the screens: its menu's commands, and
// "Browse…" next to typed paths where native dialogs exist.
import { useEffect, type ReactNode } from 'react';

import type { FileDialogPurpose } from '../../../main/common/ipc-contract.js';
import { useApp } from '../store/store-context.js';

/** Learns what the shell offers and follows its menu commands. */
export function useDesktopShell(): void {
  const loadCapabilities = useApp((s) => s.loadCapabilities);
  const watchMenuCommands = useApp((s) => s.watchMenuCommands);
  useEffect(() => {
    void loadCapabilities();
  }, [loadCapabilities]);
  useEffect(() => watchMenuCommands(), [watchMenuCommands]);
}

/** What a menu command did, or why it or a dialog failed, until dismissed. */
export function ShellNotice() {
  const error = useApp((s) => s.shellError);
  const message = useApp((s) => s.shellMessage);
  const dismiss = useApp((s) => s.dismissShellError);
  if (error === null && message === null) return null;
  return (
    <div
      className={error !== null ? 'inline-error shell-notice' : 'shell-notice'}
      role={error !== null ? 'alert' : 'status'}
    >
      {error ?? message}{' '}
      <button type="button" onClick={dismiss}>
        Dismiss
      </button>
    </div>
  );
}

/** "Browse…" for a path field: only where native dialogs exist. */
export function BrowseButton(props: {
  purpose: FileDialogPurpose;
  onChosen: (path: string) => void;
  children?: ReactNode;
  label: string;
}) {
  const nativeDialogs = useApp((s) => s.nativeDialogs);
  const chooseFile = useApp((s) => s.chooseFile);
  if (!nativeDialogs) return null;
  const browse = async (): Promise<void> => {
    const path = await chooseFile(props.purpose);
    if (path !== null) props.onChosen(path);
  };
  return (
    <button type="button" aria-label={props.label} onClick={() => void browse()}>
      {props.children ?? 'Browse…'}
    </button>
  );
}
