/**
 * One request sent to a worker's instances: the exchange, the instance released after it, and
 * the one retry a refused connection allows (it never reached a worker and read nothing of the
 * body, so it is safe to send again, whatever the method, to another instance). Node's side
 * (server.ts) and the fast lane (fast-lane.ts) differ only in how they wait for an instance and
 * answer a failure.
 *
 * It runs on callbacks, not promises: on the fast lane a request's whole path costs no promise
 * (docs/performance.md).
 */
import type { ServeError } from '../errors.js';
import type { BackendWorker, Upstream } from './backend.js';
import { exchange, type ClientRequest, type ClientResponse, type UpstreamPool, type UpstreamRequest } from './upstream.js';

/** How the caller takes part. */
export interface ForwardHooks {
  /** Headers tqserver adds to the response from `instance`. */
  responseHeaders(instance: Upstream): readonly string[];
  /** Another instance after a refused connection; undefined when the caller answered instead, or the client left. */
  another(): Upstream | undefined | Promise<Upstream | undefined>;
  /** Answers `err`, a failure with nothing sent yet to the client. */
  fail(err: ServeError): void;
  /** Logs a failed exchange. */
  warn(message: string): void;
  /** The request is over (answered, failed, or its client left); called once. */
  done(): void;
  /**
   * Something threw that should not have (a bug): the caller logs it, cuts the connection and
   * ends the request, unless `done` did (it may be what threw).
   */
  crashed(err: Error): void;
}

/** Sends `req` to `first` (already acquired), then to one more instance if the first refused. */
export function forward(
  req: ClientRequest,
  res: ClientResponse,
  worker: BackendWorker,
  first: Upstream,
  target: UpstreamRequest,
  pool: UpstreamPool,
  hooks: ForwardHooks,
): void {
  new Forwarding(req, res, worker, target, pool, hooks).send(first);
}

/** One forwarded request: the instance it holds now, and whether it was retried already. */
class Forwarding {
  readonly #req: ClientRequest;
  readonly #res: ClientResponse;
  readonly #worker: BackendWorker;
  readonly #target: UpstreamRequest;
  readonly #pool: UpstreamPool;
  readonly #hooks: ForwardHooks;
  #instance: Upstream | undefined;
  #retried = false;

  constructor(req: ClientRequest, res: ClientResponse, worker: BackendWorker, target: UpstreamRequest, pool: UpstreamPool, hooks: ForwardHooks) {
    this.#req = req;
    this.#res = res;
    this.#worker = worker;
    this.#target = target;
    this.#pool = pool;
    this.#hooks = hooks;
  }

  send(instance: Upstream): void {
    this.#instance = instance;
    try {
      exchange(this.#req, this.#res, this.#target, instance.port, this.#hooks.responseHeaders(instance), this.#pool, this.#exchanged);
    } catch (err) {
      // The exchange threw before it was under way: the instance is not left held.
      this.#release(false);
      this.#hooks.crashed(err as Error);
    }
  }

  /** The instance held now goes back (`refused`: it refused the connection). */
  #release(refused: boolean): void {
    const instance = this.#instance;
    this.#instance = undefined;
    if (instance !== undefined) this.#worker.release(instance, refused);
  }

  readonly #exchanged = (err: ServeError | undefined): void => {
    // It runs from a socket's event: what throws here must not reach the event loop.
    try {
      this.#after(err);
    } catch (thrown) {
      this.#hooks.crashed(thrown as Error);
    }
  };

  #after(err: ServeError | undefined): void {
    const hooks = this.#hooks;
    const refused = err?.code === 'ERR_UPSTREAM_UNREACHABLE';
    const instance = this.#instance;
    this.#release(refused);
    if (err === undefined) {
      hooks.done();
      return;
    }
    hooks.warn(`worker ${this.#worker.name} instance ${String(instance)}: ${err.message}`);
    if (refused && !this.#retried && !this.#res.destroyed) {
      this.#retried = true;
      this.#retry();
      return;
    }
    if (!this.#res.headersSent && !this.#res.destroyed) hooks.fail(err);
    hooks.done();
  }

  #retry(): void {
    let next: Upstream | undefined | Promise<Upstream | undefined>;
    try {
      next = this.#hooks.another();
    } catch (err) {
      this.#hooks.crashed(err as Error);
      return;
    }
    if (next instanceof Promise) {
      next.then(
        (instance) => (instance === undefined ? this.#hooks.done() : this.send(instance)),
        (err: Error) => this.#hooks.crashed(err),
      );
    } else if (next === undefined) {
      this.#hooks.done();
    } else {
      this.send(next);
    }
  }
}
