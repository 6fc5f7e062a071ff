// Reading a CPython build from file contents alone.
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';

import { findOnPath } from './attacher-context.js';
import { fromVersionHex, libraryNameHint, readPythonBuild } from './python-build.js';
import { tempDir } from '../test-support/cli.js';

describe('fromVersionHex', () => {
  it('decodes PY_VERSION_HEX, final and pre-release', () => {
    expect(fromVersionHex(0x030b02f0)).toEqual({ major: 3, minor: 11, version: '3.11.2' });
    expect(fromVersionHex(0x030e00c1)).toEqual({ major: 3, minor: 14, version: '3.14.0rc1' });
    expect(fromVersionHex(0x030d00a3)).toEqual({ major: 3, minor: 13, version: '3.13.0a3' });
    expect(fromVersionHex(0)).toBeNull();
  });
});

describe('libraryNameHint', () => {
  it('reads major, minor and ABI flags from libpython names only', () => {
    expect(libraryNameHint('libpython3.13t.so.1.0')).toEqual({
      major: 3,
      minor: 13,
      abiFlags: 't',
    });
    expect(libraryNameHint('libpython3.7m.so.1.0')).toEqual({ major: 3, minor: 7, abiFlags: 'm' });
    expect(libraryNameHint('libpython2.7.so')).toEqual({ major: 2, minor: 7, abiFlags: '' });
    expect(libraryNameHint('libpython3.so')).toBeNull();
    expect(libraryNameHint('python3.11')).toBeNull();
  });
});

describe('readPythonBuild', () => {
  it('says a non-ELF file and an ELF program without the interpreter are not CPython', () => {
    const dir = tempDir();
    const script = path.join(dir, 'python3.11');
    fs.writeFileSync(script, '#!/bin/sh\nexec sleep 1\n');
    expect(readPythonBuild(script)).toBeNull();
    expect(readPythonBuild(findOnPath('sleep', process.env.PATH ?? '/usr/bin:/bin')!)).toBeNull();
    expect(readPythonBuild(process.execPath)).toBeNull();
  });

  it('throws the fs error for a file it cannot open', () => {
    expect(() => readPythonBuild('/nonexistent/libpython3.11.so.1.0')).toThrow(/ENOENT/);
  });
});
