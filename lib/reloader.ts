/**
 * Reloading a running server's configuration: on SIGHUP, and in dev mode when
 * config/server.yaml or a worker's configuration changes. A broken configuration is logged and
 * changes nothing; a good one goes to each part in turn.
 */
import { watch } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { loadConfig, type LoadedConfig, type Mode } from './config/load.js';
import type { Instrumentation } from './instrumentation.js';
import type { Logger } from './log.js';
import type { ProxyServer } from './proxy/index.js';
import type { Supervisor } from './supervisor/index.js';

/** What a reloader needs. */
export interface ReloaderOptions {
  readonly root: string;
  readonly configPath: string | undefined;
  readonly mode: Mode;
  readonly log: Logger;
  /** The configuration running now. */
  readonly config: LoadedConfig;
  readonly instrumentation: Instrumentation;
  readonly supervisor: Supervisor;
  readonly proxy: ProxyServer;
}

/** Loads and applies configuration changes, one reload at a time. */
export class Reloader {
  readonly #options: ReloaderOptions;
  #config: LoadedConfig;
  #reloading: Promise<boolean> | undefined;
  #stopWatch = (): void => {};

  constructor(options: ReloaderOptions) {
    this.#options = options;
    this.#config = options.config;
    // Dev mode: a worker's configuration changed, or a worker folder came or went.
    options.supervisor.on('configChange', () => void this.reload(false));
  }

  /** The configuration running now. */
  get config(): LoadedConfig {
    return this.#config;
  }

  /**
   * Reloads the configuration; a broken file is logged and changes nothing. With
   * `restartUnchanged` (SIGHUP) every worker is rebuilt and restarted, else only changed ones.
   * A reload asked for while one runs joins it. Resolves true if applied.
   */
  reload(restartUnchanged = true): Promise<boolean> {
    this.#reloading ??= this.#reload(restartUnchanged).finally(() => {
      this.#reloading = undefined;
    });
    return this.#reloading;
  }

  async #reload(restartUnchanged: boolean): Promise<boolean> {
    const { root, configPath, mode, log, instrumentation, supervisor, proxy } = this.#options;
    let next: LoadedConfig;
    try {
      next = loadConfig({ root, configPath, mode });
    } catch (err) {
      log.error(`reload refused, the running configuration stays: ${(err as Error).message}`);
      return false;
    }
    for (const w of next.warnings) log.warn(w);
    const s = next.server.server;
    const old = this.#config.server.server;
    if (s.port !== old.port || s.host !== old.host) log.warn('server.host/server.port changes take effect at the next restart');
    const workers = next.workers.map((w) => w.name);
    next = { ...next, server: await instrumentation.apply(next.server, workers) };
    this.#config = next;
    proxy.configure(next.server);
    await supervisor.apply(next, restartUnchanged);
    proxy.liveReload?.broadcast();
    log.info('configuration reloaded');
    return true;
  }

  /** Dev mode: reloads (changed workers only) when the server's configuration file changes. */
  watchServerConfig(): void {
    const { root, configPath, log } = this.#options;
    if (this.#config.server.file === '(defaults)') return;
    const file = resolve(root, configPath ?? 'config/server.yaml');
    let timer: NodeJS.Timeout | undefined;
    try {
      // The folder is watched, not the file: editors replace the file, which a file watch loses.
      const watcher = watch(dirname(file), (_event, name) => {
        if (name?.toString() !== basename(file)) return;
        clearTimeout(timer);
        timer = setTimeout(() => void this.reload(false), this.#config.server.fileWatcher.debounceMs);
      });
      watcher.on('error', () => {});
      this.#stopWatch = () => {
        clearTimeout(timer);
        watcher.close();
      };
    } catch (err) {
      log.warn(`cannot watch ${file} (${(err as Error).message}); SIGHUP still reloads`);
    }
  }

  /** Stops watching. */
  stop(): void {
    this.#stopWatch();
  }
}
