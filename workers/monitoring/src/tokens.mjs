/**
 * The tokens of the exposition formats a reader must undo: numbers as Go's ParseFloat reads
 * them, the escapes of label values and HELP, and which format a Content-Type names.
 */

/** Go ParseFloat's decimal syntax, minus hex floats and `_` separators (the Prometheus lexer refuses them). */
export const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
/** Go accepts `inf`/`infinity` with an optional sign and `nan` without one, in any case. */
const INFINITY = /^([+-]?)inf(?:inity)?$/i;
const NOT_A_NUMBER = /^nan$/i;

/**
 * The format of a body from its Content-Type: OpenMetrics for `application/openmetrics-text`,
 * text 0.0.4 for anything else (Prometheus 2.x reads a missing or unknown type as text too).
 * @param {string | undefined} contentType
 * @returns {'text' | 'openmetrics'}
 */
export function formatOf(contentType) {
  const media = (contentType ?? '').split(';')[0]?.trim().toLowerCase();
  return media === 'application/openmetrics-text' ? 'openmetrics' : 'text';
}

/**
 * A number token, or undefined when it is not one.
 * @param {string} token
 * @returns {number | undefined}
 */
export function parseNumber(token) {
  if (DECIMAL.test(token)) return Number(token);
  const inf = INFINITY.exec(token);
  if (inf !== null) return inf[1] === '-' ? -Infinity : Infinity;
  if (NOT_A_NUMBER.test(token)) return NaN;
  return undefined;
}

/**
 * Undoes the escapes of a label value (both formats) or of OpenMetrics HELP: `\\`, `\"`, `\n`.
 * Another backslash pair is kept as written.
 * @param {string} raw
 */
export function unescapeLabelValue(raw) {
  if (!raw.includes('\\')) return raw;
  return raw.replace(/\\([\s\S])/g, (pair, c) => (c === '\\' ? '\\' : c === '"' ? '"' : c === 'n' ? '\n' : pair));
}

/**
 * Undoes the escapes of text 0.0.4 HELP: only `\\` and `\n`.
 * @param {string} raw
 */
export function unescapeHelpText(raw) {
  if (!raw.includes('\\')) return raw;
  return raw.replace(/\\([\s\S])/g, (pair, c) => (c === '\\' ? '\\' : c === 'n' ? '\n' : pair));
}

