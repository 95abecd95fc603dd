/**
 * Evaluation of stored series on a grid of step times, the way Prometheus' range queries do:
 * `rate()` over a window ending at each step, instant values with a lookback, `sum by`,
 * `max by` and `histogram_quantile()` of summed bucket rates. A NaN result is a gap.
 */
import { addToWindow, bucketQuantile, emptyWindow, extrapolatedRate } from './promql.mjs';

/** @typedef {import('./store.mjs').NodeHistory} NodeHistory */
/** @typedef {import('./series.mjs').Series} Series */
/** @typedef {import('./tier.mjs').TierName} TierName */
/**
 * @typedef {object} Grid
 * @property {TierName} tier which rows to read
 * @property {number} start time of the first step (ms)
 * @property {number} stepMs
 * @property {number} points steps
 * @property {number} windowMs the range of rate() at each step: samples in (t - windowMs, t]
 * @property {number} lookbackMs an instant value is the last sample at most this old
 */
/** A function naming the group a series belongs to, or undefined to leave it out. */
/** @typedef {(series: Series, node: NodeHistory) => string | undefined} GroupOf */

/**
 * A series' window `(from, to]` in one tier, as the summary rate() needs.
 * @param {NodeHistory} node
 * @param {Series} series
 * @param {TierName} tierName
 * @param {number} from ms, excluded
 * @param {number} to ms, included
 */
export function seriesWindow(node, series, tierName, from, to) {
  const tier = node.tier(tierName);
  const offset = node.offset(tierName);
  const w = emptyWindow();
  for (let i = tier.firstAfter(from); i < tier.count; i++) {
    const p = tier.physical(i);
    const t = /** @type {number} */ (tier.times[p]);
    if (t > to) break;
    const v = /** @type {number} */ (series.values[offset + p]);
    if (!Number.isNaN(v)) addToWindow(w, t, v);
  }
  return w;
}

/**
 * Scratch space for {@link seriesRate}: the samples of one series in time order, NaN left out,
 * and the running reset correction. Grown to the largest tier once, then reused, so a
 * dashboard does not allocate per series and step.
 */
let times = new Float64Array(0);
let vals = new Float64Array(0);
let resetsBefore = new Float64Array(0);
const scratchWindow = emptyWindow();
/**
 * Rates already computed on a grid: a dashboard asks for the same bucket series in several
 * panels. Keyed by the grid object, so the memo lives exactly as long as the caller's grid.
 * Callers must not modify the arrays they get.
 * @type {WeakMap<Grid, Map<Series, Float64Array>>}
 */
const rates = new WeakMap();

/**
 * Copies the non-NaN samples of `series` in `(from, to]` into the scratch arrays; returns how many.
 * `resetsBefore[i]` is the sum of the values just before each drop among samples 0..i.
 * @param {NodeHistory} node
 * @param {Series} series
 * @param {TierName} tierName
 * @param {number} from
 * @param {number} to
 */
function compact(node, series, tierName, from, to) {
  const tier = node.tier(tierName);
  const offset = node.offset(tierName);
  if (times.length < tier.slots) {
    times = new Float64Array(tier.slots);
    vals = new Float64Array(tier.slots);
    resetsBefore = new Float64Array(tier.slots);
  }
  let n = 0;
  let resets = 0;
  for (let i = tier.firstAfter(from); i < tier.count; i++) {
    const p = tier.physical(i);
    const t = /** @type {number} */ (tier.times[p]);
    if (t > to) break;
    const v = /** @type {number} */ (series.values[offset + p]);
    if (Number.isNaN(v)) continue;
    if (n > 0 && v < /** @type {number} */ (vals[n - 1])) resets += /** @type {number} */ (vals[n - 1]);
    times[n] = t;
    vals[n] = v;
    resetsBefore[n] = resets;
    n++;
  }
  return n;
}

/**
 * `rate(series[window])` (or `increase`) at every step of `grid`. One pass: the samples are
 * compacted once, and each step's window found by two pointers that only move forward; a
 * window's reset correction is the difference of two running sums (a drop between the window's
 * first and last sample is inside it; one before its first sample is not).
 * @param {NodeHistory} node
 * @param {Series} series
 * @param {Grid} grid
 * @param {boolean} [isRate]
 */
