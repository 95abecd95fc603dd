/**
 * Forwarding one request to an instance on 127.0.0.1 over a keep-alive agent, bodies streamed
 * both ways (see relay.ts). Respond-or-destroy: a failure before the response head gets a
 * 502/504 page; a failure after it destroys the client socket.
 */
import { request, type Agent, type IncomingMessage, type ServerResponse } from 'node:http';
import { ServeError } from '../errors.js';
import { endToEnd } from './headers.js';
import { relay } from './relay.js';

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

/** Errors that mean a reused keep-alive socket was closed by the worker just before we wrote. */
const STALE_SOCKET = new Set(['ECONNRESET', 'EPIPE']);

/** A request without a body can be sent again safely if its first socket was stale. */
function hasNoBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] === undefined && (length === undefined || length === '0');
}

/**
 * Forwards `req` to `target`. Resolves when the exchange is over (answered, failed or
 * aborted), with the ServeError that was answered, if any; never rejects.
 */
export function forward(req: IncomingMessage, res: ServerResponse, target: ForwardTarget): Promise<ServeError | undefined> {
  return new Promise((resolve) => {
    const bodyless = hasNoBody(req);
    let settled = false;
    const settle = (err?: ServeError): void => {
      if (settled) return;
      settled = true;
      resolve(err);
    };

    const attempt = (retry: boolean): void => {
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
      if (target.headerTimeoutMs > 0) {
        timer = setTimeout(() => {
          fail(new ServeError('ERR_UPSTREAM_TIMEOUT', `the worker did not answer within ${target.headerTimeoutMs / 1000} s`));
          upstream.destroy();
        }, target.headerTimeoutMs);
      }
      const fail = (err: ServeError): void => {
        clearTimeout(timer);
        if (settled) return;
        if (!res.headersSent && !res.destroyed) {
          res.setHeader('X-TQServer-Error', err.code);
        }
        settle(err);
      };
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
        if (retry && bodyless && upstream.reusedSocket && STALE_SOCKET.has(err.code ?? '') && !res.headersSent) {
          clearTimeout(timer);
          attempt(false);
          return;
        }
        if (req.destroyed || res.destroyed) {
          clearTimeout(timer);
          settle();
          return;
        }
        const code = err.code === 'ECONNREFUSED' ? 'ERR_UPSTREAM_UNREACHABLE' : 'ERR_UPSTREAM_BROKEN';
        fail(new ServeError(code, `the worker ${code === 'ERR_UPSTREAM_UNREACHABLE' ? 'could not be reached' : 'broke the connection'}: ${err.code ?? err.message}`));
      });
      if (bodyless) {
        upstream.end();
        res.once('close', () => {
          if (!res.writableFinished) upstream.destroy();
        });
      } else {
        relay(req, upstream, (err) => {
          if (err !== undefined) upstream.destroy();
        });
      }
    };
    attempt(true);
  });
}
