/**
 * The instances of one worker: build, start, scale, replace (crash, failed health checks,
 * max_requests, memory) and restart without dropping a request. Which instance a request goes to
 * is dispatcher.ts; what a periodic checkup finds is checkup.ts; a rolling restart is rollout.ts.
 * Every instance leaves through one path, #retire.
 */
import type { Mode, ServerConfig, WorkerConfig } from '../config/index.js';
import { ServeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ExitReason, InstanceInfo, ServerObserver } from '../observer.js';
import { buildWorker } from './build.js';
import { checkup } from './checkup.js';
import { CrashLoop } from './crash-loop.js';
import { decideScale, HEALTH_FAILURES_TO_REPLACE, REFUSED_PAUSE_MS } from './decisions.js';
import { Dispatcher } from './dispatcher.js';
import { Instance, type ExitStatus } from './instance.js';
import type { LaunchPlan, MetricsAccess } from './launch.js';
import type { PortPool } from './port-pool.js';
import { preparePhpFpm, type PhpFpmLaunch } from './php-fpm.js';
import type { PhpFpmStatus } from '../fastcgi/index.js';
import { rollOut, sleep } from './rollout.js';
import { standbyPlan, WarmStandbys } from './standbys.js';

/** What every pool shares. */
export interface PoolContext {
  readonly server: ServerConfig;
  readonly mode: Mode;
  readonly ports: PortPool;
  readonly observer: ServerObserver;
  readonly log: Logger;
  /** Where the metrics endpoint is now, for new instances' environment. */
  readonly metricsAccess?: () => MetricsAccess | undefined;
}

/** How often the scaler looks at the queue and idle instances. */
const SCALE_TICK_MS = 250;

/** A live instance as the metrics see it. */
export interface InstanceSnapshot {
  readonly info: InstanceInfo;
  readonly state: string;
  readonly residentBytes: number | undefined;
}

/**
 * How a retired instance is replaced: `first` starts the replacement and waits until it is
 * healthy before draining (memory); `alongside` starts it at once (max_requests); `heal` lets the
 * scaler bring the pool back to min_workers (failed health checks); `none` for a planned exit.
 */
type Replacement = 'first' | 'alongside' | 'heal' | 'none';

/** Reasons that stop an instance without replacing it: not counted as restarts. */
const NOT_REPLACED: ReadonlySet<ExitReason> = new Set(['scale_down', 'shutdown', 'removed']);

/** The instances of one worker. */
export class WorkerPool {
  #config: WorkerConfig;
  readonly #ctx: PoolContext;
  readonly #instances: Instance[] = [];
  readonly #dispatch: Dispatcher;
  #spawning = 0;
  readonly #crashes = new CrashLoop();
  #buildError: string | undefined;
  #startError: string | undefined;
  #stopped = false;
  /** False until start() has run: before that the scaler leaves starting to start(). */
  #started = false;
  #restarting = false;
  #checking = false;
  #ops: Promise<unknown> = Promise.resolve();
  #scaleTimer: NodeJS.Timeout | undefined;
  #healthTimer: NodeJS.Timeout | undefined;
  #healTimer: NodeJS.Timeout | undefined;
  /** Dev mode: processes started ahead of time for the next instances (standbys.ts). */
  readonly #standbys: WarmStandbys;

