// electron-builder.yml, checked without building a package (that needs the
// Electron binary, which cannot be downloaded here): valid against
// electron-builder's own schema, every path it names present after
// `npm run build`, the fuses as intended, the native pieces outside the asar
// where main/core/runtime-paths.ts looks for them, and every module the
// desktop main process requires shipped through app/package.json.
import fs from 'node:fs';
import { builtinModules, createRequire } from 'node:module';
import path from 'node:path';
import Ajv from 'ajv';
import yaml from 'js-yaml';
import picomatch from 'picomatch';
import { beforeAll, describe, expect, it } from 'vitest';

import { nativeBuildPaths } from '../core/runtime-paths.js';

const REPO = path.resolve(__dirname, '..', '..');
const requireHere = createRequire(__filename);

/** The part of electron-builder's Configuration this test reads. */
interface BuilderConfig {
  appId: string;
  productName: string;
  directories: { app: string; output: string; buildResources: string };
  files: string[];
  asar?: boolean;
  asarUnpack?: string[];
  npmRebuild: boolean;
  electronFuses: Record<string, boolean>;
  linux: { target: string[]; icon: string; extraResources: { from: string; to: string }[] };
  mac: { target: { target: string; arch: string[] }[]; icon: string };
  win: { target: string; icon: string };
}

interface PackageJson {
  main?: string;
  scripts?: Record<string, string>;
  dependencies?: Record<string, string>;
  devDependencies?: Record<string, string>;
}

const readJson = <T>(file: string): T => JSON.parse(fs.readFileSync(file, 'utf8')) as T;

let raw: unknown;
let config: BuilderConfig;
beforeAll(() => {
  raw = yaml.load(fs.readFileSync(path.join(REPO, 'electron-builder.yml'), 'utf8'));
  config = raw as BuilderConfig;
});

