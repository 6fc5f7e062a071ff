// electron-builder itself, run on this checkout's build output with a
// stand-in for the Electron binary (which cannot be downloaded here): the
// unpacked Linux app it lays out is the one `npm run dist` turns into an
// AppImage and a deb. Checks what ships in the asar, that the agent and the
// addon land in resources/native (outside the asar, where
// runtime-paths.ts looks), and that the fuses are really flipped.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import yaml from 'js-yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { nativeBuildPaths } from '../core/runtime-paths.js';
import { tempDir } from '../test-support/cli.js';

const REPO = path.resolve(__dirname, '..', '..');
const requireHere = createRequire(__filename);
// The asar reader electron-builder itself depends on.
const asar = createRequire(requireHere.resolve('app-builder-lib/package.json'))(
  '@electron/asar',
) as { listPackage(archive: string, options: { isPack: boolean }): string[] };

/** Electron's fuse wire marker (@electron/fuses), followed by version 1, the wire length and one byte per fuse. */
const FUSE_SENTINEL = 'dL7pKGdnNz796PbbjQWNKmHXBZaB9tsX';
/** Fuse order in wire version 1 (@electron/fuses FuseV1Options). */
const FUSE_ORDER = [
  'runAsNode',
  'enableCookieEncryption',
  'enableNodeOptionsEnvironmentVariable',
  'enableNodeCliInspectArguments',
  'enableEmbeddedAsarIntegrityValidation',
  'onlyLoadAppFromAsar',
  'loadBrowserProcessSpecificV8Snapshot',
  'grantFileProtocolExtraPrivileges',
];
/**
 * The stand-in's wire starts as the opposite of every fuse we set ('1' on,
 * '0' off), so each one must be flipped; the two we leave alone stay as
 * they were.
 */
const INITIAL_WIRE = '11110001';

interface BuilderConfig {
  electronFuses: Record<string, boolean>;
  linux: { executableName: string; extraResources: { from: string; to: string }[] };
}