  constructor(config: WorkerConfig, ctx: PoolContext) {
    this.#config = config;
    this.#ctx = ctx;
    this.#dispatch = new Dispatcher(config.name, this.#instances, () => ({ maxConcurrency: this.#config.scaling.maxConcurrency, maxRequests: this.#config.maxRequests }));
    const plan = (port: number): LaunchPlan | undefined => (this.#stopped ? undefined : standbyPlan(this.#config, ctx.mode, ctx.server, port, ctx.metricsAccess?.()));
    this.#standbys = new WarmStandbys({ name: config.name, ports: ctx.ports, log: ctx.log, plan });
  }

  get config(): WorkerConfig {
    return this.#config;
  }

  get name(): string {
    return this.#config.name;
  }

  get type(): string {
    return this.#config.type;
  }

  /** The route prefix. */
  get route(): string {
    return this.#config.path;
  }

  /** The worker's folder. */
  get dir(): string {
    return this.#config.dir;
  }

  /** How the proxy speaks to its instances. */
  get protocol(): 'http' | 'fastcgi' {
    return this.#config.type === 'php' ? 'fastcgi' : 'http';
  }

  /** A php worker's document root. */
  get documentRoot(): string | undefined {
    return this.#config.php?.documentRoot;
  }

  /**
   * A php worker's connections that may stay open to one instance between requests: one fewer
   * than its php-fpm children, so that a child is always left to take a new connection (a health
   * probe, or a request beyond the kept ones). See FastCgiPool.
   */
  get keepConnections(): number {
    return Math.max(0, (this.#config.php?.pool.maxChildren ?? 0) - 1);
  }

  /** Why its instances fail to start, while none is alive (the dev-mode start-failure page). */
  get startFailure(): string | undefined {
    return this.liveCount === 0 ? this.#startError : undefined;
  }

  /** The compiler output of the last failed build, until a build succeeds. */
  get buildError(): string | undefined {
    return this.#buildError;
  }

  /** Instances starting or serving (draining ones excluded). */
  get liveCount(): number {
    return this.#live().length;
  }

  /** Instances in rotation. */
  get healthyCount(): number {
    return this.#instances.filter((i) => i.state === 'healthy').length;
  }

  /** Requests waiting for an instance. */
  get queueDepth(): number {
    return this.#dispatch.waiting;
  }

  /** Every instance whose process is alive, with its resident memory (read now). */
  instances(): InstanceSnapshot[] {
    return this.#instances.map((i) => ({ info: i.info(), state: i.state, residentBytes: i.memoryBytes() }));
  }

  /**
   * A php worker's pool state: what the status pages of its instances said at their last
   * periodic probe, summed; a reading older than three health-check intervals (its instance
   * stopped answering) is left out. Undefined when there is none (not a php worker, or no
   * recent reading).
   */
  phpStatus(): PhpFpmStatus | undefined {
    const oldest = Date.now() - 3 * this.#ctx.server.workers.healthCheckIntervalMs - this.#ctx.server.workers.healthCheckTimeoutMs;
    let sum: { -readonly [K in keyof PhpFpmStatus]: number } | undefined;
    for (const i of this.#instances) {
      const reading = i.phpStatus;
      if (reading === undefined || reading.atMs < oldest || i.state === 'exited') continue;
      sum ??= { activeProcesses: 0, idleProcesses: 0, listenQueue: 0, maxChildrenReached: 0, slowRequests: 0, acceptedConnections: 0 };
      for (const k of Object.keys(sum) as (keyof PhpFpmStatus)[]) sum[k] += reading.status[k];
    }
    return sum;
  }

  /** Builds (if the worker has a build step), starts min_workers instances, starts the timers. */
  async start(): Promise<void> {
    await this.#build();
    this.#started = true;
    this.#scaleTimer = setInterval(() => this.#scale(), SCALE_TICK_MS);
    this.#scaleTimer.unref();
    this.#healthTimer = setInterval(() => void this.#checkHealth(), this.#ctx.server.workers.healthCheckIntervalMs);
    this.#healthTimer.unref();
    if (this.#buildError !== undefined) return;
    const ready: Promise<unknown>[] = [];
    for (let i = 0; i < this.#config.scaling.minWorkers; i++) {
      if (i > 0) await sleep(this.#ctx.server.workers.startupDelayMs);
      ready.push(this.#spawn());
    }
    await Promise.all(ready);
  }

  // ---- dispatch ------------------------------------------------------------------------------

  /**
   * An instance to send one request to, its in-flight count already raised. Otherwise the
   * request waits in the queue: ERR_QUEUE_FULL when the queue is full, ERR_QUEUE_TIMEOUT after
   * queue_timeout_ms, ERR_BUILD_FAILED / ERR_NO_INSTANCE / ERR_SHUTTING_DOWN at once when no
   * instance can come soon. Call {@link release} after.
   */
  acquire(signal?: AbortSignal): Promise<Instance> {
    if (this.#stopped) return Promise.reject(new ServeError('ERR_SHUTTING_DOWN', `worker ${this.name} is stopping`));
    const picked = this.tryAcquire();
    if (picked !== undefined) return Promise.resolve(picked);
    if (this.#buildError !== undefined && this.liveCount === 0) {
      return Promise.reject(new ServeError('ERR_BUILD_FAILED', `worker ${this.name} failed to build`));
    }
    if (this.#crashLooping()) return Promise.reject(this.#noInstanceError());
    const { queueCapacity, queueTimeoutMs } = this.#ctx.server.workers;
    if (this.#dispatch.waiting >= queueCapacity) {
      return Promise.reject(new ServeError('ERR_QUEUE_FULL', `worker ${this.name}: ${this.#dispatch.waiting} requests are already waiting`));
    }
    const waiting = this.#dispatch.wait(queueTimeoutMs, signal);
    this.#scale();
    return waiting;
  }

  /** The fast path of {@link acquire}: an instance with room right now, or undefined, without allocating a promise. */
  tryAcquire(): Instance | undefined {
    return this.#stopped ? undefined : this.#dispatch.tryPick();
  }

  /**
   * Ends one request on `instance`; recycles it after max_requests; serves the queue. With
   * `refused` (its port refused the connection: it is probably exiting), dispatch passes it over
   * for a moment.
   */
  release(instance: Instance, refused = false): void {
    instance.end();
    if (refused) instance.refusedConnections(Date.now() + REFUSED_PAUSE_MS);
    const { maxRequests } = this.#config;
    if (maxRequests > 0 && instance.served >= maxRequests && instance.state === 'healthy' && !instance.retired) {
      this.#ctx.log.info(`worker ${this.name}: replacing instance ${instance} (max_requests)`);
      void this.#retire(instance, 'max_requests', 'alongside');
    }
    this.#dispatch.serveQueue();
  }

  /**
   * Whether the worker is crash-looping with nothing alive: its instances keep failing, and
   * the next start waits for the backoff. Requests are then refused at once, not queued.
   */
  #crashLooping(): boolean {
    return this.#crashes.looping && this.#spawning === 0 && this.liveCount === 0;
  }

  #noInstanceError(): ServeError {
    const waitMs = this.#crashes.waitMs(Date.now());
    return new ServeError(
      'ERR_NO_INSTANCE',
      `worker ${this.name} has no instance running: its instances keep failing (${this.#crashes.failures} in a row); the next start is in ${(waitMs / 1000).toFixed(1)} s`,
      Math.max(1, Math.ceil(waitMs / 1000)),
    );
  }

  // ---- starting and retiring instances ------------------------------------------------------

  #live(): Instance[] {
    return this.#instances.filter((i) => i.state === 'starting' || i.state === 'healthy');
  }

  #freeSlot(): number {
    const used = new Set(this.#instances.map((i) => i.slot));
    let slot = 0;
    while (used.has(slot)) slot++;
    return slot;
  }

  /** Starts one instance; resolves with it once healthy, or undefined if it failed. */
  async #spawn(): Promise<Instance | undefined> {
    if (this.#stopped) return undefined;
    this.#spawning++;
    let instance: Instance;
    let port: number | undefined;
    let launch: PhpFpmLaunch | undefined;
    // A warm standby, if there is one, is this instance's process already started, on its port.
    const standby = this.#standbys.take();
    try {
      port = standby?.port ?? (await this.#ctx.ports.acquire());
      if (this.#stopped) {
        this.#ctx.ports.release(port);
        return undefined;
      }
      // A php worker's instance is a php-fpm with a configuration of its own, for its port.
      launch = this.#config.php === undefined ? undefined : preparePhpFpm(this.#config, port, this.#ctx.mode);
      instance = new Instance({ worker: this.#config, slot: this.#freeSlot(), port, mode: this.#ctx.mode, root: this.#ctx.server.root, metrics: this.#ctx.metricsAccess?.(), command: launch?.argv, launched: standby?.go() });
    } catch (err) {
      launch?.remove();
      void standby?.kill();
      if (port !== undefined) this.#ctx.ports.release(port);
      this.#ctx.log.error(`worker ${this.name}: cannot start an instance: ${(err as Error).message}`);
      return undefined;
    } finally {
      this.#spawning--;
    }
    this.#instances.push(instance);
    void instance.exited.then((status) => {
      launch?.remove();
      this.#onExit(instance, status);
    });
    const { healthCheckWaitTimeoutMs, healthCheckTimeoutMs } = this.#ctx.server.workers;
    const ready = await instance.waitReady(healthCheckWaitTimeoutMs, healthCheckTimeoutMs);
    if (ready === true && instance.state === 'starting') {
      instance.transition('healthy');
      this.#startError = undefined;
      this.#ctx.log.info(`worker ${this.name}: instance ${instance} is healthy${standby === undefined ? '' : ' (from a warm standby)'}`);
      this.#ctx.observer.instanceReady?.(instance.info());
      this.#dispatch.serveQueue();
      this.#tendStandbys();
      return instance;
    }
    if (instance.state === 'starting') {
      this.#startError = instance.explain(`failed to start: ${ready}`);
      this.#ctx.log.error(`worker ${this.name}: ${forLog(this.#startError, instance)}`);
      await this.#retire(instance, 'start_failed', 'none');
    }
    return undefined;
  }

  /**
   * Takes `instance` out of service for `reason`, once, whatever asks: drains it (no new
   * requests; those in flight may finish within the grace period) and stops it, with the
   * replacement `replacement` says. Resolves when it has exited.
   */
  #retire(instance: Instance, reason: ExitReason, replacement: Replacement): Promise<void> {
    if (!instance.retire(reason)) return instance.exited.then(() => undefined);
    if (!NOT_REPLACED.has(reason) && reason !== 'start_failed') this.#ctx.observer.instanceReplaced?.(this.name, reason);
    switch (replacement) {
      case 'first':
        return this.#spawn().then(() => this.#drain(instance));
      case 'alongside': {
        const drained = this.#drain(instance);
        void this.#spawn();
        return drained;
      }
      case 'heal': {
        const drained = this.#drain(instance);
        this.#scale();
        return drained;
      }
      case 'none':
        return this.#drain(instance);
    }
  }

  /** Out of rotation, requests in flight finish (up to the grace period), then stopped. */
  async #drain(instance: Instance): Promise<void> {
    if (instance.state === 'exited') return;
    if (instance.state !== 'stopping') instance.transition('draining');
    const grace = this.#ctx.server.workers.shutdownGracePeriodMs;
    await instance.whenIdle(grace);
    await instance.stop(grace);
  }

  /**
   * Holds one warm standby per instance the worker runs, once all of them are up and none is
   * starting (a booting standby would slow the start it is for), outside a rolling restart;
   * none while nothing is healthy.
   */
  #tendStandbys(): void {
    const healthy = this.healthyCount;
    const { minWorkers } = this.#config.scaling;
    if (this.#stopped || this.#restarting || this.#spawning > 0 || healthy === 0 || healthy < minWorkers || this.#instances.some((i) => i.state === 'starting')) return;
    this.#standbys.fill(Math.max(healthy, minWorkers));
  }

  /** Applies a reloaded server configuration to the warm standbys (turned off, or what they start as changed). */
  refreshStandbys(): void {
    this.#standbys.prune();
    this.#tendStandbys();
  }

  #onExit(instance: Instance, status: ExitStatus): void {
    const at = this.#instances.indexOf(instance);
    if (at >= 0) this.#instances.splice(at, 1);
    this.#ctx.ports.release(instance.port);
    const unplanned = instance.exitReason === undefined || instance.exitReason === 'start_failed';
    const reason: ExitReason = instance.exitReason ?? (instance.wasHealthy ? 'crash' : 'start_failed');
    this.#ctx.observer.instanceExited?.(instance.info(), reason);
    if (!unplanned || this.#stopped) return;
    const how = status.error ?? (status.signal !== null ? `signal ${status.signal}` : `code ${status.code}`);
    if (instance.exitReason === undefined) {
      // Exited on its own: say how, and what it last said (a timed-out start was logged already).
      const what = instance.explain(`${reason === 'crash' ? 'exited unexpectedly' : 'exited during start-up'} (${how})`);
      if (reason === 'start_failed') this.#startError = what;
      this.#ctx.log.warn(`worker ${this.name}: ${forLog(what, instance)}`);
    }
    const delay = this.#crashes.failed(instance.startedAt, Date.now());
    if (delay > 0) {
      this.#ctx.log.warn(`worker ${this.name}: crash loop (${this.#crashes.failures} failures in a row); next start in ${delay} ms`);
    }
    // Requests waiting for an instance that will not come soon are told so now, not at their timeout.
    if (this.#crashLooping()) this.#dispatch.rejectAll(this.#noInstanceError());
    this.#ctx.observer.instanceReplaced?.(this.name, reason);
    clearTimeout(this.#healTimer);
    this.#healTimer = setTimeout(() => this.#scale(), delay);
    this.#healTimer.unref();
  }

  // ---- timers: scaling and checkups ---------------------------------------------------------

  #scale(): void {
    if (this.#stopped || this.#restarting || !this.#started) return;
    const now = Date.now();
    const live = this.#live();
    const action = decideScale({
      queueDepth: this.#dispatch.waiting,
      live: live.length + this.#spawning,
      starting: live.filter((i) => i.state === 'starting').length + this.#spawning,
      minWorkers: this.#config.scaling.minWorkers,
      maxWorkers: this.#config.scaling.maxWorkers,
      queueThreshold: this.#config.scaling.queueThreshold,
      scaleDownDelayMs: this.#config.scaling.scaleDownDelaySeconds * 1000,
      idle: live.filter((i) => i.state === 'healthy' && i.inflight === 0).map((i) => ({ id: i.slot, idleSinceMs: i.idleSince })),
      nowMs: now,
      canStart: this.#buildError === undefined && this.#crashes.canStart(now),
    });
    if (action.kind === 'start') {
      for (let i = 0; i < action.count; i++) void this.#spawn();
    } else if (action.kind === 'stop') {
      const victim = live.find((i) => i.slot === action.id);
      if (victim !== undefined) {
        this.#ctx.log.info(`worker ${this.name}: scaling down, stopping idle instance ${victim}`);
        void this.#retire(victim, 'scale_down', 'none');
        this.#tendStandbys();
      }
    }
  }

  async #checkHealth(): Promise<void> {
    // One round at a time: a round slower than the interval must not overlap the next and
    // count a slow instance's failures twice.
    if (this.#stopped || this.#checking) return;
    this.#checking = true;
    try {
      await this.#checkRound();
    } finally {
      this.#checking = false;
    }
  }

  async #checkRound(): Promise<void> {
    const { healthCheckTimeoutMs } = this.#ctx.server.workers;
    const maxMemoryBytes = this.#config.maxMemoryMb * 1024 * 1024;
    const healthy = this.#instances.filter((i) => i.state === 'healthy' && !i.retired);
    await Promise.all(
      healthy.map(async (instance) => {
        const { probe, verdict } = await checkup(instance, healthCheckTimeoutMs, maxMemoryBytes, this.#config.scaling.maxConcurrency);
        const log = this.#ctx.log;
        if (verdict.kind === 'not_counted') {
          // A probe that tqserver's own stall or shortage failed says nothing about the worker.
          log.warn(`worker ${this.name}: health check of instance ${instance} not counted: ${verdict.why}`);
          return;
        }
        this.#ctx.observer.healthCheck?.(this.name, probe.durationSeconds, probe.ok);
        const php = instance.takePhpCounters();
        if (php !== undefined) this.#ctx.observer.phpCounters?.(this.name, php.maxChildrenReached, php.slowRequests);
        if (instance.state !== 'healthy' || instance.retired) return;
        switch (verdict.kind) {
          case 'failing':
            log.warn(`worker ${this.name}: instance ${instance} failed its health check (${verdict.why}); ${verdict.failures} of ${HEALTH_FAILURES_TO_REPLACE} in a row replace it`);
            return;
          case 'unhealthy':
            log.warn(`worker ${this.name}: instance ${instance} failed ${HEALTH_FAILURES_TO_REPLACE} health checks in a row (${verdict.why}); replacing it`);
            void this.#retire(instance, 'health', 'heal');
            return;
          case 'memory':
            log.warn(`worker ${this.name}: instance ${instance} uses ${Math.round(verdict.bytes / 1048576)} MB, over max_memory_mb ${this.#config.maxMemoryMb}; replacing it`);
            void this.#retire(instance, 'memory', 'first');
            return;
          case 'ok':
            return;
        }
      }),
    );
  }

  // ---- builds, restarts, reconfiguration ----------------------------------------------------

  /** Runs operations one after another, so a reload never overlaps a rebuild. */
  #serial<T>(op: () => Promise<T>): Promise<T> {
    const next = this.#ops.then(op, op);
    this.#ops = next.catch(() => undefined);
    return next;
  }

  async #build(): Promise<boolean> {
    const result = await buildWorker(this.#config, this.#ctx.mode, this.#ctx.log, this.liveCount > 0);
    if (this.#config.build !== undefined) this.#ctx.observer.buildFinished?.(this.name, result.ok, result.durationSeconds);
    this.#buildError = result.ok ? undefined : result.output;
    return result.ok;
  }

  /** A rolling restart (see rollout.ts); resolves whether new instances serve. */
  rollingRestart(reason: ExitReason): Promise<boolean> {
    return this.#serial(() => this.#rolling(reason));
  }

  async #rolling(reason: ExitReason): Promise<boolean> {
    if (this.#stopped) return false;
    this.#restarting = true;
    try {
      return await rollOut(
        {
          name: this.name,
          log: this.#ctx.log,
          live: () => this.#live(),
          minimum: () => this.#config.scaling.minWorkers,
          restartDelayMs: () => this.#ctx.server.workers.restartDelayMs,
          spawn: () => this.#spawn(),
          retire: (instance, why) => void this.#retire(instance, why, 'none'),
        },
        reason,
      );
    } finally {
      this.#restarting = false;
      this.#tendStandbys();
    }
  }

  /**
   * Rebuilds, then restarts (dev-mode file change). A failed build keeps the running instances
   * and records the output for the build-error page; resolves whether new code is serving.
   */
  rebuild(): Promise<boolean> {
    return this.#serial(async () => {
      if (!(await this.#build())) return false;
      if (this.liveCount === 0) {
        this.#crashes.allowStart();
        this.#scale();
        return true;
      }
      return this.#rolling('change');
    });
  }

  /** Takes a changed configuration: rebuilds and restarts with it. */
  update(config: WorkerConfig): Promise<boolean> {
    return this.#serial(async () => {
      this.#config = config;
      this.#standbys.prune();
      if (!(await this.#build())) return false;
      return this.#rolling('reload');
    });
  }

  /** Stops everything: refuses new requests, drains and stops every instance. */
  async stop(reason: ExitReason = 'shutdown'): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#scaleTimer);
    clearInterval(this.#healthTimer);
    clearTimeout(this.#healTimer);
    this.#dispatch.rejectAll(new ServeError('ERR_SHUTTING_DOWN', `worker ${this.name} is stopping`));
    // Instances already on their way out are waited for too, so nothing outlives the pool.
    await Promise.all([this.#standbys.close(), ...[...this.#instances].map((i) => (i.retired ? this.#drain(i) : this.#retire(i, reason, 'none')))]);
  }
}

/** A multi-line explanation as a log line: continuation lines marked, the log file named. */
function forLog(text: string, instance: Instance): string {
  return text.replaceAll('\n', '\n  | ') + (instance.logFile ? `\n  (see ${instance.logFile})` : '');
}
