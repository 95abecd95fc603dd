/**
 * An incremental HTTP/1.1 response parser for the upstream side (RFC 9112): status line and
 * headers, then the body framed by Content-Length, chunked transfer coding, or the end of the
 * connection; 1xx interim responses are skipped. It is fed bytes as they arrive and calls back
 * with the head, body pieces and the end. Node's own client (node:http) does the same, at a
 * cost that halved the proxy's throughput (see bench/proxy.mjs).
 */

import { UpstreamResponseError } from '../errors.js';

/** Largest response head accepted, like Node's default max header size. */
export const MAX_HEAD_BYTES = 16 * 1024;

/** RFC 9110 5.6.2: the characters of a token, such as a header name. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** What the parser reports. */
export interface ResponseHandler {
  /** The final (non-1xx) response head; `rawHeaders` as `[name, value, ...]`. */
  head(status: number, reason: string, rawHeaders: string[]): void;
  /** A piece of the body, already de-chunked. */
  body(chunk: Buffer): void;
  /** The response is complete; `reusable` says whether the connection may carry another. */
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
          const end = input.indexOf('\r\n\r\n');
          // The limit holds however the head arrives: in pieces, or whole in one read.
          if (end > MAX_HEAD_BYTES || (end < 0 && input.length > MAX_HEAD_BYTES)) this.#fail(`response head too large (over ${MAX_HEAD_BYTES} bytes)`);
          if (end < 0) {
            this.#buffer = input;
            return undefined;
          }
          const rest = input.subarray(end + 4);
          this.#head(input.subarray(0, end).toString('latin1'));
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
          return input;
        case 'error':
          return undefined;
      }
    }
    return undefined;
  }

  /** The connection closed. Completes a close-delimited body; anything else unfinished throws. */
  close(): void {
    if (this.#state === 'until-close') {
      this.#state = 'done';
      this.#handler.end(false);
      return;
    }
    if (this.#state !== 'done') this.#fail('the connection closed before the response was complete');
  }

  #fail(why: string): never {
    this.#state = 'error';
    throw new UpstreamResponseError(why);
  }

  #finish(): void {
    this.#state = 'done';
    this.#handler.end(this.#keepAlive);
  }

  #head(text: string): void {
    const lines = text.split('\r\n');
    const m = /^HTTP\/1\.([01]) (\d{3})(?: (.*))?$/.exec(lines[0] ?? '');
    if (m === null) this.#fail(`invalid status line ${JSON.stringify(lines[0]?.slice(0, 100))}`);
    const status = Number(m[2]);
    if (status < 100) this.#fail(`invalid status ${m[2]}`);
    // The upgrade path has its own client: a 101 here answers a request that did not ask for it.
    if (status === 101) this.#fail('101 Switching Protocols to a request that did not ask to upgrade');
    const http10 = m[1] === '0';
    const raw: string[] = [];
    let contentLength: number | undefined;
    let chunked = false;
    let transferEncoding = false;
    let connection = '';
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i] as string;
      const colon = line.indexOf(':');
      const name = line.slice(0, colon);
      const value = line.slice(colon + 1).trim();
      // RFC 9110 5.1 and 5.5: a name is a token; a value never holds CR, LF or NUL (a bare CR or
      // LF would start a header of the worker's choosing on the client's side).
      if (colon <= 0 || !TOKEN.test(name) || /[\r\n\0]/.test(value)) this.#fail(`invalid header line ${JSON.stringify(line.slice(0, 100))}`);
      raw.push(name, value);
      const lower = name.toLowerCase();
      if (lower === 'content-length') {
        if (!/^\d{1,15}$/.test(value) || (contentLength !== undefined && contentLength !== Number(value))) this.#fail(`invalid Content-Length ${JSON.stringify(value)}`);
        contentLength = Number(value);
      } else if (lower === 'transfer-encoding') {
        transferEncoding = true;
        chunked = value.toLowerCase().split(',').map((t) => t.trim()).at(-1) === 'chunked';
      } else if (lower === 'connection') {
        connection += `${value.toLowerCase()},`;
      }
    }
    // 1xx responses are interim: the final response follows on the same connection.
    if (status < 200) return;
    // RFC 9112 6.3: with Transfer-Encoding, a Content-Length is wrong, and kept it would
    // contradict the framing the client gets; it goes. RFC 9110 8.6: a 204 has no body, so no
    // Content-Length either (a worker that sends one with bytes after it is cut off there).
    if (contentLength !== undefined && (transferEncoding || status === 204)) {
      for (let i = raw.length - 2; i >= 0; i -= 2) if ((raw[i] as string).toLowerCase() === 'content-length') raw.splice(i, 2);
    }
    this.#keepAlive = http10 ? connection.includes('keep-alive') : !connection.split(',').some((t) => t.trim() === 'close');
    this.#handler.head(status, m[3] ?? '', raw);
    if (this.#noBody || status === 204 || status === 304) {
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
