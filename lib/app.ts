/**
 * A running tqserver: configuration loaded, listener bound, workers supervised. `main.ts` wraps
 * it in a command line and signals.
 */
import { watch } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { basename, dirname, resolve } from 'node:path';
import { loadConfig, type LoadedConfig, type ListenAddress, type Mode, type ServerConfig } from './config/index.js';
import { TqError } from './errors.js';
import { Registry } from './exposition/index.js';
import { createLogger, today, type Logger } from './log.js';
import { createServerMetrics } from './metrics.js';
import type { ServerObserver } from './observer.js';
import { ProxyServer } from './proxy/index.js';
import { MetricsEndpoint, type EndpointSettings } from './proxy/metrics-endpoint.js';
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

/** Why a listener could not bind, by errno code, and which key the operator should change. */
const LISTEN_PROBLEMS: Readonly<Record<string, { readonly problem: string; readonly about: 'port' | 'host'; readonly note?: string }>> = {
  EADDRINUSE: { problem: 'is already in use', about: 'port' },
  EACCES: { problem: 'is not allowed for this process', about: 'port', note: 'ports below 1024 need privileges' },
  EADDRNOTAVAIL: { problem: 'is not an address of this machine', about: 'host' },
  ENOTFOUND: { problem: 'is not a host name that resolves', about: 'host' },
};

/** `host:port`, with brackets around an IPv6 host. */
function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * The error for a listener that cannot bind, naming the setting to change and the file it is in:
 * `server.port 8080 on 127.0.0.1 is already in use (EADDRINUSE); change server.port in
 * config/server.yaml or stop the other process`.
 */
export function listenError(err: unknown, setting: 'server' | 'metrics.listen', at: ListenAddress, file: string): TqError {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const known = LISTEN_PROBLEMS[code];
  const about = known?.about ?? 'port';
  const key = setting === 'metrics.listen' ? setting : `server.${about}`;
  const subject = setting === 'metrics.listen' ? `metrics.listen ${hostPort(at.host, at.port)}` : about === 'host' ? `server.host ${at.host}` : `server.port ${at.port} on ${at.host}`;
  const where = file === '(defaults)' ? 'config/server.yaml' : file;
  const problem = known === undefined ? `cannot be bound (${(err as Error).message})` : `${known.problem} (${code}${known.note === undefined ? '' : `: ${known.note}`})`;
  return new TqError('ERR_LISTEN', `${subject} ${problem}; change ${key} in ${where}${code === 'EADDRINUSE' ? ' or stop the other process' : ''}`);
}

/** The endpoint settings of a configuration. */
function endpointSettings(server: ServerConfig): EndpointSettings {
  const { enabled, path, listen, auth } = server.metrics;
  return { enabled, path, listen, auth };
}

/** Where the metrics endpoint is now, for the log. */
function describeEndpoint(endpoint: MetricsEndpoint): string {
  const { enabled, path } = endpoint.settings;
  const a = endpoint.address;
  if (!enabled) return 'metrics off (metrics.enabled: false)';
  return a === undefined ? `metrics on the main listener at ${path}` : `metrics on http://${hostPort(a.address, a.port)}${path}`;
}

/** A started server. */
export interface App {
  readonly config: LoadedConfig;
  readonly address: AddressInfo;
  /** Where the metrics endpoint listens when metrics.listen is set (it may change on reload). */
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
 * Loads the configuration (throws ConfigError before anything starts), binds the listeners (a
 * listener that cannot bind throws ERR_LISTEN naming the key to change, see listenError), then
 * builds and starts the workers. Requests that arrive while workers start wait in the queue.
 */
export async function startApp(options: AppOptions, hooks: AppHooks = {}): Promise<App> {
  let config = loadConfig({ root: options.root, configPath: options.configPath, mode: options.mode });
  const logFile = config.server.server.logFile === null ? null : resolve(config.server.root, config.server.server.logFile.replaceAll('{date}', today()));
  const log = createLogger({ quiet: options.quiet, file: logFile, write: options.write });
  for (const w of config.warnings) log.warn(w);
  let proxy: ProxyServer | undefined;
  let supervisor: Supervisor | undefined;

  // The metric set is always built, so that a reload can turn the endpoint on; metrics.enabled
  // decides whether it is served and whether events are recorded.
  const registry = new Registry();
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
  const bucketsInUse = config.server.metrics.buckets.join();
  const stopRuntimeMetrics = registerRuntimeMetrics(registry);
  const observer = combine(hooks.observer === undefined ? [metrics.observer] : [hooks.observer, metrics.observer]);
  metrics.setWorkers(config.workers.map((w) => w.name));
  metrics.setRecording(config.server.metrics.enabled);
  const endpoint = new MetricsEndpoint({ registry, log, scraped: metrics.scraped, settings: endpointSettings(config.server) });
  let reloading: Promise<boolean> | undefined;

  /**
   * Applies the metrics block of `next` to the endpoint at once. If its new listener cannot bind,
   * the error is logged and the whole running metrics block stays: the result is `next` with it.
   */
  const applyMetrics = async (next: LoadedConfig): Promise<LoadedConfig> => {
    const m = next.server.metrics;
    if (m.buckets.join() !== bucketsInUse) log.warn('metrics.buckets changes take effect at the next restart; the histogram keeps its buckets until then');
    const before = describeEndpoint(endpoint);
    try {
      await endpoint.apply(endpointSettings(next.server));
    } catch (err) {
      const error = listenError(err, 'metrics.listen', m.listen as ListenAddress, next.server.file);
      log.error(`${error.message}; the metrics settings stay as they were (${before})`);
      return { ...next, server: { ...next.server, metrics: config.server.metrics } };
    }
    metrics.setRecording(m.enabled);
    const after = describeEndpoint(endpoint);
    if (after !== before) log.info(after);
    return next;
  };

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
      next = await applyMetrics(next);
      config = next;
      metrics.setWorkers(next.workers.map((w) => w.name));
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
    metricsAccess: () => endpoint.access(proxy?.http.listening === true ? (proxy.http.address() as AddressInfo) : undefined),
  });
  supervisor.create(config.workers);
  proxy = new ProxyServer({
    server: config.server,
    mode: options.mode,
    supervisor,
    observer,
    log,
    // Read by the proxy on each request, so a reload that moves or turns off the endpoint applies at once.
    get metricsHandler() {
      return endpoint.mainHandler;
    },
  });
  let address: AddressInfo;
  const { host, port } = config.server.server;
  try {
    try {
      address = await proxy.listen(port, host);
    } catch (err) {
      throw listenError(err, 'server', { host, port }, config.server.file);
    }
    try {
      await endpoint.start();
    } catch (err) {
      throw listenError(err, 'metrics.listen', config.server.metrics.listen as ListenAddress, config.server.file);
    }
    if (endpoint.address !== undefined) log.info(describeEndpoint(endpoint));
  } catch (err) {
    proxy.http.close();
    stopRuntimeMetrics();
    log.close();
    throw err;
  }
  log.info(`listening on http://${hostPort(address.address, address.port)} (${options.mode} mode, ${config.workers.length} worker(s))`);

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
    get metricsAddress() {
      return endpoint.address;
    },
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
        const adminClosed = endpoint.close();
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
