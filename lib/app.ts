/**
 * A running tqserver, composed: configuration, log, instrumentation, supervisor, proxy and
 * reloader, each built once, in dependency order. `main.ts` wraps it in a command line and
 * signals.
 */
import type { AddressInfo } from 'node:net';
import { resolve } from 'node:path';
import { loadConfig, type LoadedConfig, type Mode } from './config/load.js';
import type { Registry } from './exposition/index.js';
import { Instrumentation } from './instrumentation.js';
import { hostPort, listenError } from './listen-error.js';
import { createLogger, today, type Logger } from './log.js';
import type { ServerObserver } from './observer.js';
import { ProxyServer } from './proxy/server.js';
import { Reloader } from './reloader.js';
import { Supervisor } from './supervisor/supervisor.js';

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
 * Loads the configuration (throws ConfigErrors before anything starts), binds the listeners (one
 * that cannot bind throws a ListenError naming the key to change), then builds and starts the
 * workers. Requests that arrive while workers start wait in the queue.
 */
export async function startApp(options: AppOptions, hooks: AppHooks = {}): Promise<App> {
  const { root, configPath, mode } = options;
  const config = loadConfig({ root, configPath, mode });
  const server = config.server;
  const logFile = server.server.logFile === null ? null : resolve(server.root, server.server.logFile.replaceAll('{date}', today()));
  const log = createLogger({ quiet: options.quiet, file: logFile, write: options.write });
  for (const w of config.warnings) log.warn(w);

  const instrumentation = new Instrumentation({ server, workers: config.workers.map((w) => w.name), log, observer: hooks.observer });
  const { observer } = instrumentation;
  const supervisor = new Supervisor({ server, mode, observer, log, metricsAccess: () => instrumentation.access() });
  supervisor.create(config.workers);
  const proxy = new ProxyServer({
    server,
    mode,
    backend: supervisor,
    observer,
    log,
    // Read per request: a reload that moves or turns off the endpoint applies at once.
    metricsEndpoint: () => instrumentation.mainHandler,
  });
  instrumentation.watch({
    activeRequests: () => proxy.activeRequests,
    openConnections: () => proxy.openConnections,
    workers: () =>
      supervisor.pools().map((pool) => ({
        name: pool.name,
        instances: pool.liveCount,
        healthy: pool.healthyCount,
        queueDepth: pool.queueDepth,
        memory: () => pool.instances().filter((i) => i.state !== 'exited').map((i) => ({ slot: i.info.slot, bytes: i.residentBytes })),
        php: () => pool.phpStatus(),
      })),
  });
  supervisor.on('browserReload', () => proxy.liveReload?.broadcast());

  const { host, port } = server.server;
  let address: AddressInfo;
  try {
    try {
      address = await proxy.listen(port, host);
    } catch (err) {
      throw listenError(err, 'server', { host, port }, server.file);
    }
    await instrumentation.bind(address);
  } catch (err) {
    proxy.listener.close();
    await instrumentation.close();
    log.close();
    throw err;
  }
  log.info(`listening on http://${hostPort(address.address, address.port)} (${mode} mode, ${config.workers.length} worker(s))`);

  const reloader = new Reloader({ root, configPath, mode, log, config, instrumentation, supervisor, proxy });
  if (mode === 'dev') reloader.watchServerConfig();
  await supervisor.startAll();

  let stopping: Promise<void> | undefined;
  return {
    get config() {
      return reloader.config;
    },
    address,
    get metricsAddress() {
      return instrumentation.address;
    },
    registry: instrumentation.registry,
    supervisor,
    proxy,
    log,
    reload: (restartUnchanged) => reloader.reload(restartUnchanged),
    stop: () => {
      stopping ??= (async () => {
        reloader.stop();
        const grace = reloader.config.server.workers.shutdownGracePeriodMs;
        log.info(`stopping: finishing ${proxy.activeRequests} request(s) in flight (up to ${grace} ms)`);
        const adminClosed = instrumentation.close();
        await proxy.close(grace);
        await supervisor.stop();
        await adminClosed;
        log.info('stopped');
        log.close();
      })();
      return stopping;
    },
  };
}
