/**
 * What a request looks like on its way to a worker: the checks it must pass first, its headers
 * (RFC 9110 7.6: hop-by-hop headers removed, forwarding headers set by tqserver) and the framing
 * of its body (RFC 9112 6).
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { endToEnd, headerCount, REPLACED_REQUEST_HEADERS } from './headers.js';
import type { BodyFraming } from './upstream.js';

/** The address a client reached this listener at, as an authority (`host:port`). */
function listenerAuthority(socket: Socket): string {
  const address = socket.localAddress ?? '127.0.0.1';
  return `${address.includes(':') ? `[${address}]` : address}:${socket.localPort ?? 0}`;
}

/**
 * How the request body goes upstream: chunked if it came chunked, else its Content-Length
 * (Node's parser has already refused a request with both, or with an invalid length), else none.
 */
export function bodyFraming(req: IncomingMessage): BodyFraming {
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
export function upstreamHeaders(req: IncomingMessage, correlationId: string, body: BodyFraming): string[] {
  const forwardedFor = req.headers['x-forwarded-for'];
  return forwardedHeaders(req.rawHeaders, req.headers.host, Array.isArray(forwardedFor) ? forwardedFor.join(', ') : forwardedFor, req.socket, correlationId, body);
}

/**
 * upstreamHeaders from the parts of a request: its raw headers, its Host and X-Forwarded-For
 * (repeated ones joined with ", "), undefined when absent, and the client's socket. The fast
 * lane, which has no IncomingMessage, calls it directly.
 */
export function forwardedHeaders(raw: readonly string[], host: string | undefined, forwardedFor: string | undefined, socket: Socket, correlationId: string, body: BodyFraming): string[] {
  const headers = endToEnd(raw, REPLACED_REQUEST_HEADERS);
  if (host === undefined) {
    host = listenerAuthority(socket);
    headers.push('Host', host);
  }
  const ip = socket.remoteAddress ?? '';
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
export function refusal(req: IncomingMessage): [number, string] | undefined {
  // RFC 9112 3.2: more than one Host is a 400; the two could name different targets to us and to the worker.
  if (headerCount(req.rawHeaders, 'host') > 1) return [400, 'The request has more than one Host header.'];
  const te = req.headers['transfer-encoding'];
  // RFC 9112 6.1: a transfer coding the server does not understand is a 501. Only chunked is
  // relayed, because the coding before it would be lost on the way.
  if (te !== undefined && te.trim().toLowerCase() !== 'chunked') return [501, 'Only the chunked transfer coding is supported.'];
  return undefined;
}

