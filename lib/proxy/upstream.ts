/**
 * The fast path to instances for requests without a body: keep-alive sockets pooled by port,
 * the request head written in one write, and the response read by ResponseParser straight into
 * the client's ServerResponse. Requests with a body, and upgrades, keep using node:http.
 *
 * Each pooled socket gets its listeners once, when it is created, and hands events to whichever
 * exchange holds it; node:http's client adds and removes listeners, allocates a parser and an
 * IncomingMessage stream per request, which made it most of the proxy's cost.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { ServeError } from '../errors.js';
import { endToEnd } from './headers.js';
import { ResponseParser } from './response-parser.js';

interface Exchange {
  data(chunk: Buffer): void;
  closed(err: NodeJS.ErrnoException | undefined): void;
}

const kExchange = Symbol('tqserver.exchange');
const kError = Symbol('tqserver.lastError');
const kPort = Symbol('tqserver.port');
type PooledSocket = Socket & { [kExchange]?: Exchange | undefined; [kError]?: NodeJS.ErrnoException; [kPort]: number };

/** Idle sockets kept per port; more are closed when they come back. */
const MAX_IDLE_PER_PORT = 256;

/** Idle keep-alive connections to instances, by port. */
export class UpstreamPool {
  readonly #idle = new Map<number, PooledSocket[]>();

  /** An idle socket to `port`, or a new one (usable at once: writes wait for the connection). */
  take(port: number): { socket: PooledSocket; reused: boolean } {
    const idle = this.#idle.get(port);
    while (idle !== undefined && idle.length > 0) {
      const socket = idle.pop() as PooledSocket;
      if (!socket.destroyed) return { socket, reused: true };
    }
    const socket = connect({ port, host: '127.0.0.1', noDelay: true }) as PooledSocket;
    socket[kPort] = port;
    socket.on('data', (chunk: Buffer) => {
      const exchange = socket[kExchange];
      // Bytes from an idle connection belong to no request: the connection cannot be trusted.
      if (exchange === undefined) socket.destroy();
      else exchange.data(chunk);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      socket[kError] = err;
    });
    socket.on('close', () => {
      const exchange = socket[kExchange];
      socket[kExchange] = undefined;
      this.#forget(socket);
      exchange?.closed(socket[kError]);
    });
    return { socket, reused: false };
  }

  /** Returns a socket whose response is complete and which may carry another request. */
  give(socket: PooledSocket): void {
    socket[kExchange] = undefined;
    const port = socket[kPort];
    let idle = this.#idle.get(port);
    if (idle === undefined) {
      idle = [];
      this.#idle.set(port, idle);
    }
    if (socket.destroyed || idle.length >= MAX_IDLE_PER_PORT) socket.destroy();
    else idle.push(socket);
  }

  #forget(socket: PooledSocket): void {
    const idle = this.#idle.get(socket[kPort]);
    if (idle === undefined) return;
    const at = idle.indexOf(socket);
    if (at >= 0) idle.splice(at, 1);
    if (idle.length === 0) this.#idle.delete(socket[kPort]);
  }

  /** Closes every idle socket. */
  destroy(): void {
    for (const idle of this.#idle.values()) for (const s of [...idle]) s.destroy();
    this.#idle.clear();
  }
}

/** What a fast forward needs (see ForwardTarget in forward.ts). */
export interface FastTarget {
  readonly port: number;
  readonly path: string;
  readonly headerTimeoutMs: number;
  readonly requestHeaders: readonly string[];
  readonly responseHeaders: readonly string[];
}

/**
 * Forwards a request without a body through `pool`. Resolves with the ServeError to answer
 * (nothing was sent yet) or that broke the response (the client socket is destroyed), or
 * undefined when the response went through or the client left; never rejects. A reused socket
 * that turns out to be closed by the worker before any byte of the response is retried once on
 * a new connection (safe: there is no body to resend).
 */
export function forwardBodyless(req: IncomingMessage, res: ServerResponse, target: FastTarget, pool: UpstreamPool): Promise<ServeError | undefined> {
  let head = `${req.method} ${target.path} HTTP/1.1\r\n`;
  const h = target.requestHeaders;
  for (let i = 0; i < h.length; i += 2) head += h[i] + ': ' + h[i + 1] + '\r\n';
  head += '\r\n';

  return new Promise((resolve) => {
    let settled = false;
    let socket: PooledSocket | undefined;
    let timer: NodeJS.Timeout | undefined;
    const settle = (err?: ServeError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(err);
    };
    const broken = (why: string, unreachable = false): void => {
      socket?.destroy();
      if (res.headersSent) res.destroy();
      settle(new ServeError(unreachable ? 'ERR_UPSTREAM_UNREACHABLE' : 'ERR_UPSTREAM_BROKEN', `the worker ${unreachable ? 'could not be reached' : 'broke the response'}: ${why}`));
    };
    res.once('close', () => {
      if (!res.writableFinished) {
        socket?.destroy();
        settle();
      }
    });
    if (target.headerTimeoutMs > 0) {
      timer = setTimeout(() => {
        socket?.destroy();
        settle(new ServeError('ERR_UPSTREAM_TIMEOUT', `the worker did not answer within ${target.headerTimeoutMs / 1000} s`));
      }, target.headerTimeoutMs);
    }

    const attempt = (retry: boolean): void => {
      const taken = pool.take(target.port);
      const current = taken.socket;
      socket = current;
      let received = false;
      let paused = false;
      const resume = (): void => {
        paused = false;
        current.resume();
      };
      const parser = new ResponseParser(
        {
          head: (status, reason, raw) => {
            clearTimeout(timer);
            const headers = endToEnd(raw);
            for (const x of target.responseHeaders) headers.push(x);
            res.writeHead(status, reason, headers);
          },
          body: (chunk) => {
            if (!res.write(chunk) && !paused) {
              paused = true;
              current.pause();
              res.once('drain', resume);
            }
          },
          end: (reusable) => {
            // A socket paused for a slow client must not go back to the pool paused.
            if (paused) {
              res.off('drain', resume);
              resume();
            }
            res.end();
            if (reusable) pool.give(current);
            else current.destroy();
            settle();
          },
        },
        req.method === 'HEAD',
      );
      current[kExchange] = {
        data: (chunk) => {
          received = true;
          try {
            const rest = parser.feed(chunk);
            // A response followed by more bytes: the connection is out of step; drop it.
            if (rest !== undefined && rest.length > 0) current.destroy();
          } catch (err) {
            broken((err as Error).message);
          }
        },
        closed: (err) => {
          if (settled || parser.done) return;
          if (res.destroyed || req.destroyed) {
            settle();
            return;
          }
          try {
            parser.close();
          } catch (parseErr) {
            if (retry && taken.reused && !received) {
              attempt(false);
              return;
            }
            if (err?.code === 'ECONNREFUSED') broken(err.code, true);
            else broken(err?.code ?? (parseErr as Error).message);
          }
        },
      };
      current.write(head, 'latin1');
    };
    attempt(true);
  });
}
