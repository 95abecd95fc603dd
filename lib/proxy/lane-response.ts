/**
 * The response to a fast-lane request (fast-lane.ts), written straight to the client's socket.
 */
import type { Socket } from 'node:net';
import { UpstreamResponseError } from '../errors.js';
import { headerCount, isFieldValue } from './headers.js';
import { headText } from './response-head.js';
import type { ClientResponse } from './upstream.js';

/** No headers of tqserver's own: the exchange has put them among the worker's already. */
const NO_HEADERS: readonly string[] = [];

/** Bodies up to this size go out in one write with the head. */
const SINGLE_WRITE_MAX = 16 * 1024;

/**
 * The response to a fast-lane request, written straight to its socket: the head as Node would
 * write it (response-head.ts), the body as it comes (chunked when the worker's response has no
 * Content-Length), the head and a small first piece of body in one write.
 */
export class RawResponse implements ClientResponse {
  statusCode = 0;
  headersSent = false;
  writableFinished = false;
  readonly #socket: Socket;
  readonly #noBody: boolean;
  #keepAlive: boolean;
  /** The connection's keep-alive timeout, announced as Node announces it. */
  readonly #idleMs: number;
  readonly #closing: () => boolean;
  readonly #closeListeners: (() => void)[] = [];
  /** The head, until the first write takes it along. */
  #head: string | undefined;
  #chunked = false;

  constructor(socket: Socket, head: boolean, keepAlive: boolean, idleMs: number, closing: () => boolean) {
    this.#socket = socket;
    this.#noBody = head;
    this.#keepAlive = keepAlive;
    this.#idleMs = idleMs;
    this.#closing = closing;
  }

  get destroyed(): boolean {
    return this.#socket.destroyed;
  }

  get keepAlive(): boolean {
    return this.#keepAlive;
  }

  writeHead(status: number, reason: string, headers: readonly string[]): void {
    // The response parser checked every header; a reason phrase may still hold control
    // characters, which Node's writeHead refuses too (the exchange then answers 502).
    if (!isFieldValue(reason)) throw new UpstreamResponseError(`invalid character in the reason phrase ${JSON.stringify(reason.slice(0, 100))}`);
    // A server that started closing meanwhile says so in this response.
    if (this.#closing()) this.#keepAlive = false;
    // As Node frames a response without a length: chunked, unless it can have no body.
    const bodiless = this.#noBody || status === 204 || status === 304;
    this.#chunked = !bodiless && headerCount(headers, 'content-length') === 0;
    this.#head = headText(status, reason, headers, NO_HEADERS, this.#keepAlive, this.#idleMs, this.#chunked);
    this.statusCode = status;
    this.headersSent = true;
  }

  write(chunk: Buffer): boolean {
    if (this.#noBody || chunk.length === 0 || this.#socket.destroyed) return true;
    const head = this.#head;
    this.#head = undefined;
    if (this.#chunked) {
      const size = chunk.length.toString(16) + '\r\n';
      if (head !== undefined && chunk.length <= SINGLE_WRITE_MAX) return this.#socket.write(head + size + chunk.toString('latin1') + '\r\n', 'latin1');
      this.#socket.cork();
      this.#socket.write((head ?? '') + size, 'latin1');
      this.#socket.write(chunk);
      const ok = this.#socket.write('\r\n', 'latin1');
      this.#socket.uncork();
      return ok;
    }
    if (head === undefined) return this.#socket.write(chunk);
    if (chunk.length <= SINGLE_WRITE_MAX) return this.#socket.write(head + chunk.toString('latin1'), 'latin1');
    this.#socket.cork();
    this.#socket.write(head, 'latin1');
    const ok = this.#socket.write(chunk);
    this.#socket.uncork();
    return ok;
  }

  end(): void {
    if (this.writableFinished) return;
    const tail = this.#chunked && !this.#noBody ? '0\r\n\r\n' : '';
    const head = this.#head ?? '';
    this.#head = undefined;
    if (head !== '' || tail !== '') this.#socket.write(head + tail, 'latin1');
    // The connection carries on once the exchange has settled and the request is counted
    // (LaneConnection's #forward, then #after); bytes that arrive meanwhile wait.
    this.writableFinished = true;
  }

  destroy(): void {
    this.#socket.destroy();
  }

  on(_event: 'close', listener: () => void): void {
    this.#closeListeners.push(listener);
  }

  once(_event: 'drain', listener: () => void): void {
    this.#socket.once('drain', listener);
  }

  off(_event: 'drain', listener: () => void): void {
    this.#socket.off('drain', listener);
  }

  /** The connection closed: tells whoever waits on this response. */
  closed(): void {
    for (const listener of this.#closeListeners.splice(0)) listener();
  }
}
