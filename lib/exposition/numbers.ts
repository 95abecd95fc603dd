/**
 * Number rendering. Sample values use JavaScript's shortest round-trip digits (`String`), which
 * every Prometheus parser reads back to the same float64; `le` bounds use Go's `%g` (text 0.0.4)
 * or the OpenMetrics canonical form, because in Prometheus 2.x a bound's text is part of the
 * series identity (`le="1e-05"` and `le="0.00001"` are two series).
 */

/** Values that are not finite, spelled the one way both formats accept. */
function nonFinite(v: number): string {
  if (v !== v) return 'NaN';
  return v > 0 ? '+Inf' : '-Inf';
}

/**
 * A sample value, in text 0.0.4 and OpenMetrics 1.0 alike: shortest round-trip digits, `-0` as
 * `0`, and exactly `NaN`, `+Inf`, `-Inf` (never `Nan`, `Infinity` or `inf`).
 */
export function formatValue(v: number): string {
  // String(-0) is "0", so negative zero needs no branch of its own.
  return Number.isFinite(v) ? String(v) : nonFinite(v);
}

/**
 * Go's `strconv.FormatFloat(v, 'g', -1, 64)`, as client_golang writes `le` in text 0.0.4:
 * shortest digits, exponent form when the decimal exponent is below -4 or at least 6 (Go uses
 * precision 6 for that choice when asked for the shortest form), exponent signed with at least
 * two digits: `1e-05`, `1e+06`, `2.5`, `100000`.
 */
export function formatGoFloat(v: number): string {
  if (!Number.isFinite(v)) return nonFinite(v);
  if (v === 0) return '0';
  const exponential = v.toExponential();
  const e = exponential.indexOf('e');
  const exponent = Number(exponential.slice(e + 1));
  if (exponent >= -4 && exponent < 6) return String(v);
  const sign = exponent < 0 ? '-' : '+';
  const digits = String(Math.abs(exponent)).padStart(2, '0');
  return exponential.slice(0, e) + 'e' + sign + digits;
}

/**
 * The OpenMetrics 1.0 canonical form of `le` and `quantile` values: Go `%g`, plus `.0` when
 * that has neither a `.` nor an exponent (`1.0`, `100000.0`, `1e+06`, `+Inf`).
 */
export function formatCanonicalFloat(v: number): string {
  const g = formatGoFloat(v);
  if (!Number.isFinite(v) || g.includes('.') || g.includes('e')) return g;
  return g + '.0';
}
