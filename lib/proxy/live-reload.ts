/**
 * Dev-mode live reload: a `/ws/reload` WebSocket (RFC 6455, server side, text frames only) and
 * the `/dev-reload.js` script that pages include. After a rolling restart, a fixed build or a
 * changed static file, every open page gets "reload".
 */
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { nodeCrypto } from '../lazy-crypto.js';
import { closingResponse, statusLine } from './raw-response.js';

/** The WebSocket GUID of RFC 6455 section 1.3. */
const WS_GUID = '258EAFA5-E914-47DA-95CA-C5AB0DC85B11';
/** Client frames bigger than this are not what a reload client sends; the socket is dropped. */
const MAX_BUFFER = 64 * 1024;
/** Pings keep idle connections open through proxies and timeouts. */
const PING_INTERVAL_MS = 25_000;

/** The browser side: connect, reload on "reload", reconnect with backoff, reload after a restart. */
export const RELOAD_SCRIPT = `(() => {
  const url = (location.protocol === 'https:' ? 'wss://' : 'ws://') + location.host + '/ws/reload';
  let delay = 1000;
  let lost = false;
  function connect() {
    const ws = new WebSocket(url);
    ws.onopen = () => { delay = 1000; if (lost) location.reload(); };
    ws.onmessage = (event) => { if (event.data === 'reload') location.reload(); };
    ws.onclose = () => { lost = true; setTimeout(connect, delay); delay = Math.min(delay * 1.5, 10000); };
  }
  connect();
})();
`;

/** The Sec-WebSocket-Accept value for a Sec-WebSocket-Key. */
export function acceptKey(key: string): string {
  return nodeCrypto().createHash('sha1').update(key + WS_GUID).digest('base64');
}

/** One unmasked server frame. */
export function frame(opcode: number, payload: Buffer = Buffer.alloc(0)): Buffer {
  const len = payload.length;
  const head = len < 126 ? Buffer.from([0x80 | opcode, len]) : Buffer.from([0x80 | opcode, 126, len >> 8, len & 0xff]);
  return Buffer.concat([head, payload]);
}

/** The open reload connections. */
export class LiveReload {
  readonly #sockets = new Set<Duplex>();
  readonly #timer: NodeJS.Timeout;

  constructor() {
    this.#timer = setInterval(() => {
      for (const s of this.#sockets) s.write(frame(0x9));
    }, PING_INTERVAL_MS);
    this.#timer.unref();
  }

  /** Answers an upgrade request for /ws/reload. */
  accept(req: IncomingMessage, socket: Duplex): void {
    const key = req.headers['sec-websocket-key'];
    if (req.headers.upgrade?.toLowerCase() !== 'websocket' || typeof key !== 'string' || req.headers['sec-websocket-version'] !== '13') {
      socket.end(closingResponse(400));
      return;
    }
    socket.write(`${statusLine(101)}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${acceptKey(key)}\r\n\r\n`);
    const s = socket as Duplex & { setTimeout?: (ms: number) => void; setNoDelay?: (on: boolean) => void };
    s.setTimeout?.(0);
    s.setNoDelay?.(true);
    this.#sockets.add(socket);
    let buffer: Buffer = Buffer.alloc(0);
    socket.on('data', (chunk: Buffer) => {
      buffer = Buffer.concat([buffer, chunk]);
      if (buffer.length > MAX_BUFFER) socket.destroy();
      buffer = this.#read(socket, buffer);
    });
    const forget = (): void => {
      this.#sockets.delete(socket);
    };
    socket.on('close', forget);
    socket.on('error', forget);
  }

  /** Handles whole client frames in `buffer`; returns what is left of it. */
  #read(socket: Duplex, buffer: Buffer): Buffer {
    for (;;) {
      if (buffer.length < 2) return buffer;
      const opcode = (buffer[0] as number) & 0x0f;
      let len = (buffer[1] as number) & 0x7f;
      const masked = ((buffer[1] as number) & 0x80) !== 0;
      let offset = 2;
      if (len === 126) {
        if (buffer.length < 4) return buffer;
        len = buffer.readUInt16BE(2);
        offset = 4;
      } else if (len === 127) {
        socket.destroy();
        return Buffer.alloc(0);
      }
      const total = offset + (masked ? 4 : 0) + len;
      if (buffer.length < total) return buffer;
      const payload = Buffer.from(buffer.subarray(total - len, total));
      if (masked) {
        const mask = buffer.subarray(offset, offset + 4);
        for (let i = 0; i < payload.length; i++) payload[i] = (payload[i] as number) ^ (mask[i & 3] as number);
      }
      if (opcode === 0x8) {
        socket.end(frame(0x8, payload.subarray(0, 2)));
        this.#sockets.delete(socket);
      } else if (opcode === 0x9) {
        socket.write(frame(0xa, payload));
      }
      buffer = buffer.subarray(total);
    }
  }

  /** Sends "reload" to every open page. */
  broadcast(): void {
    const message = frame(0x1, Buffer.from('reload'));
    for (const s of this.#sockets) s.write(message);
  }

  /** Closes every connection. */
  close(): void {
    clearInterval(this.#timer);
    for (const s of this.#sockets) s.end(frame(0x8, Buffer.from([0x03, 0xe9])));
    this.#sockets.clear();
  }
}
