/**
 * The main HTTP listener: routes each request to a worker's static files or instances, answers
 * failures with a status and a small page, reports every finished request to the observer, and
 * closes gracefully.
 */
import { existsSync } from 'node:fs';
import { createServer, ServerResponse, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { randomUUID } from 'node:crypto';
import type { Mode, ServerConfig } from '../config/index.js';
import { ServeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ServerObserver } from '../observer.js';
import type { Instance, Supervisor, WorkerPool } from '../supervisor/index.js';
import { sendBuildError, sendError, sendStartError } from './error-page.js';
import { endToEnd, headerCount, REPLACED_REQUEST_HEADERS, validCorrelationId } from './headers.js';
import { LiveReload, RELOAD_SCRIPT } from './live-reload.js';
import { methodLabel } from './methods.js';
import { Router } from './router.js';
import { serveStatic } from './static.js';
import { connectionCap, descriptorsNeeded, openFileLimit } from './fd-limit.js';
import { closingResponse } from './raw-response.js';
import { proxyUpgrade } from './upgrade.js';
import { exchange, UpstreamPool, type BodyFraming } from './upstream.js';

/** The `path` label of a request that no worker's route matches. */
export const UNMATCHED_ROUTE = 'unmatched';

/** Serves the metrics endpoint on the main listener; true if it answered. */
export type MetricsHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** What the proxy needs. */
export interface ProxyOptions {
  readonly server: ServerConfig;
  readonly mode: Mode;
  readonly supervisor: Supervisor;
  readonly observer: ServerObserver;
  readonly log: Logger;
  /** Answers requests for metrics.path on this listener (unset when metrics are off or elsewhere). */
  readonly metricsHandler?: MetricsHandler | undefined;
}

interface RouteTarget {
  readonly pool: WorkerPool;
  /** The worker's public folder, if it has one. */
  readonly publicDir: string | undefined;
}

const kBytesRead = Symbol('tqserver.bytesRead');
const kBytesWritten = Symbol('tqserver.bytesWritten');
const kConnection = Symbol('tqserver.connection');

/**
 * A client connection's requests: the one being served, and those Node parsed behind it
 * (pipelined) that wait their turn.
 */
interface Connection {
  busy: boolean;
  /** Waiting requests, as pairs: request, response, request, response, ... */
  readonly waiting: (IncomingMessage | ServerResponse)[];
}

/**
 * A client socket as the server sees it. `_paused` and `parser` are Node's own
 * (lib/_http_server.js): while `_paused` is set, Node keeps the socket and, after the current
 * read, its request parser paused; that is its back-pressure for pipelined requests, and the only
 * way to stop it parsing more of them.
 */
type ClientSocket = Socket & {
  [kBytesRead]?: number;
  [kBytesWritten]?: number;
  [kConnection]?: Connection;
  _paused?: boolean;
  parser?: { pause(): void; resume(): void } | null;
};

/** Bytes read and written on `socket` since the last call for it (a request's share). */
function socketDelta(socket: ClientSocket | null): [number, number] {
  if (socket === null) return [0, 0];
  const read = socket.bytesRead;
  const written = socket.bytesWritten;
  const delta: [number, number] = [read - (socket[kBytesRead] ?? 0), written - (socket[kBytesWritten] ?? 0)];
  socket[kBytesRead] = read;
  socket[kBytesWritten] = written;
  return delta;
}

/**
 * Requests of one connection that may wait, parsed, behind the one being served before the
 * socket is no longer read. Browsers do not pipeline; a client that sends more is served as fast
 * as it reads, with at most this many (plus the rest of one read) parsed ahead.
 */
const PIPELINE_DEPTH = 16;

/** Stops reading from `socket` (see ClientSocket). */
function holdReading(socket: ClientSocket): void {
  if (socket._paused === true) return;
  socket._paused = true;
  socket.pause();
}

/** Reads from `socket` again. */
function resumeReading(socket: ClientSocket): void {
  if (socket._paused !== true) return;
  socket._paused = false;
  socket.parser?.resume();
  socket.resume();
}

/** The address a client reached this listener at, as an authority (`host:port`). */
function listenerAuthority(socket: Socket): string {
  const address = socket.localAddress ?? '127.0.0.1';
  return `${address.includes(':') ? `[${address}]` : address}:${socket.localPort ?? 0}`;
}

/**
 * How the request body goes upstream: chunked if it came chunked, else its Content-Length
 * (Node's parser has already refused a request with both, or with an invalid length), else none.
 */
function bodyFraming(req: IncomingMessage): BodyFraming {
  if (req.headers['transfer-encoding'] !== undefined) return 'chunked';
  const length = req.headers['content-length'];
  return length === undefined ? 0 : Number(length);
}

/**
 * The headers a request goes to a worker with: the client's end-to-end headers; a Host if an
 * HTTP/1.0 client sent none (the listener's own address: the worker is spoken to in HTTP/1.1,
 * which requires one, and must never see its internal address as the public one);
 * X-Forwarded-For with the client address appended, X-Forwarded-Proto, X-Forwarded-Host,
 * X-Correlation-ID; and framing of tqserver's own for the body.
 */
function upstreamHeaders(req: IncomingMessage, correlationId: string, body: BodyFraming): string[] {
  const headers = endToEnd(req.rawHeaders, REPLACED_REQUEST_HEADERS);
  let host = req.headers.host;
  if (host === undefined) {
    host = listenerAuthority(req.socket);
    headers.push('Host', host);
  }
  const forwardedFor = req.headers['x-forwarded-for'];
  const ip = req.socket.remoteAddress ?? '';
  headers.push(
    'X-Forwarded-For', forwardedFor === undefined ? ip : `${forwardedFor}, ${ip}`,
    'X-Forwarded-Proto', 'http',
    'X-Forwarded-Host', host,
    'X-Correlation-ID', correlationId,
  );
  if (body === 'chunked') headers.push('Transfer-Encoding', 'chunked');
  else if (body > 0) headers.push('Content-Length', String(body));
  return headers;
}

/**
 * Why a request cannot be forwarded as it is, or undefined. Node's parser has already refused
 * bad framing (both Content-Length and Transfer-Encoding, an invalid or repeated length) and an
 * HTTP/1.1 request without Host.
 */
function refusal(req: IncomingMessage): [number, string] | undefined {
  // RFC 9112 3.2: more than one Host is a 400; the two could name different targets to us and to the worker.
  if (headerCount(req.rawHeaders, 'host') > 1) return [400, 'The request has more than one Host header.'];
  const te = req.headers['transfer-encoding'];
  // RFC 9112 6.1: a transfer coding the server does not understand is a 501. Only chunked is
  // relayed, because the coding before it would be lost on the way.
  if (te !== undefined && te.trim().toLowerCase() !== 'chunked') return [501, 'Only the chunked transfer coding is supported.'];
  return undefined;
}

/** The main listener. */
export class ProxyServer {
  readonly http: Server;
  readonly liveReload: LiveReload | undefined;
  readonly #options: ProxyOptions;
  #server: ServerConfig;
  #router: Router<RouteTarget> = new Router([]);
  readonly #upstreams = new UpstreamPool();
  /** When the last "out of file descriptors" error was logged (they come in bursts). */
  #lastAcceptError = 0;
  #active = 0;
  #closing = false;
  #drained: (() => void) | undefined;

  constructor(options: ProxyOptions) {
    this.#options = options;
    this.#server = options.server;
    this.liveReload = options.mode === 'dev' ? new LiveReload() : undefined;
    // Node checks request timeouts every connectionsCheckingInterval (30 s by default), which
    // would make read_timeout_seconds late by up to that much.
    this.http = createServer({ requestTimeout: 0, headersTimeout: 0, keepAliveTimeout: 0, connectionsCheckingInterval: 1000 }, (req, res) => this.#accept(req, res));
    this.configure(options.server);
    this.http.on('connection', () => this.#options.observer.connectionOpened?.());
    this.http.on('upgrade', (req, socket, head) => {
      this.#onUpgrade(req, socket, head).catch((err: Error) => {
        this.#options.log.error(`upgrade ${req.url}: ${err.stack ?? err.message}`);
        socket.destroy();
      });
    });
    this.http.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      // A response already under way on this connection cannot be followed by an error head.
      const current = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
      if (!socket.writable || (current !== null && current !== undefined && current.headersSent)) return socket.destroy();
      // Node sends 431 itself for oversized headers when it can; anything else unreadable is a 400.
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
      socket.end(closingResponse(status));
    });
    // An error accepting a connection is tqserver's own trouble (libuv already absorbs EMFILE by
    // closing what it cannot accept); it is reported, and must not end the process.
    this.http.on('error', (err: NodeJS.ErrnoException) => {
      if (!this.http.listening) return;
      const now = Date.now();
      if (now - this.#lastAcceptError < 5000) return;
      this.#lastAcceptError = now;
      this.#options.log.error(`cannot accept connections: ${err.code ?? err.message}`);
    });
    this.updateRoutes();
  }

  /** Requests being served now. */
  get activeRequests(): number {
    return this.#active;
  }

  /** Applies the client timeouts and the connection limit of `server` (also after a reload). */
  configure(server: ServerConfig): void {
    const configured = server.server.maxConnections;
    const limit = openFileLimit();
    const max = connectionCap(configured, limit);
    if (max !== this.http.maxConnections) {
      this.http.maxConnections = max;
      if (configured !== undefined && limit !== undefined && limit < descriptorsNeeded(max)) {
        this.#options.log.warn(`server.max_connections ${max} needs up to ${descriptorsNeeded(max)} file descriptors (a client and a worker connection each), but this process may open ${limit}: raise the limit (ulimit -n) or lower server.max_connections`);
      }
    }
    this.#server = server;
    const readMs = server.server.readTimeoutSeconds * 1000;
    this.http.requestTimeout = readMs;
    this.http.headersTimeout = readMs;
    this.http.keepAliveTimeout = server.server.idleTimeoutSeconds * 1000;
  }

  /** Rebuilds the routing table from the supervisor's pools (after start-up and reloads). */
  updateRoutes(): void {
    this.#router = new Router(
      this.#options.supervisor.pools().map((pool) => {
        const dir = join(pool.config.dir, 'public');
        return { prefix: pool.config.path, target: { pool, publicDir: existsSync(dir) ? dir : undefined } };
      }),
    );
  }

  /** Starts listening; resolves with the bound address. */
  listen(port: number, host: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(port, host, () => {
        this.http.off('error', reject);
        resolve(this.http.address() as AddressInfo);
      });
    });
  }

  #devHeaders(pool: WorkerPool, instance?: { port: number; slot: number }): Record<string, string> {
    if (this.#options.mode !== 'dev') return {};
    const c = pool.config;
    const h: Record<string, string> = { 'X-TQServer-Worker-Name': c.name, 'X-TQServer-Worker-Type': c.type, 'X-TQServer-Worker-Path': c.path };
    if (instance !== undefined) {
      h['X-TQServer-Worker-Port'] = String(instance.port);
      h['X-TQServer-Worker-ID'] = `${c.name}#${instance.slot}`;
    }
    return h;
  }

  /**
   * Takes a request from Node. A connection is served one request at a time, in order (RFC 9112
   * 9.3): requests pipelined behind the current one wait. Up to PIPELINE_DEPTH of them may wait
   * with the socket still read (so that a client who leaves is noticed at once); past that, and
   * while the client does not read its responses, the socket is not read at all. So one client
   * cannot make tqserver parse, dispatch or buffer thousands of requests it has not answered.
   */
  #accept(req: IncomingMessage, res: ServerResponse): void {
    const socket = req.socket as ClientSocket;
    let connection = socket[kConnection];
    if (connection === undefined) {
      connection = { busy: false, waiting: [] };
      socket[kConnection] = connection;
    }
    if (connection.busy) {
      connection.waiting.push(req, res);
      if (connection.waiting.length >= PIPELINE_DEPTH * 2) holdReading(socket);
      return;
    }
    this.#start(connection, socket, req, res);
  }

  #start(connection: Connection, socket: ClientSocket, req: IncomingMessage, res: ServerResponse): void {
    connection.busy = true;
    this.#onRequest(req, res).catch((err: Error) => {
      this.#options.log.error(`${req.method} ${req.url}: ${err.stack ?? err.message}`);
      if (!res.headersSent && !res.destroyed) sendError(req, res, 500, 'tqserver failed to handle this request.');
      else res.destroy();
    });
    res.once('close', () => {
      // A response that did not finish took the connection with it; what waited behind it was
      // never started, so it has nothing to settle.
      if (!res.writableFinished || socket.destroyed) {
        connection.busy = false;
        connection.waiting.length = 0;
        return;
      }
      // The next response waits until the client has read this one.
      if (socket.writableNeedDrain) {
        holdReading(socket);
        socket.once('drain', () => this.#next(connection, socket));
      } else {
        this.#next(connection, socket);
      }
    });
  }

  /** Starts the request that waited longest on `connection`, if any, and reads on when there is room. */
  #next(connection: Connection, socket: ClientSocket): void {
    connection.busy = false;
    if (socket.destroyed) {
      connection.waiting.length = 0;
      return;
    }
    if (connection.waiting.length > 0) {
      const req = connection.waiting.shift() as IncomingMessage;
      const res = connection.waiting.shift() as ServerResponse;
      this.#start(connection, socket, req, res);
    }
    // Node resumes reading on its own whenever the next queued response takes the socket; with
    // many requests still waiting, it is held again before that takes effect.
    if (connection.waiting.length < PIPELINE_DEPTH * 2) resumeReading(socket);
    else holdReading(socket);
  }

  async #onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const metrics = this.#options.metricsHandler;
    if (metrics !== undefined && path === this.#server.metrics.path) {
      // The endpoint's own requests are not counted; their bytes are not given to the next request.
      res.once('close', () => socketDelta(req.socket));
      metrics(req, res);
      return;
    }
    const started = performance.now();
    this.#active++;
    if (this.#closing) res.setHeader('Connection', 'close');
    const match = path.startsWith('/') ? this.#router.match(path) : undefined;
    const method = methodLabel(req.method);
    res.once('close', () => {
      this.#active--;
      const [bytesIn, bytesOut] = socketDelta(req.socket);
      this.#options.observer.requestDone?.({
        method,
        route: match?.prefix ?? UNMATCHED_ROUTE,
        worker: match?.target.pool.name,
        status: res.headersSent ? res.statusCode : 0,
        durationSeconds: (performance.now() - started) / 1000,
        bytesIn,
        bytesOut,
      });
      if (this.#closing && this.#active === 0) this.#drained?.();
    });

    const refused = refusal(req);
    if (refused !== undefined) {
      res.setHeader('Connection', 'close');
      sendError(req, res, refused[0], refused[1]);
      return;
    }
    if (this.liveReload !== undefined && path === '/dev-reload.js') {
      res.writeHead(200, { 'Content-Type': 'text/javascript; charset=utf-8', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(RELOAD_SCRIPT) });
      res.end(req.method === 'HEAD' ? undefined : RELOAD_SCRIPT);
      return;
    }
    if (match === undefined) {
      sendError(req, res, path.startsWith('/') ? 404 : 400, path.startsWith('/') ? 'No worker serves this path.' : 'The request target must be an absolute path.');
      return;
    }
    const { pool, publicDir } = match.target;
    const correlationId = validCorrelationId(req.headers['x-correlation-id']) ?? randomUUID();
    const baseHeaders: Record<string, string> = this.#options.mode === 'dev' ? { ...this.#devHeaders(pool), 'X-Correlation-ID': correlationId } : { 'X-Correlation-ID': correlationId };
    try {
      if (publicDir !== undefined && (await serveStatic(req, res, publicDir, match.rest, baseHeaders))) return;
    } catch {
      // A file that vanished between stat and open: let the worker answer instead.
    }
    if (this.#options.mode === 'dev' && pool.buildError !== undefined) {
      sendBuildError(req, res, pool.name, pool.buildError, baseHeaders);
      return;
    }
    if (this.#options.mode === 'dev' && pool.startError !== undefined && pool.liveCount === 0) {
      sendStartError(req, res, pool.name, pool.startError, baseHeaders);
      return;
    }
    await this.#dispatch(req, res, pool, match.rest + (q < 0 ? '' : url.slice(q)), correlationId, baseHeaders);
  }

  /**
   * An instance of `pool` for one request: at once when one has room, else after waiting in the
   * queue. Undefined when the request was answered instead (no instance can come) or its client
   * left while it waited.
   */
  async #instanceFor(req: IncomingMessage, res: ServerResponse, pool: WorkerPool, baseHeaders: Record<string, string>): Promise<Instance | undefined> {
    // Nearly always an instance has room at once; only a request that must wait gets a promise
    // and an AbortController (so that a client who leaves also leaves the queue).
    const instance = pool.tryAcquire();
    if (instance !== undefined) return instance;
    const abort = new AbortController();
    const onClose = (): void => abort.abort();
    res.once('close', onClose);
    try {
      return await pool.acquire(abort.signal);
    } catch (err) {
      if (!(err instanceof ServeError)) throw err;
      if (err.code === 'ERR_BUILD_FAILED' && this.#options.mode === 'dev' && pool.buildError !== undefined) sendBuildError(req, res, pool.name, pool.buildError, baseHeaders);
      else if (err.code === 'ERR_NO_INSTANCE' && this.#options.mode === 'dev' && pool.startError !== undefined) sendStartError(req, res, pool.name, pool.startError, baseHeaders);
      else if (!abort.signal.aborted) sendError(req, res, err.status, this.#message(err), { ...baseHeaders, 'Retry-After': String(err.retryAfterSeconds ?? 1) });
      return undefined;
    } finally {
      res.off('close', onClose);
    }
  }

  async #dispatch(req: IncomingMessage, res: ServerResponse, pool: WorkerPool, path: string, correlationId: string, baseHeaders: Record<string, string>): Promise<void> {
    let instance = await this.#instanceFor(req, res, pool, baseHeaders);
    if (instance === undefined) return;
    const body = bodyFraming(req);
    const requestHeaders = upstreamHeaders(req, correlationId, body);
    const headerTimeoutMs = this.#server.server.writeTimeoutSeconds * 1000;
    for (let attempt = 1; ; attempt++) {
      const responseHeaders = ['X-Correlation-ID', correlationId];
      if (this.#options.mode === 'dev') for (const [k, v] of Object.entries(this.#devHeaders(pool, instance))) responseHeaders.push(k, v);
      let err: ServeError | undefined;
      try {
        err = await exchange(req, res, { port: instance.port, path, headerTimeoutMs, requestHeaders, responseHeaders, body }, this.#upstreams);
      } finally {
        pool.release(instance, err?.code === 'ERR_UPSTREAM_UNREACHABLE');
      }
      if (err === undefined) return;
      this.#options.log.warn(`${req.method} ${req.url}: worker ${pool.name} instance ${instance}: ${err.message}`);
      // A refused connection never reached a worker and read nothing of the body: it is safe
      // to send again, whatever the method, to another instance.
      if (err.code === 'ERR_UPSTREAM_UNREACHABLE' && attempt === 1 && !res.destroyed) {
        instance = await this.#instanceFor(req, res, pool, baseHeaders);
        if (instance === undefined) return;
        continue;
      }
      if (!res.headersSent && !res.destroyed) sendError(req, res, err.status, this.#message(err), baseHeaders);
      return;
    }
  }

  /** What a client is told: the reason in dev mode, the bare status meaning in prod. */
  #message(err: ServeError): string {
    if (this.#options.mode === 'dev') return err.message;
    return err.status === 504 ? 'The application took too long to answer.' : 'The application is not available right now.';
  }

  async #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (this.liveReload !== undefined && path === '/ws/reload') {
      this.liveReload.accept(req, socket);
      return;
    }
    const metrics = this.#options.metricsHandler;
    if (metrics !== undefined && path === this.#server.metrics.path) {
      // RFC 9110 7.8: a server may ignore Upgrade. The endpoint answers as for any GET, on a
      // connection that then closes; it is never a worker's to answer.
      const res = new ServerResponse(req);
      res.shouldKeepAlive = false;
      res.assignSocket(socket as Socket);
      res.once('finish', () => socket.end());
      metrics(req, res);
      return;
    }
    const started = performance.now();
    const match = path.startsWith('/') ? this.#router.match(path) : undefined;
    const done = (status: number): void => {
      const [bytesIn, bytesOut] = socketDelta(socket as ClientSocket);
      this.#options.observer.requestDone?.({
        method: methodLabel(req.method),
        route: match?.prefix ?? UNMATCHED_ROUTE,
        worker: match?.target.pool.name,
        status,
        durationSeconds: (performance.now() - started) / 1000,
        bytesIn,
        bytesOut,
      });
    };
    const refuse = (status: number, why: string): void => {
      if (socket.writable) socket.end(closingResponse(status, `${why}\n`));
      else socket.destroy();
      done(status);
    };
    if (match === undefined) return refuse(404, 'No worker serves this path.');
    if (this.#closing) return refuse(503, 'The server is shutting down.');
    const refused = refusal(req);
    if (refused !== undefined) return refuse(refused[0], refused[1]);
    // A body announced on an upgrade would be mistaken for the new protocol's first bytes.
    if (bodyFraming(req) !== 0) return refuse(400, 'An upgrade request cannot carry a body.');
    const { pool } = match.target;
    const abort = new AbortController();
    const onClose = (): void => abort.abort();
    socket.once('close', onClose);
    let instance: Instance;
    try {
      instance = await pool.acquire(abort.signal);
    } catch (err) {
      if (!(err instanceof ServeError)) throw err;
      if (abort.signal.aborted) done(0);
      else refuse(err.status, this.#message(err));
      return;
    } finally {
      socket.off('close', onClose);
    }
    const headers = upstreamHeaders(req, validCorrelationId(req.headers['x-correlation-id']) ?? randomUUID(), 0);
    headers.push('Connection', 'Upgrade', 'Upgrade', req.headers.upgrade ?? 'websocket');
    try {
      const timeoutMs = this.#server.server.writeTimeoutSeconds * 1000;
      await proxyUpgrade(req, socket, head, { port: instance.port, path: match.rest + (q < 0 ? '' : url.slice(q)), headers, timeoutMs }, done);
    } finally {
      pool.release(instance);
    }
  }

  /**
   * Stops accepting connections, lets requests in flight finish for up to `graceMs`, then
   * closes every connection. Keep-alive clients are told `Connection: close`.
   */
  async close(graceMs: number): Promise<void> {
    this.#closing = true;
    this.liveReload?.close();
    const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
    this.http.closeIdleConnections();
    if (this.#active > 0) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, graceMs);
        this.#drained = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
    this.http.closeAllConnections();
    this.#upstreams.destroy();
    await closed;
  }
}
