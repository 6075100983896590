/**
 * Python's string semantics that MeZO's templates and the official SQuAD script rely on, in JS: the
 * two languages differ on what whitespace and word characters are.
 */

/** Python's `str.strip(' ')`: spaces only, not tabs or newlines. */
export function stripSpaces(s: string): string {
  return s.replace(/^ +| +$/g, '');
}

// Python's str.isspace() set, which differs from JS \s (Python adds \x1c-\x1f and \x85, lacks \ufeff).
export const PY_WS = '\\t\\n\\v\\f\\r\\x1c-\\x20\\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000';
const PY_STRIP = new RegExp(`^[${PY_WS}]+|[${PY_WS}]+$`, 'g');
const PY_RSTRIP = new RegExp(`[${PY_WS}]+$`);

/** Python's `str.strip()`. */
export function pyStrip(s: string): string {
  return s.replace(PY_STRIP, '');
}

/** Python's `str.rstrip()`. */
export function pyRstrip(s: string): string {
  return s.replace(PY_RSTRIP, '');
}

/** Python's `s[0].upper() + s[1:]` (first code point, not first UTF-16 unit). */
export function upperFirst(s: string): string {
  const first = String.fromCodePoint(s.codePointAt(0)!);
  return first.toUpperCase() + s.slice(first.length);
}

/** Python's `str.replace(old, new)`: every occurrence, and no `$&` patterns in `new`. */
export function replaceAll(s: string, old: string, by: string): string {
  return s.split(old).join(by);
}

const PY_SPLIT = new RegExp(`[${PY_WS}]+`);

/** Python's `str.split()`: on runs of Python whitespace, with no empty pieces. */
export function pySplit(s: string): string[] {
  return s.split(PY_SPLIT).filter((x) => x.length > 0);
}

/**
 * A word character of Python's `re` on str patterns (Unicode letters, digits and `_`). JS's `\w` and
 * `\b` are ASCII-only, so "éan" would hold a word boundary before "an".
 */
export const PY_WORD = '[\\p{L}\\p{N}_]';
