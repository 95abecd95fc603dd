/**
 * The instances of one worker: build, start, dispatch with a bounded queue, scale, probe,
 * replace (crash, failed health check, max_requests, memory) and restart without dropping a
 * request.
 */
import type { Mode, ServerConfig, WorkerConfig } from '../config/index.js';
import { ServeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ExitReason, InstanceInfo, ServerObserver } from '../observer.js';
import { runBuild } from './build.js';
import { CRASH_LOOP_FAILURES, decideScale, HEALTH_FAILURES_TO_REPLACE, REFUSED_PAUSE_MS, restartDelayMs, STABLE_UPTIME_MS } from './decisions.js';
import { DispatchQueue } from './dispatch-queue.js';
import { probe } from './health.js';
import { Instance, instanceEnv, type ExitStatus, type MetricsAccess } from './instance.js';
import type { PortPool } from './port-pool.js';
import { residentBytes } from './process-memory.js';

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
/** The longest a build may run. */
const BUILD_TIMEOUT_MS = 10 * 60_000;

/** A live instance as the metrics see it. */
export interface InstanceSnapshot {
  readonly info: InstanceInfo;
  readonly state: string;
  readonly residentBytes: number | undefined;
}

/** The instances of one worker. */
export class WorkerPool {
  #config: WorkerConfig;
  readonly #ctx: PoolContext;
  readonly #instances: Instance[] = [];
  readonly #queue: DispatchQueue<Instance>;
  #spawning = 0;
  #consecutiveCrashes = 0;
  #noStartBefore = 0;
  #buildError: string | undefined;
  /** Why the last instance failed to start, with its stderr, until one becomes healthy. */
  #startError: string | undefined;
  #stopped = false;
  /** False until start() has run: before that the scaler leaves starting to start(). */
  #started = false;
  #restarting = false;
  #ops: Promise<unknown> = Promise.resolve();
  #scaleTimer: NodeJS.Timeout | undefined;
  #healthTimer: NodeJS.Timeout | undefined;
  #healTimer: NodeJS.Timeout | undefined;
  #roundRobin = 0;

  constructor(config: WorkerConfig, ctx: PoolContext) {
    this.#config = config;
    this.#ctx = ctx;
    this.#queue = new DispatchQueue(config.name);
  }

  get config(): WorkerConfig {
    return this.#config;
  }

  get name(): string {
    return this.#config.name;
  }

  /** The compiler output of the last failed build, until a build succeeds. */
  get buildError(): string | undefined {
    return this.#buildError;
  }

  /**
   * Why instances fail to start (the reason and the end of their stderr), while none has become
   * healthy since: for the dev-mode start-failure page.
   */
  get startError(): string | undefined {
    return this.#startError;
  }

