/**
 * tqserver's client to instances: keep-alive sockets pooled by port, the request head written in
 * one write with framing of our own, the body (if any) streamed after it, and the response read
 * by ResponseParser straight into the client's ServerResponse.
 *
 * Each pooled socket gets its listeners once, when it is created, and hands events to whichever
 * exchange holds it; node:http's client adds and removes listeners, allocates a parser and an
 * IncomingMessage stream per request, which made it most of the proxy's cost. It also wrote a
 * GET's body bytes without framing (its methods "without a body" get no chunked coding), which
 * let a client smuggle a second request onto a pooled connection; here the head always announces
 * exactly the body that follows.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { connect, type Socket } from 'node:net';
import { OWN_LIMIT_CODES, ServeError } from '../errors.js';
import { IdleByPort } from '../idle-by-port.js';
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
  readonly #idle = new IdleByPort<PooledSocket>();

  /** An idle socket to `port`, or a new one (usable at once: writes wait for the connection). */
  take(port: number): { socket: PooledSocket; reused: boolean } {
    const reused = this.#idle.pop(port, (s) => !s.destroyed);
    if (reused !== undefined) return { socket: reused, reused: true };
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
      this.#idle.remove(port, socket);
      exchange?.closed(socket[kError]);
    });
    return { socket, reused: false };
  }

  /** Returns a socket whose exchange is complete and which may carry another request. */
  give(socket: PooledSocket): void {
    socket[kExchange] = undefined;
    const port = socket[kPort];
    if (socket.destroyed || this.#idle.count(port) >= MAX_IDLE_PER_PORT) socket.destroy();
    else this.#idle.push(port, socket);
  }

  /** Closes every idle socket. */
  destroy(): void {
    this.#idle.destroyAll();
  }
}

/**
 * The request body as it goes upstream: 0 for none, a byte count (sent with that
 * Content-Length), or `chunked` (re-encoded chunk by chunk). The caller puts the matching
 * header into `requestHeaders`.
 */
export type BodyFraming = number | 'chunked';

/** What one exchange needs. */
export interface UpstreamTarget {
  readonly port: number;
  /** Path and query as the worker should see them. */
  readonly path: string;
  /** After the request is sent, the worker must start answering within this; 0 = no limit. */
  readonly headerTimeoutMs: number;
  /** Request headers, raw (`[name, value, ...]`), framing header included. */
  readonly requestHeaders: readonly string[];
  /** Headers tqserver adds to the response, raw. */
  readonly responseHeaders: readonly string[];
  readonly body: BodyFraming;
}


/** The last chunk and the end of the (empty) trailer section of a chunked body. */
const LAST_CHUNK = '0\r\n\r\n';

/**
 * Sends `req` to `target.port` through `pool` and its response to `res`. Resolves, never
 * rejects, once the exchange is over:
 * - undefined: the response went through, or the client left (the exchange was abandoned);
 * - a ServeError with nothing sent to the client: the caller answers it. It is
 *   ERR_UPSTREAM_UNREACHABLE only when no byte of the request reached a worker and no byte of
 *   its body was read (so it may be sent again, to another instance), ERR_NO_RESOURCES when
 *   tqserver itself is out of file descriptors or memory;
 * - a ServeError after the response head went out: the client socket has been destroyed.
 *
 * A reused socket that turns out to be closed by the worker before any byte of the response,
 * while no byte of the body has been read, is retried once on a new connection.
 */
