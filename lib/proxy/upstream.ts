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
import { ServerResponse, type IncomingMessage } from 'node:http';
import { connect, type Socket } from 'node:net';
import { OWN_LIMIT_CODES, ServeError } from '../errors.js';
import { IdleByPort } from '../idle-by-port.js';
import { ResponseParser, type ResponseHandler } from './response-parser.js';
import { appendBody, contentLengthHead, setHead, SINGLE_WRITE_MAX, type WritableHead } from './response-head.js';

/** Whoever uses a pooled socket now: it gets the socket's bytes and its close. */
interface SocketUser {
  data(chunk: Buffer): void;
  closed(err: NodeJS.ErrnoException | undefined): void;
}

const kExchange = Symbol('tqserver.exchange');
const kError = Symbol('tqserver.lastError');
const kPort = Symbol('tqserver.port');
type PooledSocket = Socket & { [kExchange]?: SocketUser | undefined; [kError]?: NodeJS.ErrnoException; [kPort]: number };

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

/** What goes to a worker, whichever of its instances takes it (a retry sends the same). */
export interface UpstreamRequest {
  /** Path and query as the worker should see them. */
  readonly path: string;
  /** After the request is sent, the worker must start answering within this; 0 = no limit. */
  readonly headerTimeoutMs: number;
  /** Request headers, raw (`[name, value, ...]`), framing header included. */
  readonly requestHeaders: readonly string[];
  readonly body: BodyFraming;
}


/** The last chunk and the end of the (empty) trailer section of a chunked body. */
const LAST_CHUNK = '0\r\n\r\n';

/**
 * The request side of an exchange: its method, and its body as a stream (read only when the
 * target announces one). An IncomingMessage, or the fast lane's request, which has no body.
 */
export interface ClientRequest {
  readonly method?: string | undefined;
  on(event: 'data', listener: (chunk: Buffer) => void): unknown;
  once(event: 'end', listener: () => void): unknown;
  pause(): unknown;
  resume(): unknown;
}

/**
 * The response side of an exchange, as much of a ServerResponse as it uses: a ServerResponse,
 * or the fast lane's RawResponse (fast-lane.ts). `close` comes once, at the latest when the
 * client's connection is gone.
 */
export interface ClientResponse {
  readonly destroyed: boolean;
  readonly headersSent: boolean;
  readonly writableFinished: boolean;
  writeHead(status: number, reason: string, headers: string[]): unknown;
  write(chunk: Buffer): boolean;
  end(): unknown;
  destroy(): unknown;
  on(event: 'close', listener: () => void): unknown;
  once(event: 'drain', listener: () => void): unknown;
  off(event: 'drain', listener: () => void): unknown;
}

/**
 * Sends `req` as `target` to the instance at `port` through `pool`, and its response, with
 * `responseHeaders` added, to `res`; calls `done` once
 * the exchange is over (once; at once if the client has already left), with:
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
export function exchange(
  req: ClientRequest,
  res: ClientResponse,
  target: UpstreamRequest,
  port: number,
  responseHeaders: readonly string[],
  pool: UpstreamPool,
  done: (err: ServeError | undefined) => void,
): void {
  // The client left while the request waited (for a static file check, for an instance): its
  // close has already happened, so nothing is started for it.
  if (res.destroyed) done(undefined);
  else new Exchange(req, res, target, port, responseHeaders, pool, done).attempt(true);
}

/** Ends an exchange whose worker did not start answering in time (a timer callback). */
function timedOut(x: Exchange): void {
  x.timeout();
}

/**
 * One request's exchange with a worker: it is the response parser's handler and the pooled
 * socket's current user at once, so that a request costs one object and a few bound listeners
 * rather than a closure per event.
 */
