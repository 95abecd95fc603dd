/** Proxying an HTTP Upgrade (WebSocket) request to an instance, then relaying bytes both ways. */
import { request, type IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream';

/** Writes a raw response head to a socket. */
function writeHead(socket: Duplex, status: number, message: string, raw: readonly string[]): void {
  let head = `HTTP/1.1 ${status} ${message}\r\n`;
  for (let i = 0; i < raw.length; i += 2) head += `${raw[i]}: ${raw[i + 1]}\r\n`;
  socket.write(head + '\r\n');
}

/**
 * Sends the upgrade request `req` to 127.0.0.1:`port` at `path` with `headers` (raw, Upgrade
 * and Connection kept), then relays both sockets until either closes. A refusal is relayed as
 * it came; an unreachable worker gets a 502. Resolves when the exchange is over.
 */
export function proxyUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer, port: number, path: string, headers: string[]): Promise<void> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (): void => {
      if (!done) {
        done = true;
        resolve();
      }
    };
    socket.on('error', () => socket.destroy());
    const upstream = request({ host: '127.0.0.1', port, method: req.method, path, headers, agent: false, setHost: false });
    upstream.on('upgrade', (upstreamRes, upstreamSocket, upstreamHead) => {
      writeHead(socket, upstreamRes.statusCode ?? 101, upstreamRes.statusMessage ?? 'Switching Protocols', upstreamRes.rawHeaders);
      if (upstreamHead.length > 0) socket.write(upstreamHead);
      if (head.length > 0) upstreamSocket.write(head);
      const close = (): void => {
        socket.destroy();
        upstreamSocket.destroy();
        finish();
      };
      pipeline(upstreamSocket, socket, close);
      pipeline(socket, upstreamSocket, close);
    });
    upstream.on('response', (upstreamRes) => {
      writeHead(socket, upstreamRes.statusCode ?? 502, upstreamRes.statusMessage ?? '', upstreamRes.rawHeaders);
      pipeline(upstreamRes, socket, () => {
        socket.destroy();
        finish();
      });
    });
    upstream.on('error', () => {
      if (socket.writable) socket.end('HTTP/1.1 502 Bad Gateway\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
      finish();
    });
    upstream.end();
  });
}
