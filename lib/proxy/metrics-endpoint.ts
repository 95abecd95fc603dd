/**
 * The metrics endpoint: authentication, content negotiation (text 0.0.4 or OpenMetrics 1.0 from
 * Accept), gzip from Accept-Encoding (compressed off the event loop), HEAD; and where it is
 * served (the main listener, its own listener, or nowhere), changed at once by a reload.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { ListenAddress, MetricsAuth } from '../config/index.js';
import { acceptsGzip, contentType, negotiateFormat, type ExpositionFormat } from '../exposition/negotiate.js';
import { renderPieces } from '../exposition/render-pieces.js';
import type { Registry } from '../exposition/registry.js';
import { nodeCrypto } from '../lazy-crypto.js';
import type { Logger } from '../log.js';
import type { MetricsHandler } from './server.js';

/** node:zlib, loaded by the first scrape that asks for gzip (docs/performance.md, "Idle memory"). */
let zlib: Promise<typeof import('node:zlib')> | undefined;

/** What the endpoint needs; `auth` is read per request, so a reload applies at once. */
export interface MetricsEndpointOptions {
  readonly registry: Registry;
  readonly auth: () => MetricsAuth | undefined;
  readonly log: Logger;
  /**
   * Told about each answered scrape: the format served and how long it kept the event loop busy
   * collecting, rendering and encoding (the slices added up, not the waits between them).
   */
  readonly scraped?: (format: ExpositionFormat, seconds: number) => void;
  /** How long a slice of rendering runs before the event loop gets a turn, in ms (default SLICE_MS). */
  readonly sliceMs?: number;
}

/**
 * How long a scrape renders before it lets the event loop serve other work, in ms. A slice ends
 * after the piece that crosses it (about 1,000 lines, well under a millisecond), so this bounds
 * what a scrape adds to a proxied request's latency.
 */
export const SLICE_MS = 2;

/**
 * The format for a request: `?format=text` or `?format=openmetrics` overrides `Accept` (a
 * Prometheus job can set it with `params`; Prometheus 2.x always prefers OpenMetrics).
 */
export function requestedFormat(url: string | undefined, accept: string | undefined): ExpositionFormat {
  const q = url?.indexOf('?') ?? -1;
  if (q >= 0) {
    const format = new URLSearchParams((url as string).slice(q + 1)).get('format');
    if (format === 'text' || format === 'openmetrics') return format;
  }
  return negotiateFormat(accept);
}

/**
 * Compares two secrets in constant time: both are hashed first, so neither their contents nor
 * their lengths show in the timing.
 */
export function sameSecret(given: string, expected: string): boolean {
  const { createHash, timingSafeEqual } = nodeCrypto();
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(expected).digest();
  return timingSafeEqual(a, b);
}

