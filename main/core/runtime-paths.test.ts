// Where the agent library and the addon are found: the repository's builds
// under plain Node (CLI, tests, a development Electron run), the packaged
// app's resources folder when running from its asar.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import ts from 'typescript';
import { afterAll, describe, expect, it } from 'vitest';

import { tempDir } from '../test-support/cli.js';
import {
  SOCKET_DIR_OWNER,
  addonPath,
  agentLibraryPath,
  makePrivateSocketDir,
  nativeBuildPaths,
  packagedResourcesDir,
  sweepStaleSocketDirs,
} from './runtime-paths.js';

const REPO = path.resolve(__dirname, '..', '..');
const REPO_AGENT = path.join(REPO, 'native', 'agent', 'build', 'hookscope-agent.so');
const REPO_ADDON = path.join(REPO, 'native', 'addon', 'build', 'Release', 'hookscope_native.node');

describe('nativeBuildPaths', () => {
  it('uses the repository builds under plain Node (no resourcesPath)', () => {
    for (const moduleDir of [
      path.join(REPO, 'main', 'core'), // sources (tests, tsx)
      path.join(REPO, 'app', 'dist', 'main', 'core'), // compiled (CLI)
    ]) {
      expect(nativeBuildPaths(undefined, moduleDir)).toEqual({
        agent: REPO_AGENT,
        addon: REPO_ADDON,
      });
    }
  });

  it('uses <resourcesPath>/native when running from the packaged asar', () => {
    const resources = '/opt/Hookscope/resources';
    expect(nativeBuildPaths(resources, `${resources}/app.asar/dist/main/core`)).toEqual({
      agent: '/opt/Hookscope/resources/native/hookscope-agent.so',
      addon: '/opt/Hookscope/resources/native/hookscope_native.node',
    });
    // An app packaged without asar has an `app` folder instead.
    expect(packagedResourcesDir(resources, `${resources}/app/dist/main/core`)).toBe(resources);
  });

  it('keeps the repository builds in a development Electron run', () => {
    // `electron app`: resourcesPath is Electron's own, the code is ours.
    const electronResources = path.join(REPO, 'node_modules', 'electron', 'dist', 'resources');
    expect(
      nativeBuildPaths(electronResources, path.join(REPO, 'app', 'dist', 'main', 'core')),
    ).toEqual({ agent: REPO_AGENT, addon: REPO_ADDON });
  });

  it('does not take a look-alike folder or a relative resourcesPath as packaged', () => {
    const resources = '/opt/Hookscope/resources';
    expect(packagedResourcesDir(resources, `${resources}/app.asar.old/dist/main/core`)).toBeNull();
    expect(packagedResourcesDir(resources, `${resources}/application/dist/main/core`)).toBeNull();
    expect(packagedResourcesDir(resources, `${resources}/app.asar`)).toBeNull();
    expect(packagedResourcesDir('resources', 'resources/app.asar/dist/main/core')).toBeNull();
    expect(packagedResourcesDir('', '/app.asar/dist/main/core')).toBeNull();
  });

  it('finds this checkout’s real builds', () => {
    expect(agentLibraryPath()).toBe(REPO_AGENT);
    expect(addonPath()).toBe(REPO_ADDON);
    expect(fs.existsSync(REPO_ADDON)).toBe(true);
  });
});

