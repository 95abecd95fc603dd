/**
 * A running tqserver: configuration loaded, listener bound, workers supervised. `main.ts` wraps
 * it in a command line and signals.
 */
import { watch } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { basename, dirname, resolve } from 'node:path';
import { loadConfig, type LoadedConfig, type Mode } from './config/index.js';
import { createLogger, today, type Logger } from './log.js';
import type { ServerObserver } from './observer.js';
import { ProxyServer, type MetricsHandler } from './proxy/index.js';
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

/** Optional parts wired in by the metrics layer. */
export interface AppHooks {
  readonly observer?: ServerObserver;
  readonly metricsHandler?: MetricsHandler;
}

/** A started server. */
export interface App {
  readonly config: LoadedConfig;
  readonly address: AddressInfo;
  readonly supervisor: Supervisor;
  readonly proxy: ProxyServer;
  readonly log: Logger;
  /** Reloads the configuration; a broken file is logged and changes nothing. Resolves true if applied. */
  reload(): Promise<boolean>;
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
  const observer = hooks.observer ?? {};
  let proxy: ProxyServer | undefined;
  let reloading: Promise<boolean> | undefined;

  const reload = (): Promise<boolean> => {
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
      config = next;
      const applied = supervisor.apply(next);
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

  const supervisor = new Supervisor({
    server: config.server,
    mode: options.mode,
    observer,
    log,
    onConfigChange: () => void reload(),
    onBrowserReload: () => proxy?.liveReload?.broadcast(),
  });
  supervisor.create(config.workers);
  proxy = new ProxyServer({ server: config.server, mode: options.mode, supervisor, observer, log, metricsHandler: hooks.metricsHandler });
  let address: AddressInfo;
  try {
    address = await proxy.listen(config.server.server.port, config.server.server.host);
  } catch (err) {
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
        timer = setTimeout(() => void reload(), config.server.fileWatcher.debounceMs);
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
  return {
    get config() {
      return config;
    },
    address,
    supervisor,
    proxy,
    log,
    reload,
    stop: () => {
      stopping ??= (async () => {
        stopServerWatch();
        const grace = config.server.workers.shutdownGracePeriodMs;
        log.info(`stopping: finishing ${proxy.activeRequests} request(s) in flight (up to ${grace} ms)`);
        await proxy.close(grace);
        await supervisor.stop();
        log.info('stopped');
        log.close();
      })();
      return stopping;
    },
  };
}