/** Whether `authorization` (the header) satisfies `auth`. */
export function authorized(auth: MetricsAuth, authorization: string | undefined): boolean {
  if (authorization === undefined) return false;
  if (auth.kind === 'bearer') {
    const m = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(authorization);
    return sameSecret(m?.[1] ?? '', auth.token) && m !== null;
  }
  const m = /^Basic[ \t]+([A-Za-z0-9+/=]+)[ \t]*$/i.exec(authorization);
  const decoded = m === null ? '' : Buffer.from(m[1] as string, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  const user = colon < 0 ? '' : decoded.slice(0, colon);
  const password = colon < 0 ? '' : decoded.slice(colon + 1);
  // Both compared, always, so a right user name with a wrong password takes as long as neither.
  const userOk = sameSecret(user, auth.username);
  const passwordOk = sameSecret(password, auth.password);
  return userOk && passwordOk && colon >= 0;
}

/** The request handler of the endpoint. */
export function createMetricsHandler(options: MetricsEndpointOptions): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' }).end('Method Not Allowed\n');
      return;
    }
    const auth = options.auth();
    if (auth !== undefined && !authorized(auth, req.headers.authorization)) {
      const challenge = auth.kind === 'bearer' ? 'Bearer realm="tqserver metrics"' : 'Basic realm="tqserver metrics", charset="UTF-8"';
      res.writeHead(401, { 'WWW-Authenticate': challenge, 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' }).end('Unauthorized\n');
      return;
    }
    const format = requestedFormat(req.url, req.headers.accept);
    const sliceNs = BigInt(Math.round((options.sliceMs ?? SLICE_MS) * 1e6));
    const failed = (err: Error): void => {
      options.log.error(`metrics: collecting failed: ${err.message}`);
      res.writeHead(500, { 'Content-Type': 'text/plain; charset=utf-8' }).end(`An error has occurred while collecting metrics:\n\n${err.message}\n`);
    };
    // Collected at once (the snapshot is the moment of the scrape), then rendered and encoded in
    // slices: a slice ends once it has run sliceMs, and the event loop serves whatever waits
    // before the next one. A registry of a few thousand series takes one slice.
    let busyNs = 0n;
    let started = process.hrtime.bigint();
    let pieces: Generator<string, void, undefined>;
    try {
      pieces = renderPieces(options.registry.collect(), format);
    } catch (err) {
      failed(err as Error);
      return;
    }
    const chunks: Buffer[] = [];
    const slice = (): void => {
      // A client that left gets nothing more rendered for it.
      if (res.destroyed) return;
      let done = false;
      try {
        for (;;) {
          const next = pieces.next();
          if (next.done === true) {
            done = true;
            break;
          }
          chunks.push(Buffer.from(next.value, 'utf8'));
          if (process.hrtime.bigint() - started >= sliceNs) break;
        }
      } catch (err) {
        failed(err as Error);
        return;
      }
      busyNs += process.hrtime.bigint() - started;
      if (!done) {
        setImmediate(() => {
          started = process.hrtime.bigint();
          slice();
        });
        return;
      }
      options.scraped?.(format, Number(busyNs) / 1e9);
      respond(req, res, format, chunks.length === 1 ? (chunks[0] as Buffer) : Buffer.concat(chunks));
    };
    slice();
  };
}

/** Sends a rendered scrape: gzip when the client accepts it (compressed off the event loop). */
function respond(req: IncomingMessage, res: ServerResponse, format: ExpositionFormat, body: Buffer): void {
  const headers: Record<string, string | number> = {
    'Content-Type': contentType(format),
    'Cache-Control': 'no-store',
    Vary: 'Accept, Accept-Encoding',
  };
  const send = (payload: Buffer): void => {
    headers['Content-Length'] = payload.length;
    res.writeHead(200, headers);
    res.end(req.method === 'HEAD' ? undefined : payload);
  };
  if (!acceptsGzip(req.headers['accept-encoding'])) {
    send(body);
    return;
  }
  void (zlib ??= import('node:zlib')).then(({ gzip }) =>
    gzip(body, (err, compressed) => {
      if (err !== null) {
        send(body);
        return;
      }
      headers['Content-Encoding'] = 'gzip';
      send(compressed);
    }),
  );
}

/** The endpoint settings a reload applies at once: the metrics block without its buckets. */
export interface EndpointSettings {
  readonly enabled: boolean;
  readonly path: string;
  readonly listen: ListenAddress | undefined;
  readonly auth: MetricsAuth | undefined;
}

/** What a MetricsEndpoint needs. */
export interface MetricsEndpointSetup {
  readonly registry: Registry;
  readonly log: Logger;
  readonly scraped?: (format: ExpositionFormat, seconds: number) => void;
  readonly settings: EndpointSettings;
}

interface AdminListener {
  readonly server: Server;
  readonly listen: ListenAddress;
  readonly address: AddressInfo;
}

const notFound: MetricsHandler = (_req, res) => {
  res.writeHead(404, { 'Content-Type': 'text/plain; charset=utf-8' }).end('Not Found\n');
};

/**
 * The endpoint and where it is served. With `metrics.listen` it has a listener of its own and
 * the main listener answers 404 for `metrics.path` (reserved, never proxied); without, the main
 * listener serves it; with `enabled: false` the path belongs to the workers. Settings are read
 * per request, so `apply()` takes effect at once.
 */