describe('electron-builder.yml', () => {
  it('is valid against the installed electron-builder schema', () => {
    const schema = readJson<object>(requireHere.resolve('app-builder-lib/scheme.json'));
    // As electron-builder compiles it (its schema has a custom `typeof`
    // keyword), but without coercing types: what we wrote must be exact.
    const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);
    const valid = validate(raw);
    expect(
      (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? ''}`),
    ).toEqual([]);
    expect(valid).toBe(true);
    // The schema is strict where it matters: a misspelt fuse is an error,
    // not a silently ignored key.
    const misspelt = { ...(raw as object), electronFuses: { runAsNod: false } };
    expect(validate(misspelt)).toBe(false);
  });

  it('is what `npm run dist` builds with, and the builder it names is installed', () => {
    const root = readJson<PackageJson>(path.join(REPO, 'package.json'));
    expect(root.scripts?.dist).toMatch(/\belectron-builder\b.*--publish never/);
    expect(root.devDependencies).toHaveProperty('electron-builder');
    expect(root.devDependencies).toHaveProperty('app-builder-lib');
    const builder = readJson<{ version: string }>(
      requireHere.resolve('electron-builder/package.json'),
    );
    const lib = readJson<{ version: string }>(requireHere.resolve('app-builder-lib/package.json'));
    // The schema checked above must be the one the builder uses.
    expect(lib.version).toBe(builder.version);
  });

  it('sets the Electron fuses to the intended values', () => {
    expect(config.electronFuses).toEqual({
      runAsNode: false,
      enableNodeOptionsEnvironmentVariable: false,
      enableNodeCliInspectArguments: false,
      onlyLoadAppFromAsar: true,
      enableEmbeddedAsarIntegrityValidation: true,
      grantFileProtocolExtraPrivileges: false,
    });
  });

  it('targets AppImage and deb, a dmg for x64 and arm64, and nsis', () => {
    expect(config.appId).toBe('dev.hookscope.app');
    expect(config.productName).toBe('Hookscope');
    expect(config.linux.target).toEqual(['AppImage', 'deb']);
    expect(config.mac.target).toEqual([{ target: 'dmg', arch: ['x64', 'arm64'] }]);
    expect(config.win.target).toBe('nsis');
    // The addon is Node-API: nothing to rebuild for Electron.
    expect(config.npmRebuild).toBe(false);
    expect(config.asar).not.toBe(false);
  });

  it('copies the built agent and addon outside the asar, where the packaged lookup finds them', () => {
    const resources = '/opt/Hookscope/resources';
    const packaged = nativeBuildPaths(resources, `${resources}/app.asar/dist/main/core`);
    const destinations = config.linux.extraResources.map((r) => path.posix.join(resources, r.to));
    expect(destinations).toEqual([packaged.agent, packaged.addon]);
    const built = nativeBuildPaths(undefined, path.join(REPO, 'main', 'core'));
    expect(config.linux.extraResources.map((r) => path.join(REPO, r.from))).toEqual([
      built.agent,
      built.addon,
    ]);
    for (const { from } of config.linux.extraResources) {
      const file = path.join(REPO, from);
      expect(fs.existsSync(file), `${from} (run \`npm run build\`)`).toBe(true);
      // Both are ELF shared objects (e_type ET_DYN).
      const head = fs.readFileSync(file).subarray(0, 18);
      expect(head.subarray(0, 4).toString('latin1'), from).toBe('\x7fELF');
      expect(head.readUInt16LE(16), from).toBe(3);
    }
  });

  it('refuses, before packing, a platform or architecture the native pieces were not built for', async () => {
    const hookFile = path.join(REPO, (raw as { beforePack: string }).beforePack);
    const hook = requireHere(hookFile) as {
      default: (context: { electronPlatformName: string; arch: number }) => Promise<void>;
    };
    const { Arch } = requireHere('builder-util') as { Arch: Record<string, number> };
    const here = Arch[process.arch] as number;
    await expect(hook.default({ electronPlatformName: 'linux', arch: here })).resolves.toBe(
      undefined,
    );
    await expect(hook.default({ electronPlatformName: 'darwin', arch: here })).rejects.toThrow(
      /cannot be packaged for darwin yet: .*Linux only/,
    );
    await expect(hook.default({ electronPlatformName: 'win32', arch: here })).rejects.toThrow(
      /cannot be packaged for win32 yet/,
    );
    const other = process.arch === 'arm64' ? 'x64' : 'arm64';
    await expect(
      hook.default({ electronPlatformName: 'linux', arch: Arch[other] as number }),
    ).rejects.toThrow(new RegExp(`built for ${process.arch}, not ${other}`));
    // The mac and win sections ship no Linux library.
    expect(JSON.stringify(config.mac)).not.toMatch(/extraResources|\.so\b/);
    expect(JSON.stringify(config.win)).not.toMatch(/extraResources|\.so\b/);
  });

  it('names directories that exist', () => {
    for (const dir of [config.directories.app, config.directories.buildResources]) {
      expect(fs.statSync(path.join(REPO, dir)).isDirectory(), dir).toBe(true);
    }
    expect(config.directories.output).not.toBe(config.directories.app);
  });

  it('ships the built main process, preload and renderer, and not the CLI', () => {
    const appDir = path.join(REPO, config.directories.app);
    const manifest = readJson<PackageJson>(path.join(appDir, 'package.json'));
    const include = config.files.filter((p) => !p.startsWith('!'));
    const exclude = config.files.filter((p) => p.startsWith('!')).map((p) => p.slice(1));
    // Every pattern's base directory exists after the build.
    for (const pattern of [...include, ...exclude]) {
      const base = picomatch.scan(pattern).base;
      if (base) expect(fs.existsSync(path.join(appDir, base)), `${pattern}: ${base}`).toBe(true);
    }
    const ships = (rel: string): boolean =>
      picomatch(include, { dot: true })(rel) && !picomatch(exclude, { dot: true })(rel);
    const mustShip = [
      'package.json',
      manifest.main ?? '',
      'dist/main/desktop/preload-electron.js',
      'dist/renderer/index.html',
    ];
    for (const rel of mustShip) {
      expect(fs.existsSync(path.join(appDir, rel)), `${rel} (run \`npm run build\`)`).toBe(true);
      expect(ships(rel), rel).toBe(true);
    }
    expect(ships('dist/main/cli/index.js')).toBe(false);
    // Whatever the desktop main process and preload load is shipped too.
    for (const rel of desktopModuleFiles(appDir, manifest).local) {
      expect(ships(rel), `${rel} is required by the desktop app but not packaged`).toBe(true);
    }
  });

  it('ships every package the desktop app requires, at the versions the repository tests', () => {
    const appDir = path.join(REPO, config.directories.app);
    const manifest = readJson<PackageJson>(path.join(appDir, 'package.json'));
    const root = readJson<PackageJson>(path.join(REPO, 'package.json'));
    const needed = [...desktopModuleFiles(appDir, manifest).packages].sort();
    expect(needed.length).toBeGreaterThan(0);
    expect(Object.keys(manifest.dependencies ?? {}).sort()).toEqual(needed);
    for (const name of needed) {
      expect(manifest.dependencies?.[name], name).toBe(root.dependencies?.[name]);
    }
    // `npm run dist` installs them with `npm ci`: the lock must agree.
    const lock = readJson<{ packages: Record<string, { dependencies?: Record<string, string> }> }>(
      path.join(appDir, 'package-lock.json'),
    );
    expect(lock.packages['']?.dependencies).toEqual(manifest.dependencies);
  });

  it('has real icons for every platform', () => {
    const resource = (p: string): string => path.join(REPO, p);
    // Linux: a folder of NxN.png, each really N by N.
    const linuxIcons = fs.readdirSync(resource(config.linux.icon));
    expect(linuxIcons).toContain('256x256.png');
    expect(linuxIcons).toContain('512x512.png');
    for (const name of linuxIcons) {
      const size = Number(/^(\d+)x\1\.png$/.exec(name)?.[1]);
      expect(size, name).toBeGreaterThan(0);
      expect(pngSize(fs.readFileSync(path.join(resource(config.linux.icon), name)))).toEqual([
        size,
        size,
      ]);
    }
    // The source picture electron-builder falls back to.
    expect(pngSize(fs.readFileSync(resource('resources/icon.png')))).toEqual([1024, 1024]);
    // macOS: an icns whose length field is the file's and that has a 512 and a 1024 entry.
    const icns = fs.readFileSync(resource(config.mac.icon));
    expect(icns.subarray(0, 4).toString('latin1')).toBe('icns');
    expect(icns.readUInt32BE(4)).toBe(icns.length);
    const icnsTypes: string[] = [];
    for (let at = 8; at < icns.length; at += icns.readUInt32BE(at + 4)) {
      icnsTypes.push(icns.subarray(at, at + 4).toString('latin1'));
      expect(pngSize(icns.subarray(at + 8, at + icns.readUInt32BE(at + 4)))[0]).toBeGreaterThan(0);
    }
    expect(icnsTypes).toEqual(expect.arrayContaining(['ic09', 'ic10']));
    // Windows: an ico with a 256x256 entry (electron-builder requires one).
    const ico = fs.readFileSync(resource(config.win.icon));
    expect([ico.readUInt16LE(0), ico.readUInt16LE(2)]).toEqual([0, 1]);
    const entries = Array.from({ length: ico.readUInt16LE(4) }, (_, i) => {
      const at = 6 + 16 * i;
      const image = ico.subarray(
        ico.readUInt32LE(at + 12),
        ico.readUInt32LE(at + 12) + ico.readUInt32LE(at + 8),
      );
      return { declared: ico[at] || 256, size: pngSize(image)[0] };
    });
    expect(entries.map((e) => e.declared)).toContain(256);
    for (const e of entries) expect(e.size).toBe(e.declared);
  });
});

