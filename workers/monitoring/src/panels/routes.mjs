/** The Routes section: the busiest routes (rate, p95, error shares, trend) and their lines over time. */
import { quantilesBy, sumRateBy } from '../query.mjs';
import { byLabel, chart, downsample, round, statusClass } from './parts.mjs';

/** @typedef {import('./parts.mjs').Context} Context */
/** @typedef {import('./parts.mjs').Section} Section */
/** @typedef {import('../series.mjs').Series} Series */
/** @typedef {import('../store.mjs').NodeHistory} NodeHistory */

/** How many routes the Routes table lists, and how many get a line in its charts. */
const TOP_ROUTES = 10;
const TOP_ROUTE_LINES = 5;
/** Points in a table's sparkline. */
const SPARK_POINTS = 60;

/** @param {Context} c @returns {Section} */
export function routes(c) {
  const { nodes, grid, whole } = c;
  const path = byLabel('path');
  // sum by (path) (rate(tqserver_requests_total[range])): the table's order.
  const rateOverRange = sumRateBy(nodes, 'tqserver_requests_total', whole, path);
  const byClass = sumRateBy(nodes, 'tqserver_requests_total', whole, (s) => s.label('path') + '\n' + statusClass(s.label('status')));
  const p95OverRange = quantilesBy(nodes, 'tqserver_request_duration_seconds', whole, [0.95], path);
  const top = [...rateOverRange.entries()]
    .map(([p, v]) => /** @type {[string, number]} */ ([p, /** @type {number} */ (v[0])]))
    .filter(([, v]) => !Number.isNaN(v))
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1));
  const shown = top.slice(0, TOP_ROUTES);
  const lineRoutes = new Set(shown.slice(0, TOP_ROUTE_LINES).map(([p]) => p));
  const shownRoutes = new Set(shown.map(([p]) => p));
  const trend = sumRateBy(nodes, 'tqserver_requests_total', grid, (s) => (shownRoutes.has(s.label('path')) ? s.label('path') : undefined));
  const p95Lines = quantilesBy(nodes, 'tqserver_request_duration_seconds', grid, [0.95], (s) => (lineRoutes.has(s.label('path')) ? s.label('path') : undefined));
  const share = (/** @type {string} */ p, /** @type {string} */ cls, /** @type {number} */ total) => {
    const v = byClass.get(p + '\n' + cls)?.[0];
    return total > 0 ? (v === undefined || Number.isNaN(v) ? 0 : v / total) : NaN;
  };
  return {
    id: 'routes',
    title: 'Routes',
    tiles: [],
    charts: [
      chart('routeRequests', 'Requests per second by route', 'perSecond', [...lineRoutes].map((p) => [p, trend.get(p)])),
      chart('routeLatency', 'p95 latency by route', 'seconds', [...lineRoutes].map((p) => [p, p95Lines.get(p)?.[0]])),
    ],
    tables: [
      {
        id: 'routesTable',
        title: 'Busiest routes',
        note: `averages over the whole range${top.length > shown.length ? `; ${top.length - shown.length} quieter routes not shown` : ''}`,
        columns: [
          { key: 'path', title: 'Route', unit: 'text' },
          { key: 'rps', title: 'Req/s', unit: 'perSecond' },
          { key: 'p95', title: 'p95', unit: 'seconds' },
          { key: 'errors4xx', title: '4xx', unit: 'ratio' },
          { key: 'errors5xx', title: '5xx', unit: 'ratio' },
          { key: 'trend', title: 'Trend', unit: 'spark' },
        ],
        rows: shown.map(([p, rps]) => ({
          path: p,
          rps: round(rps),
          p95: round(p95OverRange.get(p)?.[0]?.[0]),
          errors4xx: round(share(p, '4xx', rps)),
          errors5xx: round(share(p, '5xx', rps)),
          trend: downsample(trend.get(p), SPARK_POINTS),
        })),
      },
    ],
  };
}
