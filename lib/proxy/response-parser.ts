/**
 * An incremental HTTP/1.1 response parser for the upstream side (RFC 9112): status line and
 * headers, then the body framed by Content-Length, chunked transfer coding, or the end of the
 * connection; 1xx interim responses are skipped. It is fed bytes as they arrive and calls back
 * with the head (its end-to-end headers only: a proxy drops the hop-by-hop ones, RFC 9110
 * 7.6.1), body pieces and the end. Node's own client (node:http) does the same, at a cost that
 * halved the proxy's throughput (see bench/proxy.mjs).
 */

import { UpstreamResponseError } from '../errors.js';
import { connectionNamed, hopByHop, isFieldValue, isLength, isToken } from './headers.js';

/** No bytes: what follows a response ended by the connection's close. */
const NOTHING = Buffer.alloc(0);

/** Largest response head accepted, like Node's default max header size. */
export const MAX_HEAD_BYTES = 16 * 1024;

/** What the parser reports. */
export interface ResponseHandler {
  /**
   * The final (non-1xx) response head; `rawHeaders` as `[name, value, ...]`, end-to-end ones
   * only: without Connection, Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding,
   * Upgrade, and without the headers Connection names (but Content-Length, which frames the
   * body). `length` is the body's length when its Content-Length frames it, else -1 (chunked,
   * until the connection closes, or no body at all: HEAD, 204, 304).
   */
  head(status: number, reason: string, rawHeaders: string[], length: number): void;
  /** A piece of the body, already de-chunked. */
  body(chunk: Buffer): void;
  /**
   * The response is complete; `reusable` says whether the connection may carry another (not
   * when bytes followed the response in what was read). It comes once the bytes fed so far are
   * all parsed, so the handler may hand the connection to another request at once.
   */
  end(reusable: boolean): void;
}

type State = 'head' | 'length' | 'chunk-size' | 'chunk-data' | 'chunk-crlf' | 'trailers' | 'until-close' | 'done' | 'error';

/** Parses one response; make a new parser per response. */
export class ResponseParser {
  readonly #handler: ResponseHandler;
  readonly #noBody: boolean;
  #state: State = 'head';
  #buffer: Buffer | undefined;
  #remaining = 0;
  #keepAlive = true;
  /** Whether the handler was told of the end. */
  #ended = false;

  /** `noBody`: the request was HEAD, so whatever the head says, there is no body. */
  constructor(handler: ResponseHandler, noBody: boolean) {
    this.#handler = handler;
    this.#noBody = noBody;
  }

  /** Whether the response is complete. */
  get done(): boolean {
    return this.#state === 'done';
  }

  /** Whether a head was parsed (so the response has started). */
  get started(): boolean {
    return this.#state !== 'head' && this.#state !== 'error';
  }

