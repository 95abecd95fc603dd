/**
 * A whole FastCGI request on a connection of its own, its answer read into memory: for the small
 * requests tqserver makes itself (php-fpm's ping and status pages), never for clients' requests.
 */
import { connect } from 'node:net';
import { CgiResponseParser } from './cgi-response.js';
import { FastCgiProtocolError } from './errors.js';
import { encodeNameValuePairs } from './name-value.js';
import { ProtocolStatus, protocolStatusText, RecordType } from './protocol.js';
import { beginRequest, encodeStream, endOfStream, parseEndRequest } from './record.js';
import { RecordParser } from './record-parser.js';

/** A complete answer. */
export interface FastCgiResponse {
  readonly status: number;
  /** Raw, `[name, value, ...]`. */
  readonly headers: readonly string[];
  readonly body: Buffer;
  /** What the application wrote to FCGI_STDERR. */
  readonly stderr: string;
}

/** Why a request got no complete answer: a socket error code if there was one, and a message. */
export class FastCgiRequestError extends Error {
  readonly code: string | undefined;
  /** Whether it ran out of time. */
  readonly timedOut: boolean;

  constructor(message: string, code?: string, timedOut = false) {
    super(message);
    this.name = 'FastCgiRequestError';
    this.code = code;
    this.timedOut = timedOut;
  }
}

/** Largest answer kept: these pages are small. */
const MAX_ANSWER_BYTES = 1024 * 1024;

/**
 * Sends one request with `params` (`[name, value, ...]`) and no body to 127.0.0.1:`port`, on a
 * new connection closed afterwards. Resolves with the answer; rejects with a FastCgiRequestError
 * when the connection fails, the answer is malformed, or `timeoutMs` passes.
 */
export function fastcgiRequest(port: number, params: readonly string[], timeoutMs: number): Promise<FastCgiResponse> {
  return new Promise((resolve, reject) => {
    let done = false;
    let status = 0;
    let headers: string[] = [];
    const body: Buffer[] = [];
    let size = 0;
    let stderr = '';
    let lastError: NodeJS.ErrnoException | undefined;
    const socket = connect({ port, host: '127.0.0.1', noDelay: true });
    const finish = (err?: FastCgiRequestError): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (err !== undefined) reject(err);
      else resolve({ status, headers, body: Buffer.concat(body), stderr });
    };
    const timer = setTimeout(() => finish(new FastCgiRequestError(`no answer within ${timeoutMs} ms`, undefined, true)), timeoutMs);
    const cgi = new CgiResponseParser({
      head: (s, _reason, raw) => {
        status = s;
        headers = raw;
      },
      body: (chunk) => {
        size += chunk.length;
        if (size > MAX_ANSWER_BYTES) throw new FastCgiProtocolError(`the answer is over ${MAX_ANSWER_BYTES} bytes`);
        body.push(Buffer.from(chunk));
      },
    });
    const records = new RecordParser((type, _id, content) => {
      if (type === RecordType.STDOUT) cgi.feed(content);
      else if (type === RecordType.STDERR) stderr += content.toString('utf8');
      else if (type === RecordType.END_REQUEST) {
        const end = parseEndRequest(content);
        if (end === undefined || end.protocolStatus !== ProtocolStatus.REQUEST_COMPLETE) {
          throw new FastCgiProtocolError(`the request was refused: ${end === undefined ? 'short END_REQUEST' : protocolStatusText(end.protocolStatus)}`);
        }
        cgi.end();
        finish();
      } else throw new FastCgiProtocolError(`unexpected record type ${type}`);
    });
    socket.on('data', (chunk: Buffer) => {
      try {
        records.feed(chunk);
      } catch (err) {
        finish(new FastCgiRequestError((err as Error).message));
      }
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      lastError = err;
    });
    socket.on('close', () => finish(new FastCgiRequestError(lastError?.message ?? 'the connection closed before the answer', lastError?.code)));
    socket.write(Buffer.concat([
      beginRequest(1, false),
      encodeStream(RecordType.PARAMS, 1, encodeNameValuePairs(params)),
      endOfStream(RecordType.PARAMS, 1),
      endOfStream(RecordType.STDIN, 1),
    ]));
  });
}
