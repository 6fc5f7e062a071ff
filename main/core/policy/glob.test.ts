import { describe, expect, it } from 'vitest';

import { compileGlob, escapeGlob, type Glob, type GlobFlavour } from './glob.js';

function glob(pattern: string, flavour: GlobFlavour): Glob {
  const g = compileGlob(pattern, flavour);
  if ('message' in g) throw new Error(`${pattern}: ${g.message}`);
  return g;
}

describe('name globs (events, modules)', () => {
  it('* crosses dots, so a namespace rule covers every level below it', () => {
    const g = glob('sys.*', 'name');
    expect(g.matches('sys.settrace')).toBe(true);
    expect(g.matches('sys.monitoring.register_callback')).toBe(true);
    expect(g.matches('sys')).toBe(false);
    expect(g.matches('sysx.settrace')).toBe(false);
    expect(glob('**', 'name').matches('anything.at.all')).toBe(true);
    expect(glob('*', 'name').matches('os.system')).toBe(true);
  });

  it('matches exactly, with ? as one character and \\ as escape', () => {
    expect(glob('open', 'name').matches('open')).toBe(true);
    expect(glob('open', 'name').matches('opened')).toBe(false);
    expect(glob('os.?ork', 'name').matches('os.fork')).toBe(true);
    expect(glob('os.?ork', 'name').matches('os.forkpty')).toBe(false);
    expect(glob('cpython.run_*', 'name').matches('cpython.run_command')).toBe(true);
    expect(glob('a\\*b', 'name').matches('a*b')).toBe(true);
    expect(glob('a\\*b', 'name').matches('axb')).toBe(false);
    expect(glob('*.connect/handle', 'name').matches('sqlite3.connect/handle')).toBe(true);
    expect(glob('*Popen', 'name').matches('subprocess.Popen')).toBe(true);
    expect(glob('s*.*n', 'name').matches('subprocess.Popen')).toBe(true);
  });

  it('? is one code point, even outside the BMP', () => {
    expect(glob('x?y', 'name').matches('x\u{1F600}y')).toBe(true);
    expect(glob('x??y', 'name').matches('x\u{1F600}y')).toBe(false);
  });
});

describe('path globs', () => {
  it('* and ? stay inside a segment; ** crosses them', () => {
    const star = glob('/usr/lib/python3.*/*.py', 'path');
    expect(star.matches('/usr/lib/python3.12/os.py')).toBe(true);
    expect(star.matches('/usr/lib/python3.12/json/decoder.py')).toBe(false);
    const deep = glob('/usr/lib/python3.*/**', 'path');
    expect(deep.matches('/usr/lib/python3.12/json/decoder.py')).toBe(true);
    expect(deep.matches('/usr/lib/python3/json.py')).toBe(false);
    expect(glob('/srv/*', 'path').matches('/srv/app/x.py')).toBe(false);
    expect(glob('/srv/*', 'path').matches('/srv/x.py')).toBe(true);
    expect(glob('/srv/?.py', 'path').matches('/srv/a.py')).toBe(true);
    expect(glob('/srv/?.py', 'path').matches('/srv//.py')).toBe(false);
  });

  it('a/**/b also matches a/b, and any depth between', () => {
    const g = glob('/srv/**/conftest.py', 'path');
    expect(g.matches('/srv/conftest.py')).toBe(true);
    expect(g.matches('/srv/a/conftest.py')).toBe(true);
    expect(g.matches('/srv/a/b/c/conftest.py')).toBe(true);
    expect(g.matches('/srv/a/xconftest.py')).toBe(false);
    expect(g.matches('/srvx/conftest.py')).toBe(false);
    expect(glob('/**/*.so', 'path').matches('/x.so')).toBe(true);
    expect(glob('/**/*.so', 'path').matches('/a/b/x.so')).toBe(true);
  });

  it('takes linear time on patterns that make a regular expression backtrack', () => {
    const g = glob('/*a*a*a*a*a*a*a*b', 'argument');
    const text = `/${'a'.repeat(4096)}`;
    // Correctness only: a backtracking matcher would not return in any
    // reasonable time here; this one steps through the text once.
    expect(g.matches(text)).toBe(false);
    expect(g.matches(`${text}b`)).toBe(true);
  });

  it('refuses what could not match a real path, saying where', () => {
    const cases: [string, number, RegExp][] = [
      ['usr/lib/*.py', 0, /absolute/],
      ['/usr//lib', 5, /empty segment/],
      ['/usr/../etc', 5, /"\.\." segment/],
      ['/usr/./etc', 5, /"\." segment/],
      ['/usr/lib/', 9, /ends with "\/"/],
      ['/usr/**x', 5, /whole path segment/],
      ['/usr/x**', 6, /whole path segment/],
      ['/usr/***', 5, /3 "\*" in a row/],
      ['/usr/[ab].py', 5, /reserved/],
      ['/usr/{a,b}.py', 5, /reserved/],
      ['/usr/x\\', 6, /lone "\\"/],
    ];
    for (const [pattern, index, message] of cases) {
      const g = compileGlob(pattern, 'path');
      expect(g, pattern).toMatchObject({ index });
      expect('message' in g && g.message, pattern).toMatch(message);
    }
    expect(compileGlob('', 'name')).toMatchObject({ index: 0, message: 'empty pattern' });
    expect(compileGlob('!os.system', 'name')).toMatchObject({ index: 0 });
  });
});

describe('escapeGlob', () => {
  it('turns any text into a pattern that matches exactly that text', () => {
    for (const text of ['/srv/we*ird[1]{x}?.py', '!bang', 'a\\b', 'plain.event']) {
      const g = glob(escapeGlob(text), 'name');
      expect(g.matches(text), text).toBe(true);
      expect(g.matches(`${text}x`), text).toBe(false);
    }
    const p = glob(escapeGlob('/srv/we*ird/x?.py'), 'path');
    expect(p.matches('/srv/we*ird/x?.py')).toBe(true);
    expect(p.matches('/srv/weXird/xy.py')).toBe(false);
  });
});
