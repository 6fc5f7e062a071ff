// Globs for policy rules (docs/policy.md, "Globs").
//
// A glob is compiled once, when the policy loads, into a token list. It is
// matched by stepping a set of token positions through the text (an NFA
// simulation), so the cost is at most text length × pattern length. A
// regular expression would backtrack: `*a*a*a*b` against a 4 KiB argument
// that the target chose could stall the inspector, and with it the target
// thread waiting for an answer. Patterns with no wildcard, or with one
// trailing wildcard, take a plain string comparison.

/**
 * - `name`: dotted names (audit events, modules). `*` and `**` match any
 *   characters, dots included; `?` matches any one character.
 * - `path`: absolute, normalised file paths. `*` and `?` stay inside one
 *   `/` segment; `**` is a whole segment and crosses segments.
 * - `argument`: like `path`, but need not be absolute or normalised.
 */
export type GlobFlavour = 'name' | 'path' | 'argument';

/** Why a pattern was refused, and where: a code-unit index into it. */
export interface GlobProblem {
  index: number;
  message: string;
}

export interface Glob {
  readonly pattern: string;
  /** True when `text` matches the whole pattern. */
  matches(text: string): boolean;
  /** The compiled token list, as the agent receives it (docs/protocol.md, "Compiled policy"). */
  tokens(): GlobTokens;
}

/**
 * Token kinds. The numbers are part of the agent protocol (docs/protocol.md,
 * "Compiled policy"): the agent runs the same matcher over the same tokens,
 * so they must never be renumbered.
 */
export const enum Token {
  /** One given code point. */
  LITERAL = 0,
  /** `?`: one code point other than the separator. */
  ONE = 1,
  /** Inside a DIRS: any code point; a separator may also end it. */
  DIRS_INSIDE = 2,
  // The kinds from here on may match nothing (see close()).
  /** `*`: any run of code points without the separator. */
  STAR = 3,
  /** Trailing `**` (or any `*` in a name): any run of code points. */
  ANY = 4,
  /**
   * `**` followed by a separator: nothing, or any run ending in a
   * separator. Its entry position; the next token is its DIRS_INSIDE.
   */
  DIRS = 5,
}

/** A compiled glob as plain data: what the agent's matcher steps through. */
export interface GlobTokens {
  /** 0: no separator (names); 1: `/` (paths and arguments). */
  separator: 0 | 1;
  /** One Token per position. */
  kinds: number[];
  /** The code point of each LITERAL token; 0 for the other kinds. */
  points: number[];
}

const SLASH = 0x2f;
const NO_SEPARATOR = -1;
const RESERVED = new Set(['[', ']', '{', '}']);

/** Compiles `pattern`, or says why it is not a valid glob of that flavour. */
export function compileGlob(pattern: string, flavour: GlobFlavour): Glob | GlobProblem {
  if (pattern.length === 0) return { index: 0, message: 'empty pattern' };
  if (pattern.startsWith('!')) {
    return {
      index: 0,
      message: 'a leading "!" is reserved (globs have no negation); write "\\!" to match it',
    };
  }
  if (flavour === 'path') {
    const problem = pathShapeProblem(pattern);
    if (problem) return problem;
  }
  const separator = flavour === 'name' ? NO_SEPARATOR : SLASH;
  const kinds: Token[] = [];
  const points: number[] = [];
  const push = (kind: Token, point = 0): void => {
    kinds.push(kind);
    points.push(point);
  };
  let i = 0;
  while (i < pattern.length) {
    const point = pattern.codePointAt(i) as number;
    const ch = String.fromCodePoint(point);
    const width = ch.length;
    if (ch === '\\') {
      if (i + 1 >= pattern.length) {
        return { index: i, message: 'ends with a lone "\\" (it escapes the next character)' };
      }
      const escaped = pattern.codePointAt(i + 1) as number;
      push(Token.LITERAL, escaped);
      i += 1 + String.fromCodePoint(escaped).length;
      continue;
    }
    if (RESERVED.has(ch)) {
      return {
        index: i,
        message: `"${ch}" is reserved (no character classes or braces); write "\\${ch}" to match it`,
      };
    }
    if (ch === '?') {
      push(Token.ONE);
      i += 1;
      continue;
    }
    if (ch !== '*') {
      push(Token.LITERAL, point);
      i += width;
      continue;
    }
    let run = 1;
    while (pattern[i + run] === '*') run++;
    if (run > 2) return { index: i, message: `${run} "*" in a row; use "*" or "**"` };
    if (separator === NO_SEPARATOR) {
      push(Token.ANY);
      i += run;
      continue;
    }
    if (run === 1) {
      push(Token.STAR);
      i += 1;
      continue;
    }
    const before = i === 0 ? '/' : pattern[i - 1];
    const after = pattern[i + 2];
    if (before !== '/' || (after !== undefined && after !== '/')) {
      return {
        index: i,
        message: '"**" must be a whole path segment, as in "/a/**/b.py"; use "*" inside a segment',
      };
    }
    if (after === '/') {
      push(Token.DIRS);
      push(Token.DIRS_INSIDE);
      i += 3;
    } else {
      push(Token.ANY);
      i += 2;
    }
  }
  return new CompiledGlob(pattern, kinds, points, separator);
}

