// The security gate: Electronegativity (Doyensec's Electron checker) on the
// app's sources, main/ and renderer/ together, as one app (its global checks
// look for a navigation limit or a permission handler anywhere in the app,
// so scanning the halves apart reports what the other half does). It always
// exits 0, so this reads its SARIF (artifacts/electronegativity.sarif) and
// fails on every finding that security/electronegativity-allowlist.json does
// not explain, and on every allowlist entry that no longer matches anything.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { rendererBundleDir } from '../core/runtime-paths.js';
import { tempDir } from '../test-support/cli.js';
import { CONTENT_SECURITY_POLICY } from '../web/web-host.js';
import { APP_START_URL, bundleResponse } from './desktop-policy.js';

const REPO = path.resolve(__dirname, '..', '..');
const ALLOWLIST_PATH = path.join(REPO, 'security', 'electronegativity-allowlist.json');
const SARIF_PATH = path.join(REPO, 'artifacts', 'electronegativity.sarif');
const requireHere = createRequire(__filename);
const ELECTRONEGATIVITY = requireHere.resolve('@doyensec/electronegativity');
const ELECTRON_VERSION = (
  JSON.parse(
    fs.readFileSync(
      path.join(path.dirname(requireHere.resolve('electron')), 'package.json'),
      'utf8',
    ),
  ) as { version: string }
).version;

/**
 * Checks left out: AvailableSecurityFixesGlobalCheck downloads Electron's
 * release list to name fixes missing from the installed version. It needs
 * the network (CI machines here have none) and answers about the Electron
 * release, not about our code; upgrading Electron is Dependabot's job.
 */
const EXCLUDED_CHECKS = ['AvailableSecurityFixesGlobalCheck'];

/** A deliberately bad window, scanned with the app, proves findings get through. */
const CANARY_FILE = 'canary/insecure-window.js';
const CANARY_SOURCE = `const { BrowserWindow } = require('electron');
new BrowserWindow({ webPreferences: { nodeIntegration: true, contextIsolation: false } });
`;

interface AllowlistEntry {
  check: string;
  file: string;
  reason: string;
}

interface Finding {
  check: string;
  file: string;
  line: number;
  message: string;
}

interface ScanOutcome {
  atomicChecks: number;
  globalChecks: number;
  errors: { file: string; message: string; tolerable: boolean }[];
  /** URLs Electronegativity tried to fetch (none is let through). */
  requests: string[];
}

/**
 * Copies what ships from main/ and renderer/: main/'s TypeScript as
 * tsconfig.main.json compiles it, the renderer's sources and page; no
 * tests, test support or fixtures (golden reports may be HTML).
 */
function stageSources(into: string): void {
  const scanned: Record<string, RegExp> = {
    main: /\.ts$/,
    renderer: /\.(js|jsx|ts|tsx|html|htm)$/,
  };
  const skip = (rel: string): boolean =>
    /(^|\/)node_modules(\/|$)/.test(rel) ||
    /\.test\.tsx?$/.test(rel) ||
    rel.startsWith('main/test-support/');
  for (const top of ['main', 'renderer']) {
    for (const rel of fs.readdirSync(path.join(REPO, top), { recursive: true }) as string[]) {
      const relPath = path.posix.join(top, rel.split(path.sep).join('/'));
      const from = path.join(REPO, relPath);
      if (skip(relPath) || !scanned[top]!.test(relPath) || !fs.statSync(from).isFile()) continue;
      fs.mkdirSync(path.dirname(path.join(into, relPath)), { recursive: true });
      fs.copyFileSync(from, path.join(into, relPath));
    }
  }
  fs.mkdirSync(path.join(into, path.dirname(CANARY_FILE)), { recursive: true });
  fs.writeFileSync(path.join(into, CANARY_FILE), CANARY_SOURCE);
}

/**
 * Runs Electronegativity through its Node API in a child process: it
 * registers its translation function on `global` and logs through
 * console/winston, none of which belongs in the test worker. Its `got`
 * (HTTP client) is replaced by one that records the URL and fails, so the
 * scan is the same offline and on a connected machine (it fetches
 * translations on start and falls back to the bundled English ones).
 */
