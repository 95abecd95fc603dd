/**
 * The time ranges the page offers and the query grid of each: which tier, step, rate window
 * and lookback, and how often the page refreshes it.
 */
import { COARSE_STEP_MS } from './store.mjs';

/** @typedef {'5m' | '15m' | '1h' | '24h'} RangeName */
/** @typedef {import('./query.mjs').Grid & {range: RangeName, rangeMs: number, end: number, refreshMs: number}} RangeGrid */

/** The ranges, in the order the picker shows them. */
export const RANGE_NAMES = /** @type {readonly RangeName[]} */ (Object.freeze(['5m', '15m', '1h', '24h']));

const MINUTE = 60_000;

/**
 * Per range: its length, its tier, and its step as a function of the scrape interval. The fine
 * tier holds 15 minutes, the coarse one 24 hours (see store.mjs).
 */
const SHAPES = {
  '5m': { rangeMs: 5 * MINUTE, tier: 'fine', step: (/** @type {number} */ interval) => interval },
  '15m': { rangeMs: 15 * MINUTE, tier: 'fine', step: (/** @type {number} */ interval) => 3 * interval },
  '1h': { rangeMs: 60 * MINUTE, tier: 'coarse', step: () => MINUTE },
  '24h': { rangeMs: 24 * 60 * MINUTE, tier: 'coarse', step: () => 5 * MINUTE },
};

/** The shortest rate() window: below it, one request every few seconds draws a comb. */
const MIN_WINDOW_MS = 10_000;

/**
 * @param {string} name
 * @returns {name is RangeName}
 */
export function isRangeName(name) {
  return Object.hasOwn(SHAPES, name);
}

/**
 * The grid of `range` ending now (to the second), so the last point includes the latest scrape
 * and, in the minute tier, the minute in progress; ending at the last whole step instead would
 * leave the 1 h and 24 h views up to a step behind.
 * - rate() window: Grafana's `$__rate_interval`, max(step + resolution, 4 x resolution), and at
 *   least 10 s; the resolution is the scrape interval (fine tier) or a minute (coarse tier).
 * - lookback for instant values: max(step, 3 x resolution), so a gauge is shown while fresh and
 *   a gap once its node stopped answering.
 * @param {RangeName} range
 * @param {number} now ms
 * @param {number} intervalMs scrape interval
 * @returns {RangeGrid}
 */
export function gridFor(range, now, intervalMs) {
  const shape = SHAPES[range];
  const stepMs = shape.step(intervalMs);
  const resolution = shape.tier === 'fine' ? intervalMs : COARSE_STEP_MS;
  const end = Math.floor(now / 1000) * 1000;
  const points = Math.round(shape.rangeMs / stepMs);
  return {
    range,
    rangeMs: shape.rangeMs,
    tier: /** @type {import('./tier.mjs').TierName} */ (shape.tier),
    stepMs,
    points,
    start: end - (points - 1) * stepMs,
    end,
    windowMs: Math.max(stepMs + resolution, 4 * resolution, MIN_WINDOW_MS),
    lookbackMs: Math.max(stepMs, 3 * resolution),
    // Live ranges follow every scrape; long ones need not be redrawn more than every few steps.
    refreshMs: shape.tier === 'fine' ? Math.max(1000, stepMs) : range === '1h' ? 10_000 : 30_000,
  };
}
