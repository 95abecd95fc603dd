/**
 * The main HTTP listener: routes each request to a worker's static files or instances, answers
 * failures with a status and a small page, reports every finished request to the observer, and
 * closes gracefully.
 */
import { existsSync } from 'node:fs';
import { createServer, ServerResponse, type IncomingMessage, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import type { Mode, ServerConfig } from '../config/index.js';
import { ServeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ServerObserver } from '../observer.js';
import type { Backend, BackendWorker, Upstream } from './backend.js';
import { sendBuildError, sendError, sendStartError } from './error-page.js';
import { inTurn, socketDelta } from './connection.js';
import { bodyFraming, refusal, upstreamHeaders } from './forwarding.js';
import { validCorrelationId } from './headers.js';
import { LiveReload, RELOAD_SCRIPT } from './live-reload.js';
import { methodLabel } from './methods.js';
import { Router } from './router.js';
import { serveStatic } from './static.js';
import { connectionCap, descriptorsNeeded, openFileLimit } from './fd-limit.js';
import { closingResponse } from './raw-response.js';
import { proxyUpgrade } from './upgrade.js';
import { forward } from './forward.js';
import { UpstreamPool } from './upstream.js';
import { LaneConnection, type LaneContext } from './fast-lane.js';
import { FastCgiPool } from '../fastcgi/connection-pool.js';
import { nodeCrypto } from '../lazy-crypto.js';
import type { PhpDispatchContext } from './php-dispatch.js';

/** The php request path, loaded by the first request to a php worker (docs/performance.md, "Idle memory"). */
let phpDispatch: Promise<typeof import('./php-dispatch.js')> | undefined;

/** The `path` label of a request that no worker's route matches. */
export const UNMATCHED_ROUTE = 'unmatched';

/** Answers one request for the metrics endpoint. */
export type MetricsHandler = (req: IncomingMessage, res: ServerResponse) => void;

/** What the proxy needs. */
export interface ProxyOptions {
  readonly server: ServerConfig;
  readonly mode: Mode;
  /** The workers requests go to. */
  readonly backend: Backend;
  readonly observer: ServerObserver;
  readonly log: Logger;
  /**
   * The handler for requests to metrics.path on this listener, asked per request (a reload may
   * move or turn off the endpoint); undefined when metrics are off, so workers get the path.
   */
  readonly metricsEndpoint?: () => MetricsHandler | undefined;
}

interface RouteTarget {
  readonly worker: BackendWorker;
  /** The worker's public folder, if it has one (HTTP workers). */
  readonly publicDir: string | undefined;
  /** Whether the worker is served over FastCGI (php-dispatch.ts). */
  readonly fastcgi: boolean;
}

/**
 * The main listener. Connections are accepted by `listener`; in prod mode the fast lane
 * (fast-lane.ts) serves their plain requests itself and hands anything else, with the rest of
 * the connection, to `http`, Node's http server, which never listens on its own.
 */
export class ProxyServer {
  readonly listener: NetServer;
  readonly http: Server;
  readonly liveReload: LiveReload | undefined;
  readonly #options: ProxyOptions;
  #server: ServerConfig;
  #router: Router<RouteTarget> = new Router([]);
  readonly #upstreams = new UpstreamPool();
  readonly #fastcgi = new FastCgiPool();
  readonly #php: PhpDispatchContext;
  /** When the last "out of file descriptors" error was logged (they come in bursts). */
  #lastAcceptError = 0;
  #active = 0;
  #open = 0;
  /** Client sockets of upgrade requests (tunnels, once upgraded): Node's closeAllConnections() does not see them. */
  readonly #tunnels = new Set<Duplex>();
  #closing = false;
  #drained: (() => void) | undefined;
  /** Connections the fast lane took, until they close (those handed to `http` since included). */
  readonly #lanes = new Set<LaneConnection>();
  readonly #lane: LaneContext;

  constructor(options: ProxyOptions) {
    this.#options = options;
    this.#server = options.server;
    this.liveReload = options.mode === 'dev' ? new LiveReload() : undefined;
    this.#php = {
      mode: options.mode,
      log: options.log,
      pool: this.#fastcgi,
      headerTimeoutMs: () => this.#server.server.writeTimeoutSeconds * 1000,
      instanceFor: (req, res, worker, baseHeaders) => this.#instanceFor(req, res, worker, baseHeaders),
      message: (err) => this.#message(err),
      devHeaders: (worker, upstream) => this.#devHeaders(worker, upstream),
    };
    // Node checks request timeouts every connectionsCheckingInterval (30 s by default), which
    // would make read_timeout_seconds late by up to that much.
    this.http = createServer({ requestTimeout: 0, headersTimeout: 0, keepAliveTimeout: 0, connectionsCheckingInterval: 1000 }, (req, res) => inTurn(req, res, this.#serve));
    // Node's http server tracks its connections (and enforces read_timeout_seconds on them)
    // from its 'listening' event on; it never listens itself, so it is told here.
    this.http.emit('listening');
    this.#lane = {
      log: options.log,
      pool: this.#upstreams,
      route: (path) => this.#laneRoute(path),
      headerTimeoutMs: () => this.#server.server.writeTimeoutSeconds * 1000,
      readTimeoutMs: () => this.#server.server.readTimeoutSeconds * 1000,
      idleTimeoutMs: () => this.#server.server.idleTimeoutSeconds * 1000,
      closing: () => this.#closing,
      started: () => {
        this.#active++;
      },
      finished: (event) => {
        this.#active--;
        this.#options.observer.requestDone?.(event);
        if (this.#closing && this.#active === 0) this.#drained?.();
      },
      handOver: (socket, unread) => this.#handOver(socket, unread),
      message: (err) => this.#message(err),
    };
    this.listener = createNetServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.#accept(socket));
    this.configure(options.server);
    this.http.on('upgrade', (req, socket, head) => {
      this.#onUpgrade(req, socket, head).catch((err: Error) => {
        this.#options.log.error(`upgrade ${req.url}: ${err.stack ?? err.message}`);
        socket.destroy();
      });
    });
    this.http.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      // A response pending on this connection (one request at a time: it may still wait for its
      // worker) is answered first and closes the connection after it; no error head goes in
      // its place. Bytes after a `Connection: close` request (HPE_CLOSED_CONNECTION) are dropped.
      const current = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
      if (current !== null && current !== undefined && !current.writableFinished) {
        current.shouldKeepAlive = false;
        current.once('finish', () => socket.end());
        return;
      }
      if (!socket.writable) return socket.destroy();
      // Node sends 431 itself for oversized headers when it can; anything else unreadable is a 400.
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
      socket.end(closingResponse(status));
    });
    // An error accepting a connection is tqserver's own trouble (libuv already absorbs EMFILE by
    // closing what it cannot accept); it is reported, and must not end the process.
    this.listener.on('error', (err: NodeJS.ErrnoException) => {
      if (!this.listener.listening) return;
      const now = Date.now();
      if (now - this.#lastAcceptError < 5000) return;
      this.#lastAcceptError = now;
      this.#options.log.error(`cannot accept connections: ${err.code ?? err.message}`);
    });
    this.#updateRoutes();
    options.backend.onChange(() => this.#updateRoutes());
  }

  /** Client connections open now. */
  get openConnections(): number {
    return this.#open;
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
    if (max !== this.listener.maxConnections) {
      this.listener.maxConnections = max;
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

  /** Rebuilds the routing table from the backend's workers (whenever the backend says they changed). */
  #updateRoutes(): void {
    this.#router = new Router(
      this.#options.backend.workers().map((worker) => {
        const dir = join(worker.dir, 'public');
        const fastcgi = worker.protocol === 'fastcgi';
        return { prefix: worker.route, target: { worker, publicDir: !fastcgi && existsSync(dir) ? dir : undefined, fastcgi } };
      }),
    );
  }

  /** Starts listening; resolves with the bound address. */
  listen(port: number, host: string): Promise<AddressInfo> {
    return new Promise((resolve, reject) => {
      this.listener.once('error', reject);
      this.listener.listen(port, host, () => {
        this.listener.off('error', reject);
        resolve(this.listener.address() as AddressInfo);
      });
    });
  }

  /** A new client connection: the fast lane's in prod mode, else Node's at once. */
  #accept(socket: Socket): void {
    this.#open++;
    this.#options.observer.connectionOpened?.();
    if (this.#options.mode !== 'prod') {
      socket.on('close', () => this.#open--);
      this.#handOver(socket, undefined);
      return;
    }
    const lane = new LaneConnection(socket, this.#lane);
    this.#lanes.add(lane);
    socket.on('close', () => {
      this.#open--;
      this.#lanes.delete(lane);
    });
  }

  /** Gives `socket` to Node's http server, with `unread`, the bytes read from it and not yet served. */
  #handOver(socket: Socket, unread: Buffer | undefined): void {
    // Nothing may be emitted before Node listens.
    socket.pause();
    if (unread !== undefined && unread.length > 0) {
      socket.unshift(unread);
      // Node's parser would otherwise read the socket's handle directly (consume), past the
      // bytes put back; marked as consumed already, it reads them, and what follows, from the
      // stream, in order.
      const handle = (socket as Socket & { _handle?: { _consumed?: boolean } | null })._handle;
      if (handle !== null && handle !== undefined) handle._consumed = true;
    }
    this.http.emit('connection', socket);
    socket.resume();
  }

  /** The worker the fast lane may serve `path` from, if it may (see LaneContext.route). */
  #laneRoute(path: string): ReturnType<LaneContext['route']> {
    if (this.#closing) return undefined;
    if (this.#options.metricsEndpoint?.() !== undefined && path === this.#server.metrics.path) return undefined;
    const match = this.#router.match(path);
    if (match === undefined || match.target.fastcgi || match.target.publicDir !== undefined) return undefined;
    return { prefix: match.prefix, rest: match.rest, worker: match.target.worker };
  }

  #devHeaders(worker: BackendWorker, upstream?: Upstream): Record<string, string> {
    if (this.#options.mode !== 'dev') return {};
    const h: Record<string, string> = { 'X-TQServer-Worker-Name': worker.name, 'X-TQServer-Worker-Type': worker.type, 'X-TQServer-Worker-Path': worker.route };
    if (upstream !== undefined) {
      h['X-TQServer-Worker-Port'] = String(upstream.port);
      h['X-TQServer-Worker-ID'] = `${worker.name}#${upstream.slot}`;
    }
    return h;
  }

  /** Serves one request when its turn on the connection comes (connection.ts). */
  readonly #serve = (req: IncomingMessage, res: ServerResponse): void => {
    this.#onRequest(req, res).catch((err: Error) => {
      // Respond or destroy: an unexpected failure still ends the request.
      this.#options.log.error(`${req.method} ${req.url}: ${err.stack ?? err.message}`);
      if (!res.headersSent && !res.destroyed) sendError(req, res, 500, 'tqserver failed to handle this request.');
      else res.destroy();
    });
  };

  async #onRequest(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    const metrics = this.#options.metricsEndpoint?.();
    if (metrics !== undefined && path === this.#server.metrics.path) {
      // The endpoint's own requests are not counted; their bytes are not given to the next request.
      res.once('close', () => socketDelta(req.socket));
      metrics(req, res);
      return;
    }
    const started = performance.now();
    this.#active++;
    // Keep-alive clients are told the connection closes after this response.
    if (this.#closing) res.shouldKeepAlive = false;
    const match = path.startsWith('/') ? this.#router.match(path) : undefined;
    const method = methodLabel(req.method);
    // 'close' comes once: a plain listener spares the wrapper `once` makes.
    res.on('close', () => {
      this.#active--;
      const [bytesIn, bytesOut] = socketDelta(req.socket);
      this.#options.observer.requestDone?.({
        method,
        route: match?.prefix ?? UNMATCHED_ROUTE,
        worker: match?.target.worker.name,
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
    const { worker, publicDir } = match.target;
    const correlationId = validCorrelationId(req.headers['x-correlation-id']) ?? nodeCrypto().randomUUID();
    const baseHeaders: Record<string, string> = this.#options.mode === 'dev' ? { ...this.#devHeaders(worker), 'X-Correlation-ID': correlationId } : { 'X-Correlation-ID': correlationId };
    if (match.target.fastcgi) {
      const { servePhp } = await (phpDispatch ??= import('./php-dispatch.js'));
      await servePhp(this.#php, req, res, worker, match.prefix, match.rest, q < 0 ? '' : url.slice(q), correlationId, baseHeaders);
      return;
    }
    try {
      if (publicDir !== undefined && (await serveStatic(req, res, publicDir, match.rest, baseHeaders))) return;
    } catch {
      // A file that vanished between stat and open: let the worker answer instead.
    }
    if (this.#options.mode === 'dev' && worker.buildError !== undefined) {
      sendBuildError(req, res, worker.name, worker.buildError, baseHeaders);
      return;
    }
    if (this.#options.mode === 'dev' && worker.startFailure !== undefined) {
      sendStartError(req, res, worker.name, worker.startFailure, baseHeaders);
      return;
    }
    await this.#dispatch(req, res, worker, match.rest + (q < 0 ? '' : url.slice(q)), correlationId, baseHeaders);
  }

  /**
   * An instance of `pool` for one request: at once when one has room, else after waiting in the
   * queue. Undefined when the request was answered instead (no instance can come) or its client
   * left while it waited.
   */
  #instanceFor(req: IncomingMessage, res: ServerResponse, worker: BackendWorker, baseHeaders: Record<string, string>): Upstream | Promise<Upstream | undefined> {
    // Nearly always an instance has room at once: no promise then. Only a request that must
    // wait gets one, and an AbortController (so that a client who leaves also leaves the queue).
    return worker.tryAcquire() ?? this.#waitForInstance(req, res, worker, baseHeaders);
  }

  async #waitForInstance(req: IncomingMessage, res: ServerResponse, worker: BackendWorker, baseHeaders: Record<string, string>): Promise<Upstream | undefined> {
    const abort = new AbortController();
    const onClose = (): void => abort.abort();
    res.once('close', onClose);
    try {
      return await worker.acquire(abort.signal);
    } catch (err) {
      if (!(err instanceof ServeError)) throw err;
      if (err.code === 'ERR_BUILD_FAILED' && this.#options.mode === 'dev' && worker.buildError !== undefined) sendBuildError(req, res, worker.name, worker.buildError, baseHeaders);
      else if (err.code === 'ERR_NO_INSTANCE' && this.#options.mode === 'dev' && worker.startFailure !== undefined) sendStartError(req, res, worker.name, worker.startFailure, baseHeaders);
      // Retry-After goes with a 503 (RFC 9110 10.2.3): the queue is full, no instance is up.
      else if (!abort.signal.aborted) sendError(req, res, err.status, this.#message(err), err.status === 503 ? { ...baseHeaders, 'Retry-After': String(err.retryAfterSeconds ?? 1) } : baseHeaders);
      return undefined;
    } finally {
      res.off('close', onClose);
    }
  }

  async #dispatch(req: IncomingMessage, res: ServerResponse, worker: BackendWorker, path: string, correlationId: string, baseHeaders: Record<string, string>): Promise<void> {
    const instance = worker.tryAcquire() ?? (await this.#waitForInstance(req, res, worker, baseHeaders));
    if (instance === undefined) return;
    const body = bodyFraming(req);
    const target = { path, headerTimeoutMs: this.#server.server.writeTimeoutSeconds * 1000, requestHeaders: upstreamHeaders(req, correlationId, body), body };
    await new Promise<void>((resolve, reject) => {
      forward(req, res, worker, instance, target, this.#upstreams, {
        responseHeaders: (upstream) => {
          const headers = ['X-Correlation-ID', correlationId];
          if (this.#options.mode === 'dev') for (const [k, v] of Object.entries(this.#devHeaders(worker, upstream))) headers.push(k, v);
          return headers;
        },
        another: () => worker.tryAcquire() ?? this.#waitForInstance(req, res, worker, baseHeaders),
        fail: (err) => sendError(req, res, err.status, this.#message(err), baseHeaders),
        warn: (message) => this.#options.log.warn(`${req.method} ${req.url}: ${message}`),
        done: resolve,
        crashed: reject,
      });
    });
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
    const metrics = this.#options.metricsEndpoint?.();
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
      const [bytesIn, bytesOut] = socketDelta(socket as Socket);
      this.#options.observer.requestDone?.({
        method: methodLabel(req.method),
        route: match?.prefix ?? UNMATCHED_ROUTE,
        worker: match?.target.worker.name,
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
    // php-fpm answers one request per FastCGI exchange; there is no connection to hand over.
    if (match.target.fastcgi) return refuse(501, 'This worker does not take protocol upgrades.');
    if (this.#closing) return refuse(503, 'The server is shutting down.');
    const refused = refusal(req);
    if (refused !== undefined) return refuse(refused[0], refused[1]);
    // A body announced on an upgrade would be mistaken for the new protocol's first bytes.
    if (bodyFraming(req) !== 0) return refuse(400, 'An upgrade request cannot carry a body.');
    const { worker } = match.target;
    const abort = new AbortController();
    const onClose = (): void => abort.abort();
    socket.once('close', onClose);
    let instance: Upstream;
    try {
      instance = await worker.acquire(abort.signal);
    } catch (err) {
      if (!(err instanceof ServeError)) throw err;
      if (abort.signal.aborted) done(0);
      else refuse(err.status, this.#message(err));
      return;
    } finally {
      socket.off('close', onClose);
    }
    const headers = upstreamHeaders(req, validCorrelationId(req.headers['x-correlation-id']) ?? nodeCrypto().randomUUID(), 0);
    headers.push('Connection', 'Upgrade', 'Upgrade', req.headers.upgrade ?? 'websocket');
    try {
      const timeoutMs = this.#server.server.writeTimeoutSeconds * 1000;
      if (!socket.destroyed) {
        this.#tunnels.add(socket);
        socket.once('close', () => this.#tunnels.delete(socket));
      }
      await proxyUpgrade(req, socket, head, { port: instance.port, path: match.rest + (q < 0 ? '' : url.slice(q)), headers, timeoutMs }, done);
    } finally {
      worker.release(instance);
    }
  }

  /**
   * Stops accepting connections, lets requests in flight finish for up to `graceMs`, then
   * closes every connection. Keep-alive clients are told `Connection: close`.
   */
  async close(graceMs: number): Promise<void> {
    this.#closing = true;
    this.liveReload?.close();
    const closed = new Promise<void>((resolve) => this.listener.close(() => resolve()));
    // Node's server never listened: this only stops its connection checks.
    this.http.close();
    this.http.closeIdleConnections();
    for (const lane of this.#lanes) lane.closeIfIdle();
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
    for (const lane of this.#lanes) lane.socket.destroy();
    // Tunnels (WebSockets) would otherwise keep the listener, and so the shutdown, open forever.
    for (const socket of this.#tunnels) socket.destroy();
    this.#upstreams.destroy();
    this.#fastcgi.destroy();
    await closed;
  }
}
