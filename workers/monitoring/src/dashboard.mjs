/**
 * What the page shows, computed from the store in one pass: tiles (current values), charts
 * (lines on the range's grid) and tables, in four sections (Overview, Routes, Workers, Server),
 * for one node or all nodes summed. The PromQL each panel stands for is written next to it; the
 * page only draws what it is given.
 */
import { overview } from './panels/overview.mjs';
import { everything, round } from './panels/parts.mjs';
import { routes } from './panels/routes.mjs';
import { server } from './panels/server.mjs';
import { workers } from './panels/workers.mjs';
import { sumRateBy } from './query.mjs';
import { gridFor } from './ranges.mjs';

/** @typedef {import('./store.mjs').NodeHistory} NodeHistory */
/** @typedef {import('./query.mjs').Grid} Grid */
/** @typedef {import('./ranges.mjs').RangeName} RangeName */

/**
 * @typedef {object} DashboardInput
 * @property {readonly NodeHistory[]} nodes the nodes to show (one, or all to sum them)
 * @property {boolean} multiNode whether more than one node is configured (labels then name it)
 * @property {RangeName} range
 * @property {number} now ms
 * @property {number} intervalMs
 */

/**
 * Everything the page draws for `input`.
 * @param {DashboardInput} input
 */
export function buildDashboard(input) {
  const grid = gridFor(input.range, input.now, input.intervalMs);
  /** One point at the end whose rate() window is the whole range: the tables' figures. */
  /** @type {Grid} */
  const whole = { ...grid, start: grid.end, points: 1, windowMs: grid.rangeMs };
  /** One point at the end: current values. */
  /** @type {Grid} */
  const now = { ...grid, start: grid.end, points: 1 };
  const ctx = { ...input, grid, whole, now };
  return {
    range: grid.range,
    rangeMs: grid.rangeMs,
    start: grid.start,
    stepMs: grid.stepMs,
    points: grid.points,
    windowMs: grid.windowMs,
    refreshMs: grid.refreshMs,
    sections: [overview(ctx), routes(ctx), workers(ctx), server(ctx)],
  };
}

/**
 * Requests per second of one node now, for the per-node list.
 * @param {NodeHistory} node
 * @param {number} now
 * @param {number} intervalMs
 */
export function nodeRequestRate(node, now, intervalMs) {
  const grid = gridFor('5m', now, intervalMs);
  return round(sumRateBy([node], 'tqserver_requests_total', { ...grid, start: grid.end, points: 1 }, everything).get('all')?.[0]);
}
