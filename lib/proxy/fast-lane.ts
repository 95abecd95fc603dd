/**
 * The fast lane: tqserver's listener reads each connection's requests itself first. A request
 * that is plainly simple is forwarded and answered right here on the raw sockets, without
 * node:http's request and response objects and streams, which cost more than the rest of the
 * proxy together (docs/performance.md). Plainly simple means: a GET or HEAD in HTTP/1.1, its
 * whole head already read, one Host, no body and nothing announcing one, no Upgrade or Expect,
 * every byte of the head in the strict form (token names, values without control characters,
 * an origin-form target of visible ASCII), routed to an HTTP worker without public files that
 * has an instance free now, in prod mode, while the server is not closing.
 *
 * Anything else goes, with every byte read and not yet served, to Node's http server
 * (server.ts), which then owns the connection for good. So every rule node:http enforces still
 * holds for whatever the lane does not recognise as plain, and a request is never half
 * understood by one and half by the other.
 */
import { STATUS_CODES } from 'node:http';
import type { Socket } from 'node:net';
import { ServeError } from '../errors.js';
import { nodeCrypto } from '../lazy-crypto.js';
import type { Logger } from '../log.js';
import type { RequestEvent } from '../observer.js';
import type { BackendWorker, Upstream } from './backend.js';
import { socketDelta } from './connection.js';
import { errorPage, wantsJson } from './error-page.js';
import { forwardedHeaders } from './forwarding.js';
import { validCorrelationId } from './headers.js';
import { RawResponse } from './lane-response.js';
import { parsePlain, type PlainRequest } from './plain-request.js';
import { closingResponse } from './raw-response.js';
import { forward, type ForwardHooks } from './forward.js';
import type { UpstreamPool } from './upstream.js';

/** The longest head the lane reads itself; a longer one is Node's (which answers 431 past its limit). */
const MAX_HEAD_BYTES = 8 * 1024;
/** Bytes of pipelined requests held while one is served; past this the socket is not read until it is done. */
const MAX_BUFFERED = 64 * 1024;

/** What the lane needs from the server. */
export interface LaneContext {
  readonly log: Logger;
  readonly pool: UpstreamPool;
  /**
   * The worker that serves `path` if the lane may serve it (an HTTP worker without public files,
   * in prod mode, not the metrics endpoint, the server not closing), with the route prefix and
   * the path as the worker sees it; undefined otherwise.
   */
  route(path: string): { readonly prefix: string; readonly rest: string; readonly worker: BackendWorker } | undefined;
  /** write_timeout_seconds, in ms. */
  headerTimeoutMs(): number;
  /** read_timeout_seconds, in ms: how long a new connection may take to send its first request. */
  readTimeoutMs(): number;
  /** idle_timeout_seconds, in ms: how long a kept-alive connection may wait for its next request. */
  idleTimeoutMs(): number;
  /** Whether the server is closing (each response then closes its connection). */
  closing(): boolean;
  /** A request is being served (for tqserver_active_requests and the shutdown's wait). */
  started(): void;
  /** A request is over, with what the metrics record of it. */
  finished(event: RequestEvent): void;
  /** Hands `socket` to Node's http server, with the bytes read from it and not yet served. */
  handOver(socket: Socket, unread: Buffer | undefined): void;
  /** What a client is told of a failure. */
  message(err: ServeError): string;
}

