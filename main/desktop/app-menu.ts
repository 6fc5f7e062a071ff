// The desktop app's menu, as a plain template (no electron import) so it is
// unit-tested; main-electron.ts hands it to Menu.buildFromTemplate. Items
// that need the renderer (open a session, the Launch form, a policy file)
// do not act here: they send a MenuCommand down the change feed, and the
// renderer carries it out with the same API calls as its own buttons.
import type { MenuCommand } from '../common/ipc-contract.js';

/** The Electron roles this menu uses (a subset of MenuItemConstructorOptions['role']). */
export type MenuRole =
  | 'appMenu'
  | 'about'
  | 'quit'
  | 'undo'
  | 'redo'
  | 'cut'
  | 'copy'
  | 'paste'
  | 'pasteAndMatchStyle'
  | 'delete'
  | 'selectAll'
  | 'reload'
  | 'forceReload'
  | 'toggleDevTools'
  | 'resetZoom'
  | 'zoomIn'
  | 'zoomOut'
  | 'togglefullscreen'
  | 'windowMenu';

/** One menu item: structurally a MenuItemConstructorOptions. */
export interface MenuItemSpec {
  label?: string;
  role?: MenuRole;
  type?: 'separator' | 'submenu';
  accelerator?: string;
  submenu?: MenuItemSpec[];
  click?: () => void;
}

export interface AppMenuOptions {
  /** process.platform: macOS has the app menu and Quit lives there. */
  platform: string;
  /** app.isPackaged: a release has no reload and no developer tools. */
  packaged: boolean;
  /** Sends a command to the renderer. */
  onCommand: (command: MenuCommand) => void;
}

export function appMenuTemplate(options: AppMenuOptions): MenuItemSpec[] {
  const mac = options.platform === 'darwin';
  const command = (label: string, name: MenuCommand, accelerator?: string): MenuItemSpec => ({
    label,
    ...(accelerator !== undefined ? { accelerator } : {}),
    click: () => options.onCommand(name),
  });
  const separator: MenuItemSpec = { type: 'separator' };
  const file: MenuItemSpec[] = [
    command('Open Session…', 'open-session', 'CmdOrCtrl+O'),
    command('Launch…', 'launch', 'CmdOrCtrl+L'),
    command('Open Policy…', 'open-policy', 'CmdOrCtrl+Shift+O'),
    separator,
    command('Export…', 'export', 'CmdOrCtrl+E'),
  ];
  if (!mac) file.push(separator, { role: 'quit', accelerator: 'CmdOrCtrl+Q' });
  // Reload and the developer tools only while developing: in a release a
  // stray Ctrl+R would throw away the filter and scroll position for
  // nothing (the bundle does not change), and the tools are not for users.
  const view: MenuItemSpec[] = options.packaged
    ? []
    : [{ role: 'reload' }, { role: 'forceReload' }, { role: 'toggleDevTools' }, separator];
  view.push({ role: 'resetZoom' }, { role: 'zoomIn' }, { role: 'zoomOut' }, separator, {
    role: 'togglefullscreen',
  });
  return [
    ...(mac ? [{ role: 'appMenu' as const }] : []),
    { label: '&File', submenu: file },
    {
      label: '&Edit',
      submenu: [
        { role: 'undo' },
        { role: 'redo' },
        separator,
        { role: 'cut' },
        { role: 'copy' },
        { role: 'paste' },
        { role: 'pasteAndMatchStyle' },
        { role: 'delete' },
        separator,
        { role: 'selectAll' },
      ],
    },
    { label: '&View', submenu: view },
    ...(mac ? [{ role: 'windowMenu' as const }] : []),
    { label: '&Help', submenu: [{ role: 'about', label: 'About Hookscope' }] },
  ];
}