describe('the lookup in a packaged layout', () => {
  const dirs: string[] = [];
  afterAll(() => {
    for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true });
  });

  it('finds the agent and addon under process.resourcesPath, as Electron sets it', () => {
    // Lay out what electron-builder produces (an unpacked `app` folder
    // stands in for app.asar, which plain Node cannot read), with this
    // source compiled to CommonJS as tsc compiles it for the app, and run it
    // in a real Node process whose process.resourcesPath is set the way
    // Electron sets it before any app code runs.
    const root = tempDir('hookscope-packaged-');
    dirs.push(root);
    const resources = path.join(root, 'resources');
    const coreDir = path.join(resources, 'app', 'dist', 'main', 'core');
    fs.mkdirSync(coreDir, { recursive: true });
    fs.mkdirSync(path.join(resources, 'native'));
    fs.copyFileSync(REPO_AGENT, path.join(resources, 'native', 'hookscope-agent.so'));
    fs.copyFileSync(REPO_ADDON, path.join(resources, 'native', 'hookscope_native.node'));
    const source = fs.readFileSync(path.join(__dirname, 'runtime-paths.ts'), 'utf8');
    const compiled = ts.transpileModule(source, {
      compilerOptions: {
        module: ts.ModuleKind.CommonJS,
        target: ts.ScriptTarget.ES2022,
        esModuleInterop: true,
      },
    }).outputText;
    fs.writeFileSync(path.join(coreDir, 'runtime-paths.js'), compiled);

    const script = `
      Object.defineProperty(process, 'resourcesPath', { value: ${JSON.stringify(resources)} });
      const paths = require(${JSON.stringify(path.join(coreDir, 'runtime-paths.js'))});
      // Loading the addon from there proves it is a usable Node-API module outside the app folder.
      const addon = require(paths.addonPath());
      process.stdout.write(JSON.stringify({
        agent: paths.agentLibraryPath(),
        addon: paths.addonPath(),
        addonExports: Object.keys(addon).sort(),
      }));
    `;
    const out = JSON.parse(
      execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' }),
    ) as {
      agent: string;
      addon: string;
      addonExports: string[];
    };
    expect(out.agent).toBe(path.join(resources, 'native', 'hookscope-agent.so'));
    expect(out.addon).toBe(path.join(resources, 'native', 'hookscope_native.node'));
    expect(out.addonExports).toContain('getPeerCredentials');

    // The same compiled file without resourcesPath (plain Node) does not
    // take the packaged agent: it looks for a repository's build layout.
    const plain = `
      const paths = require(${JSON.stringify(path.join(coreDir, 'runtime-paths.js'))});
      try { paths.agentLibraryPath(); process.stdout.write('found'); }
      catch (error) { process.stdout.write(error.message); }
    `;
    const message = execFileSync(process.execPath, ['-e', plain], { encoding: 'utf8' });
    expect(message).toContain(
      `the Hookscope agent library is missing at ${path.join(resources, 'native', 'agent', 'build', 'hookscope-agent.so')}`,
    );
  });
});

describe('private socket directories', () => {
  it('records their maker, and a later one removes only those whose maker is gone', () => {
    const made = makePrivateSocketDir();
    try {
      expect(fs.statSync(made).mode & 0o777).toBe(0o700);
      expect(fs.readFileSync(path.join(made, SOCKET_DIR_OWNER), 'utf8')).toBe(`${process.pid}\n`);
    } finally {
      fs.rmSync(made, { recursive: true, force: true });
    }

    const parent = tempDir('hookscope-sweep-');
    // A pid that existed and is gone: a child that has exited and been reaped.
    const gone = Number(
      execFileSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))']),
    );
    const dir = (name: string, owner: number | null, mode = 0o700): string => {
      const d = path.join(parent, name);
      fs.mkdirSync(d);
      fs.chmodSync(d, mode);
      fs.writeFileSync(path.join(d, 'agent.sock'), '');
      if (owner !== null) fs.writeFileSync(path.join(d, SOCKET_DIR_OWNER), `${owner}\n`);
      return d;
    };
    const stale = dir('hookscope-aaaaaa', gone);
    const live = dir('hookscope-bbbbbb', process.pid);
    const init = dir('hookscope-cccccc', 1); // exists (as another user's, even)
    const unsigned = dir('hookscope-dddddd', null);
    const open = dir('hookscope-eeeeee', gone, 0o755);
    const otherName = dir('hookscope-attach-ffffff', gone);
    const target = dir('elsewhere', gone);
    fs.symlinkSync(target, path.join(parent, 'hookscope-gggggg'));

    sweepStaleSocketDirs(parent, 'hookscope-');
    expect(fs.existsSync(stale)).toBe(false);
    for (const kept of [live, init, unsigned, open, otherName, target]) {
      expect(fs.existsSync(kept), kept).toBe(true);
    }
    expect(fs.lstatSync(path.join(parent, 'hookscope-gggggg')).isSymbolicLink()).toBe(true);
    // A parent that cannot be read is no error.
    expect(() => sweepStaleSocketDirs(path.join(parent, 'missing'), 'hookscope-')).not.toThrow();
  });
});
