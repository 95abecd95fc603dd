/**
 * Forwarding one request to an instance on 127.0.0.1 over a keep-alive agent, bodies streamed
 * both ways (see relay.ts). Respond-or-destroy: a failure before the response head gets a
 * 502/504 page; a failure after it destroys the client socket.
 */
import { request, type Agent, type IncomingMessage, type ServerResponse } from 'node:http';
import { ServeError } from '../errors.js';
import { endToEnd } from './headers.js';
import { relay } from './relay.js';
import { forwardBodyless, type UpstreamPool } from './upstream.js';

/** What a forward needs. */
export interface ForwardTarget {
  readonly port: number;
  /** Path and query as the worker should see them. */
  readonly path: string;
  readonly agent: Agent;
  /** The worker must start answering within this (write_timeout_seconds); 0 = no limit. */
  readonly headerTimeoutMs: number;
  /** Request headers to send, raw (`[name, value, ...]`). */
  readonly requestHeaders: string[];
  /** Headers tqserver adds to the response, raw. */
  readonly responseHeaders: readonly string[];
}

/** Whether a request has no body: then it takes the fast path of upstream.ts. */
function hasNoBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] === undefined && (length === undefined || length === '0');
}

/**
 * Forwards `req` to `target`: without a body through `upstreams` (upstream.ts), with one
 * through node:http. Resolves when the exchange is over (answered, failed or aborted), with the
 * ServeError that was answered, if any; never rejects.
 */
export function forward(req: IncomingMessage, res: ServerResponse, target: ForwardTarget, upstreams: UpstreamPool): Promise<ServeError | undefined> {
  const bodyless = hasNoBody(req);
  if (bodyless) return forwardBodyless(req, res, target, upstreams);
  return new Promise((resolve) => {
    let settled = false;
    const settle = (err?: ServeError): void => {
      if (settled) return;
      settled = true;
      resolve(err);
    };
    const upstream = request({
      host: '127.0.0.1',
      port: target.port,
      method: req.method,
      path: target.path,
      headers: target.requestHeaders,
      agent: target.agent,
      setHost: false,
    });
    let timer: NodeJS.Timeout | undefined;
    const fail = (err: ServeError): void => {
      clearTimeout(timer);
      settle(err);
    };
    if (target.headerTimeoutMs > 0) {
      timer = setTimeout(() => {
        fail(new ServeError('ERR_UPSTREAM_TIMEOUT', `the worker did not answer within ${target.headerTimeoutMs / 1000} s`));
        upstream.destroy();
      }, target.headerTimeoutMs);
    }
    upstream.on('response', (upstreamRes) => {
      clearTimeout(timer);
      const headers = endToEnd(upstreamRes.rawHeaders);
      for (const h of target.responseHeaders) headers.push(h);
      try {
        res.writeHead(upstreamRes.statusCode ?? 502, upstreamRes.statusMessage, headers);
      } catch (err) {
        upstreamRes.destroy();
        fail(new ServeError('ERR_UPSTREAM_BROKEN', `the worker sent an invalid response head: ${(err as Error).message}`));
        return;
      }
      relay(upstreamRes, res, (err) => {
        if (err !== undefined && !res.writableFinished) {
          res.destroy();
          settle(req.destroyed ? undefined : new ServeError('ERR_UPSTREAM_BROKEN', `the response broke off: ${err.message}`));
          return;
        }
        settle();
      });
    });
    upstream.on('error', (err: NodeJS.ErrnoException) => {
      if (settled) return;
      if (req.destroyed || res.destroyed) {
        clearTimeout(timer);
        settle();
        return;
      }
      const code = err.code === 'ECONNREFUSED' ? 'ERR_UPSTREAM_UNREACHABLE' : 'ERR_UPSTREAM_BROKEN';
      fail(new ServeError(code, `the worker ${code === 'ERR_UPSTREAM_UNREACHABLE' ? 'could not be reached' : 'broke the connection'}: ${err.code ?? err.message}`));
    });
    relay(req, upstream, (err) => {
      if (err !== undefined) upstream.destroy();
    });
  });
}
