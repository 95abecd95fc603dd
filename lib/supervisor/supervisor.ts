/**
 * All worker pools of a server: starting them, applying a reloaded configuration (workers
 * added, removed or changed), dev-mode watching, and stopping everything.
 */
import { existsSync, readdirSync } from 'node:fs';
import { join, sep } from 'node:path';
import type { LoadedConfig, Mode, ServerConfig, WorkerConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import type { ServerObserver } from '../observer.js';
import type { MetricsAccess } from './launch.js';
import { WorkerPool } from './pool.js';
import { PortPool } from './port-pool.js';

/** The file watching of dev mode (watch.ts). */
type Watching = typeof import('./watch.js');

/** What the supervisor needs from its owner. */
export interface SupervisorOptions {
  readonly server: ServerConfig;
  readonly mode: Mode;
  readonly observer: ServerObserver;
  readonly log: Logger;
  /** Where the metrics endpoint is now, for new instances' environment. */
  readonly metricsAccess?: () => MetricsAccess | undefined;
}

/** What the supervisor announces (see {@link Supervisor.on}). */
export interface SupervisorEvents {
  /** The set of workers, or what they serve (a public/ folder may have appeared), may have changed. */
  change(): void;
  /**
   * Dev mode: a worker's config/worker.yaml changed, or a worker folder (one holding
   * config/worker.yaml) appeared in or went from the workers directory: the configuration should
   * be reloaded (and given to `apply`).
   */
  configChange(): void;
  /** Dev mode: browsers should reload (new code serving, a build failed, a static file changed). */
  browserReload(): void;
}

/** The pools, by worker name. */
export class Supervisor {
  readonly #options: SupervisorOptions;
  #server: ServerConfig;
  readonly #ports: PortPool;
  readonly #pools = new Map<string, WorkerPool>();
  readonly #unwatch = new Map<string, () => void>();
  /** Dev mode: the watch of the workers directory, and which directory it watches. */
  #workersWatch: { readonly dir: string; readonly stop: () => void } | undefined;
  /** Dev mode: watch.ts, loaded by startAll; prod mode never loads it (docs/performance.md, "Idle memory"). */
  #watching: Watching | undefined;
  #stopped = false;
  readonly #listeners: { [K in keyof SupervisorEvents]: SupervisorEvents[K][] } = { change: [], configChange: [], browserReload: [] };

  constructor(options: SupervisorOptions) {
    this.#options = options;
    this.#server = options.server;
    this.#ports = new PortPool(options.server.workers.portRangeStart, options.server.workers.portRangeEnd);
  }

  /** Calls `listener` whenever `event` happens. */
  on<K extends keyof SupervisorEvents>(event: K, listener: SupervisorEvents[K]): void {
    this.#listeners[event].push(listener);
  }

  #emit(event: keyof SupervisorEvents): void {
    for (const listener of this.#listeners[event]) listener();
  }

  /** The workers, for the proxy: the pools, sorted by name. */
  workers(): readonly WorkerPool[] {
    return this.pools();
  }

  /** For the proxy: `listener` runs whenever the set of workers, or what they serve, may have changed. */
  onChange(listener: () => void): void {
    this.on('change', listener);
  }

  /** The pools, sorted by worker name. */
  pools(): WorkerPool[] {
    return [...this.#pools.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  }

  /** The pool of worker `name`. */
  pool(name: string): WorkerPool | undefined {
    return this.#pools.get(name);
  }

  #create(config: WorkerConfig): WorkerPool {
    const { mode, observer, log, metricsAccess } = this.#options;
    // `server` is read when used, so a reload's workers.* settings (queue, timeouts, grace
    // period) reach the pools that already run; the health-check interval is set when a pool starts.
    const current = (): ServerConfig => this.#server;
    const pool = new WorkerPool(config, {
      get server() {
        return current();
      },
      mode,
      ports: this.#ports,
      observer,
      log,
      metricsAccess,
    });
    this.#pools.set(config.name, pool);
    // Before startAll has loaded watch.ts, startAll watches the pool.
    if (this.#watching !== undefined) this.#watch(pool, this.#watching);
    return pool;
  }

  /**
   * Creates a pool per worker without starting it, so that routes exist (requests queue) while
   * the pools build and start.
   */
  create(workers: readonly WorkerConfig[]): void {
    for (const w of workers) this.#create(w);
  }

  /**
   * Starts every pool (and, in dev mode, the watch of each worker folder and of the workers
   * directory); resolves when each has built and started min_workers instances.
   */
  async startAll(): Promise<void> {
    if (this.#options.mode === 'dev') {
      const watching = (this.#watching ??= await import('./watch.js'));
      for (const pool of this.#pools.values()) if (!this.#stopped && !this.#unwatch.has(pool.name)) this.#watch(pool, watching);
      this.#watchWorkersDirectory(watching);
    }
    await Promise.all(this.pools().map((p) => p.start()));
  }

  /**
   * Dev mode: watches the workers directory (only its subfolders, their config/ and
   * config/worker.yaml) and asks for a reload when a worker folder appears or goes, or when the
   * worker.yaml of a folder with no pool changes (a disabled worker, or one whose configuration
   * was refused at the last reload): those have no watch of their own.
   */
  #watchWorkersDirectory({ watchTree, isWorkerConfigEntry }: Watching): void {
    const dir = this.#server.workers.directory;
    if (this.#stopped || this.#workersWatch?.dir === dir) return;
    this.#workersWatch?.stop();
    let known = workerFolders(dir);
    const onChange = (paths: string[]): void => {
      const now = workerFolders(dir);
      const added = now.filter((name) => !known.includes(name));
      const removed = known.filter((name) => !now.includes(name));
      const edited = paths
        .filter((p) => p.split(sep).length === 3)
        .map((p) => p.split(sep)[0] as string)
        .filter((name) => now.includes(name) && !added.includes(name) && !this.#pools.has(name));
      known = now;
      const what = [...added.map((name) => `${name} added`), ...removed.map((name) => `${name} removed`), ...edited.map((name) => `${name} changed`)];
      if (what.length === 0) return;
      this.#options.log.info(`workers directory: worker folder ${what.join(', ')}; reloading the configuration`);
      this.#emit('configChange');
    };
    this.#workersWatch = { dir, stop: watchTree(dir, this.#server.fileWatcher.debounceMs, onChange, isWorkerConfigEntry) };
  }

  #watch(pool: WorkerPool, { watchTree }: Watching): void {
    const dir = pool.config.dir;
    const stop = watchTree(dir, this.#server.fileWatcher.debounceMs, (paths) => {
      if (paths.includes(join('config', 'worker.yaml'))) {
        const what = existsSync(join(dir, 'config', 'worker.yaml')) ? 'changed' : 'removed';
        this.#options.log.info(`worker ${pool.name}: config/worker.yaml ${what}; reloading the configuration`);
        this.#emit('configChange');
        return;
      }
      // php-fpm reads every script afresh (opcache checks time stamps; in dev mode on every
      // request): a change to a php worker's files needs no restart, only a browser reload.
      if (pool.type === 'php' || paths.every((p) => p === 'public' || p.startsWith(`public${sep}`))) {
        this.#emit('change');
        this.#emit('browserReload');
        return;
      }
      this.#options.log.info(`worker ${pool.name}: ${paths.length === 1 ? paths[0] : `${paths.length} files`} changed; rebuilding`);
      void pool.rebuild().then(() => {
        // A public/ folder may have appeared with the change.
        this.#emit('change');
        this.#emit('browserReload');
      });
    });
    this.#unwatch.set(pool.name, stop);
  }

  /**
   * Applies a reloaded configuration: new workers start, removed ones drain and stop, changed
   * ones are rebuilt and rolling-restarted with their new configuration, and with
   * `restartUnchanged` (SIGHUP) so is every other worker, so that a reload also deploys new code.
   * Requests keep being served throughout. Server-level settings apply to pools started from now
   * on; the listeners keep their addresses. `change` is announced as soon as the set of pools
   * has changed, and again once every worker has its new configuration.
   */
  async apply(loaded: LoadedConfig, restartUnchanged: boolean): Promise<void> {
    this.#server = loaded.server;
    if (this.#watching !== undefined && this.#workersWatch !== undefined) this.#watchWorkersDirectory(this.#watching);
    const next = new Map(loaded.workers.map((w) => [w.name, w]));
    const work: Promise<unknown>[] = [];
    for (const [name, pool] of this.#pools) {
      if (next.has(name)) continue;
      this.#options.log.info(`worker ${name}: removed from the configuration; stopping it`);
      this.#pools.delete(name);
      this.#unwatch.get(name)?.();
      this.#unwatch.delete(name);
      work.push(pool.stop('removed'));
    }
    for (const config of loaded.workers) {
      const pool = this.#pools.get(config.name);
      if (pool === undefined) {
        this.#options.log.info(`worker ${config.name}: added to the configuration; starting it`);
        work.push(this.#create(config).start());
      } else if (restartUnchanged || JSON.stringify(pool.config) !== JSON.stringify(config)) {
        work.push(pool.update(config));
      } else {
        // dev.warm_standby, or what its standbys start as (the metrics endpoint), may have changed.
        pool.refreshStandbys();
      }
    }
    this.#emit('change');
    await Promise.all(work);
    // A changed worker takes its new configuration (its route, say) in its own turn.
    this.#emit('change');
  }

  /** Stops watching, then drains and stops every pool. */
  async stop(): Promise<void> {
    this.#stopped = true;
    this.#workersWatch?.stop();
    this.#workersWatch = undefined;
    for (const stop of this.#unwatch.values()) stop();
    this.#unwatch.clear();
    await Promise.all(this.pools().map((p) => p.stop('shutdown')));
  }
}

/** The folders of `dir` holding config/worker.yaml, sorted; dot-folders skipped, as the loader does. */
function workerFolders(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory() && !d.name.startsWith('.') && existsSync(join(dir, d.name, 'config', 'worker.yaml')))
      .map((d) => d.name)
      .sort();
  } catch {
    return [];
  }
}