describe('electron-builder on the build output (Linux, unpacked)', () => {
  let work: string;
  let unpacked: string;
  let config: BuilderConfig;
  let builderLog = '';

  beforeAll(() => {
    config = yaml.load(
      fs.readFileSync(path.join(REPO, 'electron-builder.yml'), 'utf8'),
    ) as BuilderConfig;
    work = tempDir('hookscope-dist-');
    const project = path.join(work, 'project');
    // The project as `npm run dist` sees it after `npm run build`, copied so
    // the run writes nothing into the checkout.
    fs.mkdirSync(project);
    for (const file of ['electron-builder.yml', 'package.json']) {
      fs.copyFileSync(path.join(REPO, file), path.join(project, file));
    }
    fs.cpSync(path.join(REPO, 'resources'), path.join(project, 'resources'), { recursive: true });
    for (const file of ['package.json', 'package-lock.json']) {
      fs.mkdirSync(path.join(project, 'app'), { recursive: true });
      fs.copyFileSync(path.join(REPO, 'app', file), path.join(project, 'app', file));
    }
    fs.cpSync(path.join(REPO, 'app', 'dist'), path.join(project, 'app', 'dist'), {
      recursive: true,
    });
    for (const { from } of config.linux.extraResources) {
      fs.mkdirSync(path.dirname(path.join(project, from)), { recursive: true });
      fs.copyFileSync(path.join(REPO, from), path.join(project, from));
    }
    fs.symlinkSync(path.join(REPO, 'node_modules'), path.join(project, 'node_modules'));
    // What `npm ci --prefix app --omit=dev` installs, taken from the
    // repository's own node_modules (same versions: checked here) so the
    // test needs no network.
    const lock = JSON.parse(
      fs.readFileSync(path.join(REPO, 'app', 'package-lock.json'), 'utf8'),
    ) as { packages: Record<string, { version?: string }> };
    for (const [where, entry] of Object.entries(lock.packages)) {
      if (!where.startsWith('node_modules/')) continue;
      const installed = path.join(REPO, where);
      const version = (
        JSON.parse(fs.readFileSync(path.join(installed, 'package.json'), 'utf8')) as {
          version: string;
        }
      ).version;
      expect(
        version,
        `${where}: the repository has another version than app/package-lock.json`,
      ).toBe(entry.version);
      fs.cpSync(installed, path.join(project, 'app', where), { recursive: true });
    }
    // The stand-in Electron: an executable carrying a fuse wire where
    // Electron's binary has it, in an unpacked distribution folder.
    const electronDist = path.join(work, 'electron-dist');
    fs.mkdirSync(path.join(electronDist, 'resources'), { recursive: true });
    fs.writeFileSync(
      path.join(electronDist, 'electron'),
      `#!/bin/sh\nexit 0\n# ${FUSE_SENTINEL}\x01\x08${INITIAL_WIRE}\n`,
      { mode: 0o755 },
    );
    fs.writeFileSync(path.join(electronDist, 'LICENSE'), 'stand-in\n');
    fs.writeFileSync(path.join(electronDist, 'LICENSES.chromium.html'), 'stand-in\n');

    const builder = path.join(REPO, 'node_modules', '.bin', 'electron-builder');
    const run = spawnSync(
      builder,
      [
        '--config',
        'electron-builder.yml',
        '--publish',
        'never',
        '--linux',
        'dir',
        `-c.electronDist=${electronDist}`,
        `-c.directories.output=${path.join(work, 'release')}`,
      ],
      {
        cwd: project,
        encoding: 'utf8',
        env: { ...process.env, ELECTRON_SKIP_BINARY_DOWNLOAD: '1' },
        stdio: ['ignore', 'pipe', 'pipe'],
        timeout: 110_000,
      },
    );
    // electron-builder logs to stderr.
    builderLog = `${run.stdout}${run.stderr}`;
    expect(run.status, builderLog).toBe(0);
    unpacked = path.join(work, 'release', 'linux-unpacked');
  });

  afterAll(() => {
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('lays out the app under its executable name', () => {
    expect(fs.statSync(path.join(unpacked, config.linux.executableName)).isFile()).toBe(true);
    expect(fs.existsSync(path.join(unpacked, 'resources', 'app.asar'))).toBe(true);
    // Only the asar: no loose app folder beside it (onlyLoadAppFromAsar).
    expect(fs.existsSync(path.join(unpacked, 'resources', 'app'))).toBe(false);
  });

  it('puts the agent and the addon, byte for byte, where the packaged lookup finds them', () => {
    const resources = path.join(unpacked, 'resources');
    const packaged = nativeBuildPaths(
      resources,
      path.join(resources, 'app.asar', 'dist', 'main', 'core'),
    );
    const built = nativeBuildPaths(undefined, path.join(REPO, 'main', 'core'));
    expect(fs.readFileSync(packaged.agent).equals(fs.readFileSync(built.agent))).toBe(true);
    expect(fs.readFileSync(packaged.addon).equals(fs.readFileSync(built.addon))).toBe(true);
  });

  it('packs the desktop app and its runtime packages into the asar, and nothing native or CLI', () => {
    const files = new Set(
      asar
        .listPackage(path.join(unpacked, 'resources', 'app.asar'), { isPack: false })
        .map((f) => f.split(path.sep).join('/')),
    );
    for (const file of [
      '/package.json',
      '/dist/main/desktop/main-electron.js',
      '/dist/main/desktop/preload-electron.js',
      '/dist/main/core/runtime-paths.js',
      '/dist/main/core/policy/policy-schema.json',
      '/dist/renderer/index.html',
      '/node_modules/ws/package.json',
      '/node_modules/jsonc-parser/package.json',
      '/node_modules/picomatch/package.json',
    ]) {
      expect(files.has(file), file).toBe(true);
    }
    const unwanted = [...files].filter(
      (f) => f.startsWith('/dist/main/cli') || f.endsWith('.so') || f.endsWith('.node'),
    );
    expect(unwanted).toEqual([]);
  });

  it('flips every fuse electron-builder.yml sets in the packaged binary', () => {
    const binary = fs.readFileSync(path.join(unpacked, config.linux.executableName));
    const at = binary.indexOf(FUSE_SENTINEL);
    expect(at).toBeGreaterThanOrEqual(0);
    const wire = binary.subarray(at + FUSE_SENTINEL.length + 2, at + FUSE_SENTINEL.length + 10);
    const expected = FUSE_ORDER.map((name, i) => {
      const wanted = config.electronFuses[name];
      return wanted === undefined ? INITIAL_WIRE[i] : wanted ? '1' : '0';
    }).join('');
    expect(wire.toString('latin1')).toBe(expected);
    // And that is a real change from the stand-in's initial wire for each fuse we set.
    for (const [i, name] of FUSE_ORDER.entries()) {
      if (config.electronFuses[name] !== undefined)
        expect(expected[i], name).not.toBe(INITIAL_WIRE[i]);
    }
  });
});