/** Width and height from a PNG's IHDR; throws on anything that is not a PNG. */
function pngSize(png: Buffer): [number, number] {
  if (
    png.subarray(0, 8).toString('latin1') !== '\x89PNG\r\n\x1a\n' ||
    png.subarray(12, 16).toString() !== 'IHDR'
  ) {
    throw new Error('not a PNG');
  }
  return [png.readUInt32BE(16), png.readUInt32BE(20)];
}

/**
 * The compiled files the desktop app loads (from its main script and the
 * preload, following relative requires) and the packages they require,
 * other than Node's built-ins and `electron` itself.
 */
function desktopModuleFiles(
  appDir: string,
  manifest: PackageJson,
): { local: Set<string>; packages: Set<string> } {
  const local = new Set<string>();
  const packages = new Set<string>();
  const builtins = new Set(builtinModules);
  const visit = (rel: string): void => {
    if (local.has(rel)) return;
    local.add(rel);
    if (!rel.endsWith('.js')) return;
    const source = fs.readFileSync(path.join(appDir, rel), 'utf8');
    // As the compiler writes an import, or as a hand-written lazy require.
    for (const [, , spec] of source.matchAll(/\brequire\((["'])([^"']+)\1\)/g)) {
      if (!spec) continue;
      if (spec.startsWith('.')) {
        visit(path.posix.join(path.posix.dirname(rel), spec));
      } else if (!spec.startsWith('node:') && !builtins.has(spec) && spec !== 'electron') {
        packages.add(
          spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]!,
        );
      }
    }
  };
  visit(manifest.main ?? '');
  visit('dist/main/desktop/preload-electron.js');
  return { local, packages };
}
