// The product version, from the root package.json.
import fs from 'node:fs';
import path from 'node:path';

function readVersion(): string {
  for (const up of ['../..', '../../../..']) {
    try {
      const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, up, 'package.json'), 'utf8')) as {
        name?: string;
        version?: string;
      };
      if (pkg.name === 'hookscope' && pkg.version) return pkg.version;
    } catch {
      // try the next location
    }
  }
  return '0.0.0';
}

export const HOOKSCOPE_VERSION = readVersion();
