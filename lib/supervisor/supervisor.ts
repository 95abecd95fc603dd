/**
 * All worker pools of a server: starting them, applying a reloaded configuration (workers
 * added, removed or changed), dev-mode watching, and stopping everything.
 */
import { join, sep } from 'node:path';
import type { LoadedConfig, Mode, ServerConfig, WorkerConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import type { ServerObserver } from '../observer.js';
import { WorkerPool } from './pool.js';
import { PortPool } from './port-pool.js';
import { watchTree } from './watch.js';

/** What the supervisor needs from its owner. */
export interface SupervisorOptions {
  readonly server: ServerConfig;
  readonly mode: Mode;
  readonly observer: ServerObserver;
  readonly log: Logger;
  /** Dev mode: a worker's config/worker.yaml changed; the owner reloads the configuration. */
  readonly onConfigChange?: () => void;
  /** Dev mode: browsers should reload (new code serving, a build failed, a static file changed). */
  readonly onBrowserReload?: () => void;
}

/** The pools, by worker name. */
export class Supervisor {
  readonly #options: SupervisorOptions;
  #server: ServerConfig;
  readonly #ports: PortPool;
  readonly #pools = new Map<string, WorkerPool>();
  readonly #unwatch = new Map<string, () => void>();

  constructor(options: SupervisorOptions) {
    this.#options = options;
    this.#server = options.server;
    this.#ports = new PortPool(options.server.workers.portRangeStart, options.server.workers.portRangeEnd);
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
    const pool = new WorkerPool(config, { server: this.#server, mode: this.#options.mode, ports: this.#ports, observer: this.#options.observer, log: this.#options.log });
    this.#pools.set(config.name, pool);
    if (this.#options.mode === 'dev') this.#watch(pool);
    return pool;
  }

  /**
   * Creates a pool per worker without starting it, so that routes exist (requests queue) while
   * the pools build and start.
   */
  create(workers: readonly WorkerConfig[]): void {
    for (const w of workers) this.#create(w);
  }

  /** Starts every pool; resolves when each has built and started min_workers instances. */
  async startAll(): Promise<void> {
    await Promise.all(this.pools().map((p) => p.start()));
  }

  #watch(pool: WorkerPool): void {
    const dir = pool.config.dir;
    const stop = watchTree(dir, this.#server.fileWatcher.debounceMs, (paths) => {
      if (paths.includes(join('config', 'worker.yaml'))) {
        this.#options.log.info(`worker ${pool.name}: config/worker.yaml changed; reloading the configuration`);
        this.#options.onConfigChange?.();
        return;
      }
      if (paths.every((p) => p === 'public' || p.startsWith(`public${sep}`))) {
        this.#options.onBrowserReload?.();
        return;
      }
      this.#options.log.info(`worker ${pool.name}: ${paths.length === 1 ? paths[0] : `${paths.length} files`} changed; rebuilding`);
      void pool.rebuild().then(() => this.#options.onBrowserReload?.());
    });
    this.#unwatch.set(pool.name, stop);
  }

  /**
   * Applies a reloaded configuration: new workers start, removed ones drain and stop, changed
   * ones are rebuilt and rolling-restarted with their new configuration, and with
   * `restartUnchanged` (SIGHUP) so is every other worker, so that a reload also deploys new code.
   * Requests keep being served throughout. Server-level settings apply to pools started from now
   * on; the listeners keep their addresses. The set of pools changes before this returns its
   * promise, so routes can be rebuilt at once.
   */
  async apply(loaded: LoadedConfig, restartUnchanged: boolean): Promise<void> {
    this.#server = loaded.server;
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
      }
    }
    await Promise.all(work);
  }

  /** Stops watching, then drains and stops every pool. */
  async stop(): Promise<void> {
    for (const stop of this.#unwatch.values()) stop();
    this.#unwatch.clear();
    await Promise.all(this.pools().map((p) => p.stop('shutdown')));
  }
}