  /**
   * Feeds bytes. Returns any bytes past the end of this response (a well-behaved upstream sends
   * none). Throws UpstreamResponseError on malformed input.
   */
  feed(data: Buffer): Buffer | undefined {
    let input: Buffer = this.#buffer === undefined ? data : Buffer.concat([this.#buffer, data]);
    this.#buffer = undefined;
    while (input.length > 0) {
      switch (this.#state) {
        case 'head': {
          // Searched as text: a string search costs less than a Buffer's, and the head is
          // wanted as text anyway. No more than the longest head allowed is decoded.
          const text = input.toString('latin1', 0, Math.min(input.length, MAX_HEAD_BYTES + 4));
          const end = text.indexOf('\r\n\r\n');
          // The limit holds however the head arrives: in pieces, or whole in one read.
          if (end > MAX_HEAD_BYTES || (end < 0 && input.length > MAX_HEAD_BYTES)) this.#fail(`response head too large (over ${MAX_HEAD_BYTES} bytes)`);
          if (end < 0) {
            this.#buffer = input;
            return undefined;
          }
          const rest = input.subarray(end + 4);
          this.#head(text, end);
          input = rest;
          break;
        }
        case 'length': {
          const n = Math.min(this.#remaining, input.length);
          this.#handler.body(input.subarray(0, n));
          this.#remaining -= n;
          input = input.subarray(n);
          if (this.#remaining === 0) this.#finish();
          break;
        }
        case 'chunk-size': {
          const eol = input.indexOf('\r\n');
          if (eol < 0) {
            if (input.length > 1024) this.#fail('chunk size line too long');
            this.#buffer = input;
            return undefined;
          }
          const line = input.subarray(0, eol).toString('latin1');
          const hex = line.split(';', 1)[0]?.trim() ?? '';
          if (!/^[0-9a-fA-F]{1,12}$/.test(hex)) this.#fail(`invalid chunk size ${JSON.stringify(line)}`);
          this.#remaining = parseInt(hex, 16);
          input = input.subarray(eol + 2);
          this.#state = this.#remaining === 0 ? 'trailers' : 'chunk-data';
          break;
        }
        case 'chunk-data': {
          const n = Math.min(this.#remaining, input.length);
          this.#handler.body(input.subarray(0, n));
          this.#remaining -= n;
          input = input.subarray(n);
          if (this.#remaining === 0) this.#state = 'chunk-crlf';
          break;
        }
        case 'chunk-crlf': {
          if (input.length < 2) {
            this.#buffer = input;
            return undefined;
          }
          if (input[0] !== 13 || input[1] !== 10) this.#fail('missing CRLF after chunk data');
          input = input.subarray(2);
          this.#state = 'chunk-size';
          break;
        }
        case 'trailers': {
          // Trailer fields end with an empty line; they are dropped (hop-by-hop by nature here).
          const eol = input.indexOf('\r\n');
          if (eol < 0) {
            if (input.length > MAX_HEAD_BYTES) this.#fail('trailers too large');
            this.#buffer = input;
            return undefined;
          }
          input = input.subarray(eol + 2);
          if (eol === 0) this.#finish();
          break;
        }
        case 'until-close':
          this.#handler.body(input);
          return undefined;
        case 'done':
          return this.#end(input);
        case 'error':
          return undefined;
      }
    }
    return this.#state === 'done' ? this.#end(input) : undefined;
  }

  /** Tells the handler the response is complete (once), and returns the bytes after it. */
  #end(rest: Buffer): Buffer {
    if (!this.#ended) {
      this.#ended = true;
      this.#handler.end(this.#keepAlive && rest.length === 0);
    }
    return rest;
  }

  /** The connection closed. Completes a close-delimited body; anything else unfinished throws. */
  close(): void {
    if (this.#state === 'until-close') {
      // A body until the connection closes leaves nothing to reuse (#keepAlive is false).
      this.#state = 'done';
      this.#end(NOTHING);
      return;
    }
    if (this.#state !== 'done') this.#fail('the connection closed before the response was complete');
  }

  #fail(why: string): never {
    this.#state = 'error';
    throw new UpstreamResponseError(why);
  }

  /** The response is complete; feed() tells the handler once the bytes read so far are parsed. */
  #finish(): void {
    this.#state = 'done';
  }

  /** Parses the head that is `text` up to `headEnd` (where its final empty line starts). */
  #head(text: string, headEnd: number): void {
    let eol = text.indexOf('\r\n');
    if (eol < 0 || eol > headEnd) eol = headEnd;
    const statusEnd = eol;
    const status = statusOf(text, eol);
    if (status < 0) this.#fail(`invalid status line ${JSON.stringify(text.slice(0, Math.min(eol, 100)))}`);
    if (status < 100) this.#fail(`invalid status ${text.slice(9, 12)}`);
    // The upgrade path has its own client: a 101 here answers a request that did not ask for it.
    if (status === 101) this.#fail('101 Switching Protocols to a request that did not ask to upgrade');
    const http10 = text.charCodeAt(7) === 48;
    const raw: string[] = [];
    let contentLength: number | undefined;
    let chunked = false;
    let transferEncoding = false;
    let connection = '';
    let dropLength = false;
    for (let from = eol + 2; from < headEnd; from = eol + 2) {
      eol = text.indexOf('\r\n', from);
      if (eol < 0 || eol > headEnd) eol = headEnd;
      const colon = text.indexOf(':', from);
      // RFC 9110 5.1 and 5.5: a name is a token; a value never holds CR, LF, NUL or another
      // control character but HTAB (a bare CR or LF would start a header of the worker's
      // choosing on the client's side).
      if (colon >= eol || !isToken(text, from, colon)) this.#fail(`invalid header line ${JSON.stringify(text.slice(from, Math.min(eol, from + 100)))}`);
      let start = colon + 1;
      let end = eol;
      while (start < end && isBlank(text.charCodeAt(start))) start++;
      while (end > start && isBlank(text.charCodeAt(end - 1))) end--;
      if (!isFieldValue(text, start, end)) this.#fail(`invalid header line ${JSON.stringify(text.slice(from, Math.min(eol, from + 100)))}`);
      const name = text.slice(from, colon);
      const value = text.slice(start, end);
      if (colon - from === 14 && name.toLowerCase() === 'content-length') {
        if (!isLength(value) || (contentLength !== undefined && contentLength !== Number(value))) this.#fail(`invalid Content-Length ${JSON.stringify(value)}`);
        contentLength = Number(value);
      } else {
        const hop = hopByHop(name);
        if (hop !== undefined) {
          // Dropped, as every hop-by-hop header is; the framing and the connection's fate are read first.
          if (hop === 'transfer-encoding') {
            transferEncoding = true;
            chunked = value.toLowerCase().split(',').map((t) => t.trim()).at(-1) === 'chunked';
          } else if (hop === 'connection') {
            connection += `${value.toLowerCase()},`;
          }
          continue;
        }
      }
      raw.push(name, value);
    }
    // Headers the worker named in Connection are hop-by-hop too (rare: most name none).
    const named = connectionNamed(connection);
    if (named !== undefined) {
      for (let i = raw.length - 2; i >= 0; i -= 2) if (named.has((raw[i] as string).toLowerCase())) raw.splice(i, 2);
    }
    // 1xx responses are interim: the final response follows on the same connection.
    if (status < 200) return;
    // RFC 9112 6.3: with Transfer-Encoding, a Content-Length is wrong, and kept it would
    // contradict the framing the client gets; it goes. RFC 9110 8.6: a 204 has no body, so no
    // Content-Length either (a worker that sends one with bytes after it is cut off there).
    if (contentLength !== undefined && (transferEncoding || status === 204)) {
      dropLength = true;
      for (let i = raw.length - 2; i >= 0; i -= 2) if ((raw[i] as string).toLowerCase() === 'content-length') raw.splice(i, 2);
    }
    this.#keepAlive = http10 ? connection.includes('keep-alive') : connection === '' || connection === 'keep-alive,' || !connection.split(',').some((t) => t.trim() === 'close');
    const reason = statusEnd > 12 ? text.slice(13, statusEnd) : '';
    const noBody = this.#noBody || status === 204 || status === 304;
    this.#handler.head(status, reason, raw, !noBody && !transferEncoding && !dropLength ? (contentLength ?? -1) : -1);
    if (noBody) {
      this.#finish();
    } else if (transferEncoding) {
      // RFC 9112 6.3: Transfer-Encoding wins over Content-Length; a final coding other than
      // chunked means the body runs to the end of the connection.
      if (chunked) this.#state = 'chunk-size';
      else {
        this.#keepAlive = false;
        this.#state = 'until-close';
      }
    } else if (contentLength !== undefined) {
      this.#remaining = contentLength;
      if (contentLength === 0) this.#finish();
      else this.#state = 'length';
    } else {
      this.#keepAlive = false;
      this.#state = 'until-close';
    }
  }
}

/** Optional whitespace around a field value (RFC 9110 5.6.3): space and horizontal tab. */
function isBlank(c: number): boolean {
  return c === 32 || c === 9;
}

/**
 * The status code of a status line `HTTP/1.0 200 reason` or `HTTP/1.1 200` (the line is
 * `text` up to `eol`), or -1 if it is not one. The reason phrase may hold any character but CR
 * and LF, which cannot be in the line.
 */
function statusOf(text: string, eol: number): number {
  if (eol < 12 || !text.startsWith('HTTP/1.', 0)) return -1;
  const minor = text.charCodeAt(7);
  if ((minor !== 48 && minor !== 49) || text.charCodeAt(8) !== 32) return -1;
  let status = 0;
  for (let i = 9; i < 12; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    status = status * 10 + d;
  }
  if (eol > 12 && text.charCodeAt(12) !== 32) return -1;
  for (let i = 13; i < eol; i++) if (text.charCodeAt(i) === 13 || text.charCodeAt(i) === 10) return -1;
  return status;
}
