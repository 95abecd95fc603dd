/**
 * The FastCGI exchange against a FastCGI application of the test's own (real sockets, port 0):
 * what reaches the application, what reaches the client, kept connections, backpressure both
 * ways, and every failure answered (502, 504) or cut, never left hanging.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer as createHttpServer, request, type IncomingMessage, type Server as HttpServer, type ServerResponse } from 'node:http';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import {
  decodeNameValuePairs, encodeNameValuePairs, encodeStream, endOfStream, endRequest, FastCgiPool, fastcgiExchange,
  FLAG_KEEP_CONN, RecordParser, RecordType, type FastCgiTarget,
} from '../lib/fastcgi/index.js';

/** One request as the application received it. */
interface AppRequest {
  readonly params: Map<string, string>;
  readonly stdin: Buffer;
  readonly keep: boolean;
  /** The largest STDIN record's content. */
  readonly largestStdin: number;
  readonly socket: Socket;
  /** Which connection (1, 2, ...) carried it. */
  readonly connection: number;
}

type Handler = (r: AppRequest, reply: (bytes: Buffer) => boolean) => void;

/** A FastCGI application: reads each request's records and lets `handler` answer. */
class FakeApp {
  readonly server: Server;
  handler: Handler = (_r, reply) => reply(stdout('Content-Type: text/plain\r\n\r\nok'));
  connections = 0;
  requests: AppRequest[] = [];

  constructor() {
    this.server = createServer((socket) => {
      const connection = ++this.connections;
      let params: Buffer[] = [];
      let stdin: Buffer[] = [];
      let keep = false;
      let largest = 0;
      const parser = new RecordParser((type, _id, content) => {
        if (type === RecordType.BEGIN_REQUEST) {
          keep = ((content[2] as number) & FLAG_KEEP_CONN) !== 0;
          params = [];
          stdin = [];
          largest = 0;
        } else if (type === RecordType.PARAMS) {
          params.push(Buffer.from(content));
        } else if (type === RecordType.STDIN && content.length > 0) {
          largest = Math.max(largest, content.length);
          stdin.push(Buffer.from(content));
        } else if (type === RecordType.STDIN) {
          const pairs = decodeNameValuePairs(Buffer.concat(params));
          const map = new Map<string, string>();
          for (let i = 0; i < pairs.length; i += 2) map.set(pairs[i] as string, pairs[i + 1] as string);
          const r: AppRequest = { params: map, stdin: Buffer.concat(stdin), keep, largestStdin: largest, socket, connection };
          this.requests.push(r);
          this.handler(r, (bytes) => (socket.destroyed ? false : socket.write(bytes)));
        }
      });
      socket.on('data', (chunk: Buffer) => {
        try {
          parser.feed(chunk);
        } catch {
          socket.destroy();
        }
      });
      socket.on('error', () => {});
    });
  }
}

/** STDOUT records carrying `text`, then the END_REQUEST record. */
function stdout(text: string | Buffer, stderrText?: string): Buffer {
  const parts = [encodeStream(RecordType.STDOUT, 1, Buffer.isBuffer(text) ? text : Buffer.from(text))];
  if (stderrText !== undefined) parts.push(encodeStream(RecordType.STDERR, 1, Buffer.from(stderrText)));
  parts.push(endOfStream(RecordType.STDOUT, 1), endRequest(1, 0, 0));
  return Buffer.concat(parts);
}

let app: FakeApp;
let appPort: number;
let front: HttpServer;
let frontPort: number;
const pool = new FastCgiPool();
/** Per test: how the front server builds the target. */
let targetOf: (req: IncomingMessage) => Partial<FastCgiTarget> = () => ({});
let stderrSeen: string[] = [];
let lastError: string | undefined;

function paramsOf(req: IncomingMessage): Buffer {
  return encodeNameValuePairs(['REQUEST_METHOD', req.method ?? 'GET', 'REQUEST_URI', req.url ?? '/', 'SCRIPT_FILENAME', '/srv/index.php', 'CONTENT_LENGTH', req.headers['content-length'] ?? '']);
}