class Exchange implements ResponseHandler, SocketUser {
  readonly #req: ClientRequest;
  readonly #res: ClientResponse;
  readonly #target: UpstreamRequest;
  readonly #port: number;
  /** Headers tqserver adds to the response, raw. */
  readonly #responseHeaders: readonly string[];
  readonly #pool: UpstreamPool;
  readonly #done: (err: ServeError | undefined) => void;
  #settled = false;
  /** Whether the response head arrived: from then on the worker is answering, and no timer runs. */
  #answered = false;
  /** Whether the client's body ended (a chunked one's last chunk was written to the sink then). */
  #bodyEnded = false;
  /** Whether any byte of the body was read from the client (then a retry cannot resend it). */
  #bodyRead = false;
  /** Whether the whole request (head and body) was handed to the socket. */
  #requestSent = false;
  #bodyStarted = false;
  #sink: PooledSocket | undefined;
  #timer: NodeJS.Timeout | undefined;
  // The current attempt: its connection (#sink too until the exchange is over), and what it saw.
  #socket: PooledSocket | undefined;
  #retry = true;
  #reused = false;
  #received = false;
  #paused = false;
  #parser: ResponseParser | undefined;
  /** The response body's Content-Length when tqserver wrote the head itself (response-head.ts), else -1. */
  #length = -1;
  /** A whole small body held back to go out in one write with the head. */
  #whole: Buffer | undefined;

  constructor(req: ClientRequest, res: ClientResponse, target: UpstreamRequest, port: number, responseHeaders: readonly string[], pool: UpstreamPool, done: (err: ServeError | undefined) => void) {
    this.#req = req;
    this.#res = res;
    this.#target = target;
    this.#port = port;
    this.#responseHeaders = responseHeaders;
    this.#pool = pool;
    this.#done = done;
    // 'close' comes once: a plain listener spares the wrapper `once` makes.
    res.on('close', this.#clientClosed);
  }

  /** The client left: whatever the worker is doing for it is abandoned. */
  readonly #clientClosed = (): void => {
    if (!this.#res.writableFinished && !this.#settled) {
      this.#sink?.destroy();
      this.#settle(undefined);
    }
  };

