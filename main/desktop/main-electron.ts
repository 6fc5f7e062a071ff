// The Electron main process: a thin adapter. Everything it decides is in
// desktop-policy.ts (plain Node, tested); this file only wires Electron to
// it. One instance, one window, the renderer bundle from app://hookscope/.
import path from 'node:path';

import {
  app,
  BrowserWindow,
  dialog,
  ipcMain,
  Menu,
  Notification,
  protocol,
  session,
} from 'electron';

import { rendererBundleDir } from '../core/runtime-paths.js';
import { UiApi } from '../core/ui-api.js';
import { HOOKSCOPE_VERSION } from '../core/version.js';
import { appMenuTemplate } from './app-menu.js';
import {
  APP_SCHEME,
  APP_START_URL,
  bundleResponse,
  forwardChanges,
  isAppUrl,
  openDialogOptions,
  registerApiHandlers,
  saveDialogOptions,
  sendMenuCommand,
} from './desktop-policy.js';

const log = (line: string): void => {
  process.stderr.write(`${line}\n`);
};

// Before `ready`: app:// behaves like https (secure, standard origin), so
// the CSP's 'self' means the bundle and nothing else.
protocol.registerSchemesAsPrivileged([
  { scheme: APP_SCHEME, privileges: { standard: true, secure: true, supportFetchAPI: true } },
]);

if (!app.requestSingleInstanceLock()) {
  app.quit();
} else {
  let window: BrowserWindow | null = null;
  const api = new UiApi({
    log,
    // Only the desktop has native dialogs; they answer `dialog.openFile` and
    // `dialog.saveFile`, which reach here through the same checked IPC
    // wrapper (registerApiHandlers) as every other method.
    dialogs: {
      openFile: async ({ purpose, defaultDir }) => {
        const options = openDialogOptions(purpose, defaultDir);
        const chosen = window
          ? await dialog.showOpenDialog(window, options)
          : await dialog.showOpenDialog(options);
        return chosen.canceled ? null : (chosen.filePaths[0] ?? null);
      },
      saveFile: async ({ purpose, defaultName }) => {
        const options = saveDialogOptions(purpose, defaultName);
        const chosen = window
          ? await dialog.showSaveDialog(window, options)
          : await dialog.showSaveDialog(options);
        return chosen.canceled || !chosen.filePath ? null : chosen.filePath;
      },
    },
  });

  app.on('second-instance', () => {
    if (window) {
      if (window.isMinimized()) window.restore();
      window.focus();
    }
  });

  app.on('web-contents-created', (_event, contents) => {
    // No new windows, no navigation away from the bundle, no webviews.
    contents.setWindowOpenHandler(({ url }) => {
      log(`hookscope: refused to open a window for ${url}`);
      return { action: 'deny' };
    });
    contents.on('will-navigate', (event, url) => {
      if (!isAppUrl(url)) {
        log(`hookscope: refused navigation to ${url}`);
        event.preventDefault();
      }
    });
    contents.on('will-redirect', (event, url) => {
      if (!isAppUrl(url)) event.preventDefault();
    });
    contents.on('will-attach-webview', (event) => event.preventDefault());
  });

  app.on('window-all-closed', () => {
    void api.close().finally(() => app.quit());
  });

  void app.whenReady().then(() => {
    const rendererDir = rendererBundleDir();
    protocol.handle(APP_SCHEME, async (request) => {
      const answer = await bundleResponse(request.url, rendererDir);
      return new Response(new Uint8Array(answer.body), {
        status: answer.status,
        headers: answer.headers,
      });
    });
    // Camera, notifications, geolocation…: the inspector asks for none.
    session.defaultSession.setPermissionRequestHandler((_contents, permission, callback) => {
      log(`hookscope: denied permission request ${permission}`);
      callback(false);
    });
    session.defaultSession.setPermissionCheckHandler(() => false);
    registerApiHandlers(ipcMain, api, log);
    app.setAboutPanelOptions({
      applicationName: 'Hookscope',
      applicationVersion: HOOKSCOPE_VERSION,
    });
    Menu.setApplicationMenu(
      Menu.buildFromTemplate(
        appMenuTemplate({
          platform: process.platform,
          packaged: app.isPackaged,
          onCommand: (command) => {
            if (window === null) return;
            if (window.isMinimized()) window.restore();
            window.focus();
            sendMenuCommand(window.webContents, command);
          },
        }),
      ),
    );

    window = new BrowserWindow({
      width: 1400,
      height: 900,
      title: 'Hookscope',
      show: false,
      webPreferences: {
        preload: path.join(__dirname, 'preload-electron.js'),
        contextIsolation: true,
        sandbox: true,
        nodeIntegration: false,
        webSecurity: true,
        webviewTag: false,
        spellcheck: false,
        // A middle click on a link would ask for a new window; the window
        // open handler refuses it anyway, but the event never needs to fire.
        disableBlinkFeatures: 'Auxclick',
      },
    });
    window.once('ready-to-show', () => window?.show());
    // Push, not polling: what changed in the core goes to the window on one channel.
    const stopForwarding = forwardChanges(api, window.webContents);
    window.on('closed', () => {
      stopForwarding();
      window = null;
    });
    // A thread in a target is waiting for an answer: ask for attention
    // (taskbar flash, and a notification when the window is not in front).
    let announced = 0;
    api.onPendingIntents((pending) => {
      if (window === null) return;
      if (pending === 0) {
        window.flashFrame(false);
      } else if (pending > announced && !window.isFocused()) {
        window.flashFrame(true);
        if (Notification.isSupported()) {
          const note = new Notification({
            title: 'Hookscope: waiting for your answer',
            body: `${pending} intent${pending === 1 ? '' : 's'} waiting to be allowed or denied`,
          });
          note.on('click', () => {
            if (window?.isMinimized()) window.restore();
            window?.focus();
          });
          note.show();
        }
      }
      announced = pending;
    });
    void window.loadURL(APP_START_URL);
  });
}