/** Absolute, no empty, `.` or `..` segments, no trailing slash. */
function pathShapeProblem(pattern: string): GlobProblem | null {
  if (!pattern.startsWith('/')) {
    return { index: 0, message: 'must be an absolute path (start with "/")' };
  }
  let start = 1;
  for (;;) {
    const slash = pattern.indexOf('/', start);
    const end = slash === -1 ? pattern.length : slash;
    const segment = pattern.slice(start, end);
    if (segment === '') {
      return {
        index: start,
        message:
          slash === -1
            ? 'ends with "/": patterns name files; write "/dir/**" for everything below a directory'
            : 'has an empty segment ("//"); real paths never do',
      };
    }
    if (segment === '.' || segment === '..') {
      return { index: start, message: `has a "${segment}" segment; real paths never do` };
    }
    if (slash === -1) return null;
    start = slash + 1;
  }
}

/** `\`-escapes every character a glob would treat specially. */
export function escapeGlob(text: string): string {
  const escaped = text.replace(/[\\*?[\]{}]/g, (ch) => `\\${ch}`);
  return escaped.startsWith('!') ? `\\${escaped}` : escaped;
}

class CompiledGlob implements Glob {
  readonly pattern: string;
  private readonly kinds: Uint8Array;
  private readonly points: Int32Array;
  private readonly separator: number;
  /** The whole text when the pattern has no wildcard. */
  private readonly literal: string | null;
  /** The text before a single trailing wildcard. */
  private readonly prefix: string | null;
  private readonly prefixStar: boolean;
  // Scratch state sets, reused: matching is synchronous, so never shared.
  private current: Uint8Array;
  private next: Uint8Array;

  constructor(pattern: string, kinds: Token[], points: number[], separator: number) {
    this.pattern = pattern;
    this.kinds = Uint8Array.from(kinds);
    this.points = Int32Array.from(points);
    this.separator = separator;
    const wildcards = kinds.filter((k) => k !== Token.LITERAL).length;
    const text = (upTo: number): string => String.fromCodePoint(...points.slice(0, upTo));
    const last = kinds[kinds.length - 1];
    this.literal = wildcards === 0 ? text(kinds.length) : null;
    this.prefix =
      wildcards === 1 && (last === Token.ANY || last === Token.STAR)
        ? text(kinds.length - 1)
        : null;
    this.prefixStar = last === Token.STAR;
    this.current = new Uint8Array(kinds.length + 1);
    this.next = new Uint8Array(kinds.length + 1);
  }

  tokens(): GlobTokens {
    return {
      separator: this.separator === SLASH ? 1 : 0,
      kinds: Array.from(this.kinds),
      points: Array.from(this.points),
    };
  }

  matches(text: string): boolean {
    if (this.literal !== null) return text === this.literal;
    if (this.prefix !== null) {
      if (!text.startsWith(this.prefix)) return false;
      return !this.prefixStar || text.indexOf('/', this.prefix.length) === -1;
    }
    return this.simulate(text);
  }

  private simulate(text: string): boolean {
    const { kinds, points, separator } = this;
    const m = kinds.length;
    let current = this.current;
    let next = this.next;
    current.fill(0);
    current[0] = 1;
    this.close(current);
    for (let i = 0; i < text.length;) {
      const point = text.codePointAt(i) as number;
      i += point > 0xffff ? 2 : 1;
      next.fill(0);
      let alive = false;
      for (let s = 0; s < m; s++) {
        if (current[s] === 0) continue;
        switch (kinds[s] as Token) {
          case Token.LITERAL:
            if (point === points[s]) next[s + 1] = 1;
            break;
          case Token.ONE:
            if (point !== separator) next[s + 1] = 1;
            break;
          case Token.STAR:
            if (point !== separator) next[s] = 1;
            break;
          case Token.ANY:
            next[s] = 1;
            break;
          case Token.DIRS:
            next[s + 1] = 1;
            if (point === separator) next[s + 2] = 1;
            break;
          case Token.DIRS_INSIDE:
            next[s] = 1;
            if (point === separator) next[s + 1] = 1;
            break;
        }
      }
      this.close(next);
      for (let s = 0; s <= m; s++) {
        if (next[s] === 1) {
          alive = true;
          break;
        }
      }
      if (!alive) return false;
      const swap = current;
      current = next;
      next = swap;
    }
    const matched = current[m] === 1;
    this.current = current;
    this.next = next;
    return matched;
  }

  /** Adds the positions reachable without reading: past wildcards that may match nothing. */
  private close(set: Uint8Array): void {
    const kinds = this.kinds;
    for (let s = 0; s < kinds.length; s++) {
      if (set[s] !== 1) continue;
      const kind = kinds[s] as Token;
      // DIRS skips itself and its DIRS_INSIDE.
      if (kind === Token.DIRS) set[s + 2] = 1;
      else if (kind >= Token.STAR) set[s + 1] = 1;
    }
  }
}
