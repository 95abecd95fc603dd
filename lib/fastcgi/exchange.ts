/**
 * One HTTP request relayed to a FastCGI responder (php-fpm) and its answer relayed back: the
 * request as BEGIN_REQUEST, PARAMS and STDIN records (the body streamed with backpressure), the
 * CGI response read from STDOUT records as they come and written to the client (framed by Node:
 * the Content-Length the script set, else chunked), STDERR handed to the worker's log.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { OWN_LIMIT_CODES, ServeError } from '../errors.js';
import { HOP_BY_HOP, isLength } from '../proxy/headers.js';
import { CgiResponseParser } from './cgi-response.js';
import type { FastCgiPool, PooledConnection } from './connection-pool.js';
import { FastCgiProtocolError } from './errors.js';
import { MAX_CONTENT_LENGTH, protocolStatusText, ProtocolStatus, RecordType } from './protocol.js';
import { beginRequest, encodeStream, endOfStream, parseEndRequest, recordHeader } from './record.js';
import { RecordParser } from './record-parser.js';

/** The only request id used: php-fpm does not multiplex a connection (FCGI_MPXS_CONNS is 0). */
const REQUEST_ID = 1;


/** What one exchange needs. */
export interface FastCgiTarget {
  readonly port: number;
  /** The PARAMS stream: encoded name-value pairs (see cgiParams and encodeNameValuePairs). */
  readonly params: Buffer;
  /**
   * The body: a byte count to stream from the request as it arrives (0 for none), or the whole
   * body, read already (then a connection that fails before the answer can always be retried).
   */
  readonly body: number | Buffer;
  /** After the request is sent, the application must start answering within this; 0 = no limit. */
  readonly headerTimeoutMs: number;
  /** Headers tqserver adds to the response, raw. */
  readonly responseHeaders: readonly string[];
  /** Connections that may stay open to the port between requests (0: one connection per request). */
  readonly keepConnections: number;
  /** Receives what the application writes to FCGI_STDERR. */
  readonly stderr?: (chunk: Buffer) => void;
}

/**
 * The response headers to send for `status`: hop-by-hop ones dropped, and the single
 * Content-Length, if any (none for a 204, which has no body: RFC 9110 8.6).
 */
function responseHead(status: number, raw: readonly string[]): { headers: string[]; length: number | undefined } {
  const headers: string[] = [];
  let length: number | undefined;
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const value = raw[i + 1] as string;
    const lower = name.toLowerCase();
    // They describe the connection, not the response (RFC 9110 7.6.1): a CGI script must not
    // send them (RFC 3875 6.3.4), and Node frames the response itself.
    if (HOP_BY_HOP.has(lower)) continue;
    if (lower === 'content-length') {
      // RFC 9110 8.6: one decimal length; repeats must agree, or the framing is ambiguous.
      if (!isLength(value) || (length !== undefined && length !== Number(value))) throw new FastCgiProtocolError(`invalid Content-Length ${JSON.stringify(value)}`);
      if (length !== undefined || status === 204) continue;
      length = Number(value);
    }
    headers.push(name, value);
  }
  return { headers, length };
}

/** STDIN records carrying `chunk`, written to `to`; returns write()'s backpressure answer. */
function writeStdin(to: PooledConnection, chunk: Buffer): boolean {
  let ok = true;
  to.cork();
  for (let at = 0; at < chunk.length; at += MAX_CONTENT_LENGTH) {
    const piece = chunk.subarray(at, Math.min(chunk.length, at + MAX_CONTENT_LENGTH));
    // Unpadded: padding is a recommendation (spec 3.3), and these records are written as they come.
    to.write(recordHeader(RecordType.STDIN, REQUEST_ID, piece.length, 0));
    ok = to.write(piece);
  }
  to.uncork();
  return ok;
}

