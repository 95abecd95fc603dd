/**
 * What the fast lane (fast-lane.ts) takes as a plain request: a GET or HEAD in HTTP/1.1 with one
 * Host, no body and nothing announcing one, no Upgrade or Expect, and every byte of its head in
 * the strict form (token names, values without control characters, an origin-form target of
 * visible ASCII). Anything else is left to Node's http server, whose parser has the last word on
 * whatever is not plain.
 */
import { isFieldValue, isToken } from './headers.js';
import type { ClientRequest } from './upstream.js';

/** More header lines than this, and the request is Node's. */
const MAX_HEADERS = 100;

/** A plain request, as the lane parsed it. */
export interface PlainRequest extends ClientRequest {
  readonly method: 'GET' | 'HEAD';
  /** The request target (origin form: path and query). */
  readonly target: string;
  /** Its headers, raw (`[name, value, ...]`). */
  readonly headers: readonly string[];
  readonly host: string;
  /** X-Forwarded-For, joined as Node joins repeated headers; undefined if absent. */
  readonly forwardedFor: string | undefined;
  readonly correlationId: string | undefined;
  readonly accept: string | undefined;
  /** Whether the client asked to close the connection after this response. */
  readonly close: boolean;
}

/** A request has no body to read in the lane: these are never called. */
const noBody = (): never => {
  throw new Error('a fast-lane request has no body');
};

/** Joins a repeated header's values as Node does for most headers. */
const join = (previous: string | undefined, value: string): string => (previous === undefined ? value : `${previous}, ${value}`);

/**
 * `head` (a request head without its final empty line, as latin1 text) as a plain request, or
 * undefined if it is anything but plain (see the module comment).
 */
export function parsePlain(head: string): PlainRequest | undefined {
  let eol = head.indexOf('\r\n');
  if (eol < 0) eol = head.length;
  const method = head.startsWith('GET ') ? 'GET' : head.startsWith('HEAD ') ? 'HEAD' : undefined;
  if (method === undefined || eol < method.length + 11 || !head.startsWith(' HTTP/1.1', eol - 9)) return undefined;
  const targetStart = method.length + 1;
  const targetEnd = eol - 9;
  if (head.charCodeAt(targetStart) !== 47 /* / */) return undefined;
  for (let i = targetStart; i < targetEnd; i++) {
    const c = head.charCodeAt(i);
    if (c < 0x21 || c > 0x7e) return undefined;
  }
  const headers: string[] = [];
  let host: string | undefined;
  let hosts = 0;
  let forwardedFor: string | undefined;
  let correlationId: string | undefined;
  let accept: string | undefined;
  let close = false;
  for (let from = eol + 2; from < head.length; from = eol + 2) {
    eol = head.indexOf('\r\n', from);
    if (eol < 0) eol = head.length;
    const colon = head.indexOf(':', from);
    if (colon >= eol || headers.length >= MAX_HEADERS * 2 || !isToken(head, from, colon)) return undefined;
    let start = colon + 1;
    let end = eol;
    while (start < end && (head.charCodeAt(start) === 32 || head.charCodeAt(start) === 9)) start++;
    while (end > start && (head.charCodeAt(end - 1) === 32 || head.charCodeAt(end - 1) === 9)) end--;
    if (!isFieldValue(head, start, end)) return undefined;
    const name = head.slice(from, colon);
    const value = head.slice(start, end);
    headers.push(name, value);
    switch (colon - from) {
      case 4:
        if (name.toLowerCase() === 'host') {
          hosts++;
          host = value;
        }
        break;
      case 6: {
        const lower = name.toLowerCase();
        if (lower === 'expect') return undefined;
        if (lower === 'accept') accept = join(accept, value);
        break;
      }
      case 7:
        if (name.toLowerCase() === 'upgrade') return undefined;
        break;
      case 10:
        if (name.toLowerCase() === 'connection') {
          for (const token of value.toLowerCase().split(',')) {
            const t = token.trim();
            if (t === 'close') close = true;
            else if (t === 'upgrade') return undefined;
          }
        }
        break;
      case 14:
        if (name.toLowerCase() === 'content-length') return undefined;
        break;
      case 15:
        if (name.toLowerCase() === 'x-forwarded-for') forwardedFor = join(forwardedFor, value);
        break;
      case 16: {
        const lower = name.toLowerCase();
        if (lower === 'x-correlation-id') correlationId = join(correlationId, value);
        // Node's parser reads Proxy-Connection as it reads Connection; the lane leaves it to Node.
        else if (lower === 'proxy-connection') return undefined;
        break;
      }
      case 17:
        if (name.toLowerCase() === 'transfer-encoding') return undefined;
        break;
    }
  }
  if (hosts !== 1 || host === undefined) return undefined;
  return {
    method, target: head.slice(targetStart, targetEnd), headers, host, forwardedFor, correlationId, accept, close,
    on: noBody, once: noBody, pause: noBody, resume: noBody,
  };
}
