/**
 * The tqserver_* metric set: every family of the metrics plan, in one table of definitions, and
 * the observer that records each one where its event happens. Gauges that describe current
 * state are computed when scraped, from the supervisor and the proxy.
 */
import type { Gauge, Registry } from './exposition/index.js';
import type { ExitReason, RequestEvent, ServerObserver } from './observer.js';

/** Health-check duration buckets, in seconds (.001 .. 1). */
export const HEALTH_CHECK_BUCKETS: readonly number[] = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

/** What the gauges of current state read, when scraped. */
export interface MetricsSource {
  /** Requests being served now. */
  activeRequests(): number;
  /** Client connections open now. */
  openConnections(): number;
  /** Every configured worker, as it is now. */
  workers(): readonly WorkerState[];
}

/** One worker's current state. */
export interface WorkerState {
  readonly name: string;
  /** Instances starting or serving. */
  readonly instances: number;
  readonly healthy: number;
  readonly queueDepth: number;
  /** Each live instance's slot and resident memory (read from the OS when called). */
  memory(): readonly { readonly slot: number; readonly bytes: number | undefined }[];
  /**
   * A php worker's php-fpm pools, summed over its instances, as their status pages said at the
   * last health probe; undefined for other workers, or when no recent reading exists.
   */
  php?(): PhpPoolState | undefined;
}

/** What the tqserver_php_* gauges show of a php worker. */
export interface PhpPoolState {
  /** Children serving a request. */
  readonly activeProcesses: number;
  /** Children waiting for a connection. */
  readonly idleProcesses: number;
  /** Connections waiting in php-fpm's listen backlog. */
  readonly listenQueue: number;
}

const START_TIME = Date.now() / 1000 - process.uptime();

/** The `status` label of a status outside 100-599 (a worker may send any of 100-999). */
export const OTHER_STATUS = 'other';

/**
 * The `status` label: `0` (nothing was sent), `100` .. `599`, else `other`. Made once, so no
 * string is built per request, and bounded, so a worker's unusual statuses add one series.
 */
const STATUS_TEXT: readonly string[] = Array.from({ length: 600 }, (_, i) => (i === 0 || i >= 100 ? String(i) : OTHER_STATUS));

/** The `status` label of `status`. */
export function statusLabel(status: number): string {
  return STATUS_TEXT[status] ?? OTHER_STATUS;
}

const GROUP_TEXT: readonly string[] = ['1xx', '2xx', '3xx', '4xx', '5xx'];

/** The `status_group` label of a sent status: `1xx` .. `5xx`, else `other`. */
export function statusGroupLabel(status: number): string {
  return GROUP_TEXT[Math.floor(status / 100) - 1] ?? OTHER_STATUS;
}

/**
 * Every ExitReason, and whether the supervisor replaces an instance for it (so it is a restart
 * reason, initialised at 0 for every worker). Scaling down, shutdown and removal stop an
 * instance without replacing it. A Record, so a reason added to observer.ts must be added here.
 */
const RESTARTS: Readonly<Record<ExitReason, boolean>> = {
  crash: true,
  start_failed: true,
  health: true,
  reload: true,
  change: true,
  max_requests: true,
  memory: true,
  scale_down: false,
  shutdown: false,
  removed: false,
};

/** The values of the `reason` label of tqserver_worker_restarts_by_reason_total. */
export const RESTART_REASONS: readonly ExitReason[] = (Object.keys(RESTARTS) as ExitReason[]).filter((r) => RESTARTS[r]);

/** The metric set's recorders. */
export interface ServerMetrics {
  /**
   * Records every event while recording is on. Events of a worker not (or no longer) configured
   * are ignored.
   */
  readonly observer: ServerObserver;
  /**
   * Turns recording of the observer's events on (the default) or off (metrics.enabled: false:
   * then each event costs one check). Counters resume where they were: a gap, not a reset.
   */
  setRecording(on: boolean): void;
  /**
   * The configured workers, at start and after each reload: each new worker's counters start at
   * 0 (so that rate() and increase() see the first event), and every series of a worker no
   * longer configured is removed.
   */
  setWorkers(names: readonly string[]): void;
  /** Records one answered scrape (called by the endpoint after rendering). */
  scraped(format: string, seconds: number): void;
}

/**
 * Registers the tqserver_* families recorded from events in `registry` and returns the observer
 * that records them. `buckets` are the request-duration bounds (metrics.buckets). The families
 * of current state are registerStateMetrics'.
 */
