/**
 * The response head tqserver writes itself for Content-Length responses (response-head.ts) must
 * be byte for byte what Node's own writeHead writes, on this Node version: both are served by a
 * real http server and read from a raw socket, for clients of each kind.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, type AddressInfo } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { appendBody, contentLengthHead, setHead } from '../lib/proxy/response-head.js';

interface Case {
  readonly name: string;
  /** The client's request, raw. */
  readonly request: string;
  readonly status: number;
  readonly reason: string;
  readonly headers: string[];
  readonly body: string;
}

const cases: Case[] = [
  { name: 'HTTP/1.1 keep-alive, no Date from the worker', request: 'GET /x HTTP/1.1\r\nHost: a\r\n\r\n', status: 200, reason: 'OK', headers: ['Content-Type', 'text/plain', 'Content-Length', '3', 'X-Two', 'a', 'x-two', 'b'], body: 'ok\n' },
  { name: 'the worker\'s own Date is kept, not doubled', request: 'GET /x HTTP/1.1\r\nHost: a\r\n\r\n', status: 404, reason: 'Not Found', headers: ['date', 'Thu, 01 Jan 2026 00:00:00 GMT', 'Content-Length', '0'], body: '' },
  { name: 'Connection: close from the client', request: 'GET /x HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n', status: 201, reason: 'Created', headers: ['Content-Length', '2'], body: 'hi' },
  { name: 'HTTP/1.0 with keep-alive', request: 'GET /x HTTP/1.0\r\nConnection: keep-alive\r\n\r\n', status: 200, reason: 'OK', headers: ['Content-Length', '1'], body: 'x' },
  { name: 'HTTP/1.0 without keep-alive', request: 'GET /x HTTP/1.0\r\n\r\n', status: 500, reason: 'Internal Server Error', headers: ['Content-Length', '1'], body: 'x' },
  { name: 'an empty reason phrase and a latin1 value', request: 'GET /x HTTP/1.1\r\nHost: a\r\n\r\n', status: 200, reason: '', headers: ['X-N', 'caf\xe9', 'Content-Length', '4'], body: 'abcd' },
];

const EXTRA = ['X-Correlation-ID', 'abc-123'];

/** Serves every case twice: at /node/<i> with writeHead, at /ours/<i> with response-head.ts. */
function handler(req: IncomingMessage, res: ServerResponse): void {
  const [, how, index] = (req.url ?? '').split('/');
  const c = cases[Number(index)] as Case;
  const body = Buffer.from(c.body, 'latin1');
  if (how === 'node') {
    res.writeHead(c.status, c.reason, [...c.headers, ...EXTRA]);
    res.end(body);
    return;
  }
  const head = contentLengthHead(res, c.status, c.reason, c.headers, EXTRA);
  assert.ok(head !== undefined, 'the fast path is taken');
  setHead(res, c.status, c.reason, head);
  appendBody(res, body);
  res.end();
}

/** What the server sent for `request` on a connection of its own, until it closed or went quiet. */
function rawExchange(port: number, request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let got = '';
    socket.on('data', (d) => {
      got += d.toString('latin1');
      // One whole response is enough: a kept-alive connection would not close.
      if (/\r\n\r\n/.test(got) && got.length >= got.indexOf('\r\n\r\n') + 4 + Number(/content-length: (\d+)/i.exec(got)?.[1] ?? 0)) socket.end();
    });
    socket.on('close', () => resolve(got));
    socket.on('error', reject);
    socket.setTimeout(3000, () => socket.destroy(new Error('no answer')));
    socket.write(request);
  });
}

/** The Date value differs by the second; its place and form must not. */
const normalize = (text: string): string => text.replace(/^Date: [A-Z][a-z]{2}, \d\d [A-Z][a-z]{2} \d{4} \d\d:\d\d:\d\d GMT\r$/m, 'Date: <now>\r');

describe('the response head tqserver writes itself', () => {
  let server: Server;
  let port: number;
  before(async () => {
    server = createServer({ keepAliveTimeout: 7000 }, handler);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((r) => {
    server.closeAllConnections();
    server.close(() => r());
  }));

  cases.forEach((c, i) => {
    test(`is what writeHead writes: ${c.name}`, async () => {
      const node = await rawExchange(port, c.request.replace('/x', `/node/${i}`));
      const ours = await rawExchange(port, c.request.replace('/x', `/ours/${i}`));
      assert.match(node, /^HTTP\/1\.1 \d{3} /);
      assert.equal(normalize(ours), normalize(node));
    });
  });

  test('is not used where writeHead decides more: a client expecting 100-continue, headers already set, a value writeHead refuses', async () => {
    const seen: (string | undefined)[] = [];
    const probe = createServer((req, res) => {
      if (req.url === '/set') res.setHeader('X-Own', '1');
      seen.push(contentLengthHead(res, 200, req.url === '/reason' ? 'O\x01K' : 'OK', ['Content-Length', '0'], req.url === '/extra' ? ['X-Bad', 'a\nb'] : EXTRA));
      res.end();
    });
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const p = (probe.address() as AddressInfo).port;
    try {
      await rawExchange(p, 'GET /expect HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
      for (const path of ['/set', '/reason', '/extra']) await rawExchange(p, `GET ${path} HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n`);
      assert.deepEqual(seen, [undefined, undefined, undefined, undefined]);
    } finally {
      probe.closeAllConnections();
      await new Promise<void>((r) => probe.close(() => r()));
    }
  });
});