export function exchange(req: IncomingMessage, res: ServerResponse, target: UpstreamTarget, pool: UpstreamPool): Promise<ServeError | undefined> {
  let head = `${req.method} ${target.path} HTTP/1.1\r\n`;
  const h = target.requestHeaders;
  for (let i = 0; i < h.length; i += 2) head += h[i] + ': ' + h[i + 1] + '\r\n';
  head += '\r\n';
  const framing = target.body;

  // The client left while the request waited (for a static file check, for an instance): its
  // close has already happened, so nothing is started for it.
  if (res.destroyed) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    let settled = false;
    /** Whether the response head arrived: from then on the worker is answering, and no timer runs. */
    let answered = false;
    /** Whether the client's body ended (a chunked one's last chunk was written to the sink then). */
    let bodyEnded = false;
    let sink: PooledSocket | undefined;
    let timer: NodeJS.Timeout | undefined;
    /** Whether any byte of the body was read from the client (then a retry cannot resend it). */
    let bodyRead = false;
    /** Whether the whole request (head and body) was handed to the socket. */
    let requestSent = false;
    let bodyStarted = false;

    const settle = (err?: ServeError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(err);
    };
    const fail = (code: 'ERR_UPSTREAM_BROKEN' | 'ERR_UPSTREAM_UNREACHABLE' | 'ERR_NO_RESOURCES', why: string): void => {
      sink?.destroy();
      if (res.headersSent) res.destroy();
      const text =
        code === 'ERR_NO_RESOURCES' ? `tqserver could not open a connection to the worker: ${why} (tqserver's own limit, not the worker's fault)`
        : code === 'ERR_UPSTREAM_UNREACHABLE' ? `the worker could not be reached: ${why}`
        : `the worker broke the exchange: ${why}`;
      settle(new ServeError(code, text));
    };
    const startTimer = (): void => {
      requestSent = true;
      if (target.headerTimeoutMs > 0 && !settled && !answered) {
        timer = setTimeout(() => {
          sink?.destroy();
          if (res.headersSent) res.destroy();
          settle(new ServeError('ERR_UPSTREAM_TIMEOUT', `the worker did not answer within ${target.headerTimeoutMs / 1000} s`));
        }, target.headerTimeoutMs);
      }
    };
    // The client left: whatever the worker is doing for it is abandoned.
    res.once('close', () => {
      if (!res.writableFinished && !settled) {
        sink?.destroy();
        settle();
      }
    });

    const sendBody = (): void => {
      if (bodyStarted) return;
      bodyStarted = true;
      const chunked = framing === 'chunked';
      req.on('data', (chunk: Buffer) => {
        bodyRead = true;
        const to = sink;
        if (to === undefined || to.destroyed || settled) return;
        let ok: boolean;
        if (chunked) {
          to.cork();
          to.write(chunk.length.toString(16) + '\r\n', 'latin1');
          to.write(chunk);
          ok = to.write('\r\n', 'latin1');
          to.uncork();
        } else {
          ok = to.write(chunk);
        }
        if (!ok) {
          req.pause();
          to.once('drain', () => req.resume());
        }
      });
      req.once('end', () => {
        bodyEnded = true;
        if (settled || sink === undefined || sink.destroyed) return;
        if (chunked) sink.write(LAST_CHUNK, 'latin1');
        startTimer();
      });
    };

    const attempt = (retry: boolean): void => {
      const taken = pool.take(target.port);
      const current = taken.socket;
      sink = current;
      let received = false;
      let paused = false;
      const resume = (): void => {
        paused = false;
        current.resume();
      };
      const parser = new ResponseParser(
        {
          head: (status, reason, raw) => {
            answered = true;
            clearTimeout(timer);
            const headers = endToEnd(raw);
            for (const x of target.responseHeaders) headers.push(x);
            res.writeHead(status, reason, headers);
          },
          body: (chunk) => {
            // A client gone has no one to wait for: writing to it would wait for a drain that never comes.
            if (res.destroyed) {
              current.destroy();
              settle();
              return;
            }
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
            // A worker may answer before it has read the whole body: then the connection is
            // in the middle of a request and cannot carry another.
            if (reusable && requestSent) pool.give(current);
            else current.destroy();
            sink = undefined;
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
            fail('ERR_UPSTREAM_BROKEN', (err as Error).message);
          }
        },
        closed: (err) => {
          if (settled || parser.done) return;
          try {
            parser.close();
          } catch (parseErr) {
            // Safe to send again only if nothing of the body was read or ended on the dead
            // connection (an empty chunked body's last chunk went to it).
            if (retry && taken.reused && !received && !bodyRead && !bodyEnded) {
              attempt(false);
              return;
            }
            const code = err?.code;
            if (code !== undefined && OWN_LIMIT_CODES.has(code)) fail('ERR_NO_RESOURCES', code);
            else if (code === 'ECONNREFUSED' && !bodyRead) fail('ERR_UPSTREAM_UNREACHABLE', code);
            else fail('ERR_UPSTREAM_BROKEN', code ?? (parseErr as Error).message);
          }
        },
      };
      current.write(head, 'latin1');
      if (framing === 0) {
        if (!requestSent) startTimer();
      } else if (current.connecting) {
        // The body is read only once a worker is there to take it, so that a refused connection
        // has consumed nothing and can be retried elsewhere.
        current.once('connect', sendBody);
      } else {
        sendBody();
      }
    };
    attempt(true);
  });
}