export function createServerMetrics(registry: Registry, buckets: readonly number[]): ServerMetrics {
  // ---- process ---------------------------------------------------------------------------------
  registry.gauge({ name: 'tqserver_process_start_time_seconds', help: 'Unix time the tqserver process started, in seconds.', collect: (g) => g.set(START_TIME) });
  registry.gauge({ name: 'tqserver_process_uptime_seconds', help: 'Seconds since the tqserver process started.', collect: (g) => g.set(process.uptime()) });
  registry.gauge({
    name: 'tqserver_process_memory_bytes',
    help: 'Memory of the tqserver process by type: heap (V8 heap used), heap_total, external, array_buffers, rss.',
    labelNames: ['type'] as const,
    collect: (g) => {
      const m = process.memoryUsage();
      g.labels('heap').set(m.heapUsed);
      g.labels('heap_total').set(m.heapTotal);
      g.labels('external').set(m.external);
      g.labels('array_buffers').set(m.arrayBuffers);
      g.labels('rss').set(m.rss);
    },
  });
  registry.gauge({
    name: 'tqserver_process_active_resources',
    help: 'Resources keeping the event loop alive (sockets, timers, ...); the Node counterpart of the Go server goroutine count.',
    collect: (g) => g.set(process.getActiveResourcesInfo().length),
  });

  // ---- frontend: the client side of the proxy -------------------------------------------------
  const requests = registry.counter({ name: 'tqserver_requests_total', help: 'HTTP requests received, by method, matched route and status sent (100-599, other for any other status, 0 when the client left before a status was sent).', labelNames: ['method', 'path', 'status'] as const });
  const responses = registry.counter({ name: 'tqserver_http_responses_total', help: 'HTTP responses sent, by status class (1xx-5xx, other for a status outside 100-599).', labelNames: ['status_group'] as const });
  const duration = registry.histogram({ name: 'tqserver_request_duration_seconds', help: 'Time from receiving a request to finishing its response, in seconds.', labelNames: ['method', 'path'] as const, buckets });
  const bytesIn = registry.counter({ name: 'tqserver_bytes_in_total', help: 'Bytes read from client connections (requests, headers included).' });
  const bytesOut = registry.counter({ name: 'tqserver_bytes_out_total', help: 'Bytes written to client connections (responses, headers included).' });
  const connections = registry.counter({ name: 'tqserver_connections_total', help: 'Client connections accepted on the main listener.' });

  // ---- backend: workers and their instances ---------------------------------------------------
  const workerRequests = registry.counter({ name: 'tqserver_worker_requests_total', help: 'Requests routed to a worker (static files included), by status sent (as in tqserver_requests_total).', labelNames: ['worker', 'status'] as const });
  const workerResponses = registry.counter({ name: 'tqserver_worker_http_responses_total', help: 'Responses to requests routed to a worker, by status class (as in tqserver_http_responses_total).', labelNames: ['worker', 'status_group'] as const });
  const restarts = registry.counter({ name: 'tqserver_worker_restarts_total', help: 'Instances replaced, whatever the reason (crash, failed start, failed health check, reload, change, max_requests, memory).', labelNames: ['worker'] as const });
  const restartReasons = registry.counter({ name: 'tqserver_worker_restarts_by_reason_total', help: 'Instances replaced, by reason.', labelNames: ['worker', 'reason'] as const });
  const buildErrors = registry.counter({ name: 'tqserver_worker_build_errors_total', help: 'Failed builds of a worker.', labelNames: ['worker'] as const });

  // ---- health checks ----------------------------------------------------------------------------
  const healthDuration = registry.histogram({ name: 'tqserver_health_check_duration_seconds', help: 'Duration of periodic health probes, in seconds.', labelNames: ['worker'] as const, buckets: HEALTH_CHECK_BUCKETS });
  const healthFailures = registry.counter({ name: 'tqserver_health_check_failures_total', help: 'Periodic health probes that failed.', labelNames: ['worker'] as const });

  // ---- php-fpm, from its status page (see registerStateMetrics for its gauges) ---------------------
  const phpMaxChildren = registry.counter({ name: 'tqserver_php_max_children_reached_total', help: 'Times a php worker\'s php-fpm wanted another child and pm.max_children (php.pool.max_workers) stopped it, as its status page reports them.', labelNames: ['worker'] as const });
  const phpSlow = registry.counter({ name: 'tqserver_php_slow_requests_total', help: 'Requests of a php worker that ran longer than php-fpm\'s request_slowlog_timeout, as its status page reports them.', labelNames: ['worker'] as const });

  // ---- the endpoint itself ----------------------------------------------------------------------
  const scrapes = registry.counter({ name: 'tqserver_metrics_scrapes_total', help: 'Scrapes of the metrics endpoint answered, by format served (text or openmetrics).', labelNames: ['format'] as const });
  scrapes.labels('text');
  scrapes.labels('openmetrics');
  const renderSeconds = registry.gauge({ name: 'tqserver_metrics_render_duration_seconds', help: 'Time the previous scrape kept the event loop busy collecting the metrics, rendering them and encoding them to bytes, in seconds (a large scrape runs in slices, with other work between them; this adds up the slices).' });

  let workers = new Set<string>();
  let recording = true;
  const removeWorker = (name: string): void => {
    for (const status of new Set(STATUS_TEXT)) workerRequests.remove(name, status);
    for (const group of [...GROUP_TEXT, OTHER_STATUS]) workerResponses.remove(name, group);
    restarts.remove(name);
    for (const reason of Object.keys(RESTARTS) as ExitReason[]) restartReasons.remove(name, reason);
    buildErrors.remove(name);
    healthDuration.remove(name);
    healthFailures.remove(name);
    phpMaxChildren.remove(name);
    phpSlow.remove(name);
  };

  const observer: ServerObserver = {
    connectionOpened: () => {
      if (recording) connections.inc();
    },
    requestDone: (e: RequestEvent) => {
      if (!recording) return;
      const status = statusLabel(e.status);
      requests.labels(e.method, e.route, status).inc();
      duration.labels(e.method, e.route).observe(e.durationSeconds);
      bytesIn.inc(e.bytesIn);
      bytesOut.inc(e.bytesOut);
      // Status 0: the connection died before a status went out, so no response was sent.
      const sent = e.status !== 0;
      if (sent) responses.labels(statusGroupLabel(e.status)).inc();
      if (e.worker !== undefined && workers.has(e.worker)) {
        workerRequests.labels(e.worker, status).inc();
        if (sent) workerResponses.labels(e.worker, statusGroupLabel(e.status)).inc();
      }
    },
    instanceReplaced: (worker: string, reason: ExitReason) => {
      if (!recording || !workers.has(worker)) return;
      restarts.labels(worker).inc();
      restartReasons.labels(worker, reason).inc();
    },
    healthCheck: (worker, seconds, ok) => {
      if (!recording || !workers.has(worker)) return;
      healthDuration.labels(worker).observe(seconds);
      if (!ok) healthFailures.labels(worker).inc();
    },
    buildFinished: (worker, ok) => {
      if (recording && !ok && workers.has(worker)) buildErrors.labels(worker).inc();
    },
    phpCounters: (worker, maxChildrenReached, slowRequests) => {
      if (!recording || !workers.has(worker)) return;
      phpMaxChildren.labels(worker).inc(maxChildrenReached);
      phpSlow.labels(worker).inc(slowRequests);
    },
  };
  return {
    observer,
    setRecording: (on) => {
      recording = on;
    },
    scraped: (format, seconds) => {
      scrapes.labels(format).inc();
      renderSeconds.set(seconds);
    },
    setWorkers: (names) => {
      const next = new Set(names);
      for (const name of workers) if (!next.has(name)) removeWorker(name);
      for (const name of next) {
        if (workers.has(name)) continue;
        restarts.labels(name);
        for (const reason of RESTART_REASONS) restartReasons.labels(name, reason);
        buildErrors.labels(name);
        healthFailures.labels(name);
      }
      workers = next;
    },
  };
}

