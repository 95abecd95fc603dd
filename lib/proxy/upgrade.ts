/** Proxying an HTTP Upgrade (WebSocket) request to an instance, then relaying bytes both ways. */
import { request, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream';
import { endToEnd } from './headers.js';
import { closingResponse, statusLine } from './raw-response.js';

/** Writes a raw response head to a socket. */
function writeHead(socket: Duplex, status: number, raw: readonly string[]): void {
  let head = `${statusLine(status)}\r\n`;
  for (let i = 0; i < raw.length; i += 2) head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  socket.write(head + '\r\n');
}

/** How much a client may send before the worker has answered its upgrade request. */
const EARLY_BYTES_MAX = 64 * 1024;

/** Where an upgrade goes. */
export interface UpgradeTarget {
  readonly port: number;
  /** Path and query as the worker should see them. */
  readonly path: string;
  /** Request headers, raw, with Connection and Upgrade. */
  readonly headers: readonly string[];
  /** The worker must answer within this (write_timeout_seconds); 0 = no limit. */
  readonly timeoutMs: number;
}

/**
 * Sends the upgrade request `req` to the instance, then ties the two sockets together once it
 * answers 101, until either closes. `answered` is called once, when the client's answer is
 * decided: the worker's status (101, or a refusal, which is relayed and closes the connection),
 * 502 when the worker cannot be reached or breaks off, 504 when it does not answer within
 * `timeoutMs`, or 0 when the client left first (the worker's request is then aborted at once).
 * Resolves when the exchange is over.
 */
export function proxyUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, target: UpgradeTarget, answered: (status: number) => void): Promise<void> {
  // The client left while the request waited for an instance: its close has already happened.
  if (socket.destroyed) {
    answered(0);
    return Promise.resolve();
  }
  return new Promise((resolve) => {
    let done = false;
    let decided = false;
    let timer: NodeJS.Timeout | undefined;
    const decide = (status: number): void => {
      if (decided) return;
      decided = true;
      clearTimeout(timer);
      answered(status);
    };
    const finish = (): void => {
      if (done) return;
      done = true;
      resolve();
    };
    const upstream = request({ host: '127.0.0.1', port: target.port, method: req.method, path: target.path, headers: target.headers as string[], agent: false, setHost: false });
    const refuse = (status: number): void => {
      if (decided) return;
      decide(status);
      upstream.destroy();
      if (socket.writable) socket.end(closingResponse(status));
      else socket.destroy();
      finish();
    };
    socket.on('error', () => socket.destroy());
    // Until the worker answers, the client socket is read anyway, so that a client who leaves
    // is noticed (a socket nobody reads never reports its end); what it sends early is kept, a
    // little of it, for the worker.
    const early: Buffer[] = [];
    let earlyBytes = 0;
    const keepEarly = (chunk: Buffer): void => {
      early.push(chunk);
      earlyBytes += chunk.length;
      if (earlyBytes >= EARLY_BYTES_MAX) socket.pause();
    };
    socket.on('data', keepEarly);
    const gone = (): void => {
      if (decided) return;
      decide(0);
      upstream.destroy();
      socket.destroy();
      finish();
    };
    socket.once('end', gone);
    socket.once('close', gone);
    if (target.timeoutMs > 0) timer = setTimeout(() => refuse(504), target.timeoutMs);
    upstream.on('upgrade', (upstreamRes, upstreamSocket, upstreamHead) => {
      if (decided) {
        upstreamSocket.destroy();
        return;
      }
      decide(101);
      socket.off('data', keepEarly);
      socket.off('end', gone);
      writeHead(socket, 101, upstreamRes.rawHeaders);
      if (upstreamHead.length > 0) socket.write(upstreamHead);
      if (head.length > 0) upstreamSocket.write(head);
      for (const chunk of early) upstreamSocket.write(chunk);
      const close = (): void => {
        socket.destroy();
        upstreamSocket.destroy();
        finish();
      };
      pipeline(upstreamSocket, socket, close);
      pipeline(socket, upstreamSocket, close);
    });
    upstream.on('response', (upstreamRes) => {
      if (decided) {
        upstreamRes.destroy();
        return;
      }
      const status = upstreamRes.statusCode ?? 502;
      decide(status);
      socket.off('data', keepEarly);
      // The refusal's body is delimited by the end of the connection (node:http has removed any
      // chunked coding, so Transfer-Encoding goes with the other hop-by-hop headers).
      writeHead(socket, status, [...endToEnd(upstreamRes.rawHeaders), 'Connection', 'close']);
      pipeline(upstreamRes, socket, () => {
        socket.destroy();
        finish();
      });
    });
    upstream.on('error', () => refuse(502));
    upstream.end();
  });
}