  #settle(err: ServeError | undefined): void {
    if (this.#settled) return;
    this.#settled = true;
    clearTimeout(this.#timer);
    this.#done(err);
  }

  #fail(code: 'ERR_UPSTREAM_BROKEN' | 'ERR_UPSTREAM_UNREACHABLE' | 'ERR_NO_RESOURCES', why: string): void {
    this.#sink?.destroy();
    if (this.#res.headersSent) this.#res.destroy();
    const text =
      code === 'ERR_NO_RESOURCES' ? `tqserver could not open a connection to the worker: ${why} (tqserver's own limit, not the worker's fault)`
      : code === 'ERR_UPSTREAM_UNREACHABLE' ? `the worker could not be reached: ${why}`
      : `the worker broke the exchange: ${why}`;
    this.#settle(new ServeError(code, text));
  }

  /** The whole request is on its way: the worker's time to answer starts. */
  #sent(): void {
    this.#requestSent = true;
    const ms = this.#target.headerTimeoutMs;
    if (ms > 0 && !this.#settled && !this.#answered) this.#timer = setTimeout(timedOut, ms, this);
  }

  timeout(): void {
    this.#sink?.destroy();
    if (this.#res.headersSent) this.#res.destroy();
    this.#settle(new ServeError('ERR_UPSTREAM_TIMEOUT', `the worker did not answer within ${this.#target.headerTimeoutMs / 1000} s`));
  }

  /** Sends the request on a pooled connection (`retry`: whether a dead reused one may be retried). */
  attempt(retry: boolean): void {
    const taken = this.#pool.take(this.#port);
    const socket = taken.socket;
    this.#sink = socket;
    this.#socket = socket;
    this.#retry = retry;
    this.#reused = taken.reused;
    this.#received = false;
    this.#paused = false;
    this.#parser = new ResponseParser(this, this.#req.method === 'HEAD');
    socket[kExchange] = this;
    const target = this.#target;
    let head = `${this.#req.method} ${target.path} HTTP/1.1\r\n`;
    const h = target.requestHeaders;
    for (let i = 0; i < h.length; i += 2) head += h[i] + ': ' + h[i + 1] + '\r\n';
    socket.write(head + '\r\n', 'latin1');
    if (target.body === 0) {
      if (!this.#requestSent) this.#sent();
    } else if (socket.connecting) {
      // The body is read only once a worker is there to take it, so that a refused connection
      // has consumed nothing and can be retried elsewhere.
      socket.once('connect', () => this.#sendBody());
    } else {
      this.#sendBody();
    }
  }

  #sendBody(): void {
    if (this.#bodyStarted) return;
    this.#bodyStarted = true;
    const req = this.#req;
    const chunked = this.#target.body === 'chunked';
    req.on('data', (chunk: Buffer) => {
      this.#bodyRead = true;
      const to = this.#sink;
      if (to === undefined || to.destroyed || this.#settled) return;
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
      this.#bodyEnded = true;
      const sink = this.#sink;
      if (this.#settled || sink === undefined || sink.destroyed) return;
      if (chunked) sink.write(LAST_CHUNK, 'latin1');
      this.#sent();
    });
  }

  // ---- the pooled socket's events --------------------------------------------------------------

  data(chunk: Buffer): void {
    this.#received = true;
    try {
      const rest = (this.#parser as ResponseParser).feed(chunk);
      // A response followed by more bytes: the connection is out of step; drop it (it may
      // already be back in the pool).
      if (rest !== undefined && rest.length > 0) this.#socket?.destroy();
    } catch (err) {
      this.#fail('ERR_UPSTREAM_BROKEN', (err as Error).message);
    }
  }

  closed(err: NodeJS.ErrnoException | undefined): void {
    const parser = this.#parser as ResponseParser;
    if (this.#settled || parser.done) return;
    try {
      parser.close();
    } catch (parseErr) {
      // Safe to send again only if nothing of the body was read or ended on the dead
      // connection (an empty chunked body's last chunk went to it).
      if (this.#retry && this.#reused && !this.#received && !this.#bodyRead && !this.#bodyEnded) {
        this.attempt(false);
        return;
      }
      const code = err?.code;
      if (code !== undefined && OWN_LIMIT_CODES.has(code)) this.#fail('ERR_NO_RESOURCES', code);
      else if (code === 'ECONNREFUSED' && !this.#bodyRead) this.#fail('ERR_UPSTREAM_UNREACHABLE', code);
      else this.#fail('ERR_UPSTREAM_BROKEN', code ?? (parseErr as Error).message);
    }
  }

  // ---- the response parser's events -----------------------------------------------------------

  head(status: number, reason: string, headers: string[], length: number): void {
    this.#answered = true;
    clearTimeout(this.#timer);
    const res = this.#res;
    // A ServerResponse's own writeHead costs more than writing the head here (response-head.ts).
    const written = length >= 0 && res instanceof ServerResponse ? contentLengthHead(res, status, reason, headers, this.#responseHeaders) : undefined;
    if (written !== undefined) {
      setHead(res as ServerResponse, status, reason, written);
      this.#length = length;
      return;
    }
    for (const x of this.#responseHeaders) headers.push(x);
    res.writeHead(status, reason, headers);
  }

  body(chunk: Buffer): void {
    const res = this.#res;
    // A client gone has no one to wait for: writing to it would wait for a drain that never comes.
    if (res.destroyed) {
      this.#sink?.destroy();
      this.#settle(undefined);
      return;
    }
    // The whole of a small body at once, right after the head: it goes out with the head.
    if (chunk.length === this.#length && chunk.length <= SINGLE_WRITE_MAX && !(res as unknown as WritableHead)._headerSent) {
      this.#whole = chunk;
      return;
    }
    if (!res.write(chunk) && !this.#paused) {
      this.#paused = true;
      this.#socket?.pause();
      res.once('drain', this.#resume);
    }
  }

  readonly #resume = (): void => {
    this.#paused = false;
    this.#socket?.resume();
  };

  end(reusable: boolean): void {
    const socket = this.#socket as PooledSocket;
    // A socket paused for a slow client must not go back to the pool paused.
    if (this.#paused) {
      this.#res.off('drain', this.#resume);
      this.#resume();
    }
    if (this.#whole !== undefined) appendBody(this.#res as ServerResponse, this.#whole);
    this.#whole = undefined;
    this.#res.end();
    // A worker may answer before it has read the whole body: then the connection is in the
    // middle of a request and cannot carry another.
    if (reusable && this.#requestSent) this.#pool.give(socket);
    else socket.destroy();
    this.#sink = undefined;
    this.#settle(undefined);
  }
}
