/**
 * The CGI response an application writes to FCGI_STDOUT (RFC 3875 6): header lines, a blank
 * line, then the body. `Status:` sets the status (6.3.3); `Location:` without it means a
 * redirect, 302 (6.2.3/6.2.4, as php-fpm's web servers do); otherwise the status is 200. The
 * head is read incrementally, however the records cut it; the body is passed on as it comes.
 */
import { STATUS_CODES } from 'node:http';
import { FastCgiProtocolError } from './errors.js';

/** Largest CGI response head accepted (64 KiB: PHP applications set big cookies). */
export const MAX_CGI_HEAD_BYTES = 64 * 1024;

/** RFC 9110 5.6.2: the characters of a token, such as a header name. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** RFC 9110 5.5: a field value is visible characters, spaces and tabs (obs-text allowed). */
const BAD_VALUE = /[^\t\x20-\x7e\x80-\xff]/;

/** `Status: 404 Not Found` (RFC 3875 6.3.3: three digits, a space, a reason phrase). */
const STATUS = /^([0-9]{3})(?:[ \t]+(.*))?$/;

function tooLarge(): FastCgiProtocolError {
  return new FastCgiProtocolError(`the response head is over ${MAX_CGI_HEAD_BYTES} bytes`);
}

/** What the parser reports. */
export interface CgiResponseHandler {
  /** The head: status, reason phrase and the other headers, raw (`[name, value, ...]`, latin1). */
  head(status: number, reason: string, rawHeaders: string[]): void;
  /** A piece of the body. */
  body(chunk: Buffer): void;
}

/** Reads one CGI response from the STDOUT stream; make one per request. */
export class CgiResponseParser {
  readonly #handler: CgiResponseHandler;
  /** The unread part of the head so far: an incomplete line. */
  #head: Buffer | undefined;
  /** Bytes fed before the head was complete (all of them head). */
  #headBytes = 0;
  #headers: string[] = [];
  #status: string | undefined;
  #location = false;
  #started = false;

  constructor(handler: CgiResponseHandler) {
    this.#handler = handler;
  }

  /** Whether the head has been read and reported. */
  get started(): boolean {
    return this.#started;
  }

  /** Feeds STDOUT bytes. Throws FastCgiProtocolError on a malformed or oversized head. */
  feed(data: Buffer): void {
    if (this.#started) {
      if (data.length > 0) this.#handler.body(data);
      return;
    }
    const carried = this.#head?.length ?? 0;
    const head = this.#head === undefined ? data : Buffer.concat([this.#head, data]);
    let at = 0;
    for (;;) {
      const nl = head.indexOf(10, at);
      if (nl < 0) break;
      // RFC 3875 6: lines end in NL; CRLF is accepted too.
      const end = nl > at && head[nl - 1] === 13 ? nl - 1 : nl;
      if (end === at) {
        if (this.#headBytes + nl + 1 - carried > MAX_CGI_HEAD_BYTES) throw tooLarge();
        this.#finishHead();
        const rest = head.subarray(nl + 1);
        this.#head = undefined;
        if (rest.length > 0) this.#handler.body(rest);
        return;
      }
      this.#headerLine(head.toString('latin1', at, end));
      at = nl + 1;
    }
    this.#headBytes += data.length;
    if (this.#headBytes > MAX_CGI_HEAD_BYTES) throw tooLarge();
    // Only the unread part is kept: a copy of `data` (it may be a view of a whole socket read); a joined buffer is ours already.
    this.#head = at === 0 && head !== data ? head : Buffer.from(head.subarray(at));
  }

  /** The end of STDOUT. Throws FastCgiProtocolError if it came before the end of the head. */
  end(): void {
    if (!this.#started) {
      throw new FastCgiProtocolError(this.#headBytes === 0 ? 'the application sent no response' : 'the response ended inside its head');
    }
  }

  #headerLine(line: string): void {
    const colon = line.indexOf(':');
    const name = colon < 0 ? '' : line.slice(0, colon);
    if (!TOKEN.test(name)) throw new FastCgiProtocolError(`malformed response header line ${JSON.stringify(line.slice(0, 80))}`);
    const value = line.slice(colon + 1).trim();
    if (BAD_VALUE.test(value)) throw new FastCgiProtocolError(`response header ${name} has a forbidden character`);
    const lower = name.toLowerCase();
    if (lower === 'status') {
      if (this.#status !== undefined) throw new FastCgiProtocolError('more than one Status header');
      this.#status = value;
      return;
    }
    if (lower === 'location') this.#location = true;
    this.#headers.push(name, value);
  }

  #finishHead(): void {
    let status = 200;
    let reason: string | undefined;
    if (this.#status !== undefined) {
      const m = STATUS.exec(this.#status);
      status = m === null ? 0 : Number(m[1]);
      // A final status only: an interim 1xx cannot be the answer to a request.
      if (m === null || status < 200) throw new FastCgiProtocolError(`malformed Status header ${JSON.stringify(this.#status.slice(0, 80))}`);
      reason = m[2];
    } else if (this.#location) {
      status = 302;
    }
    this.#started = true;
    this.#handler.head(status, reason === undefined || reason === '' ? STATUS_CODES[status] ?? '' : reason, this.#headers);
  }
}