before(async () => {
  app = new FakeApp();
  await new Promise<void>((r) => app.server.listen(0, '127.0.0.1', r));
  appPort = (app.server.address() as AddressInfo).port;
  front = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
    const length = Number(req.headers['content-length'] ?? 0);
    const target: FastCgiTarget = {
      port: appPort,
      params: paramsOf(req),
      body: length,
      headerTimeoutMs: 2000,
      responseHeaders: ['X-Correlation-ID', 'cid'],
      keepConnections: 2,
      stderr: (chunk) => stderrSeen.push(chunk.toString()),
      ...targetOf(req),
    };
    void fastcgiExchange(req, res, target, pool).then((err) => {
      lastError = err?.code;
      if (err === undefined) return;
      if (!res.headersSent && !res.destroyed) {
        res.writeHead(err.status, { 'Content-Type': 'text/plain' });
        res.end(err.code);
      }
    });
  });
  await new Promise<void>((r) => front.listen(0, '127.0.0.1', r));
  frontPort = (front.address() as AddressInfo).port;
});

after(async () => {
  pool.destroy();
  front.closeAllConnections();
  await new Promise((r) => front.close(r));
  await new Promise((r) => app.server.close(r));
});

interface Reply {
  status: number;
  headers: IncomingMessage['headers'];
  raw: string[];
  body: Buffer;
  /** Set when the response was cut. */
  error?: string;
}

function call(path: string, options: { method?: string; body?: Buffer; headers?: Record<string, string>; readDelayMs?: number } = {}): Promise<Reply> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port: frontPort, path, method: options.method ?? 'GET', headers: options.headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      const reply: Reply = { status: res.statusCode ?? 0, headers: res.headers, raw: res.rawHeaders, body: Buffer.alloc(0) };
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ ...reply, body: Buffer.concat(chunks) }));
      res.on('error', (err) => resolve({ ...reply, body: Buffer.concat(chunks), error: err.message }));
      if (options.readDelayMs !== undefined) {
        res.pause();
        setTimeout(() => res.resume(), options.readDelayMs);
      }
    });
    // A response cut before its head reached the client.
    req.on('error', (err) => resolve({ status: 0, headers: {}, raw: [], body: Buffer.alloc(0), error: err.message }));
    req.end(options.body);
  });
}

function reset(): void {
  app.handler = (_r, reply) => reply(stdout('Content-Type: text/plain\r\n\r\nok'));
  app.requests = [];
  targetOf = () => ({});
  stderrSeen = [];
  lastError = undefined;
}

