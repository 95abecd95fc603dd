/**
 * The main HTTP listener: routes each request to a worker's static files or instances, answers
 * failures with a status and a small page, reports every finished request to the observer, and
 * closes gracefully.
 */
import { existsSync } from 'node:fs';
import { Agent, createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { join } from 'node:path';
import type { Duplex } from 'node:stream';
import { randomUUID } from 'node:crypto';
import type { Mode, ServerConfig } from '../config/index.js';
import { ServeError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ServerObserver } from '../observer.js';
import type { Supervisor, WorkerPool } from '../supervisor/index.js';
import { sendBuildError, sendError } from './error-page.js';
import { forward } from './forward.js';
import { endToEnd, REPLACED_REQUEST_HEADERS, validCorrelationId } from './headers.js';
import { LiveReload, RELOAD_SCRIPT } from './live-reload.js';
import { methodLabel } from './methods.js';
import { Router } from './router.js';
import { serveStatic } from './static.js';
import { proxyUpgrade } from './upgrade.js';
import { UpstreamPool } from './upstream.js';

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
type CountedSocket = Socket & { [kBytesRead]?: number; [kBytesWritten]?: number };

/** Bytes read and written on `socket` since the last call for it (a request's share). */
function socketDelta(socket: CountedSocket | null): [number, number] {
  if (socket === null) return [0, 0];
  const read = socket.bytesRead;
  const written = socket.bytesWritten;
  const delta: [number, number] = [read - (socket[kBytesRead] ?? 0), written - (socket[kBytesWritten] ?? 0)];
  socket[kBytesRead] = read;
  socket[kBytesWritten] = written;
  return delta;
}

/**
 * The headers a request goes to a worker with: the client's end-to-end headers, a Host if an
 * HTTP/1.0 client sent none (the worker is spoken to in HTTP/1.1, which requires one),
 * X-Forwarded-For with the client address appended, X-Forwarded-Proto, X-Forwarded-Host and
 * X-Correlation-ID.
 */
function upstreamHeaders(req: IncomingMessage, port: number, correlationId: string): string[] {
  const headers = endToEnd(req.rawHeaders, REPLACED_REQUEST_HEADERS);
  const host = req.headers.host;
  if (host === undefined) headers.push('Host', `127.0.0.1:${port}`);
  const forwardedFor = req.headers['x-forwarded-for'];
  const ip = req.socket.remoteAddress ?? '';
  headers.push(
    'X-Forwarded-For', forwardedFor === undefined ? ip : `${forwardedFor}, ${ip}`,
    'X-Forwarded-Proto', 'http',
    'X-Forwarded-Host', host ?? '',
    'X-Correlation-ID', correlationId,
  );
  return headers;
}

/** The main listener. */
export class ProxyServer {
  readonly http: Server;
  readonly liveReload: LiveReload | undefined;
  readonly #options: ProxyOptions;
  #server: ServerConfig;
  #router: Router<RouteTarget> = new Router([]);
  readonly #agent = new Agent({ keepAlive: true, scheduling: 'lifo', maxFreeSockets: 1024 });
  readonly #upstreams = new UpstreamPool();
  #active = 0;
  #closing = false;
  #drained: (() => void) | undefined;

  constructor(options: ProxyOptions) {
    this.#options = options;
    this.#server = options.server;
    this.liveReload = options.mode === 'dev' ? new LiveReload() : undefined;
    // Node checks request timeouts every connectionsCheckingInterval (30 s by default), which
    // would make read_timeout_seconds late by up to that much.
    this.http = createServer({ requestTimeout: 0, headersTimeout: 0, keepAliveTimeout: 0, connectionsCheckingInterval: 1000 }, (req, res) => void this.#onRequest(req, res));
    this.configure(options.server);
    this.http.on('connection', () => this.#options.observer.connectionOpened?.());
    this.http.on('upgrade', (req, socket, head) => void this.#onUpgrade(req, socket, head));
    this.http.on('clientError', (err: NodeJS.ErrnoException, socket: Duplex) => {
      if (!socket.writable) return socket.destroy();
      // Node sends 431 itself for oversized headers when it can; anything else unreadable is a 400.
      const status = err.code === 'HPE_HEADER_OVERFLOW' ? 431 : err.code === 'ERR_HTTP_REQUEST_TIMEOUT' ? 408 : 400;
      const text = status === 431 ? 'Request Header Fields Too Large' : status === 408 ? 'Request Timeout' : 'Bad Request';
      socket.end(`HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
    });
    this.updateRoutes();
  }

  /** Requests being served now. */
  get activeRequests(): number {
    return this.#active;
  }

  /** Applies the client timeouts of `server` (also after a reload). */
  configure(server: ServerConfig): void {
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
    await this.#dispatch(req, res, pool, match.rest + (q < 0 ? '' : url.slice(q)), correlationId, baseHeaders);
  }

  async #dispatch(req: IncomingMessage, res: ServerResponse, pool: WorkerPool, path: string, correlationId: string, baseHeaders: Record<string, string>): Promise<void> {
    // Nearly always an instance has room at once; only a request that must wait gets a promise
    // and an AbortController (so that a client who leaves also leaves the queue).
    let instance = pool.tryAcquire();
    if (instance === undefined) {
      const abort = new AbortController();
      const onClose = (): void => abort.abort();
      res.once('close', onClose);
      try {
        instance = await pool.acquire(abort.signal);
      } catch (err) {
        if (err instanceof ServeError) {
          if (err.code === 'ERR_BUILD_FAILED' && this.#options.mode === 'dev' && pool.buildError !== undefined) sendBuildError(req, res, pool.name, pool.buildError, baseHeaders);
          else if (!abort.signal.aborted) sendError(req, res, err.status, this.#message(err), { ...baseHeaders, 'Retry-After': '1' });
          return;
        }
        throw err;
      } finally {
        res.off('close', onClose);
      }
    }
    const requestHeaders = upstreamHeaders(req, instance.port, correlationId);
    const responseHeaders = ['X-Correlation-ID', correlationId];
    if (this.#options.mode === 'dev') for (const [k, v] of Object.entries(this.#devHeaders(pool, instance))) responseHeaders.push(k, v);
    const writeMs = this.#server.server.writeTimeoutSeconds * 1000;
    try {
      const err = await forward(req, res, { port: instance.port, path, agent: this.#agent, headerTimeoutMs: writeMs, requestHeaders, responseHeaders }, this.#upstreams);
      if (err !== undefined) {
        this.#options.log.warn(`${req.method} ${req.url}: worker ${pool.name} instance ${instance}: ${err.message}`);
        sendError(req, res, err.status, this.#message(err), baseHeaders);
      }
    } finally {
      pool.release(instance);
    }
  }

  /** What a client is told: the reason in dev mode, the bare status meaning in prod. */
  #message(err: ServeError): string {
    return this.#options.mode === 'dev' ? err.message : err.status === 504 ? 'The application took too long to answer.' : 'The application is not available right now.';
  }

  async #onUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<void> {
    const url = req.url ?? '/';
    const q = url.indexOf('?');
    const path = q < 0 ? url : url.slice(0, q);
    if (this.liveReload !== undefined && path === '/ws/reload') {
      this.liveReload.accept(req, socket);
      return;
    }
    const match = path.startsWith('/') ? this.#router.match(path) : undefined;
    if (match === undefined || this.#closing) {
      socket.end(`HTTP/1.1 ${match === undefined ? '404 Not Found' : '503 Service Unavailable'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    const { pool } = match.target;
    let instance;
    try {
      instance = await pool.acquire();
    } catch (err) {
      const status = err instanceof ServeError ? err.status : 502;
      socket.end(`HTTP/1.1 ${status} ${status === 504 ? 'Gateway Timeout' : 'Service Unavailable'}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`);
      return;
    }
    const headers = upstreamHeaders(req, instance.port, validCorrelationId(req.headers['x-correlation-id']) ?? randomUUID());
    headers.push('Connection', 'Upgrade', 'Upgrade', req.headers.upgrade ?? 'websocket');
    try {
      await proxyUpgrade(req, socket, head, instance.port, match.rest + (q < 0 ? '' : url.slice(q)), headers);
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
    this.#agent.destroy();
    this.#upstreams.destroy();
    await closed;
  }
}
