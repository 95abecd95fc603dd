/**
 * One request sent to a worker's instances: the exchange, the instance released after it, and
 * the one retry a refused connection allows (it never reached a worker and read nothing of the
 * body, so it is safe to send again, whatever the method, to another instance). Node's side
 * (server.ts) and the fast lane (fast-lane.ts) differ only in how they wait for an instance and
 * answer a failure.
 */
import type { ServeError } from '../errors.js';
import type { BackendWorker, Upstream } from './backend.js';
import { exchange, type ClientRequest, type ClientResponse, type UpstreamPool, type UpstreamTarget } from './upstream.js';

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
}

/** Sends `req` to `first` (already acquired), then to one more instance if the first refused. */
export async function forward(
  req: ClientRequest,
  res: ClientResponse,
  worker: BackendWorker,
  first: Upstream,
  target: Omit<UpstreamTarget, 'port' | 'responseHeaders'>,
  pool: UpstreamPool,
  hooks: ForwardHooks,
): Promise<void> {
  let instance: Upstream | undefined = first;
  for (let attempt = 1; instance !== undefined; attempt++) {
    let err: ServeError | undefined;
    try {
      err = await exchange(req, res, { ...target, port: instance.port, responseHeaders: hooks.responseHeaders(instance) }, pool);
    } finally {
      worker.release(instance, err?.code === 'ERR_UPSTREAM_UNREACHABLE');
    }
    if (err === undefined) return;
    hooks.warn(`worker ${worker.name} instance ${String(instance)}: ${err.message}`);
    if (err.code === 'ERR_UPSTREAM_UNREACHABLE' && attempt === 1 && !res.destroyed) {
      instance = await hooks.another();
      continue;
    }
    if (!res.headersSent && !res.destroyed) hooks.fail(err);
    return;
  }
}
