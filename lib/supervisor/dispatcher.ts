/**
 * Dispatch for one worker: which instance a request goes to (the healthy one with the fewest
 * requests in flight, ties broken round robin), and the queue of requests waiting for one.
 */
import { DispatchQueue } from './dispatch-queue.js';
import type { Instance } from './instance.js';

/** The limits dispatch respects, read on every pick (a reload may change them). */
export interface DispatchLimits {
  /** Requests one instance handles at once. */
  readonly maxConcurrency: number;
  /** Requests an instance may serve in its life, in flight included; 0 = no limit. */
  readonly maxRequests: number;
}

/** Picks instances of one worker and queues the requests that must wait. */
export class Dispatcher {
  readonly #instances: readonly Instance[];
  readonly #limits: () => DispatchLimits;
  readonly #queue: DispatchQueue<Instance>;
  #roundRobin = 0;

  /** `instances` is the pool's own list, read as it changes. */
  constructor(worker: string, instances: readonly Instance[], limits: () => DispatchLimits) {
    this.#instances = instances;
    this.#limits = limits;
    this.#queue = new DispatchQueue(worker);
  }

  /** Requests waiting now. */
  get waiting(): number {
    return this.#queue.length;
  }

  /**
   * An instance with room right now, its in-flight count raised, or undefined. Nothing waiting
   * is passed over: while requests wait in the queue, a new one waits behind them.
   */
  tryPick(): Instance | undefined {
    return this.#queue.length > 0 ? undefined : this.#pick();
  }

  /** Waits in the queue for an instance (see DispatchQueue.wait). */
  wait(timeoutMs: number, signal: AbortSignal | undefined): Promise<Instance> {
    return this.#queue.wait(timeoutMs, signal);
  }

  /** Hands free instances to waiting requests, oldest first. */
  serveQueue(): void {
    this.#queue.serve(() => this.#pick());
  }

  /** Rejects every waiting request with `err`. */
  rejectAll(err: Error): void {
    this.#queue.rejectAll(err);
  }

  #pick(): Instance | undefined {
    const list = this.#instances;
    const n = list.length;
    const { maxConcurrency, maxRequests } = this.#limits();
    // An instance never gets more requests than max_requests allows, counting those in flight.
    const budget = maxRequests > 0 ? maxRequests : Infinity;
    let best: Instance | undefined;
    let bestAt = 0;
    const now = Date.now();
    for (let k = 0; k < n; k++) {
      const at = (this.#roundRobin + k) % n;
      const candidate = list[at] as Instance;
      if (!candidate.canTake(maxConcurrency, budget, now)) continue;
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
}