function scan(input: string, sarifPath: string, workDir: string): ScanOutcome {
  const outcomePath = path.join(workDir, 'outcome.json');
  const script = `
    const Module = require('node:module');
    const fs = require('node:fs');
    const requests = [];
    const realLoad = Module._load;
    Module._load = function (request, ...rest) {
      if (request === 'got') {
        return (url) => {
          requests.push(String(url));
          return Promise.reject(new Error('no network in the Electronegativity gate'));
        };
      }
      return realLoad.call(this, request, ...rest);
    };
    const run = require(${JSON.stringify(ELECTRONEGATIVITY)});
    run({
      input: ${JSON.stringify(input)},
      output: ${JSON.stringify(sarifPath)},
      isSarif: true,
      isRelative: true,
      excludeFromScan: ${JSON.stringify(EXCLUDED_CHECKS)},
      electronVersionOverride: ${JSON.stringify(ELECTRON_VERSION)},
    }).then((result) => {
      fs.writeFileSync(${JSON.stringify(outcomePath)}, JSON.stringify({
        atomicChecks: result.atomicChecks,
        globalChecks: result.globalChecks,
        errors: result.errors,
        requests,
      }));
    }, (error) => {
      process.stderr.write(String(error && error.stack || error));
      process.exitCode = 1;
    });
  `;
  execFileSync(process.execPath, ['-e', script], {
    cwd: workDir,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    timeout: 110_000,
  });
  return JSON.parse(fs.readFileSync(outcomePath, 'utf8')) as ScanOutcome;
}

function readFindings(sarifPath: string): Finding[] {
  const sarif = JSON.parse(fs.readFileSync(sarifPath, 'utf8')) as {
    version: string;
    runs: {
      results: {
        ruleId: string;
        message: { text: string };
        locations: {
          physicalLocation: { artifactLocation: { uri: string }; region: { startLine: number } };
        }[];
      }[];
    }[];
  };
  expect(sarif.version).toBe('2.1.0');
  return sarif.runs.flatMap((run) =>
    run.results.map((result) => {
      const where = result.locations[0]?.physicalLocation;
      const uri = where?.artifactLocation.uri ?? 'file:///';
      return {
        check: result.ruleId,
        // Global checks about the whole app have no file.
        file: uri === 'file:///' ? 'N/A' : uri.split(path.sep).join('/'),
        line: where?.region.startLine ?? 0,
        message: result.message.text,
      };
    }),
  );
}

interface CspAllowlistEntry {
  directive: string;
  severity: string;
  reason: string;
}

function readAllowlistFile(): { entries: AllowlistEntry[]; cspEvaluator: CspAllowlistEntry[] } {
  return JSON.parse(fs.readFileSync(ALLOWLIST_PATH, 'utf8')) as {
    entries: AllowlistEntry[];
    cspEvaluator: CspAllowlistEntry[];
  };
}

function readAllowlist(): AllowlistEntry[] {
  return readAllowlistFile().entries;
}

