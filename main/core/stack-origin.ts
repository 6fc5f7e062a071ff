// Which code an event or intent "comes from": the innermost frame of its
// stack that is not Python's own machinery. An import is raised inside
// importlib and a socket.connect inside socket.py; the module that asked
// for them is further out, and that is what a reviewer (and a policy's
// `module`/`package`) means.

import type { StackFrame } from './protocol/records.js';

/** importlib's frames and code compiled from no file. */
const MACHINERY_FILE = /^<frozen |^<frozen>$/;
/**
 * The standard library's directories in the usual layouts (CPython builds,
 * pyenv, Debian, Fedora): `.../lib/python3.X/` and its zip, but not the
 * site-packages and dist-packages below them, which hold third-party code.
 */
const STDLIB_FILE =
  /\/lib(?:64)?\/python3(?:\.\d+)?\/(?!(?:site|dist)-packages\/)|\/lib\/python3\d+\.zip\//;
const MACHINERY_MODULE =
  /^(?:importlib|_frozen_importlib|_frozen_importlib_external|runpy|zipimport)(?:\.|$)/;

export interface StackOrigin {
  /** Dotted module name of that frame. */
  module: string;
  /** Its top-level package. */
  package: string;
  /** Index of the frame in the stack (innermost first). */
  frame: number;
}

export function isLibraryFrame(frame: StackFrame): boolean {
  return (
    MACHINERY_FILE.test(frame.file) ||
    STDLIB_FILE.test(frame.file) ||
    (frame.module !== null && MACHINERY_MODULE.test(frame.module))
  );
}

/** The innermost frame outside the standard library, with a module name; null when none. */
export function originOf(stack: readonly StackFrame[] | null): StackOrigin | null {
  if (stack === null) return null;
  for (let i = 0; i < stack.length; i++) {
    const frame = stack[i] as StackFrame;
    if (frame.module === null || isLibraryFrame(frame)) continue;
    return { module: frame.module, package: frame.module.split('.')[0] as string, frame: i };
  }
  return null;
}

/** "file:line in function" lines, innermost first, for terminals. */
export function formatStack(stack: readonly StackFrame[], indent = '    '): string[] {
  return stack.map(
    (f) => `${indent}at ${f.file}:${f.line} in ${f.function}${f.module ? ` (${f.module})` : ''}`,
  );
}
