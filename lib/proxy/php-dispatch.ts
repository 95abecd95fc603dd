/**
 * Serving one request of a php worker (BackendWorker.protocol `fastcgi`): what the path leads to
 * inside the document root (php-route.ts), static files as for public/ folders, and scripts
 * through php-fpm with tqserver's own FastCGI client, with the queue, retries and failures of the
 * HTTP path (respond-or-destroy).
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Mode } from '../config/index.js';
import type { ServeError } from '../errors.js';
import { cgiParams, hostName, isWireParam } from '../fastcgi/cgi-params.js';
import type { FastCgiPool } from '../fastcgi/connection-pool.js';
import { fastcgiExchange } from '../fastcgi/exchange.js';
import { encodeNameValuePairs } from '../fastcgi/name-value.js';
import type { Logger } from '../log.js';
import { VERSION } from '../version.js';
import type { BackendWorker, Upstream } from './backend.js';
import { sendBuildError, sendError, sendStartError } from './error-page.js';
import { bodyFraming, upstreamHeaders } from './forwarding.js';
import { resolvePhpTarget } from './php-route.js';
import { serveStatic } from './static.js';

/**
 * Largest request body without a Content-Length (sent chunked) that is read whole before
 * running a script: CGI gives a script its body's length up front (CONTENT_LENGTH, RFC 3875
 * 4.1.2), and PHP reads no more than that. 8 MiB is PHP's default post_max_size; a bigger body
 * needs a Content-Length, which any client that knows its size sends.
 */
export const MAX_UNSIZED_BODY_BYTES = 8 * 1024 * 1024;

/** What serving a php request needs from the listener. */
export interface PhpDispatchContext {
  readonly mode: Mode;
  readonly log: Logger;
  readonly pool: FastCgiPool;
  /** server.write_timeout_seconds in ms (read per request: a reload may change it). */
  headerTimeoutMs(): number;
  /** An instance, or undefined when the request was answered instead (see ProxyServer). */
  instanceFor(req: IncomingMessage, res: ServerResponse, worker: BackendWorker, baseHeaders: Record<string, string>): Upstream | Promise<Upstream | undefined>;
  /** What a client is told of a failure. */
  message(err: ServeError): string;
  /** Dev-mode headers naming the worker and instance. */
  devHeaders(worker: BackendWorker, upstream?: Upstream): Record<string, string>;
}

/** Reads a whole body of unknown length, up to `limit` bytes; undefined if it is longer or the client left. */
function readWhole(req: IncomingMessage, limit: number): Promise<Buffer | undefined> {
  return new Promise((resolve) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer): void => {
      size += chunk.length;
      if (size > limit) {
        req.off('data', onData);
        req.pause();
        resolve(undefined);
        return;
      }
      chunks.push(chunk);
    };
    req.on('data', onData);
    req.once('end', () => resolve(Buffer.concat(chunks)));
    req.once('close', () => resolve(undefined));
  });
}

/** A STDERR record's text as log lines: what a script wrote, ending in a line break. */
function asLogLines(chunk: Buffer): Buffer {
  return chunk[chunk.length - 1] === 10 ? chunk : Buffer.concat([chunk, Buffer.from('\n')]);
}

/**
 * Serves `req` (its path below the route `rest`, its query `query` with the `?`, or '') from
 * php worker `worker` at route `route`.
 */
