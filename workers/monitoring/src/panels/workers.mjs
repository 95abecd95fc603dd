/** The Workers section: instances, queue, restarts by reason, memory per instance, build errors, health checks. */
import { countedIncreaseBy, instantBy, quantilesBy, sumRateBy } from '../query.mjs';
import { byLabel, chart, round, sortedEntries } from './parts.mjs';

/** @typedef {import('./parts.mjs').Context} Context */
/** @typedef {import('./parts.mjs').Section} Section */
/** @typedef {import('../series.mjs').Series} Series */
/** @typedef {import('../store.mjs').NodeHistory} NodeHistory */

/** @param {Context} c @returns {Section} */
export function workers(c) {
  const { nodes, grid, whole, now, multiNode } = c;
  const from = grid.end - grid.rangeMs;
  const worker = byLabel('worker');
  const instanceLabel = (/** @type {Series} */ s, /** @type {NodeHistory} */ node) => (multiNode ? node.name + ' ' : '') + s.label('worker') + ' #' + s.label('instance');
  const names = new Set();
  for (const node of nodes) for (const s of node.byName('tqserver_worker_instances')) names.add(s.label('worker'));
  const up = instantBy(nodes, 'tqserver_worker_up', now, worker, 'max');
  const instances = instantBy(nodes, 'tqserver_worker_instances', now, worker);
  const healthy = instantBy(nodes, 'tqserver_worker_instances_healthy', now, worker);
  const queue = instantBy(nodes, 'tqserver_worker_queue_depth', now, worker);
  const memory = instantBy(nodes, 'tqserver_worker_memory_bytes', now, (s, n) => s.label('worker') + '\n' + instanceLabel(s, n));
  const rps = sumRateBy(nodes, 'tqserver_worker_requests_total', whole, worker);
  const restarts = countedIncreaseBy(nodes, 'tqserver_worker_restarts_by_reason_total', grid.tier, from, grid.end, (s) => s.label('worker') + '\n' + s.label('reason'));
  const buildErrors = countedIncreaseBy(nodes, 'tqserver_worker_build_errors_total', grid.tier, from, grid.end, worker);
  const healthFailures = countedIncreaseBy(nodes, 'tqserver_health_check_failures_total', grid.tier, from, grid.end, worker);
  const healthP95 = quantilesBy(nodes, 'tqserver_health_check_duration_seconds', whole, [0.95], worker);
  const rows = [...names].sort().map((w) => {
    /** @type {[string, number][]} */
    const reasons = [];
    for (const [key, n] of restarts) if (key.startsWith(w + '\n') && n > 0) reasons.push([key.slice(w.length + 1), n]);
    /** @type {[string, number | null][]} */
    const mem = [];
    for (const [key, v] of memory) if (key.startsWith(w + '\n')) mem.push([key.slice(w.length + 1).replace(/^.*#/, '#'), round(v[0])]);
    mem.sort((a, b) => (a[0] < b[0] ? -1 : 1));
    return {
      worker: w,
      up: round(up.get(w)?.[0]),
      healthy: round(healthy.get(w)?.[0]),
      instances: round(instances.get(w)?.[0]),
      queue: round(queue.get(w)?.[0]),
      rps: round(rps.get(w)?.[0]),
      restarts: reasons.reduce((sum, [, n]) => sum + n, 0),
      restartReasons: reasons,
      memory: mem,
      buildErrors: round(buildErrors.get(w) ?? NaN),
      healthP95: round(healthP95.get(w)?.[0]?.[0]),
      healthFailures: round(healthFailures.get(w) ?? NaN),
    };
  });
  const healthyLines = instantBy(nodes, 'tqserver_worker_instances_healthy', grid, worker);
  const queueLines = instantBy(nodes, 'tqserver_worker_queue_depth', grid, worker);
  const memoryLines = instantBy(nodes, 'tqserver_worker_memory_bytes', grid, instanceLabel);
  const healthLines = quantilesBy(nodes, 'tqserver_health_check_duration_seconds', grid, [0.95], worker);
  return {
    id: 'workers',
    title: 'Workers',
    tiles: [],
    charts: [
      chart('healthy', 'Healthy instances', 'count', sortedEntries(healthyLines)),
      chart('queue', 'Queue depth', 'count', sortedEntries(queueLines)),
      chart('memory', 'Memory per instance', 'bytes', sortedEntries(memoryLines)),
      chart('health', 'Health-check latency (p95)', 'seconds', [...healthLines.entries()].sort().map(([w, [v]]) => [w, v])),
    ],
    tables: [
      {
        id: 'workersTable',
        title: 'Workers',
        note: 'instances, queue and memory: now; req/s and health p95: averages over the range; restarts, build errors and health failures: counted within the range',
        columns: [
          { key: 'worker', title: 'Worker', unit: 'text' },
          { key: 'up', title: 'Up', unit: 'up' },
          { key: 'healthy', title: 'Healthy', unit: 'count' },
          { key: 'instances', title: 'Instances', unit: 'count' },
          { key: 'queue', title: 'Queue', unit: 'count' },
          { key: 'rps', title: 'Req/s', unit: 'perSecond' },
          { key: 'restartReasons', title: 'Restarts', unit: 'list:count' },
          { key: 'memory', title: 'Memory', unit: 'list:bytes' },
          { key: 'buildErrors', title: 'Build errors', unit: 'count' },
          { key: 'healthP95', title: 'Health p95', unit: 'seconds' },
          { key: 'healthFailures', title: 'Health failures', unit: 'count' },
        ],
        rows,
      },
    ],
  };
}
