/**
 * A running tqserver: configuration loaded, listener bound, workers supervised. `main.ts` wraps
 * it in a command line and signals.
 */
import { watch } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { basename, dirname, resolve } from 'node:path';
import { loadConfig, type LoadedConfig, type Mode } from './config/index.js';
import { Registry } from './exposition/index.js';
import { createLogger, today, type Logger } from './log.js';
import { createServerMetrics } from './metrics.js';
import type { ServerObserver } from './observer.js';
import { ProxyServer, type MetricsHandler } from './proxy/index.js';
import { createMetricsHandler } from './proxy/metrics-endpoint.js';
import { registerRuntimeMetrics } from './runtime-metrics.js';
import { Supervisor } from './supervisor/index.js';

/** How to start. */
export interface AppOptions {
  readonly root: string;
  readonly configPath: string | undefined;
  readonly mode: Mode;
  readonly quiet: boolean;
  /** Where stderr log lines go (tests capture them); default process.stderr. */
  readonly write?: (line: string) => void;
}

/** Optional extras, for tests and embedding. */
export interface AppHooks {
  /** Told about every event, next to the metrics. */
  readonly observer?: ServerObserver;
}

/** Calls every hook of `observers` that exists. */
function combine(observers: readonly ServerObserver[]): ServerObserver {
  if (observers.length === 1) return observers[0] as ServerObserver;
  const keys = ['connectionOpened', 'requestDone', 'instanceReady', 'instanceExited', 'instanceReplaced', 'healthCheck', 'buildFinished'] as const;
  const out: Record<string, (...args: never[]) => void> = {};
  for (const key of keys) {
    const hooks = observers.map((o) => o[key]).filter((h) => h !== undefined) as ((...args: unknown[]) => void)[];
    if (hooks.length > 0) out[key] = (...args: unknown[]) => hooks.forEach((h) => h(...args));
  }
  return out as ServerObserver;
}

/** A started server. */
export interface App {
  readonly config: LoadedConfig;
  readonly address: AddressInfo;
  /** Where the metrics endpoint listens when metrics.listen is set. */
  readonly metricsAddress: AddressInfo | undefined;
  /** The registry behind the metrics endpoint. */
  readonly registry: Registry;
  readonly supervisor: Supervisor;
  readonly proxy: ProxyServer;
  readonly log: Logger;
  /**
   * Reloads the configuration; a broken file is logged and changes nothing. With
   * `restartUnchanged` (SIGHUP) every worker is rebuilt and restarted, else only changed ones.
   * Resolves true if applied.
   */
  reload(restartUnchanged?: boolean): Promise<boolean>;
  /** Graceful stop; resolves when every worker process is gone. */
  stop(): Promise<void>;
}

/**
 * Loads the configuration (throws ConfigError before anything starts), binds the listener,
 * then builds and starts the workers. Requests that arrive while workers start wait in the queue.
 */