/**
 * Registers the tqserver_* gauges of current state, computed from `source` when scraped:
 * requests in flight, and each worker's instances, queue and memory.
 */
export function registerStateMetrics(registry: Registry, source: MetricsSource): void {
  registry.gauge({ name: 'tqserver_active_requests', help: 'Requests being served now.', collect: (g) => g.set(source.activeRequests()) });
  registry.gauge({ name: 'tqserver_open_connections', help: 'Client connections open now on the main listener.', collect: (g) => g.set(source.openConnections()) });
  // One gauge per worker; a worker for which `read` has no value (a php family on a node worker) has no series.
  const perWorker = (name: string, help: string, read: (w: WorkerState) => number | undefined): Gauge<readonly ['worker']> =>
    registry.gauge({
      name,
      help,
      labelNames: ['worker'] as const,
      collect: (g) => {
        g.clear();
        for (const w of source.workers()) {
          const value = read(w);
          if (value !== undefined) g.labels(w.name).set(value);
        }
      },
    });
  perWorker('tqserver_worker_instances', 'Instances of a worker starting or serving.', (w) => w.instances);
  perWorker('tqserver_worker_instances_healthy', 'Instances of a worker in rotation (healthy).', (w) => w.healthy);
  perWorker('tqserver_worker_queue_depth', 'Requests waiting for a free instance of a worker.', (w) => w.queueDepth);
  perWorker('tqserver_worker_up', '1 while at least one instance of the worker is healthy, else 0.', (w) => (w.healthy > 0 ? 1 : 0));
  registry.gauge({
    name: 'tqserver_worker_memory_bytes',
    help: 'Resident memory of each live instance, by worker and instance slot; series of instances that are gone are removed.',
    labelNames: ['worker', 'instance'] as const,
    collect: (g) => {
      g.clear();
      for (const w of source.workers()) for (const m of w.memory()) if (m.bytes !== undefined) g.labels(w.name, String(m.slot)).set(m.bytes);
    },
  });
  const perPhpWorker = (name: string, help: string, read: (p: PhpPoolState) => number): void => {
    const php = (w: WorkerState): number | undefined => {
      const state = w.php?.();
      return state === undefined ? undefined : read(state);
    };
    perWorker(name, help, php);
  };
  perPhpWorker('tqserver_php_active_processes', 'php-fpm children of a php worker serving a request (or holding one of tqserver\'s idle kept connections), at the last health probe, summed over its instances.', (p) => p.activeProcesses);
  perPhpWorker('tqserver_php_idle_processes', 'php-fpm children of a php worker waiting for a connection, at the last health probe, summed over its instances.', (p) => p.idleProcesses);
  perPhpWorker('tqserver_php_listen_queue', 'Connections waiting in the listen backlog of a php worker\'s php-fpm for a free child, at the last health probe, summed over its instances.', (p) => p.listenQueue);
}
