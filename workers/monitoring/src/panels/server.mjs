/** The Server section: memory by type, event-loop lag, CPU, open file descriptors, uptime. */
import { instantBy, sumRateBy } from '../query.mjs';
import { byLabel, chart, everything, last, tile } from './parts.mjs';

/** @typedef {import('./parts.mjs').Context} Context */
/** @typedef {import('./parts.mjs').Section} Section */
/** @typedef {import('../series.mjs').Series} Series */
/** @typedef {import('../store.mjs').NodeHistory} NodeHistory */

/** @param {Context} c @returns {Section} */
export function server(c) {
  const { nodes, grid, now } = c;
  const memoryByType = instantBy(nodes, 'tqserver_process_memory_bytes', grid, byLabel('type'));
  const lag = (/** @type {string} */ name) => instantBy(nodes, name, grid, everything, 'max').get('all');
  const lagMean = lag('nodejs_eventloop_lag_mean_seconds');
  const lagP99 = lag('nodejs_eventloop_lag_p99_seconds');
  const lagMax = lag('nodejs_eventloop_lag_max_seconds');
  // rate(process_cpu_user_seconds_total[w]): CPU seconds per second, 1 = one core busy.
  const cpuUser = sumRateBy(nodes, 'process_cpu_user_seconds_total', grid, everything).get('all');
  const cpuSystem = sumRateBy(nodes, 'process_cpu_system_seconds_total', grid, everything).get('all');
  const cpu = sumRateBy(nodes, 'process_cpu_seconds_total', grid, everything).get('all');
  const fds = instantBy(nodes, 'process_open_fds', grid, everything).get('all');
  const maxFds = instantBy(nodes, 'process_max_fds', now, everything).get('all');
  // The youngest node's uptime: a restart anywhere shows.
  let youngest = NaN;
  for (const node of nodes) {
    const u = instantBy([node], 'tqserver_process_uptime_seconds', now, everything).get('all')?.[0];
    if (u !== undefined && !Number.isNaN(u) && !(youngest <= u)) youngest = u;
  }
  const types = ['rss', 'heap_total', 'heap', 'external', 'array_buffers'];
  return {
    id: 'server',
    title: 'Server',
    tiles: [
      tile('uptime', 'Uptime', 'duration', youngest),
      tile('rss', 'Resident memory', 'bytes', last(memoryByType.get('rss'))),
      tile('cpu', 'CPU', 'cores', last(cpu)),
      tile('lag', 'Event-loop lag p99', 'seconds', last(lagP99)),
      tile('fds', 'Open fds', 'count', last(fds)),
      tile('maxFds', 'Fd limit', 'count', last(maxFds)),
    ],
    charts: [
      chart('processMemory', 'Memory by type', 'bytes', types.map((t) => [t, memoryByType.get(t)])),
      chart('lag', 'Event-loop lag', 'seconds', [['mean', lagMean], ['p99', lagP99], ['max', lagMax]]),
      chart('cpu', 'CPU', 'cores', [['user', cpuUser], ['system', cpuSystem]]),
      chart('fds', 'Open file descriptors', 'count', [['open', fds]]),
    ],
    tables: [],
  };
}
