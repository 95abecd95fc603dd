/**
 * Escaping of label values and HELP text. Each writer is one small function with the rule it
 * follows; the golden files in fixtures/exposition/ cover every branch.
 */

const LABEL_SPECIALS = /[\\"\n]/;
const HELP_TEXT_SPECIALS = /[\\\n]/;

/**
 * Lone UTF-16 surrogates cannot be encoded as UTF-8, and Prometheus rejects a scrape holding
 * invalid UTF-8 ("invalid UTF-8 label value"), so they become U+FFFD.
 */
function wellFormed(s: string): string {
  return s.isWellFormed() ? s : s.toWellFormed();
}

/**
 * A label value, the same in text 0.0.4 and OpenMetrics 1.0: `\` -> `\\`, `"` -> `\"`,
 * LF -> `\n`; every other character, tab and CR included, goes out as it is (expfmt rejects
 * any other escape sequence, so `\t` must never be written).
 */
export function escapeLabelValue(value: string): string {
  const s = wellFormed(value);
  if (!LABEL_SPECIALS.test(s)) return s;
  // Backslash first, so that the backslashes the other two rules add are not doubled.
  return s.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/**
 * HELP text in text format 0.0.4: only `\` -> `\\` and LF -> `\n`. A `"` stays raw: expfmt
 * before prometheus/common v0.56 (promtool <= 2.54) rejects `\"` in HELP.
 */
export function escapeHelpText(help: string): string {
  const s = wellFormed(help);
  if (!HELP_TEXT_SPECIALS.test(s)) return s;
  return s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
}

/**
 * HELP text in OpenMetrics 1.0: escaped like a label value, because the OpenMetrics ABNF
 * forbids a raw `"` in HELP.
 */
export function escapeHelpOpenMetrics(help: string): string {
  return escapeLabelValue(help);
}