export async function servePhp(ctx: PhpDispatchContext, req: IncomingMessage, res: ServerResponse, worker: BackendWorker, route: string, rest: string, query: string, correlationId: string, baseHeaders: Record<string, string>): Promise<void> {
  const documentRoot = worker.documentRoot as string;
  const target = await resolvePhpTarget(documentRoot, rest);
  if (target.kind === 'static') {
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      sendError(req, res, 405, 'A static file answers GET and HEAD only.', { ...baseHeaders, Allow: 'GET, HEAD' });
      return;
    }
    try {
      if (await serveStatic(req, res, documentRoot, rest, baseHeaders)) return;
    } catch {
      // A file that vanished between stat and open: not found, below.
    }
  }
  if (target.kind !== 'script') {
    sendError(req, res, 404, 'Not found.', baseHeaders);
    return;
  }
  if (ctx.mode === 'dev' && worker.buildError !== undefined) {
    sendBuildError(req, res, worker.name, worker.buildError, baseHeaders);
    return;
  }
  if (ctx.mode === 'dev' && worker.startFailure !== undefined) {
    sendStartError(req, res, worker.name, worker.startFailure, baseHeaders);
    return;
  }

  const hasBody = req.headers['content-length'] !== undefined || req.headers['transfer-encoding'] !== undefined;
  let framing = bodyFraming(req);
  let body: number | Buffer = framing === 'chunked' ? 0 : framing;
  if (framing === 'chunked') {
    const whole = await readWhole(req, MAX_UNSIZED_BODY_BYTES);
    if (whole === undefined) {
      // The rest of the body is unread: the connection cannot carry another request.
      res.setHeader('Connection', 'close');
      sendError(req, res, 413, `A request body without a Content-Length may be at most ${MAX_UNSIZED_BODY_BYTES} bytes; send its Content-Length.`, baseHeaders);
      return;
    }
    body = whole;
    framing = whole.length;
  }
  const socket = req.socket;
  const host = req.headers.host;
  const params = encodeNameValuePairs(
    cgiParams({
      method: req.method ?? 'GET',
      requestUri: req.url ?? '/',
      queryString: query.startsWith('?') ? query.slice(1) : query,
      scriptName: route === '/' ? target.scriptPath : route + target.scriptPath,
      scriptFilename: target.filename,
      pathInfo: target.pathInfo,
      documentRoot,
      contentLength: hasBody ? (typeof body === 'number' ? body : body.length) : undefined,
      httpVersion: req.httpVersion,
      serverSoftware: `tqserver/${VERSION}`,
      serverName: host === undefined ? (socket.localAddress ?? '') : hostName(host),
      serverAddr: socket.localAddress ?? '',
      serverPort: socket.localPort ?? 0,
      remoteAddr: socket.remoteAddress ?? '',
      remotePort: socket.remotePort ?? 0,
      headers: upstreamHeaders(req, correlationId, framing),
    }),
    isWireParam,
  );

  let instance = await ctx.instanceFor(req, res, worker, baseHeaders);
  if (instance === undefined) return;
  const headerTimeoutMs = ctx.headerTimeoutMs();
  const keepConnections = worker.keepConnections ?? 0;
  for (let attempt = 1; ; attempt++) {
    const current: Upstream = instance;
    const responseHeaders = ['X-Correlation-ID', correlationId];
    if (ctx.mode === 'dev') for (const [k, v] of Object.entries(ctx.devHeaders(worker, current))) responseHeaders.push(k, v);
    let err: ServeError | undefined;
    try {
      err = await fastcgiExchange(req, res, { port: current.port, params, body, headerTimeoutMs, responseHeaders, keepConnections, stderr: (chunk) => current.appendStderr?.(asLogLines(chunk)) }, ctx.pool);
    } finally {
      worker.release(current, err?.code === 'ERR_UPSTREAM_UNREACHABLE');
    }
    if (err === undefined) return;
    ctx.log.warn(`${req.method} ${req.url}: worker ${worker.name} instance ${current}: ${err.message}`);
    // Refused before any byte reached php-fpm and before any of the body was read: safe to send
    // again, whatever the method, to another instance.
    if (err.code === 'ERR_UPSTREAM_UNREACHABLE' && attempt === 1 && !res.destroyed) {
      instance = await ctx.instanceFor(req, res, worker, baseHeaders);
      if (instance === undefined) return;
      continue;
    }
    if (!res.headersSent && !res.destroyed) sendError(req, res, err.status, ctx.message(err), baseHeaders);
    return;
  }
}