describe('fastcgi exchange', () => {
  test('a GET: params reach the application; status, headers and body reach the client, chunked; STDERR goes to the log', async () => {
    reset();
    app.handler = (_r, reply) => reply(stdout('Status: 201 Created\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nConnection: close\r\nTransfer-Encoding: x\r\n\r\nhello', 'PHP message: careful'));
    const r = await call('/x?y=1');
    assert.equal(r.status, 201);
    assert.equal(r.body.toString(), 'hello');
    assert.deepEqual(r.headers['set-cookie'], ['a=1', 'b=2']);
    assert.equal(r.headers['transfer-encoding'], 'chunked', 'no Content-Length from the script: Node chunks it');
    assert.equal(r.headers['x-correlation-id'], 'cid');
    assert.ok(!r.raw.includes('x'), "the script's Transfer-Encoding is not sent");
    assert.deepEqual(stderrSeen, ['PHP message: careful']);
    const seen = app.requests[0] as AppRequest;
    assert.equal(seen.params.get('REQUEST_URI'), '/x?y=1');
    assert.equal(seen.keep, true);
    assert.equal(seen.stdin.length, 0);
  });

  test("the script's Content-Length is kept, and a body that does not match it cuts the response", async () => {
    reset();
    app.handler = (_r, reply) => reply(stdout('Content-Length: 5\r\n\r\nhello'));
    const ok = await call('/');
    assert.equal(ok.headers['content-length'], '5');
    assert.equal(ok.body.toString(), 'hello');
    app.handler = (_r, reply) => reply(stdout('Content-Length: 10\r\n\r\nhello'));
    const short = await call('/');
    assert.ok(short.error !== undefined || short.body.length < 10, 'cut');
    assert.equal(lastError, 'ERR_UPSTREAM_BROKEN');
    app.handler = (_r, reply) => reply(stdout('Content-Length: 2\r\n\r\nhello'));
    const long = await call('/');
    assert.ok(long.error !== undefined || long.body.toString() !== 'hello');
    app.handler = (_r, reply) => reply(stdout('Content-Length: 2\r\nContent-Length: 3\r\n\r\nhi'));
    assert.equal((await call('/')).status, 502, 'conflicting lengths, before the head went out');
  });

  test('a HEAD response has no body whatever the script writes; nor has a 204, nor a Content-Length', async () => {
    reset();
    app.handler = (_r, reply) => reply(stdout('Content-Type: text/plain\r\n\r\nbody'));
    const r = await call('/', { method: 'HEAD' });
    assert.equal(r.status, 200);
    assert.equal(r.body.length, 0);
    app.handler = (_r, reply) => reply(stdout('Status: 204 No Content\r\nContent-Length: 4\r\n\r\nbody'));
    const none = await call('/');
    assert.equal(none.status, 204);
    assert.equal(none.headers['content-length'], undefined);
    assert.equal(none.body.length, 0);
    assert.equal((await call('/')).status, 204, 'the connection is still in step');
  });

  test('a 12 MB body is streamed in STDIN records of at most 65535 bytes', async () => {
    reset();
    const body = Buffer.alloc(12 * 1024 * 1024);
    for (let i = 0; i < body.length; i += 4096) body.writeUInt32BE(i, i);
    app.handler = (r, reply) => reply(stdout(`\r\n${createHash('sha256').update(r.stdin).digest('hex')} ${r.stdin.length} ${r.largestStdin}`));
    const r = await call('/upload', { method: 'POST', body, headers: { 'content-length': String(body.length) } });
    const [hash, size, largest] = r.body.toString().split(' ');
    assert.equal(hash, createHash('sha256').update(body).digest('hex'));
    assert.equal(Number(size), body.length);
    assert.ok(Number(largest) <= 65535 && Number(largest) > 0, largest);
  });

  test('a body given whole (a chunked request read first) is sent the same way', async () => {
    reset();
    targetOf = () => ({ body: Buffer.from('a=1&b=2') });
    app.handler = (r, reply) => reply(stdout(`\r\n${r.stdin.toString()}`));
    assert.equal((await call('/', { method: 'POST' })).body.toString(), 'a=1&b=2');
  });

  test('connections are kept (FCGI_KEEP_CONN) up to keepConnections, and closed after each request with 0', async () => {
    reset();
    await new Promise((r) => setTimeout(r, 50));
    pool.destroy();
    const before = app.connections;
    for (let i = 0; i < 4; i++) assert.equal((await call('/')).body.toString(), 'ok');
    assert.equal(app.connections - before, 1, 'one kept connection carried all four');
    assert.equal(pool.idleCount(appPort), 1);
    targetOf = () => ({ keepConnections: 0 });
    const before0 = app.connections;
    pool.destroy();
    for (let i = 0; i < 3; i++) assert.equal((await call('/')).body.toString(), 'ok');
    assert.equal(app.connections - before0, 3);
    assert.ok(app.requests.slice(-3).every((r) => !r.keep), 'KEEP_CONN not asked for');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(pool.openCount(appPort), 0);
  });

  test('no more connections stay open than keepConnections, however many requests ran at once', async () => {
    reset();
    pool.destroy();
    app.handler = (_r, reply) => setTimeout(() => reply(stdout('\r\nslow')), 100);
    const replies = await Promise.all(Array.from({ length: 5 }, () => call('/')));
    assert.ok(replies.every((r) => r.body.toString() === 'slow'));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(pool.openCount(appPort), 2);
    assert.equal(pool.idleCount(appPort), 2);
  });

  test('an application that closes kept connections after END_REQUEST (php-fpm after pm.max_requests) loses no request', async () => {
    reset();
    pool.destroy();
    let n = 0;
    app.handler = (r, reply) => {
      reply(stdout(`\r\n${++n}`));
      if (n % 2 === 0) r.socket.end();
    };
    for (let i = 1; i <= 12; i++) assert.equal((await call('/')).body.toString(), String(i));
  });

  test('a kept connection closed while idle is retried on a new one, even for a request with a body read whole', async () => {
    reset();
    pool.destroy();
    await call('/');
    const kept = app.requests.at(-1)?.socket as Socket;
    // The application forgets the connection without a FIN reaching tqserver in time: the
    // next request is written to it and the connection then dies.
    kept.removeAllListeners('data');
    kept.on('data', () => kept.destroy());
    targetOf = () => ({ body: Buffer.from('x=1') });
    app.handler = (r, reply) => reply(stdout(`\r\n${r.stdin.toString()}`));
    assert.equal((await call('/', { method: 'POST' })).body.toString(), 'x=1');
  });

  test('a slow client: the application is paused (backpressure) and the body arrives whole', async () => {
    reset();
    let pushedBack = false;
    const size = 8 * 1024 * 1024;
    app.handler = (_r, reply) => {
      const head = Buffer.from(`Content-Length: ${size}\r\n\r\n`);
      pushedBack = !reply(encodeStream(RecordType.STDOUT, 1, head)) || pushedBack;
      const piece = Buffer.alloc(65528, 'z');
      let sent = 0;
      const more = (): void => {
        while (sent < size) {
          const n = Math.min(piece.length, size - sent);
          sent += n;
          if (!reply(encodeStream(RecordType.STDOUT, 1, piece.subarray(0, n)))) {
            pushedBack = true;
            app.requests.at(-1)?.socket.once('drain', more);
            return;
          }
        }
        reply(Buffer.concat([endOfStream(RecordType.STDOUT, 1), endRequest(1, 0, 0)]));
      };
      more();
    };
    const r = await call('/', { readDelayMs: 400 });
    assert.equal(r.body.length, size);
    assert.ok(pushedBack, 'the application saw backpressure while the client did not read');
  });

  test('failures: closed before a response, garbage, a refusal record, no answer in time, a refused port', async () => {
    reset();
    app.handler = (r) => r.socket.destroy();
    assert.equal((await call('/')).status, 502);
    assert.equal(lastError, 'ERR_UPSTREAM_BROKEN');

    app.handler = (r) => r.socket.write('HTTP/1.1 200 OK\r\n\r\n');
    assert.equal((await call('/')).status, 502);

    app.handler = (_r, reply) => reply(endRequest(1, 0, 2));
    const overloaded = await call('/');
    assert.equal(overloaded.status, 502);

    app.handler = (_r, reply) => reply(Buffer.concat([endOfStream(RecordType.STDOUT, 1), endRequest(1, 0, 0)]));
    assert.equal((await call('/')).status, 502, 'no response at all');

    app.handler = () => {};
    targetOf = () => ({ headerTimeoutMs: 200 });
    const started = Date.now();
    const slow = await call('/');
    assert.equal(slow.status, 504);
    assert.ok(Date.now() - started < 1500);

    const closed = createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const deadPort = (closed.address() as AddressInfo).port;
    await new Promise((r) => closed.close(r));
    targetOf = () => ({ port: deadPort });
    assert.equal((await call('/')).status, 502);
    assert.equal(lastError, 'ERR_UPSTREAM_UNREACHABLE');
  });

  test('a response cut after its head reaches the client as a cut response, not a complete one', async () => {
    reset();
    app.handler = (r, reply) => {
      reply(encodeStream(RecordType.STDOUT, 1, Buffer.from('Content-Type: text/plain\r\n\r\npartial')));
      setTimeout(() => r.socket.destroy(), 50);
    };
    const r = await call('/');
    assert.equal(r.status, 200);
    assert.ok(r.error !== undefined, 'the client sees an aborted response');
    assert.equal(lastError, 'ERR_UPSTREAM_BROKEN');
  });
});