/** One client connection while the lane serves it. */
export class LaneConnection {
  readonly socket: Socket;
  readonly #socket: Socket;
  readonly #ctx: LaneContext;
  /** Bytes read and not yet served. */
  #buffer: Buffer | undefined;
  /** The response being written, while a request is served. */
  #current: RawResponse | undefined;
  #handed = false;
  /** The client sent its FIN: no request comes after the one being served. */
  #ended = false;
  /** Whether a request was answered on it (it then waits under idle_timeout_seconds, not read_timeout_seconds). */
  #answered = false;
  /** Waiting for the client to read the last response before the next request is served. */
  #draining = false;
  // The request being served, while #current is set.
  #req: PlainRequest | undefined;
  #prefix = '';
  #worker: BackendWorker | undefined;
  #started = 0;
  /** The headers tqserver adds to its response. */
  #responseHeaders: readonly string[] = [];
  /**
   * How the request being served takes part in its forwarding: one object per connection, so a
   * request costs no closure of its own.
   */
  readonly #hooks: ForwardHooks = {
    responseHeaders: () => this.#responseHeaders,
    another: () => this.#another(),
    fail: (err) => this.#fail(err),
    warn: (message) => this.#warn(message),
    done: () => this.#done(),
    crashed: (err) => this.#crashed(err),
  };

  constructor(socket: Socket, ctx: LaneContext) {
    this.socket = socket;
    this.#socket = socket;
    this.#ctx = ctx;
    socket.on('data', this.#onData);
    socket.on('end', this.#onEnd);
    socket.on('close', this.#onClose);
    socket.on('error', ignore);
    socket.on('timeout', this.#onTimeout);
    socket.setTimeout(ctx.readTimeoutMs());
  }

  /** The server is closing: an idle connection closes now, a busy one after its response. */
  closeIfIdle(): void {
    if (this.#handed || this.#current !== undefined) return;
    // A response still on its way out is finished first.
    if (this.#socket.writableLength > 0) this.#socket.end();
    else this.#socket.destroy();
  }

  readonly #onData = (chunk: Buffer): void => {
    this.#buffer = this.#buffer === undefined ? chunk : Buffer.concat([this.#buffer, chunk]);
    if (this.#current !== undefined || this.#draining) {
      // Pipelined requests wait their turn; a client that sends a lot more waits to be read.
      if (this.#buffer.length > MAX_BUFFERED) this.#socket.pause();
      return;
    }
    this.#next();
  };

  /**
   * The client sent its FIN. As Node's http server does (without httpAllowHalfOpen), the
   * connection ends now, even with a response on its way: the client is taken to have left, and
   * the request in flight is abandoned once the connection has closed.
   */
  readonly #onEnd = (): void => {
    this.#ended = true;
    this.#socket.end();
  };

  readonly #onClose = (): void => {
    this.#current?.closed();
  };

  /**
   * No byte read or written for read_timeout_seconds on a new connection, or idle_timeout_seconds
   * after a response. A new connection that sent nothing gets a 408, as Node's server answers it;
   * a kept-alive one closes, as does one whose client has read nothing of the last response for
   * that long. While a request is served the worker's time is
   * write_timeout_seconds' to judge, and the timer starts again with the response's first write.
   */
  readonly #onTimeout = (): void => {
    if (this.#current !== undefined || this.#handed) return;
    if (this.#answered || !this.#socket.writable) this.#socket.destroy();
    else this.#socket.end(closingResponse(408));
  };

  /** Serves the next request read, or hands the connection over if it is not plain. */
  #next(): void {
    const buffer = this.#buffer;
    if (buffer === undefined || buffer.length === 0) {
      this.#buffer = undefined;
      return;
    }
    const end = buffer.indexOf('\r\n\r\n');
    const req = end < 0 || end > MAX_HEAD_BYTES ? undefined : parsePlain(buffer.toString('latin1', 0, end));
    const q = req === undefined ? -1 : req.target.indexOf('?');
    const route = req === undefined ? undefined : this.#ctx.route(q < 0 ? req.target : req.target.slice(0, q));
    const instance = route?.worker.tryAcquire();
    if (req === undefined || route === undefined || instance === undefined) {
      this.#handOver();
      return;
    }
    this.#buffer = end + 4 < buffer.length ? buffer.subarray(end + 4) : undefined;
    const keepAlive = !req.close && !this.#ended;
    const res = new RawResponse(this.#socket, req.method === 'HEAD', keepAlive, this.#ctx.idleTimeoutMs(), this.#ctx.closing);
    this.#current = res;
    this.#req = req;
    this.#prefix = route.prefix;
    this.#worker = route.worker;
    this.#started = performance.now();
    this.#ctx.started();
    try {
      const correlationId = validCorrelationId(req.correlationId) ?? nodeCrypto().randomUUID();
      this.#responseHeaders = ['X-Correlation-ID', correlationId];
      const requestHeaders = forwardedHeaders(req.headers, req.host, req.forwardedFor, this.#socket, correlationId, 0);
      const path = route.rest + (q < 0 ? '' : req.target.slice(q));
      forward(req, res, route.worker, instance, { path, headerTimeoutMs: this.#ctx.headerTimeoutMs(), requestHeaders, body: 0 }, this.#ctx.pool, this.#hooks);
    } catch (err) {
      // This runs from a socket's event: nothing may throw out of it.
      this.#crashed(err as Error);
    }
  }

  #handOver(): void {
    this.#handed = true;
    const socket = this.#socket;
    socket.off('data', this.#onData);
    socket.off('end', this.#onEnd);
    socket.off('close', this.#onClose);
    socket.off('error', ignore);
    socket.off('timeout', this.#onTimeout);
    socket.setTimeout(0);
    const unread = this.#buffer;
    this.#buffer = undefined;
    this.#ctx.handOver(socket, unread);
  }

  // ---- the forwarding's hooks, for the request being served ---------------------------------------

  #another(): Upstream | undefined | Promise<Upstream | undefined> {
    const worker = this.#worker as BackendWorker;
    return worker.tryAcquire() ?? this.#waitForInstance(worker, this.#current as RawResponse);
  }

  /** An instance after waiting in the queue; undefined if the client left meanwhile, or the failure was answered. */
  async #waitForInstance(worker: BackendWorker, res: RawResponse): Promise<Upstream | undefined> {
    const abort = new AbortController();
    res.on('close', () => abort.abort());
    try {
      return await worker.acquire(abort.signal);
    } catch (err) {
      if (abort.signal.aborted) return undefined;
      if (!(err instanceof ServeError)) throw err;
      this.#fail(err);
      return undefined;
    }
  }

  #fail(err: ServeError): void {
    this.#error(this.#req as PlainRequest, this.#current as RawResponse, err, this.#responseHeaders);
  }

  #warn(message: string): void {
    const req = this.#req as PlainRequest;
    this.#ctx.log.warn(`${req.method} ${req.target}: ${message}`);
  }

  #done(): void {
    const req = this.#req as PlainRequest;
    const res = this.#current as RawResponse;
    const [bytesIn, bytesOut] = socketDelta(this.#socket);
    this.#current = undefined;
    this.#req = undefined;
    this.#ctx.finished({ method: req.method, route: this.#prefix, worker: (this.#worker as BackendWorker).name, status: res.headersSent ? res.statusCode : 0, durationSeconds: (performance.now() - this.#started) / 1000, bytesIn, bytesOut });
    this.#worker = undefined;
    this.#after(res);
  }

  #crashed(err: Error): void {
    // Respond or destroy: an unexpected failure still ends the request and its connection.
    const req = this.#req;
    this.#ctx.log.error(`${req === undefined ? 'a fast-lane request' : `${req.method} ${req.target}`}: ${err.stack ?? err.message}`);
    this.#socket.destroy();
    if (req !== undefined) this.#done();
  }

  /**
   * A request is over: the connection closes if its response said so (or the client sent its
   * FIN, or the server is closing), else the next request read is served.
   */
  #after(res: RawResponse): void {
    const socket = this.#socket;
    if (socket.destroyed || this.#handed) return;
    if (!res.writableFinished || !res.keepAlive || this.#ended || this.#ctx.closing()) {
      socket.end();
      return;
    }
    if (!this.#answered) {
      this.#answered = true;
      socket.setTimeout(this.#ctx.idleTimeoutMs());
    }
    // The next request waits until the client has read this response: a client that pipelines
    // and does not read is not answered faster than it reads (RawResponse queues whole bodies).
    if (socket.writableNeedDrain) {
      socket.pause();
      this.#draining = true;
      socket.once('drain', this.#drained);
      return;
    }
    if (socket.isPaused()) socket.resume();
    this.#next();
  }

  readonly #drained = (): void => {
    this.#draining = false;
    if (this.#handed || this.#socket.destroyed) return;
    this.#socket.resume();
    this.#next();
  };

  /** Answers a failure before the response started (else the connection is cut: respond or destroy). */
  #error(req: PlainRequest, res: RawResponse, err: ServeError, headers: readonly string[]): void {
    if (res.headersSent || res.destroyed) {
      res.destroy();
      return;
    }
    const { body, type } = errorPage(err.status, this.#ctx.message(err), wantsJson(req.accept));
    const bytes = Buffer.from(body);
    const all = [...headers, 'Content-Type', type, 'Content-Length', String(bytes.length), 'Cache-Control', 'no-store'];
    if (err.status === 503) all.push('Retry-After', String(err.retryAfterSeconds ?? 1));
    res.writeHead(err.status, STATUS_CODES[err.status] ?? 'Error', all);
    res.write(bytes);
    res.end();
  }

}

function ignore(): void {}
