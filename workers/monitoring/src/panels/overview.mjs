/** The Overview section: requests/s, error ratio by status class, latency percentiles, active requests, connections, bytes. */
import { instantBy, quantilesBy, sumRateBy } from '../query.mjs';
import { byLabel, chart, everything, last, ratio, sortedEntries, tile } from './parts.mjs';

/** @typedef {import('./parts.mjs').Context} Context */
/** @typedef {import('./parts.mjs').Section} Section */
/** @typedef {import('../series.mjs').Series} Series */
/** @typedef {import('../store.mjs').NodeHistory} NodeHistory */

/** @param {Context} c @returns {Section} */
export function overview(c) {
  const { nodes, grid } = c;
  // sum(rate(tqserver_requests_total[w]))
  const total = sumRateBy(nodes, 'tqserver_requests_total', grid, everything).get('all');
  // sum by (status_group) (rate(tqserver_http_responses_total[w]))
  const classes = sumRateBy(nodes, 'tqserver_http_responses_total', grid, byLabel('status_group'));
  const responses = sumRateBy(nodes, 'tqserver_http_responses_total', grid, everything).get('all');
  const ratio4xx = ratio(classes.get('4xx'), responses, grid.points);
  const ratio5xx = ratio(classes.get('5xx'), responses, grid.points);
  // histogram_quantile(q, sum by (le) (rate(tqserver_request_duration_seconds_bucket[w])))
  const [p50, p95, p99] = quantilesBy(nodes, 'tqserver_request_duration_seconds', grid, [0.5, 0.95, 0.99], everything).get('all') ?? [];
  const active = instantBy(nodes, 'tqserver_active_requests', grid, everything).get('all');
  const connections = sumRateBy(nodes, 'tqserver_connections_total', grid, everything).get('all');
  const bytesIn = sumRateBy(nodes, 'tqserver_bytes_in_total', grid, everything).get('all');
  const bytesOut = sumRateBy(nodes, 'tqserver_bytes_out_total', grid, everything).get('all');
  return {
    id: 'overview',
    title: 'Overview',
    tiles: [
      tile('rps', 'Requests/s', 'perSecond', last(total)),
      tile('errors5xx', '5xx responses', 'ratio', last(ratio5xx)),
      tile('p95', 'p95 latency', 'seconds', last(p95)),
      tile('active', 'Active requests', 'count', last(active)),
      tile('connections', 'New connections/s', 'perSecond', last(connections)),
      tile('bytesIn', 'In', 'bytesPerSecond', last(bytesIn)),
      tile('bytesOut', 'Out', 'bytesPerSecond', last(bytesOut)),
    ],
    charts: [
      chart('requests', 'Requests per second', 'perSecond', [['all', total], ...sortedEntries(classes)]),
      chart('errors', 'Error ratio by status class', 'ratio', [['4xx', ratio4xx], ['5xx', ratio5xx]]),
      chart('latency', 'Latency', 'seconds', [['p50', p50], ['p95', p95], ['p99', p99]]),
      chart('active', 'Active requests', 'count', [['active', active]]),
      chart('connections', 'New connections per second', 'perSecond', [['accepted', connections]]),
      chart('bytes', 'Bytes per second', 'bytesPerSecond', [['in', bytesIn], ['out', bytesOut]]),
    ],
    tables: [],
  };
}
