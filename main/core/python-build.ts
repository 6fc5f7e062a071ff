// Which CPython a binary holds, read from the binary itself: never from its
// name, since a renamed or symlinked interpreter is still CPython and a
// program that happens to be called `python3.11` is not.
import fs from 'node:fs';

import { ElfFile, NotElfError } from './elf-file.js';

export interface PythonBuild {
  major: number;
  minor: number;
  /** "3.11.2", "3.14.0rc1"; only "3.8" when the patch level cannot be read. */
  version: string;
  freeThreaded: boolean;
}

/** What a libpython file name says: `libpython3.13t.so.1.0` is 3.13, free-threaded. */
export interface LibraryNameHint {
  major: number;
  minor: number;
  abiFlags: string;
}

const LIBPYTHON_NAME = /^libpython(\d)\.(\d{1,2})([a-z]*)\.so(?:\.[0-9.]*)?$/;

/** Parses a libpython file name (basename); null for anything else, e.g. the stable-ABI `libpython3.so`. */
export function libraryNameHint(basename: string): LibraryNameHint | null {
  const m = LIBPYTHON_NAME.exec(basename);
  if (!m) return null;
  return { major: Number(m[1]), minor: Number(m[2]), abiFlags: m[3] ?? '' };
}

interface CacheEntry {
  build: PythonBuild | null;
}

/**
 * Keyed by device, inode, mtime and size: `hookscope ps` looks at hundreds
 * of processes that share a handful of binaries, and a binary replaced in
 * place gets a new key.
 */
const cache = new Map<string, CacheEntry>();

/**
 * The CPython build in `file` (an executable or a libpython), or null when
 * the file is not CPython (no exported `Py_Initialize`) or not ELF. `hint`,
 * from a libpython file name, fills in what the contents do not say.
 * Throws the fs error when the file cannot be opened (EACCES, ENOENT).
 */
export function readPythonBuild(
  file: string,
  hint: LibraryNameHint | null = null,
): PythonBuild | null {
  const st = fs.statSync(file, { bigint: true });
  const key = `${st.dev}:${st.ino}:${st.mtimeNs}:${st.size}:${hint ? `${hint.major}.${hint.minor}${hint.abiFlags}` : ''}`;
  const hit = cache.get(key);
  if (hit) return hit.build;
  let elf: ElfFile;
  try {
    elf = ElfFile.open(file);
  } catch (error) {
    if (error instanceof NotElfError) {
      cache.set(key, { build: null });
      return null;
    }
    throw error;
  }
  let build: PythonBuild | null;
  try {
    build = identify(elf, hint);
  } catch (error) {
    if (!(error instanceof NotElfError)) throw error;
    build = null;
  } finally {
    elf.close();
  }
  cache.set(key, { build });
  return build;
}

function identify(elf: ElfFile, hint: LibraryNameHint | null): PythonBuild | null {
  // Every CPython, shared or static, 2.x to 3.14, exports the C API; a
  // program linked against libpython does not define it itself, so only the
  // binary that holds the interpreter matches.
  if (!elf.dynamicSymbol('Py_Initialize')) return null;
  const freeThreaded =
    (hint?.abiFlags.includes('t') ?? false) ||
    // Biased reference counting exists only in free-threaded builds, and
    // Py_DECREF there calls these out of line, so they are exported.
    elf.dynamicSymbol('_Py_MergeZeroLocalRefcount') !== undefined ||
    elf.dynamicSymbol('_Py_DecRefShared') !== undefined;

  // 3.11+: `const unsigned long Py_Version = PY_VERSION_HEX;`
  const versionSymbol = elf.dynamicSymbol('Py_Version');
  if (versionSymbol) {
    const bytes = elf.symbolBytes(versionSymbol);
    if (bytes && [4, 8].includes(bytes.length)) {
      const fromHex = fromVersionHex(Number(elf.unsigned(bytes) & 0xffffffffn));
      if (fromHex) return { ...fromHex, freeThreaded };
    }
  }

  const rodata = readOnlyStrings(elf);
  let major = hint?.major ?? null;
  let minor = hint?.minor ?? null;
  if (major === null || minor === null) {
    // Python 2 exports the str/bytes API under PyString_*; Python 3 does not.
    major = elf.dynamicSymbol('PyString_FromString') ? 2 : 3;
    minor = major === 3 ? cacheTagMinor(rodata) : libDirMinor(dataStrings(elf));
    if (minor === null) return null;
  }
  const patch = patchVersion(rodata, major, minor);
  return { major, minor, version: patch ?? `${major}.${minor}`, freeThreaded };
}

const RELEASE_LEVELS: Record<number, string> = { 0xa: 'a', 0xb: 'b', 0xc: 'rc', 0xf: '' };

/** PY_VERSION_HEX (e.g. 0x030b02f0) to its parts; null when it is not one. */
export function fromVersionHex(hex: number): Omit<PythonBuild, 'freeThreaded'> | null {
  const major = (hex >>> 24) & 0xff;
  const minor = (hex >>> 16) & 0xff;
  const micro = (hex >>> 8) & 0xff;
  const level = RELEASE_LEVELS[(hex >>> 4) & 0xf];
  const serial = hex & 0xf;
  if (level === undefined || major < 2 || major > 9) return null;
  const suffix = level === '' ? '' : `${level}${serial}`;
  return { major, minor, version: `${major}.${minor}.${micro}${suffix}` };
}

/** The read-only data of the binary as one latin1 string (CPython's literals live there). */
function readOnlyStrings(elf: ElfFile): string {
  return elf.sections
    .filter((s) => s.name === '.rodata' || s.name.startsWith('.rodata.'))
    .map((s) => elf.sectionBytes(s).toString('latin1'))
    .join('\0');
}

/** Initialised writable data, where Python 2 keeps `static char lib_python[]`. */
function dataStrings(elf: ElfFile): string {
  return elf.sections
    .filter((s) => s.name === '.data')
    .map((s) => elf.sectionBytes(s).toString('latin1'))
    .join('\0');
}

/** Python 3.2+ names its bytecode cache `cpython-3X`; the literal is in every build. */
function cacheTagMinor(rodata: string): number | null {
  const minors = new Set<number>();
  for (const m of rodata.matchAll(/\0cpython-3(\d{1,2})\0/g)) minors.add(Number(m[1]));
  return minors.size === 1 ? [...minors][0]! : null;
}

/** Python 2's getpath.c holds "lib/python2.X" in a writable char array. */
function libDirMinor(rodata: string): number | null {
  const minors = new Set<number>();
  for (const m of rodata.matchAll(/lib\/python2\.(\d)\0/g)) minors.add(Number(m[1]));
  return minors.size === 1 ? [...minors][0]! : null;
}

/**
 * PY_VERSION ("3.8.18") is a string literal, but the linker may merge it
 * into the tail of a longer one (pyenv: "/root/.pyenv/versions/3.8.18"), so
 * look for string ends of the form MAJOR.MINOR.PATCH. Only an unambiguous
 * answer counts: a build path naming another patch level gives none.
 */
function patchVersion(rodata: string, major: number, minor: number): string | null {
  const found = new Set<string>();
  const pattern = new RegExp(
    `(?<![0-9.])${major}\\.${minor}\\.(\\d{1,2})((?:a|b|rc)\\d{1,2})?\\+?\\0`,
    'g',
  );
  for (const m of rodata.matchAll(pattern)) found.add(`${major}.${minor}.${m[1]}${m[2] ?? ''}`);
  return found.size === 1 ? [...found][0]! : null;
}