/**
 * Sends `req` to the FastCGI application at `target.port` through `pool`, and its response to
 * `res`. Resolves, never rejects, once the exchange is over, as the HTTP exchange does:
 * - undefined: the response went through, or the client left;
 * - a ServeError with nothing sent to the client, for the caller to answer: it is
 *   ERR_UPSTREAM_UNREACHABLE only when no byte of the request reached the application and no
 *   byte of its body was read (so it may be sent to another instance), ERR_NO_RESOURCES when
 *   tqserver is out of file descriptors, ERR_UPSTREAM_TIMEOUT after `headerTimeoutMs`;
 * - a ServeError after the response head went out: the client socket has been destroyed.
 *
 * A kept connection that turns out to be closed before any record of the answer, while no byte
 * of the body was read from the client, is retried once on a new connection.
 */
export function fastcgiExchange(req: IncomingMessage, res: ServerResponse, target: FastCgiTarget, pool: FastCgiPool): Promise<ServeError | undefined> {
  const keep = target.keepConnections > 0;
  const head = Buffer.concat([beginRequest(REQUEST_ID, keep), encodeStream(RecordType.PARAMS, REQUEST_ID, target.params), endOfStream(RecordType.PARAMS, REQUEST_ID)]);
  const body = target.body;
  const noBody = req.method === 'HEAD';

  // The client left while the request waited (for its target, for an instance): nothing starts.
  if (res.destroyed) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    let settled = false;
    /** Whether the response head arrived: from then on php-fpm is answering, and no timer runs. */
    let answered = false;
    /** Whether the client's body ended (its end went to the connection that had it). */
    let bodyEnded = false;
    let sink: PooledConnection | undefined;
    let timer: NodeJS.Timeout | undefined;
    /** Whether any byte of the body was read from the client (then it cannot be sent again). */
    let bodyRead = false;
    /** Whether the whole request (the empty STDIN included) was handed to the socket. */
    let requestSent = false;
    let bodyStarted = false;

    const settle = (err?: ServeError): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(err);
    };
    const fail = (code: 'ERR_UPSTREAM_BROKEN' | 'ERR_UPSTREAM_UNREACHABLE' | 'ERR_NO_RESOURCES', why: string): void => {
      sink?.destroy();
      if (res.headersSent) res.destroy();
      const text =
        code === 'ERR_NO_RESOURCES' ? `tqserver could not open a connection to php-fpm: ${why} (tqserver's own limit, not the worker's fault)`
        : code === 'ERR_UPSTREAM_UNREACHABLE' ? `php-fpm could not be reached: ${why}`
        : `php-fpm broke the exchange: ${why}`;
      settle(new ServeError(code, text));
    };
    const sent = (): void => {
      requestSent = true;
      // A retry sends the request again: its clock starts again.
      clearTimeout(timer);
      if (target.headerTimeoutMs > 0 && !settled && !answered) {
        timer = setTimeout(() => {
          sink?.destroy();
          if (res.headersSent) res.destroy();
          settle(new ServeError('ERR_UPSTREAM_TIMEOUT', `php-fpm did not answer within ${target.headerTimeoutMs / 1000} s`));
        }, target.headerTimeoutMs);
      }
    };
    // The client left: whatever php-fpm is doing for it is abandoned, with its connection.
    res.once('close', () => {
      if (!res.writableFinished && !settled) {
        sink?.destroy();
        settle();
      }
    });

    const streamBody = (): void => {
      if (bodyStarted) return;
      bodyStarted = true;
      req.on('data', (chunk: Buffer) => {
        bodyRead = true;
        const to = sink;
        if (to === undefined || to.destroyed || settled) return;
        if (!writeStdin(to, chunk)) {
          req.pause();
          to.once('drain', () => req.resume());
        }
      });
      req.once('end', () => {
        bodyEnded = true;
        if (settled || sink === undefined || sink.destroyed) return;
        sink.write(endOfStream(RecordType.STDIN, REQUEST_ID));
        sent();
      });
    };

    const attempt = (retry: boolean): void => {
      let received = false;
      let paused = false;
      let declared: number | undefined;
      let bodyBytes = 0;
      let current: PooledConnection;
      const resume = (): void => {
        paused = false;
        current.resume();
      };
      const cgi = new CgiResponseParser({
        head: (status, reason, raw) => {
          answered = true;
          clearTimeout(timer);
          const { headers, length } = responseHead(status, raw);
          declared = length;
          for (const x of target.responseHeaders) headers.push(x);
          res.writeHead(status, reason, headers);
        },
        body: (chunk) => {
          if (noBody || res.statusCode === 204 || res.statusCode === 304) return;
          // A client gone has no one to wait for: writing to it would wait for a drain that never comes.
          if (res.destroyed) {
            current.destroy();
            settle();
            return;
          }
          bodyBytes += chunk.length;
          if (declared !== undefined && bodyBytes > declared) throw new FastCgiProtocolError(`the body is longer than its Content-Length ${declared}`);
          if (!res.write(chunk) && !paused) {
            paused = true;
            current.pause();
            res.once('drain', resume);
          }
        },
      });
      const finish = (): void => {
        cgi.end();
        if (declared !== undefined && bodyBytes < declared && !noBody && res.statusCode !== 204 && res.statusCode !== 304) {
          throw new FastCgiProtocolError(`the body ended ${declared - bodyBytes} bytes short of its Content-Length ${declared}`);
        }
        if (paused) {
          res.off('drain', resume);
          resume();
        }
        res.end();
        const socket = current;
        sink = undefined;
        settle();
        // Handed back on the next turn of the event loop, so that an application closing the
        // connection right after END_REQUEST (php-fpm after pm.max_requests) is seen first.
        // A connection holding part of a record after END_REQUEST is out of step: not kept.
        if (keep && requestSent) setImmediate(() => (records.partial ? socket.destroy() : pool.give(socket, target.keepConnections)));
        else socket.destroy();
      };
      const records = new RecordParser((type, requestId, content) => {
        // Records after END_REQUEST belong to no request: the connection is out of step.
        if (settled) throw new FastCgiProtocolError('a record after the end of the request');
        if (requestId !== REQUEST_ID) throw new FastCgiProtocolError(`a record for request ${requestId}, expected ${REQUEST_ID}`);
        switch (type) {
          case RecordType.STDOUT:
            cgi.feed(content);
            return;
          case RecordType.STDERR:
            if (content.length > 0) target.stderr?.(Buffer.from(content));
            return;
          case RecordType.END_REQUEST: {
            const end = parseEndRequest(content);
            if (end === undefined) throw new FastCgiProtocolError('END_REQUEST shorter than 8 bytes');
            if (end.protocolStatus !== ProtocolStatus.REQUEST_COMPLETE) throw new FastCgiProtocolError(`the request was refused: ${protocolStatusText(end.protocolStatus)}`);
            finish();
            return;
          }
          default:
            throw new FastCgiProtocolError(`unexpected record type ${type}`);
        }
      });
      const taken = pool.take(target.port, {
        data: (chunk) => {
          received = true;
          try {
            records.feed(chunk);
          } catch (err) {
            if (settled) current.destroy();
            else fail('ERR_UPSTREAM_BROKEN', (err as Error).message);
          }
        },
        closed: (err) => {
          if (settled) return;
          if (retry && taken.reused && !received && !bodyRead && !bodyEnded) {
            attempt(false);
            return;
          }
          const code = err?.code;
          if (code !== undefined && OWN_LIMIT_CODES.has(code)) fail('ERR_NO_RESOURCES', code);
          else if (code === 'ECONNREFUSED' && !bodyRead) fail('ERR_UPSTREAM_UNREACHABLE', code);
          else fail('ERR_UPSTREAM_BROKEN', code ?? (cgi.started ? 'the connection closed before the end of the response' : 'the connection closed before a response'));
        },
      });
      current = taken.socket;
      sink = current;
      if (typeof body !== 'number') {
        current.write(Buffer.concat([head, encodeStream(RecordType.STDIN, REQUEST_ID, body), endOfStream(RecordType.STDIN, REQUEST_ID)]));
        sent();
      } else if (body === 0) {
        current.write(Buffer.concat([head, endOfStream(RecordType.STDIN, REQUEST_ID)]));
        sent();
      } else {
        current.write(head);
        // The body is read only once php-fpm is there to take it, so that a refused connection
        // has consumed nothing and can be retried elsewhere.
        if (current.connecting) current.once('connect', streamBody);
        else streamBody();
      }
    };
    attempt(true);
  });
}
