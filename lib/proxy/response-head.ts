/**
 * The response head for a proxied response framed by Content-Length, written by tqserver in the
 * form Node's ServerResponse would write it (lib/_http_outgoing.js, `_storeHeader`): the
 * worker's end-to-end headers as they came, tqserver's own after them, a Date if the worker sent
 * none, then the Connection header of this client connection. Handing it to the response whole
 * (`deliver`) spares the per-header checks and bookkeeping of `writeHead`, which the response
 * parser has already done, and lets a small body go out in the same single write.
 */
import type { ServerResponse } from 'node:http';
import { headerCount, isFieldValue, isToken } from './headers.js';

/**
 * The ServerResponse fields `writeHead` sets and this module sets instead. They are Node's
 * own (lib/_http_outgoing.js) and have kept their meaning since Node's first releases:
 * `_header` is the head to write before the first body byte, `_headerSent` whether it went,
 * `_last` that the connection closes after this response.
 */
export type WritableHead = ServerResponse & { _header: string | null; _headerSent: boolean; _last: boolean; _keepAliveTimeout?: number };

/** Bodies up to this size go out in one write with the head, as one string. */
export const SINGLE_WRITE_MAX = 16 * 1024;

let dateSecond = -1;
let dateText = '';

/** The Date header value for now (RFC 9110 5.6.7), computed once a second. */
export function httpDate(): string {
  const second = Math.floor(Date.now() / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(second * 1000).toUTCString();
  }
  return dateText;
}

/**
 * The head of a response to `res` framed by the Content-Length among `headers`, or undefined
 * when `writeHead` must write it instead: the response already has headers of its own set, its
 * client sent `Expect` (Node then decides keep-alive itself), or `reason` or one of `extra`
 * cannot be written as it is (writeHead then refuses it, as before). `headers` come from the
 * response parser, which has checked every name and value.
 */
export function contentLengthHead(res: ServerResponse, status: number, reason: string, headers: readonly string[], extra: readonly string[]): string | undefined {
  if (res.req.headers.expect !== undefined || res.getHeaderNames().length > 0 || !isFieldValue(reason)) return undefined;
  for (let i = 0; i < extra.length; i += 2) if (!isToken(extra[i] as string) || !isFieldValue(extra[i + 1] as string)) return undefined;
  // The server's keep-alive timeout, copied onto each response by Node, announced as Node does.
  return headText(status, reason, headers, extra, res.shouldKeepAlive, (res as WritableHead)._keepAliveTimeout ?? 0, false);
}

/**
 * A response head as Node's writeHead writes it (lib/_http_outgoing.js, `_storeHeader`): the
 * status line; `headers`, then `extra`, as they are; a Date if none of them is one; the
 * Connection header, with `Keep-Alive: timeout` when kept alive and `keepAliveMs` > 0; and
 * `Transfer-Encoding: chunked` when `chunked`. Every name, value and the reason must be checked
 * already.
 */
export function headText(status: number, reason: string, headers: readonly string[], extra: readonly string[], keepAlive: boolean, keepAliveMs: number, chunked: boolean): string {
  let head = `HTTP/1.1 ${status} ${reason}\r\n` + fieldLines(headers) + fieldLines(extra);
  if (headerCount(headers, 'date') === 0 && headerCount(extra, 'date') === 0) head += 'Date: ' + httpDate() + '\r\n';
  if (!keepAlive) head += 'Connection: close\r\n';
  else if (keepAliveMs > 0) head += `Connection: keep-alive\r\nKeep-Alive: timeout=${Math.floor(keepAliveMs / 1000)}\r\n`;
  else head += 'Connection: keep-alive\r\n';
  if (chunked) head += 'Transfer-Encoding: chunked\r\n';
  return head + '\r\n';
}

/** `raw` (`[name, value, ...]`) as header lines. */
function fieldLines(raw: readonly string[]): string {
  let lines = '';
  for (let i = 0; i < raw.length; i += 2) lines += (raw[i] as string) + ': ' + (raw[i + 1] as string) + '\r\n';
  return lines;
}

/**
 * Makes `head` (from contentLengthHead) the head of `res`, as writeHead would have: nothing is
 * written until the first body byte or the end, and then in the same write.
 */
export function setHead(res: ServerResponse, status: number, reason: string, head: string): void {
  const out = res as WritableHead;
  out.statusCode = status;
  out.statusMessage = reason;
  out._header = head;
  out._headerSent = false;
  out._last = !res.shouldKeepAlive;
}

/** Appends a whole small body to the head set by setHead, so that `res.end()` writes both at once. */
export function appendBody(res: ServerResponse, body: Buffer): void {
  const out = res as WritableHead;
  out._header += body.toString('latin1');
}
