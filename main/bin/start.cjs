#!/usr/bin/env node
// `npm start`: the desktop app when the Electron binary is installed;
// otherwise (it cannot be downloaded everywhere) the same UI in a browser
// through `hookscope serve`, with the URL to open.
'use strict';
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const path = require('node:path');

const root = path.join(__dirname, '..', '..');
const desktopMain = path.join(root, 'app', 'dist', 'main', 'desktop', 'main-electron.js');

function electronBinary() {
  // What require('electron') returns, read without calling it: that call
  // tries to download a missing binary, which cannot work offline.
  let pkgDir;
  try {
    pkgDir = path.dirname(require.resolve('electron/package.json'));
  } catch {
    return null;
  }
  const pathFile = path.join(pkgDir, 'path.txt');
  const name = fs.existsSync(pathFile) ? fs.readFileSync(pathFile, 'utf8').trim() : null;
  const override = process.env.ELECTRON_OVERRIDE_DIST_PATH;
  const binary = override
    ? path.join(override, name || 'electron')
    : name
      ? path.join(pkgDir, 'dist', name)
      : null;
  return binary && fs.existsSync(binary) ? binary : null;
}

function run(command, args) {
  const child = spawn(command, args, { stdio: 'inherit' });
  for (const signal of ['SIGINT', 'SIGTERM']) process.on(signal, () => child.kill(signal));
  child.on('exit', (code, signal) => process.exit(code ?? (signal ? 1 : 0)));
}

const binary = electronBinary();
if (binary && fs.existsSync(desktopMain)) {
  run(binary, [desktopMain, ...process.argv.slice(2)]);
} else {
  console.error(
    binary
      ? 'hookscope: the desktop app is not built yet (run `npm run build`); serving the UI to a browser instead.'
      : 'hookscope: the Electron binary is missing (installed with ELECTRON_SKIP_BINARY_DOWNLOAD?); serving the UI to a browser instead.',
  );
  run(process.execPath, [path.join(__dirname, 'hookscope.cjs'), 'serve', ...process.argv.slice(2)]);
}
