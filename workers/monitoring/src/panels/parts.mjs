/**
 * The pieces every panel is made of: numbers rounded for JSON, tiles, charts (at most 12
 * lines), step-by-step ratios, sparklines, and the grouping functions of `sum by`.
 */

/** @typedef {import('../store.mjs').NodeHistory} NodeHistory */
/** @typedef {import('../series.mjs').Series} Series */
/** @typedef {import('../query.mjs').Grid} Grid */
/**
 * How a value is read: `perSecond`, `ratio` (0..1, shown as %), `seconds`, `bytes`,
 * `bytesPerSecond`, `count`, `cores` (CPU seconds per second, shown as %), `duration`.
 * @typedef {string} Unit
 */
/** @typedef {{label: string, values: (number | null)[]}} Line */
/** @typedef {{id: string, title: string, unit: Unit, lines: Line[], note?: string}} Chart */
/** @typedef {{id: string, label: string, unit: Unit, value: number | null}} Tile */
/** @typedef {{key: string, title: string, unit: Unit}} Column */
/** @typedef {{id: string, title: string, columns: Column[], rows: Record<string, unknown>[], note?: string}} Table */
/** @typedef {{id: string, title: string, tiles: Tile[], charts: Chart[], tables: Table[]}} Section */
/**
 * What every panel is computed from: the nodes shown, the range's grid, and two one-point grids
 * at its end: `whole` (rate() over the whole range, for tables) and `now` (current values).
 * @typedef {object} Context
 * @property {readonly NodeHistory[]} nodes
 * @property {boolean} multiNode
 * @property {Grid & {rangeMs: number, end: number}} grid
 * @property {Grid} whole
 * @property {Grid} now
 */

/** Lines in one chart at most: the largest by latest value are kept (one per instance could be hundreds). */
const MAX_LINES = 12;

/**
 * A number as JSON: 4 significant digits (a chart needs no more, the payload shrinks by half),
 * null for a gap (NaN) or a value JSON cannot hold.
 * @param {number | undefined} v
 * @returns {number | null}
 */
export function round(v) {
  if (v === undefined || !Number.isFinite(v)) return null;
  if (v === 0) return 0;
  // Math.round on a scaled value: several times faster than Number(v.toPrecision(4)), which
  // matters at tens of thousands of points a second.
  const scale = 10 ** (3 - Math.floor(Math.log10(Math.abs(v))));
  const r = Math.round(v * scale) / scale;
  return Number.isFinite(r) ? r : v;
}

/** @param {Float64Array | undefined} values */
export const rounded = (values) => (values === undefined ? [] : Array.from(values, round));

/** @param {Float64Array | undefined} values */
export const last = (values) => (values === undefined || values.length === 0 ? NaN : /** @type {number} */ (values[values.length - 1]));

/**
 * The status class of a `status` label: `2xx`..., `other`, or `none` for status 0 (the client
 * left before a status was sent).
 * @param {string} status
 */
export function statusClass(status) {
  if (/^[1-5]\d\d$/.test(status)) return status[0] + 'xx';
  return status === '0' ? 'none' : 'other';
}

/**
 * The step-by-step ratio a/b, NaN where b is NaN or 0 (no traffic: no ratio, as 0/0 in PromQL).
 * @param {Float64Array | undefined} a
 * @param {Float64Array | undefined} b
 * @param {number} points
 */
export function ratio(a, b, points) {
  const out = new Float64Array(points).fill(NaN);
  if (b === undefined) return out;
  for (let k = 0; k < points; k++) {
    const d = /** @type {number} */ (b[k]);
    const n = a === undefined || Number.isNaN(/** @type {number} */ (a[k])) ? 0 : /** @type {number} */ (a[k]);
    if (d > 0) out[k] = n / d;
  }
  return out;
}

/**
 * Averages `values` into at most `points` buckets (NaN left out), for a sparkline.
 * @param {Float64Array | undefined} values
 * @param {number} points
 */
export function downsample(values, points) {
  if (values === undefined) return [];
  if (values.length <= points) return rounded(values);
  const out = [];
  const size = values.length / points;
  for (let i = 0; i < points; i++) {
    let sum = 0;
    let n = 0;
    for (let k = Math.floor(i * size); k < Math.floor((i + 1) * size); k++) {
      const v = /** @type {number} */ (values[k]);
      if (!Number.isNaN(v)) {
        sum += v;
        n++;
      }
    }
    out.push(n === 0 ? null : round(sum / n));
  }
  return out;
}

/** Every series in one group, `all`: a plain `sum(...)`. */
export const everything = () => 'all';
/** @param {string} name */
export const byLabel = (name) => (/** @type {Series} */ s) => s.label(name);

/**
 * @param {string} id
 * @param {string} title
 * @param {Unit} unit
 * @param {[string, Float64Array | undefined][]} lines
 * @returns {Chart}
 */
export function chart(id, title, unit, lines) {
  let present = lines.filter(([, v]) => v !== undefined);
  let note;
  if (present.length > MAX_LINES) {
    const latest = (/** @type {Float64Array | undefined} */ v) => {
      for (let k = (v?.length ?? 0) - 1; k >= 0; k--) if (!Number.isNaN(/** @type {number} */ (v?.[k]))) return /** @type {number} */ (v?.[k]);
      return -Infinity;
    };
    const kept = new Set([...present].sort((a, b) => latest(b[1]) - latest(a[1])).slice(0, MAX_LINES));
    note = `the ${MAX_LINES} largest of ${present.length} lines`;
    present = present.filter((l) => kept.has(l));
  }
  /** @type {Chart} */
  const out = { id, title, unit, lines: present.map(([label, values]) => ({ label, values: rounded(values) })) };
  if (note !== undefined) out.note = note;
  return out;
}

/**
 * @param {string} id
 * @param {string} label
 * @param {Unit} unit
 * @param {number} value
 * @returns {Tile}
 */
export function tile(id, label, unit, value) {
  return { id, label, unit, value: round(value) };
}

/** Sorts a group map's entries by label, for stable line order. @param {Map<string, Float64Array>} m */
export const sortedEntries = (m) => [...m.entries()].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