  /**
   * Whether the worker is crash-looping with nothing alive: its instances keep failing, and
   * the next start waits for the backoff. Requests are then refused at once, not queued.
   */
  #crashLooping(): boolean {
    return this.#consecutiveCrashes >= CRASH_LOOP_FAILURES && this.#spawning === 0 && this.liveCount === 0;
  }

  #noInstanceError(): ServeError {
    const waitMs = Math.max(0, this.#noStartBefore - Date.now());
    return new ServeError(
      'ERR_NO_INSTANCE',
      `worker ${this.name} has no instance running: its instances keep failing (${this.#consecutiveCrashes} in a row); the next start is in ${(waitMs / 1000).toFixed(1)} s`,
      Math.max(1, Math.ceil(waitMs / 1000)),
    );
  }

  /** Instances starting or serving (draining ones excluded). */
  get liveCount(): number {
    return this.#instances.filter((i) => i.state === 'starting' || i.state === 'healthy').length;
  }

  /** Instances in rotation. */
  get healthyCount(): number {
    return this.#instances.filter((i) => i.state === 'healthy').length;
  }

  /** Requests waiting for an instance. */
  get queueDepth(): number {
    return this.#queue.length;
  }

  /** Every instance whose process is alive, with its resident memory (read now). */
  instances(): InstanceSnapshot[] {
    return this.#instances.map((i) => ({ info: i.info(), state: i.state, residentBytes: i.pid === undefined ? undefined : residentBytes(i.pid) }));
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
   * An instance to send one request to, its in-flight count already raised: the healthy one with
   * the fewest requests in flight, below max_concurrency. Otherwise the request waits in the
   * queue: ERR_QUEUE_FULL when the queue is full, ERR_QUEUE_TIMEOUT after queue_timeout_ms,
   * ERR_BUILD_FAILED / ERR_SHUTTING_DOWN when no instance can come. Call {@link release} after.
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
    if (this.#queue.length >= queueCapacity) {
      return Promise.reject(new ServeError('ERR_QUEUE_FULL', `worker ${this.name}: ${this.#queue.length} requests are already waiting`));
    }
    const waiting = this.#queue.wait(queueTimeoutMs, signal);
    this.#scale();
    return waiting;
  }

  /**
   * The fast path of {@link acquire}: an instance with room right now (its in-flight count
   * raised), or undefined, without allocating a promise. Nothing waiting is passed over: while
   * requests wait in the queue, a new one waits behind them.
   */
  tryAcquire(): Instance | undefined {
    if (this.#stopped || this.#queue.length > 0) return undefined;
    return this.#pick();
  }

  /**
   * Ends one request on `instance`; recycles it after max_requests; serves the queue. With
   * `refused` (its port refused the connection: it is probably exiting), dispatch passes it over
   * for a moment.
   */
  release(instance: Instance, refused = false): void {
    instance.end();
    if (refused) instance.refusedUntil = Date.now() + REFUSED_PAUSE_MS;
    const { maxRequests } = this.#config;
    if (maxRequests > 0 && instance.served >= maxRequests && instance.state === 'healthy') this.#replace(instance, 'max_requests', true);
    this.#dispatchQueue();
  }

  #pick(): Instance | undefined {
    const list = this.#instances;
    const n = list.length;
    const cap = this.#config.scaling.maxConcurrency;
    // An instance never gets more requests than max_requests allows, counting those in flight.
    const budget = this.#config.maxRequests > 0 ? this.#config.maxRequests : Infinity;
    let best: Instance | undefined;
    let bestAt = 0;
    let now = 0;
    for (let k = 0; k < n; k++) {
      const at = (this.#roundRobin + k) % n;
      const candidate = list[at] as Instance;
      if (candidate.state !== 'healthy' || candidate.inflight >= cap || candidate.served + candidate.inflight >= budget) continue;
      if (candidate.refusedUntil !== 0 && candidate.refusedUntil > (now ||= Date.now())) continue;
      if (best === undefined || candidate.inflight < best.inflight) {
        best = candidate;
        bestAt = at;
      }
    }
    if (best === undefined) return undefined;
    this.#roundRobin = bestAt + 1;
    best.begin();
    return best;
  }

  #dispatchQueue(): void {
    this.#queue.serve(() => this.#pick());
  }

  // ---- starting and stopping instances ------------------------------------------------------

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
    try {
      const port = await this.#ctx.ports.acquire();
      if (this.#stopped) {
        this.#ctx.ports.release(port);
        return undefined;
      }
      instance = new Instance({ worker: this.#config, slot: this.#freeSlot(), port, mode: this.#ctx.mode, root: this.#ctx.server.root, metrics: this.#ctx.metricsAccess?.() });
    } catch (err) {
      this.#ctx.log.error(`worker ${this.name}: cannot start an instance: ${(err as Error).message}`);
      return undefined;
    } finally {
      this.#spawning--;
    }
    this.#instances.push(instance);
    void instance.exited.then((status) => this.#onExit(instance, status));
    const { healthCheckWaitTimeoutMs, healthCheckTimeoutMs } = this.#ctx.server.workers;
    const ready = await instance.waitReady(healthCheckWaitTimeoutMs, healthCheckTimeoutMs);
    if (ready === true && instance.state === 'starting') {
      instance.transition('healthy');
      this.#startError = undefined;
      this.#ctx.log.info(`worker ${this.name}: instance ${instance} is healthy`);
      this.#ctx.observer.instanceReady?.(instance.info());
      this.#dispatchQueue();
      return instance;
    }
    if (instance.state === 'starting') {
      this.#startError = withOutput(`instance ${instance} failed to start: ${ready}`, instance.stderrTail());
      this.#ctx.log.error(`worker ${this.name}: ${indent(this.#startError)}${instance.logFile ? `\n  (see ${instance.logFile})` : ''}`);
      instance.exitReason = 'start_failed';
      await instance.stop(this.#ctx.server.workers.shutdownGracePeriodMs);
    }
    return undefined;
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
      const what = withOutput(`instance ${instance} ${reason === 'crash' ? 'exited unexpectedly' : 'exited during start-up'} (${how})`, instance.stderrTail());
      if (reason === 'start_failed') this.#startError = what;
      this.#ctx.log.warn(`worker ${this.name}: ${indent(what)}${instance.logFile ? `\n  (see ${instance.logFile})` : ''}`);
    }
    this.#consecutiveCrashes = Date.now() - instance.startedAt >= STABLE_UPTIME_MS ? 1 : this.#consecutiveCrashes + 1;
    const delay = restartDelayMs(this.#consecutiveCrashes);
    if (delay > 0) {
      this.#ctx.log.warn(`worker ${this.name}: crash loop (${this.#consecutiveCrashes} failures in a row); next start in ${delay} ms`);
    }
    this.#noStartBefore = Date.now() + delay;
    // Requests waiting for an instance that will not come soon are told so now, not at their timeout.
    if (this.#crashLooping()) this.#queue.rejectAll(this.#noInstanceError());
    this.#ctx.observer.instanceReplaced?.(this.name, reason);
    clearTimeout(this.#healTimer);
    this.#healTimer = setTimeout(() => this.#scale(), delay);
    this.#healTimer.unref();
  }

  /** Takes `instance` out of rotation, waits for its requests (up to the grace period), stops it. */
  async #drain(instance: Instance, reason: ExitReason): Promise<void> {
    if (instance.state === 'exited' || instance.state === 'stopping') return;
    instance.exitReason ??= reason;
    instance.transition('draining');
    const grace = this.#ctx.server.workers.shutdownGracePeriodMs;
    await instance.whenIdle(grace);
    await instance.stop(grace);
  }

  /**
   * Replaces `instance`. With `drainFirst` (max_requests) it leaves the rotation at once and its
   * replacement starts alongside, so it serves no more than its budget (requests wait in the
   * queue meanwhile); otherwise (memory) the replacement is healthy before it drains.
   */
  #replace(instance: Instance, reason: ExitReason, drainFirst: boolean): void {
    if (instance.replacing) return;
    instance.replacing = true;
    this.#ctx.observer.instanceReplaced?.(this.name, reason);
    this.#ctx.log.info(`worker ${this.name}: replacing instance ${instance} (${reason})`);
    if (drainFirst) {
      void this.#drain(instance, reason);
      void this.#spawn();
    } else {
      void this.#spawn().then(() => this.#drain(instance, reason));
    }
  }

  // ---- timers: scaling and health -----------------------------------------------------------

  #scale(): void {
    if (this.#stopped || this.#restarting || !this.#started) return;
    const now = Date.now();
    const live = this.#instances.filter((i) => i.state === 'starting' || i.state === 'healthy');
    const action = decideScale({
      queueDepth: this.#queue.length,
      live: live.length + this.#spawning,
      starting: live.filter((i) => i.state === 'starting').length + this.#spawning,
      minWorkers: this.#config.scaling.minWorkers,
      maxWorkers: this.#config.scaling.maxWorkers,
      queueThreshold: this.#config.scaling.queueThreshold,
      scaleDownDelayMs: this.#config.scaling.scaleDownDelaySeconds * 1000,
      idle: live.filter((i) => i.state === 'healthy' && i.inflight === 0).map((i) => ({ id: i.slot, idleSinceMs: i.idleSince })),
      nowMs: now,
      canStart: this.#buildError === undefined && now >= this.#noStartBefore,
    });
    if (action.kind === 'start') {
      for (let i = 0; i < action.count; i++) void this.#spawn();
    } else if (action.kind === 'stop') {
      const victim = live.find((i) => i.slot === action.id);
      if (victim !== undefined) {
        this.#ctx.log.info(`worker ${this.name}: scaling down, stopping idle instance ${victim}`);
        void this.#drain(victim, 'scale_down');
      }
    }
  }

  async #checkHealth(): Promise<void> {
    if (this.#stopped) return;
    const { healthCheckTimeoutMs } = this.#ctx.server.workers;
    const limit = this.#config.maxMemoryMb * 1024 * 1024;
    await Promise.all(
      this.#instances
        .filter((i) => i.state === 'healthy')
        .map(async (instance) => {
          const result = await probe(instance.port, healthCheckTimeoutMs);
          // A probe that tqserver's own stall or shortage failed says nothing about the worker.
          if (result.inconclusive === true) {
            this.#ctx.log.warn(`worker ${this.name}: health check of instance ${instance} not counted: ${result.error}`);
            return;
          }
          this.#ctx.observer.healthCheck?.(this.name, result.durationSeconds, result.ok);
          if (instance.state !== 'healthy' || instance.replacing) return;
          if (!result.ok) {
            instance.healthFailures++;
            if (instance.healthFailures < HEALTH_FAILURES_TO_REPLACE) {
              this.#ctx.log.warn(`worker ${this.name}: instance ${instance} failed its health check (${result.error}); ${instance.healthFailures} of ${HEALTH_FAILURES_TO_REPLACE} in a row replace it`);
              return;
            }
            this.#ctx.log.warn(`worker ${this.name}: instance ${instance} failed ${HEALTH_FAILURES_TO_REPLACE} health checks in a row (${result.error}); replacing it`);
            instance.replacing = true;
            this.#ctx.observer.instanceReplaced?.(this.name, 'health');
            void this.#drain(instance, 'health');
            this.#scale();
            return;
          }
          instance.healthFailures = 0;
          const rss = limit > 0 && instance.pid !== undefined ? residentBytes(instance.pid) : undefined;
          if (rss !== undefined && rss > limit) {
            this.#ctx.log.warn(`worker ${this.name}: instance ${instance} uses ${Math.round(rss / 1048576)} MB, over max_memory_mb ${this.#config.maxMemoryMb}`);
            this.#replace(instance, 'memory', false);
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
    const argv = this.#config.build;
    if (argv === undefined) {
      this.#buildError = undefined;
      return true;
    }
    this.#ctx.log.info(`worker ${this.name}: building (${argv.join(' ')})`);
    const result = await runBuild(argv, this.#config.dir, instanceEnv(this.#config, 0, this.#ctx.mode), BUILD_TIMEOUT_MS);
    this.#ctx.observer.buildFinished?.(this.name, result.ok, result.durationSeconds);
    if (result.ok) {
      this.#buildError = undefined;
      this.#ctx.log.info(`worker ${this.name}: built in ${result.durationSeconds.toFixed(2)} s`);
      return true;
    }
    this.#buildError = result.output;
    const tail = result.output.trim().split('\n').slice(-5).join('\n  ');
    this.#ctx.log.error(`worker ${this.name}: build failed${this.liveCount > 0 ? '; the running instances keep serving' : ''}:\n  ${tail}`);
    return false;
  }

  /**
   * Starts as many new instances as are serving now (at least min_workers), waits until they
   * are healthy, then drains the old ones: no request is refused on the way. If no new
   * instance becomes healthy, the old ones keep serving and this resolves false.
   */
  rollingRestart(reason: ExitReason): Promise<boolean> {
    return this.#serial(() => this.#rolling(reason));
  }

  async #rolling(reason: ExitReason): Promise<boolean> {
    if (this.#stopped) return false;
    this.#restarting = true;
    try {
      const old = this.#instances.filter((i) => i.state === 'starting' || i.state === 'healthy');
      const count = Math.max(old.filter((i) => i.state === 'healthy').length, this.#config.scaling.minWorkers, old.length > 0 ? 1 : 0);
      const fresh: Promise<Instance | undefined>[] = [];
      for (let i = 0; i < count; i++) {
        if (i > 0) await sleep(this.#ctx.server.workers.startupDelayMs);
        fresh.push(this.#spawn());
      }
      const started = (await Promise.all(fresh)).filter((i): i is Instance => i !== undefined);
      if (count > 0 && started.length === 0) {
        const serving = old.filter((i) => i.state === 'healthy').length;
        this.#ctx.log.error(`worker ${this.name}: restart (${reason}) failed, no new instance became healthy; ${serving > 0 ? `the ${serving} old instance(s) keep serving` : 'the worker has no healthy instance'}`);
        return false;
      }
      await sleep(this.#ctx.server.workers.restartDelayMs);
      for (const instance of old) {
        if (instance.state === 'exited' || instance.replacing) continue;
        instance.replacing = true;
        this.#ctx.observer.instanceReplaced?.(this.name, reason);
        void this.#drain(instance, reason);
      }
      this.#ctx.log.info(`worker ${this.name}: restarted (${reason}), ${started.length} new instance(s) serving`);
      return true;
    } finally {
      this.#restarting = false;
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
        this.#noStartBefore = 0;
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
    this.#queue.rejectAll(new ServeError('ERR_SHUTTING_DOWN', `worker ${this.name} is stopping`));
    await Promise.all([...this.#instances].map((i) => this.#drain(i, reason)));
  }
}

/** `what`, followed by the worker's last stderr lines when there are any. */
function withOutput(what: string, stderr: string): string {
  if (stderr === '') return what;
  return `${what}; its stderr ended with:\n${stderr.split('\n').slice(-STDERR_LINES).join('\n')}`;
}

/** Indents the continuation lines of a multi-line log message. */
function indent(text: string): string {
  return text.replaceAll('\n', '\n  | ');
}

/** How many lines of a failed instance's stderr go into a log line. */
const STDERR_LINES = 12;

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