export function seriesRate(node, series, grid, isRate = true) {
  let memo = isRate ? rates.get(grid) : undefined;
  const known = memo?.get(series);
  if (known !== undefined) return known;
  const out = new Float64Array(grid.points).fill(NaN);
  const lastStep = grid.start + (grid.points - 1) * grid.stepMs;
  const n = compact(node, series, grid.tier, grid.start - grid.windowMs, lastStep);
  const w = scratchWindow;
  let lo = 0;
  let hi = 0;
  for (let k = 0; k < grid.points; k++) {
    const t = grid.start + k * grid.stepMs;
    const from = t - grid.windowMs;
    while (lo < n && /** @type {number} */ (times[lo]) <= from) lo++;
    while (hi < n && /** @type {number} */ (times[hi]) <= t) hi++;
    const count = hi - lo;
    if (count < 2) continue;
    w.count = count;
    w.firstT = /** @type {number} */ (times[lo]);
    w.firstV = /** @type {number} */ (vals[lo]);
    w.lastT = /** @type {number} */ (times[hi - 1]);
    w.lastV = /** @type {number} */ (vals[hi - 1]);
    w.resets = /** @type {number} */ (resetsBefore[hi - 1]) - /** @type {number} */ (resetsBefore[lo]);
    out[k] = extrapolatedRate(w, from, t, isRate);
  }
  if (isRate) {
    if (memo === undefined) rates.set(grid, (memo = new Map()));
    memo.set(series, out);
  }
  return out;
}

/**
 * The series' value at every step: its last sample at or before the step, if that sample is
 * at most `lookbackMs` old; a NaN row (failed scrape, series missing) is a gap.
 * @param {NodeHistory} node
 * @param {Series} series
 * @param {Grid} grid
 */
export function seriesInstant(node, series, grid) {
  const tier = node.tier(grid.tier);
  const offset = node.offset(grid.tier);
  const out = new Float64Array(grid.points).fill(NaN);
  // The row at or before each step, found by one pointer moving forward.
  let i = tier.firstAfter(grid.start - grid.lookbackMs);
  let at = i - 1;
  for (let k = 0; k < grid.points; k++) {
    const t = grid.start + k * grid.stepMs;
    while (i < tier.count && tier.timeAt(i) <= t) at = i++;
    if (at < 0) continue;
    const p = tier.physical(at);
    if (t - /** @type {number} */ (tier.times[p]) > grid.lookbackMs) continue;
    out[k] = /** @type {number} */ (series.values[offset + p]);
  }
  return out;
}

/**
 * The counted increase of a counter series over `(from, to]`: last minus first sample, plus
 * the value before each reset. No extrapolation: for event counts in tables ("2 restarts"),
 * where rate()'s extrapolated 2.07 would read oddly. NaN with fewer than 2 samples.
 * @param {NodeHistory} node
 * @param {Series} series
 * @param {TierName} tier
 * @param {number} from
 * @param {number} to
 */
export function countedIncrease(node, series, tier, from, to) {
  const w = seriesWindow(node, series, tier, from, to);
  return w.count < 2 ? NaN : w.lastV - w.firstV + w.resets;
}

/**
 * Adds `source` into `target` step by step, as PromQL's sum: NaN terms are left out, and a
 * step stays NaN only if every term is NaN.
 * @param {Float64Array} target
 * @param {Float64Array} source
 */
export function sumInto(target, source) {
  for (let k = 0; k < target.length; k++) {
    const s = /** @type {number} */ (source[k]);
    if (Number.isNaN(s)) continue;
    const t = /** @type {number} */ (target[k]);
    target[k] = Number.isNaN(t) ? s : t + s;
  }
}

/**
 * Like {@link sumInto}, keeping the larger value.
 * @param {Float64Array} target
 * @param {Float64Array} source
 */
export function maxInto(target, source) {
  for (let k = 0; k < target.length; k++) {
    const s = /** @type {number} */ (source[k]);
    if (Number.isNaN(s)) continue;
    const t = /** @type {number} */ (target[k]);
    if (Number.isNaN(t) || s > t) target[k] = s;
  }
}

/**
 * @param {Map<string, Float64Array>} groups
 * @param {string} group
 * @param {number} points
 */