export async function startApp(options: AppOptions, hooks: AppHooks = {}): Promise<App> {
  let config = loadConfig({ root: options.root, configPath: options.configPath, mode: options.mode });
  const logFile = config.server.server.logFile === null ? null : resolve(config.server.root, config.server.server.logFile.replaceAll('{date}', today()));
  const log = createLogger({ quiet: options.quiet, file: logFile, write: options.write });
  for (const w of config.warnings) log.warn(w);
  let proxy: ProxyServer | undefined;
  let supervisor: Supervisor | undefined;

  const registry = new Registry();
  const observers: ServerObserver[] = hooks.observer === undefined ? [] : [hooks.observer];
  let stopRuntimeMetrics = (): void => {};
  let metricsHandler: MetricsHandler | undefined;
  let initWorkers = (_names: readonly string[]): void => {};
  if (config.server.metrics.enabled) {
    const metrics = createServerMetrics(
      registry,
      {
        activeRequests: () => proxy?.activeRequests ?? 0,
        workers: () =>
          (supervisor?.pools() ?? []).map((pool) => ({
            name: pool.name,
            instances: pool.liveCount,
            healthy: pool.healthyCount,
            queueDepth: pool.queueDepth,
            memory: () => pool.instances().filter((i) => i.state !== 'exited').map((i) => ({ slot: i.info.slot, bytes: i.residentBytes })),
          })),
      },
      config.server.metrics.buckets,
    );
    stopRuntimeMetrics = registerRuntimeMetrics(registry);
    observers.push(metrics.observer);
    initWorkers = metrics.initWorkers;
    metricsHandler = createMetricsHandler({ registry, auth: () => config.server.metrics.auth, log, scraped: metrics.scraped });
  }
  const observer = combine(observers);
  initWorkers(config.workers.map((w) => w.name));
  let reloading: Promise<boolean> | undefined;

  const reload = (restartUnchanged = true): Promise<boolean> => {
    reloading ??= (async () => {
      let next: LoadedConfig;
      try {
        next = loadConfig({ root: options.root, configPath: options.configPath, mode: options.mode });
      } catch (err) {
        log.error(`reload refused, the running configuration stays: ${(err as Error).message}`);
        return false;
      }
      for (const w of next.warnings) log.warn(w);
      const s = next.server.server;
      const old = config.server.server;
      if (s.port !== old.port || s.host !== old.host) log.warn('server.host/server.port changes take effect at the next restart');
      const m = next.server.metrics;
      const oldMetrics = config.server.metrics;
      if (m.enabled !== oldMetrics.enabled || m.listen?.host !== oldMetrics.listen?.host || m.listen?.port !== oldMetrics.listen?.port || m.buckets.join() !== oldMetrics.buckets.join()) {
        log.warn('metrics.enabled, metrics.listen and metrics.buckets changes take effect at the next restart');
      }
      config = next;
      initWorkers(next.workers.map((w) => w.name));
      const applied = (supervisor as Supervisor).apply(next, restartUnchanged);
      proxy?.configure(next.server);
      proxy?.updateRoutes();
      await applied;
      proxy?.liveReload?.broadcast();
      log.info('configuration reloaded');
      return true;
    })().finally(() => {
      reloading = undefined;
    });
    return reloading;
  };

  supervisor = new Supervisor({
    server: config.server,
    mode: options.mode,
    observer,
    log,
    onConfigChange: () => void reload(false),
    onBrowserReload: () => {
      // A public/ folder may have appeared; routes know whether a worker has one.
      proxy?.updateRoutes();
      proxy?.liveReload?.broadcast();
    },
  });
  supervisor.create(config.workers);
  // With a separate metrics listener, the main listener still reserves the path: 404, never proxied.
  const listen = config.server.metrics.listen;
  const mainMetrics: MetricsHandler | undefined =
    metricsHandler === undefined ? undefined : listen === undefined ? metricsHandler : (_req, res) => res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Not Found\n');
  proxy = new ProxyServer({ server: config.server, mode: options.mode, supervisor, observer, log, metricsHandler: mainMetrics });
  let address: AddressInfo;
  let admin: Server | undefined;
  let metricsAddress: AddressInfo | undefined;
  try {
    address = await proxy.listen(config.server.server.port, config.server.server.host);
    if (listen !== undefined && metricsHandler !== undefined) {
      const handler = metricsHandler;
      admin = createServer((req, res) => {
        const path = (req.url ?? '/').split('?')[0];
        if (path === config.server.metrics.path) handler(req, res);
        else res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Not Found\n');
      });
      const server = admin;
      metricsAddress = await new Promise<AddressInfo>((resolveListen, rejectListen) => {
        server.once('error', rejectListen);
        server.listen(listen.port, listen.host, () => resolveListen(server.address() as AddressInfo));
      });
      log.info(`metrics on http://${metricsAddress.family === 'IPv6' ? `[${metricsAddress.address}]` : metricsAddress.address}:${metricsAddress.port}${config.server.metrics.path}`);
    }
  } catch (err) {
    proxy.http.close();
    stopRuntimeMetrics();
    log.close();
    throw err;
  }
  log.info(`listening on http://${address.family === 'IPv6' ? `[${address.address}]` : address.address}:${address.port} (${options.mode} mode, ${config.workers.length} worker(s))`);

  let stopServerWatch = (): void => {};
  if (options.mode === 'dev' && config.server.file !== '(defaults)') {
    const file = resolve(config.server.root, options.configPath ?? 'config/server.yaml');
    let timer: NodeJS.Timeout | undefined;
    try {
      const watcher = watch(dirname(file), (_event, name) => {
        if (name?.toString() !== basename(file)) return;
        clearTimeout(timer);
        timer = setTimeout(() => void reload(false), config.server.fileWatcher.debounceMs);
      });
      watcher.on('error', () => {});
      stopServerWatch = () => {
        clearTimeout(timer);
        watcher.close();
      };
    } catch {
      // No watching where the platform cannot; SIGHUP still reloads.
    }
  }

  await supervisor.startAll();

  let stopping: Promise<void> | undefined;
  const runningSupervisor = supervisor;
  const runningProxy = proxy;
  return {
    get config() {
      return config;
    },
    address,
    metricsAddress,
    registry,
    supervisor: runningSupervisor,
    proxy: runningProxy,
    log,
    reload,
    stop: () => {
      stopping ??= (async () => {
        stopServerWatch();
        const grace = config.server.workers.shutdownGracePeriodMs;
        log.info(`stopping: finishing ${runningProxy.activeRequests} request(s) in flight (up to ${grace} ms)`);
        const adminClosed = admin === undefined ? Promise.resolve() : new Promise<void>((r) => (admin as Server).close(() => r()));
        admin?.closeAllConnections();
        await runningProxy.close(grace);
        await runningSupervisor.stop();
        await adminClosed;
        stopRuntimeMetrics();
        log.info('stopped');
        log.close();
      })();
      return stopping;
    },
  };
}
