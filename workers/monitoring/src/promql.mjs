/**
 * The two pieces of PromQL a dashboard must reproduce exactly, as pure functions:
 * `rate()`/`increase()` (promql/functions.go `extrapolatedRate`) and `histogram_quantile()`
 * (promql/quantile.go `bucketQuantile`). The reference brief
 * (shared/reference/fastcgi-and-promql.md) has the rules; the hand-worked examples in
 * test/monitoring-store.test.ts check them.
 *
 * Which Prometheus: the extrapolation order of Prometheus >= 2.50 / 3.x (the zero-point limit
 * applies after the 1.1x threshold, fixing an older bug) and 3.x's left-open range
 * `(t - range, t]`. Samples are floats only; native histograms are out of scope.
 */

/**
 * What a window of samples of one series comes to: enough to compute `rate()` without keeping
 * the samples. Build one with {@link windowOf} or incrementally with {@link addToWindow}.
 * @typedef {object} Window
 * @property {number} count samples in the window
 * @property {number} firstT ms
 * @property {number} firstV
 * @property {number} lastT ms
 * @property {number} lastV
 * @property {number} resets sum of the values just before each drop (the counter-reset correction)
 */

/** @returns {Window} */
export function emptyWindow() {
  return { count: 0, firstT: 0, firstV: 0, lastT: 0, lastV: 0, resets: 0 };
}

/**
 * Adds a sample (in time order) to `w`. A value lower than the one before is a counter reset:
 * "add the earlier value to everything after it".
 * @param {Window} w
 * @param {number} t ms
 * @param {number} v
 */
export function addToWindow(w, t, v) {
  if (w.count === 0) {
    w.firstT = t;
    w.firstV = v;
  } else if (v < w.lastV) {
    w.resets += w.lastV;
  }
  w.lastT = t;
  w.lastV = v;
  w.count++;
}

/**
 * The window of `points` (time-ordered `[t, v]`, NaN values skipped: a NaN is a staleness
 * marker, a gap) that lie in `(rangeStart, rangeEnd]`.
 * @param {readonly (readonly [number, number])[]} points
 * @param {number} rangeStart ms, excluded
 * @param {number} rangeEnd ms, included
 */
export function windowOf(points, rangeStart, rangeEnd) {
  const w = emptyWindow();
  for (const [t, v] of points) if (t > rangeStart && t <= rangeEnd && !Number.isNaN(v)) addToWindow(w, t, v);
  return w;
}

/**
 * Prometheus' extrapolatedRate for a counter: the increase across the window, corrected for
 * resets, extrapolated towards the window's edges, and divided by the range for a rate.
 * - Fewer than 2 samples: NaN (no value; a gap, never a zero).
 * - At each edge, extrapolate by the gap to the edge when that gap is under 1.1x the average
 *   sample interval, else by half an average interval only.
 * - Never extrapolate the start to before the counter would have been 0.
 * @param {Window} w
 * @param {number} rangeStart ms
 * @param {number} rangeEnd ms
 * @param {boolean} isRate true for rate() (per second), false for increase()
 */
export function extrapolatedRate(w, rangeStart, rangeEnd, isRate) {
  if (w.count < 2) return NaN;
  const increase = w.lastV - w.firstV + w.resets;
  const sampledInterval = (w.lastT - w.firstT) / 1000;
  if (sampledInterval <= 0) return NaN;
  const averageInterval = sampledInterval / (w.count - 1);
  const threshold = averageInterval * 1.1;
  let durationToStart = (w.firstT - rangeStart) / 1000;
  let durationToEnd = (rangeEnd - w.lastT) / 1000;
  if (durationToStart >= threshold) durationToStart = averageInterval / 2;
  if (increase > 0 && w.firstV >= 0) {
    // Counters cannot be negative: if the slope reaches 0 before the window's start, start there.
    const durationToZero = sampledInterval * (w.firstV / increase);
    if (durationToZero < durationToStart) durationToStart = durationToZero;
  }
  if (durationToEnd >= threshold) durationToEnd = averageInterval / 2;
  const extrapolated = increase * ((sampledInterval + durationToStart + durationToEnd) / sampledInterval);
  return isRate ? extrapolated / ((rangeEnd - rangeStart) / 1000) : extrapolated;
}

/**
 * `rate(points[range])` evaluated at `t`: the points in `(t - rangeMs, t]`.
 * @param {readonly (readonly [number, number])[]} points
 * @param {number} t ms
 * @param {number} rangeMs
 */
export function rate(points, t, rangeMs) {
  return extrapolatedRate(windowOf(points, t - rangeMs, t), t - rangeMs, t, true);
}

/**
 * `increase(points[range])` evaluated at `t`.
 * @param {readonly (readonly [number, number])[]} points
 * @param {number} t ms
 * @param {number} rangeMs
 */
export function increase(points, t, rangeMs) {
  return extrapolatedRate(windowOf(points, t - rangeMs, t), t - rangeMs, t, false);
}

/** @typedef {{le: number, count: number}} Bucket */

/**
 * Prometheus' bucketQuantile: `histogram_quantile(q, buckets)` for classic buckets.
 * - q < 0 gives -Inf, q > 1 gives +Inf, NaN q gives NaN.
 * - Buckets are sorted by `le`; without a `+Inf` bucket, or with fewer than 2, or no
 *   observations: NaN (no value).
 * - Counts are made monotonic first (a bucket lower than the one before takes that count),
 *   as rates of buckets scraped at slightly different moments can be.
 * - rank = q x total; the first bucket whose count reaches the rank holds it; the result is
 *   interpolated linearly between that bucket's lower bound (the previous `le`, or 0 for the
 *   first bucket when its `le` is positive) and its upper bound.
 * - A rank in the `+Inf` bucket gives the highest finite `le`; a first bucket with `le <= 0`
 *   gives that `le`.
 * @param {number} q
 * @param {readonly Bucket[]} buckets cumulative counts (or their rates)
 */
export function bucketQuantile(q, buckets) {
  if (Number.isNaN(q)) return NaN;
  if (q < 0) return -Infinity;
  if (q > 1) return Infinity;
  const sorted = [...buckets].filter((b) => !Number.isNaN(b.count)).sort((a, b) => a.le - b.le);
  // Two buckets with one bound (`le="1"` and `le="1.0"`): add them up, as coalesceBuckets does.
  /** @type {Bucket[]} */
  const merged = [];
  for (const b of sorted) {
    const last = merged[merged.length - 1];
    if (last !== undefined && last.le === b.le) last.count += b.count;
    else merged.push({ le: b.le, count: b.count });
  }
  const top = merged[merged.length - 1];
  if (top === undefined || top.le !== Infinity || merged.length < 2) return NaN;
  let max = -Infinity;
  for (const b of merged) {
    if (b.count < max) b.count = max;
    else max = b.count;
  }
  const observations = top.count;
  if (!(observations > 0)) return NaN;
  let rank = q * observations;
  let b = 0;
  while (b < merged.length - 1 && /** @type {Bucket} */ (merged[b]).count < rank) b++;
  if (b === merged.length - 1) return /** @type {Bucket} */ (merged[merged.length - 2]).le;
  const bucket = /** @type {Bucket} */ (merged[b]);
  if (b === 0 && bucket.le <= 0) return bucket.le;
  let bucketStart = 0;
  let count = bucket.count;
  if (b > 0) {
    const below = /** @type {Bucket} */ (merged[b - 1]);
    bucketStart = below.le;
    count -= below.count;
    rank -= below.count;
  }
  return bucketStart + (bucket.le - bucketStart) * (rank / count);
}
