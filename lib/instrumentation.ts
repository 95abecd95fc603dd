/**
 * Everything that makes a running tqserver observable, built once: the tqserver_* metric set,
 * the process_* and nodejs_* families, and the /metrics endpoint with its optional admin
 * listener. It gives the rest of the server an observer to report events to; the gauges of
 * current state are attached once the parts that hold that state exist.
 */
import type { AddressInfo } from 'node:net';
import type { ListenAddress, ServerConfig } from './config/index.js';
import { Registry } from './exposition/registry.js';
import { hostPort, listenError } from './listen-error.js';
import type { Logger } from './log.js';
import { createServerMetrics, registerStateMetrics, type MetricsSource, type ServerMetrics } from './metrics.js';
import type { ServerObserver } from './observer.js';
import { MetricsEndpoint, type EndpointSettings } from './proxy/metrics-endpoint.js';
import type { MetricsHandler } from './proxy/index.js';
import { registerRuntimeMetrics } from './runtime-metrics.js';
import type { MetricsAccess } from './supervisor/index.js';

/** The observer hooks, for {@link combineObservers}. */
const HOOKS = ['connectionOpened', 'requestDone', 'instanceReady', 'instanceExited', 'instanceReplaced', 'healthCheck', 'buildFinished', 'phpCounters'] as const;

/** One observer that calls every hook of `observers` that exists. */
export function combineObservers(observers: readonly ServerObserver[]): ServerObserver {
  if (observers.length === 1) return observers[0] as ServerObserver;
  const out: Record<string, (...args: never[]) => void> = {};
  for (const key of HOOKS) {
    const hooks = observers.map((o) => o[key]).filter((h) => h !== undefined) as ((...args: unknown[]) => void)[];
    if (hooks.length > 0) out[key] = (...args: unknown[]) => hooks.forEach((h) => h(...args));
  }
  return out as ServerObserver;
}

/** The endpoint settings of a configuration. */
function endpointSettings(server: ServerConfig): EndpointSettings {
  const { enabled, path, listen, auth } = server.metrics;
  return { enabled, path, listen, auth };
}

/** What the instrumentation is built from. */
export interface InstrumentationOptions {
  readonly server: ServerConfig;
  /** The configured workers' names. */
  readonly workers: readonly string[];
  readonly log: Logger;
  /** Told about every event too (tests, embedding). */
  readonly observer?: ServerObserver | undefined;
}

/**
 * The metric set is always built, so that a reload can turn the endpoint on; `metrics.enabled`
 * decides whether it is served and whether events are recorded.
 */
export class Instrumentation {
  readonly registry = new Registry();
  /** Where the proxy and the supervisor report events. */
  readonly observer: ServerObserver;
  readonly #metrics: ServerMetrics;
  readonly #endpoint: MetricsEndpoint;
  readonly #log: Logger;
  readonly #stopRuntime: () => void;
  /** The buckets the request histogram was made with; they change only at a restart. */
  readonly #buckets: string;
  #server: ServerConfig;
  #main: AddressInfo | undefined;

  constructor(options: InstrumentationOptions) {
    const { server, log } = options;
    this.#server = server;
    this.#log = log;
    this.#metrics = createServerMetrics(this.registry, server.metrics.buckets);
    this.#buckets = server.metrics.buckets.join();
    this.#stopRuntime = registerRuntimeMetrics(this.registry);
    this.observer = combineObservers(options.observer === undefined ? [this.#metrics.observer] : [options.observer, this.#metrics.observer]);
    this.#metrics.setWorkers(options.workers);
    this.#metrics.setRecording(server.metrics.enabled);
    this.#endpoint = new MetricsEndpoint({ registry: this.registry, log, scraped: this.#metrics.scraped, settings: endpointSettings(server) });
  }

  /**
   * What the main listener does for `metrics.path`: serve it, answer 404 (it is served on
   * metrics.listen), or undefined (metrics are off; the workers get the path). Read per request.
   */
  get mainHandler(): MetricsHandler | undefined {
    return this.#endpoint.mainHandler;
  }

  /** Where the admin listener (metrics.listen) is bound, if there is one. */
  get address(): AddressInfo | undefined {
    return this.#endpoint.address;
  }

  /** Attaches the gauges of current state: requests in flight, and the workers. */
  watch(source: MetricsSource): void {
    registerStateMetrics(this.registry, source);
  }

  /**
   * Binds the admin listener if metrics.listen asks for one, once the main listener is bound at
   * `main`. Throws a ListenError naming the key to change.
   */
  async bind(main: AddressInfo): Promise<void> {
    this.#main = main;
    try {
      await this.#endpoint.start();
    } catch (err) {
      throw listenError(err, 'metrics.listen', this.#server.metrics.listen as ListenAddress, this.#server.file);
    }
    if (this.#endpoint.address !== undefined) this.#log.info(this.#describe());
  }

  /** How a process on this machine reaches the endpoint, for the workers' environment. */
  access(): MetricsAccess | undefined {
    return this.#endpoint.access(this.#main);
  }

  /**
   * Applies the metrics block of `next` at once (enabled, path, listen, auth; buckets wait for a
   * restart) and follows its workers. If a new listener cannot bind, the error is logged and the
   * whole running metrics block stays. Resolves with the configuration now in effect.
   */
  async apply(next: ServerConfig, workers: readonly string[]): Promise<ServerConfig> {
    const m = next.metrics;
    if (m.buckets.join() !== this.#buckets) this.#log.warn('metrics.buckets changes take effect at the next restart; the histogram keeps its buckets until then');
    const before = this.#describe();
    let effective = next;
    try {
      await this.#endpoint.apply(endpointSettings(next));
      this.#metrics.setRecording(m.enabled);
    } catch (err) {
      const error = listenError(err, 'metrics.listen', m.listen as ListenAddress, next.file);
      this.#log.error(`${error.message}; the metrics settings stay as they were (${before})`);
      effective = { ...next, metrics: this.#server.metrics };
    }
    this.#server = effective;
    this.#metrics.setWorkers(workers);
    const after = this.#describe();
    if (after !== before) this.#log.info(after);
    return effective;
  }

  /** Closes the admin listener and stops the runtime samplers. */
  async close(): Promise<void> {
    await this.#endpoint.close();
    this.#stopRuntime();
  }

  /** Where the endpoint is now, for the log. */
  #describe(): string {
    const { enabled, path } = this.#endpoint.settings;
    const a = this.#endpoint.address;
    if (!enabled) return 'metrics off (metrics.enabled: false)';
    return a === undefined ? `metrics on the main listener at ${path}` : `metrics on http://${hostPort(a.address, a.port)}${path}`;
  }
}