export class MetricsEndpoint {
  readonly #serve: MetricsHandler;
  readonly #log: Logger;
  #settings: EndpointSettings;
  #admin: AdminListener | undefined;
  /** Set by close(): a reload still binding must not leave a listener behind. */
  #closed = false;

  constructor(options: MetricsEndpointSetup) {
    this.#log = options.log;
    this.#settings = options.settings;
    this.#serve = createMetricsHandler({ registry: options.registry, log: options.log, scraped: options.scraped, auth: () => this.#settings.auth });
  }

  /** The settings in effect. */
  get settings(): EndpointSettings {
    return this.#settings;
  }

  /** The bound address of the endpoint's own listener, if it has one. */
  get address(): AddressInfo | undefined {
    return this.#admin?.address;
  }

  /**
   * What the main listener does with a request for `metrics.path`: serve it, answer 404 (served
   * on `metrics.listen`), or nothing (undefined: metrics are off, the workers get the path).
   */
  get mainHandler(): MetricsHandler | undefined {
    if (!this.#settings.enabled) return undefined;
    return this.#settings.listen === undefined ? this.#serve : notFound;
  }

  /**
   * How a process on this machine reaches the endpoint: its URL on a loopback address (the main
   * listener's `main` when it has no listener of its own) and the Authorization header it asks
   * for. Undefined while metrics are off.
   */
  access(main: AddressInfo | undefined): { url: string; authorization: string | undefined } | undefined {
    const { enabled, path, auth } = this.#settings;
    const at = this.#settings.listen === undefined ? main : this.address;
    if (!enabled || at === undefined) return undefined;
    const host = at.address === '0.0.0.0' ? '127.0.0.1' : at.address === '::' ? '::1' : at.address;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${at.port}${path}`;
    if (auth === undefined) return { url, authorization: undefined };
    const authorization = auth.kind === 'bearer' ? `Bearer ${auth.token}` : `Basic ${Buffer.from(`${auth.username}:${auth.password}`).toString('base64')}`;
    return { url, authorization };
  }

  /** Binds `metrics.listen` if the settings ask for it; rejects with the error of `listen()`. */
  start(): Promise<void> {
    return this.apply(this.#settings);
  }

  /**
   * Takes new settings. A different `metrics.listen` is bound before the old listener closes;
   * if it cannot be bound this rejects with the error of `listen()`, and nothing has changed.
   */
  async apply(next: EndpointSettings): Promise<void> {
    if (this.#closed) return;
    const wanted = next.enabled ? next.listen : undefined;
    const old = this.#admin;
    if (wanted?.host === old?.listen.host && wanted?.port === old?.listen.port) {
      this.#settings = next;
      return;
    }
    const opened = wanted === undefined ? undefined : await this.#open(wanted);
    if (this.#closed) {
      opened?.server.close();
      return;
    }
    this.#admin = opened;
    this.#settings = next;
    // A scrape in progress on the old listener finishes; idle connections are closed now.
    old?.server.close();
    old?.server.closeIdleConnections();
  }

  /** Closes the endpoint's own listener, if any, and all its connections; resolves once closed. */
  close(): Promise<void> {
    this.#closed = true;
    const old = this.#admin;
    this.#admin = undefined;
    if (old === undefined) return Promise.resolve();
    const closed = new Promise<void>((resolve) => old.server.close(() => resolve()));
    old.server.closeAllConnections();
    return closed;
  }

  #open(listen: ListenAddress): Promise<AdminListener> {
    const server = createServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (path === this.#settings.path) this.#serve(req, res);
      else notFound(req, res);
    });
    return new Promise((resolve, reject) => {
      server.once('error', reject);
      server.listen(listen.port, listen.host, () => {
        server.off('error', reject);
        // Once bound, an accept error is logged, never an uncaught exception that ends the server.
        server.on('error', (err: NodeJS.ErrnoException) => this.#log.error(`metrics listener ${listen.host}:${listen.port}: ${err.code ?? err.message}`));
        resolve({ server, listen, address: server.address() as AddressInfo });
      });
    });
  }
}