describe('Electronegativity on main/ and renderer/', () => {
  let work: string;
  let outcome: ScanOutcome;
  let findings: Finding[];

  beforeAll(() => {
    work = tempDir('hookscope-electronegativity-');
    const input = path.join(work, 'app');
    stageSources(input);
    for (const shipped of [
      'main/desktop/main-electron.ts',
      'main/desktop/preload-electron.ts',
      'main/desktop/desktop-policy.ts',
      'renderer/index.html',
    ]) {
      expect(fs.existsSync(path.join(input, shipped)), `${shipped} is scanned`).toBe(true);
    }
    fs.mkdirSync(path.dirname(SARIF_PATH), { recursive: true });
    // Electronegativity writes the SARIF with a callback, so a failed run
    // must not leave an older file to be read in its place.
    fs.rmSync(SARIF_PATH, { force: true });
    outcome = scan(input, SARIF_PATH, work);
    findings = readFindings(SARIF_PATH);
  });

  afterAll(() => {
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('ran every check but the excluded one, offline, and parsed every file', () => {
    // 36 atomic checks and 7 global ones in 1.10.3, one global excluded.
    expect(outcome.atomicChecks).toBeGreaterThanOrEqual(30);
    expect(outcome.globalChecks).toBeGreaterThanOrEqual(5);
    // The only request it makes without the excluded check is for translations.
    expect(outcome.requests.filter((url) => !url.includes('electronegativity-i18n'))).toEqual([]);
    // A file it cannot parse is a file it did not check.
    expect(outcome.errors.filter((error) => !error.tolerable)).toEqual([]);
  });

  it('finds what it should (the canary window)', () => {
    const canary = findings.filter((f) => f.file === CANARY_FILE).map((f) => f.check);
    expect(canary).toContain('NODE_INTEGRATION_JS_CHECK');
    expect(canary).toContain('CONTEXT_ISOLATION_JS_CHECK');
  });

  it('reports nothing the allowlist does not explain', () => {
    const allowlist = readAllowlist();
    const explained = (f: Finding): boolean =>
      allowlist.some((entry) => entry.check === f.check && entry.file === f.file);
    const unexplained = findings
      .filter((f) => f.file !== CANARY_FILE && !explained(f))
      .map((f) => `${f.check} at ${f.file}:${f.line}: ${f.message}`);
    expect(
      unexplained,
      `fix these, or explain each in ${path.relative(REPO, ALLOWLIST_PATH)} (SARIF: ${path.relative(REPO, SARIF_PATH)})`,
    ).toEqual([]);
  });

  it('has an allowlist of live entries, each with a reason', () => {
    for (const entry of readAllowlist()) {
      expect(entry.check, JSON.stringify(entry)).toMatch(/^[A-Z_]+$/);
      expect(entry.reason.length, `${entry.check}: the reason must say why`).toBeGreaterThan(40);
      expect(
        findings.some((f) => f.check === entry.check && f.file === entry.file),
        `${entry.check} at ${entry.file} is no longer reported: remove it from the allowlist`,
      ).toBe(true);
    }
  });
});

describe('the content security policy Electronegativity cannot see', () => {
  // The CSP is a header the app:// handler (and the web host) sends from a
  // constant; Electronegativity only reads CSP literals in HTML and
  // webRequest handlers, so it reports "no CSP" (allowlisted). Here the
  // same evaluator it would use judges the policy really sent.
  it('is sent with the bundle by the app:// handler', async () => {
    const answer = await bundleResponse(APP_START_URL, rendererBundleDir());
    expect(answer.status).toBe(200);
    expect(answer.headers['Content-Security-Policy']).toBe(CONTENT_SECURITY_POLICY);
  });

  it('has no weakness Electronegativity’s CSP check would report', () => {
    const electronegativityRequire = createRequire(ELECTRONEGATIVITY);
    const csp = electronegativityRequire('@doyensec/csp-evaluator') as {
      CspParser: new (text: string) => { csp: unknown };
      CspEvaluator: new (
        policy: unknown,
        version: unknown,
      ) => {
        evaluate(): { severity: number; description: string; directive: string }[];
      };
      Version: { CSP3: unknown };
      severities: Record<string, number>;
    };
    const findings = new csp.CspEvaluator(
      new csp.CspParser(CONTENT_SECURITY_POLICY).csp,
      csp.Version.CSP3,
    ).evaluate();
    // The severities CSPGlobalCheck turns into "weak" or "maybe weak".
    const reportedNames = ['HIGH', 'MEDIUM', 'HIGH_MAYBE', 'MEDIUM_MAYBE'];
    const severityName = (value: number): string =>
      Object.keys(csp.severities).find((name) => csp.severities[name] === value) ?? String(value);
    const reported = findings
      .filter((f) => reportedNames.includes(severityName(f.severity)))
      .map((f) => ({ ...f, severityName: severityName(f.severity) }));
    const allowed = readAllowlistFile().cspEvaluator;
    expect(
      reported
        .filter(
          (f) => !allowed.some((a) => a.directive === f.directive && a.severity === f.severityName),
        )
        .map((f) => `${f.directive} (${f.severityName}): ${f.description}`),
      `tighten the CSP in main/web/web-host.ts, or explain the finding in ${path.relative(REPO, ALLOWLIST_PATH)}`,
    ).toEqual([]);
    for (const entry of allowed) {
      expect(entry.reason.length, `${entry.directive}: the reason must say why`).toBeGreaterThan(
        40,
      );
      expect(
        reported.some((f) => f.directive === entry.directive && f.severityName === entry.severity),
        `${entry.directive} (${entry.severity}) is no longer reported: remove it from the allowlist`,
      ).toBe(true);
    }
  });
});
