/** Scalars of the YAML subset: core-schema resolution of plain text, and quoted strings. */
import type { YamlScalar } from './yaml-node.js';

/** Reports a syntax error at a 0-based offset of the text being read; never returns. */
export type FailAt = (offset: number, reason: string) => never;

/** YAML 1.2 §5.7 escapes of double-quoted scalars, except the hex ones. */
const DOUBLE_ESCAPES: Record<string, string> = {
  '0': '\0', a: '\x07', b: '\b', t: '\t', '\t': '\t', n: '\n', v: '\v', f: '\f', r: '\r', e: '\x1b', ' ': ' ',
  '"': '"', '/': '/', '\\': '\\', N: '\x85', _: '\xa0', L: '\u2028', P: '\u2029',
};
/** Hex escapes and their digit counts. */
const HEX_ESCAPES: Record<string, number> = { x: 2, u: 4, U: 8 };

/** Why each indicator cannot start a plain scalar in this subset. */
const UNSUPPORTED_INDICATORS: Record<string, string> = {
  '&': 'anchors (&) are not supported',
  '*': 'aliases (*) are not supported',
  '!': 'tags (!) are not supported',
  '|': 'block scalars (| and >) are not supported; use a quoted string with \\n',
  '>': 'block scalars (| and >) are not supported; use a quoted string with \\n',
  '%': 'directives (%) are not supported',
  '@': '"@" is reserved in YAML; quote the value',
  '`': '"`" is reserved in YAML; quote the value',
  '?': 'complex keys (?) are not supported',
};

/** Why a plain scalar may not start with `c` here, or undefined if it may. */
export function unsupportedIndicator(c: string | undefined): string | undefined {
  return c === undefined ? undefined : UNSUPPORTED_INDICATORS[c];
}

/** Resolves a plain scalar with the YAML 1.2 core schema. */
export function resolvePlain(s: string): YamlScalar {
  if (s === '' || s === '~' || s === 'null' || s === 'Null' || s === 'NULL') return null;
  if (s === 'true' || s === 'True' || s === 'TRUE') return true;
  if (s === 'false' || s === 'False' || s === 'FALSE') return false;
  if (/^[-+]?[0-9]+$/.test(s)) return Number(s);
  if (/^0o[0-7]+$/.test(s)) return parseInt(s.slice(2), 8);
  if (/^0x[0-9a-fA-F]+$/.test(s)) return parseInt(s.slice(2), 16);
  if (/^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/.test(s)) return Number(s);
  if (/^[-+]?\.(inf|Inf|INF)$/.test(s)) return s.startsWith('-') ? -Infinity : Infinity;
  if (/^\.(nan|NaN|NAN)$/.test(s)) return NaN;
  return s;
}

/**
 * Reads the quoted scalar that starts at `text[start]` (a `"` or `'`) and must end on the same
 * line; `end` is the offset just past the closing quote.
 */
export function readQuoted(text: string, start: number, fail: FailAt): { value: string; end: number } {
  const quote = text[start];
  let value = '';
  let j = start + 1;
  for (;;) {
    const c = text[j];
    if (c === undefined) {
      fail(start, `unclosed ${quote === '"' ? 'double' : 'single'} quote (quoted values must end on the same line)`);
    }
    if (quote === "'") {
      if (c === "'") {
        if (text[j + 1] !== "'") return { value, end: j + 1 };
        value += "'";
        j += 2;
        continue;
      }
      value += c;
      j++;
      continue;
    }
    if (c === '"') return { value, end: j + 1 };
    if (c !== '\\') {
      value += c;
      j++;
      continue;
    }
    const e = text[j + 1] ?? '';
    const simple = DOUBLE_ESCAPES[e];
    if (simple !== undefined) {
      value += simple;
      j += 2;
      continue;
    }
    const digits = HEX_ESCAPES[e];
    const hex = digits === undefined ? '' : text.slice(j + 2, j + 2 + digits);
    if (digits === undefined || !new RegExp(`^[0-9a-fA-F]{${digits}}$`).test(hex)) fail(j, `invalid escape "\\${e}" in a double-quoted string`);
    const cp = parseInt(hex, 16);
    if (cp > 0x10ffff) fail(j, `escape "\\${e}${hex}" is beyond Unicode`);
    value += String.fromCodePoint(cp);
    j += 2 + digits;
  }
}