function groupArray(groups, group, points) {
  let a = groups.get(group);
  if (a === undefined) groups.set(group, (a = new Float64Array(points).fill(NaN)));
  return a;
}

/**
 * `sum by (group) (rate(name[window]))` over `nodes`.
 * @param {readonly NodeHistory[]} nodes
 * @param {string} name sample name
 * @param {Grid} grid
 * @param {GroupOf} groupOf
 * @returns {Map<string, Float64Array>}
 */
export function sumRateBy(nodes, name, grid, groupOf) {
  /** @type {Map<string, Float64Array>} */
  const groups = new Map();
  for (const node of nodes) {
    for (const series of node.byName(name)) {
      const group = groupOf(series, node);
      if (group !== undefined) sumInto(groupArray(groups, group, grid.points), seriesRate(node, series, grid));
    }
  }
  return groups;
}

/**
 * `sum by (group) (name)` (or `max by`) over `nodes`, instant values at each step.
 * @param {readonly NodeHistory[]} nodes
 * @param {string} name
 * @param {Grid} grid
 * @param {GroupOf} groupOf
 * @param {'sum' | 'max'} [aggregation]
 * @returns {Map<string, Float64Array>}
 */
export function instantBy(nodes, name, grid, groupOf, aggregation = 'sum') {
  /** @type {Map<string, Float64Array>} */
  const groups = new Map();
  const combine = aggregation === 'sum' ? sumInto : maxInto;
  for (const node of nodes) {
    for (const series of node.byName(name)) {
      const group = groupOf(series, node);
      if (group !== undefined) combine(groupArray(groups, group, grid.points), seriesInstant(node, series, grid));
    }
  }
  return groups;
}

/**
 * `histogram_quantile(q, sum by (le, group) (rate(<histogram>_bucket[window])))` for each q.
 * @param {readonly NodeHistory[]} nodes
 * @param {string} histogram family name (`tqserver_request_duration_seconds`)
 * @param {Grid} grid
 * @param {readonly number[]} qs
 * @param {GroupOf} groupOf
 * @returns {Map<string, Float64Array[]>} per group, one array per q
 */
export function quantilesBy(nodes, histogram, grid, qs, groupOf) {
  /** @type {Map<string, Map<number, Float64Array>>} */
  const byGroup = new Map();
  for (const node of nodes) {
    for (const series of node.byName(histogram + '_bucket')) {
      if (Number.isNaN(series.le)) continue;
      const group = groupOf(series, node);
      if (group === undefined) continue;
      let buckets = byGroup.get(group);
      if (buckets === undefined) byGroup.set(group, (buckets = new Map()));
      let sum = buckets.get(series.le);
      if (sum === undefined) buckets.set(series.le, (sum = new Float64Array(grid.points).fill(NaN)));
      sumInto(sum, seriesRate(node, series, grid));
    }
  }
  /** @type {Map<string, Float64Array[]>} */
  const out = new Map();
  for (const [group, buckets] of byGroup) {
    const results = qs.map(() => new Float64Array(grid.points).fill(NaN));
    const bounds = [...buckets.entries()];
    for (let k = 0; k < grid.points; k++) {
      const list = bounds.map(([le, rates]) => ({ le, count: /** @type {number} */ (rates[k]) }));
      qs.forEach((q, i) => {
        /** @type {Float64Array} */ (results[i])[k] = bucketQuantile(q, list);
      });
    }
    out.set(group, results);
  }
  return out;
}

/**
 * The summed counted increase over `(from, to]` by group (see {@link countedIncrease}).
 * @param {readonly NodeHistory[]} nodes
 * @param {string} name
 * @param {TierName} tier
 * @param {number} from
 * @param {number} to
 * @param {GroupOf} groupOf
 * @returns {Map<string, number>}
 */
export function countedIncreaseBy(nodes, name, tier, from, to, groupOf) {
  /** @type {Map<string, number>} */
  const out = new Map();
  for (const node of nodes) {
    for (const series of node.byName(name)) {
      const group = groupOf(series, node);
      if (group === undefined) continue;
      const v = countedIncrease(node, series, tier, from, to);
      if (Number.isNaN(v)) continue;
      out.set(group, (out.get(group) ?? 0) + v);
    }
  }
  return out;
}
