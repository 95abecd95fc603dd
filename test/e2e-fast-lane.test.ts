/**
 * The fast lane (lib/proxy/fast-lane.ts), on real sockets against a real server in prod mode:
 * plain requests answered by the lane and the rest by Node's http server must look the same to
 * a client, one connection may go from the lane to Node at any request, and every byte keeps
 * its order.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { parsePlain } from '../lib/proxy/plain-request.js';
import { Project, startServer, type Running } from './helpers/project.js';
import { RawConnection, type RawResponse } from './helpers/raw.js';

/** A worker answering by path: a Content-Length body, a chunked one, a 204, a large body, and what it was sent. */
const WORKER = `import { createServer } from 'node:http';
const big = Buffer.alloc(300 * 1024, 'b');
const mid = Buffer.alloc(20 * 1024, 'm');
let midServed = 0;
createServer((req, res) => {
  let body = '';
  req.on('data', (d) => (body += d));
  req.on('end', () => {
    const path = req.url.split('?')[0];
    if (path === '/chunked') { res.writeHead(200, { 'Content-Type': 'text/plain' }); res.write('one,'); setTimeout(() => res.end('two'), 5); return; }
    if (path === '/none') { res.writeHead(204, { 'X-A': 'b' }); res.end(); return; }
    if (path === '/big') { res.writeHead(200, { 'Content-Length': big.length }); res.end(big); return; }
    if (path === '/mid') { midServed++; res.writeHead(200, { 'Content-Length': mid.length }); res.end(mid); return; }
    if (path === '/mid-served') { res.writeHead(200, { 'Content-Length': String(midServed).length }); res.end(String(midServed)); return; }
    if (path === '/echo') { const out = JSON.stringify({ method: req.method, url: req.url, headers: req.rawHeaders, body }); res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(out) }); res.end(out); return; }
    res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 3, 'X-Worker': 'yes' });
    res.end('ok\\n');
  });
}).listen(Number(process.env.WORKER_PORT), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`;

/** Sends `wire` (requests of `methods`) on one new connection and waits for all the answers. */
async function send(port: number, wire: string, methods: string[]): Promise<{ conn: RawConnection; responses: RawResponse[] }> {
  const conn = await RawConnection.open(port);
  conn.send(wire, methods);
  const ok = await conn.waitFor(methods.length, 5000);
  assert.ok(ok, `${methods.length} responses expected: ${conn.describe()}`);
  return { conn, responses: conn.responses };
}

/** A response's head with the values that differ between two requests (Date, the correlation id) blanked. */
function shape(r: RawResponse): string {
  return `${r.status} ${r.reason}\n` + r.headers.map(([n, v]) => `${n}: ${/^(date|x-correlation-id)$/i.test(n) ? '<varies>' : v}`).join('\n');
}

describe('the fast lane', () => {
  const project = new Project('tq-fast-lane-');
  let server: Running;

  before(async () => {
    project.server();
    project.write('workers/w/index.mjs', WORKER);
    project.write('workers/w/config/worker.yaml', 'path: /\nnode:\n  entrypoint: index.mjs\nscaling:\n  min_workers: 1\n  max_workers: 1\nlogging:\n  log_file: ~\n');
    server = await startServer(project);
  });
  after(async () => {
    await server?.stop();
    project.remove();
  });

  test('a plain GET and the same GET that Node answers (it announces a body of 0 bytes) get the same head and body', async () => {
    const lane = await send(server.port, 'GET /x?q=1 HTTP/1.1\r\nHost: t\r\n\r\n', ['GET']);
    const node = await send(server.port, 'GET /x?q=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n', ['GET']);
    lane.conn.destroy();
    node.conn.destroy();
    const [a, b] = [lane.responses[0] as RawResponse, node.responses[0] as RawResponse];
    assert.equal(shape(a), shape(b));
    assert.equal(a.text(), 'ok\n');
    assert.equal(b.text(), 'ok\n');
    assert.match(a.header('x-correlation-id') ?? '', /^[0-9a-f-]{36}$/);
  });

  test('a chunked answer: the same head from the lane and from Node (Transfer-Encoding where Node writes it)', async () => {
    const lane = await send(server.port, 'GET /chunked HTTP/1.1\r\nHost: t\r\n\r\n', ['GET']);
    const node = await send(server.port, 'GET /chunked HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n', ['GET']);
    lane.conn.destroy();
    node.conn.destroy();
    assert.equal(shape(lane.responses[0] as RawResponse), shape(node.responses[0] as RawResponse));
  });

  test('Proxy-Connection: close is obeyed as Node obeys it', async () => {
    const { conn, responses } = await send(server.port, 'GET /x HTTP/1.1\r\nHost: t\r\nProxy-Connection: close\r\n\r\n', ['GET']);
    await new Promise((r) => setTimeout(r, 200));
    assert.equal(responses[0]?.header('connection'), 'close');
    assert.ok(conn.closed);
  });

  test('a client that pipelines and reads nothing is not answered faster than it reads', async () => {
    const before = Number((await send(server.port, 'GET /mid-served HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n', ['GET'])).responses[0]?.text());
    const { connect } = await import('node:net');
    const greedy = connect({ port: server.port, host: '127.0.0.1' });
    await new Promise((r) => greedy.once('connect', r));
    greedy.pause();
    greedy.write('GET /mid HTTP/1.1\r\nHost: t\r\n\r\n'.repeat(1000));
    await new Promise((r) => setTimeout(r, 1500));
    const served = Number((await send(server.port, 'GET /mid-served HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n', ['GET'])).responses[0]?.text()) - before;
    greedy.destroy();
    // 1000 answers of 20 KB would be 20 MB queued in tqserver; what the socket buffers hold is a few hundred.
    assert.ok(served > 0 && served < 500, `${served} of 1000 pipelined requests answered to a client that read none`);
  });

  test('one connection: plain GETs, a POST with a body (Node from then on), a GET; all answered in order', async () => {
    const post = 'POST /echo HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\n\r\nhello';
    const { conn, responses } = await send(server.port, `GET /echo?n=1 HTTP/1.1\r\nHost: t\r\n\r\nGET /echo?n=2 HTTP/1.1\r\nHost: t\r\n\r\n${post}GET /echo?n=3 HTTP/1.1\r\nHost: t\r\n\r\n`, ['GET', 'GET', 'POST', 'GET']);
    conn.destroy();
    const seen = responses.map((r) => JSON.parse(r.text()) as { method: string; url: string; body: string });
    assert.deepEqual(seen.map((s) => `${s.method} ${s.url} ${s.body}`), ['GET /echo?n=1 ', 'GET /echo?n=2 ', 'POST /echo hello', 'GET /echo?n=3 ']);
  });

  test('a request split across writes is still answered (the lane hands an unfinished head to Node with its bytes)', async () => {
    const conn = await RawConnection.open(server.port);
    conn.send('GET /echo?split=1 HT', ['GET']);
    await new Promise((r) => setTimeout(r, 50));
    conn.socket.write('TP/1.1\r\nHost: t\r\n\r\n');
    assert.ok(await conn.waitFor(1, 5000), conn.describe());
    assert.equal((JSON.parse(conn.responses[0]?.text() ?? '{}') as { url: string }).url, '/echo?split=1');
    // ... and the connection serves plain requests afterwards.
    conn.send('GET /x HTTP/1.1\r\nHost: t\r\n\r\n', ['GET']);
    assert.ok(await conn.waitFor(2, 5000), conn.describe());
    conn.destroy();
  });

  test('what the worker is sent: its headers forwarded, hop-by-hop ones dropped, X-Forwarded-* set by tqserver', async () => {
    const { conn, responses } = await send(server.port, 'GET /echo HTTP/1.1\r\nHost: example.test\r\nX-Forwarded-For: 10.0.0.1\r\nX-Real-IP: 6.6.6.6\r\nConnection: keep-alive, X-Drop\r\nX-Drop: secret\r\nX-Keep: a\r\nX-Keep: b\r\n\r\n', ['GET']);
    conn.destroy();
    const { headers } = JSON.parse(responses[0]?.text() ?? '{}') as { headers: string[] };
    const names = headers.filter((_, i) => i % 2 === 0).map((n) => n.toLowerCase());
    const get = (name: string): string[] => headers.filter((_, i) => i % 2 === 1 && headers[i - 1]?.toLowerCase() === name);
    assert.deepEqual(get('host'), ['example.test']);
    assert.deepEqual(get('x-forwarded-for'), ['10.0.0.1, 127.0.0.1']);
    assert.deepEqual(get('x-forwarded-host'), ['example.test']);
    assert.deepEqual(get('x-keep'), ['a', 'b']);
    for (const gone of ['connection', 'x-drop', 'x-real-ip']) assert.ok(!names.includes(gone), `${gone} reached the worker: ${headers.join(' | ')}`);
  });

  test('framing: a chunked answer stays chunked, a 204 and a HEAD carry no body, a 300 KB body arrives whole; the connection stays in step', async () => {
    const wire = 'GET /chunked HTTP/1.1\r\nHost: t\r\n\r\nGET /none HTTP/1.1\r\nHost: t\r\n\r\nHEAD /x HTTP/1.1\r\nHost: t\r\n\r\nGET /big HTTP/1.1\r\nHost: t\r\n\r\nGET /x HTTP/1.1\r\nHost: t\r\n\r\n';
    const { conn, responses } = await send(server.port, wire, ['GET', 'GET', 'HEAD', 'GET', 'GET']);
    conn.destroy();
    const [chunked, none, head, big, last] = responses as [RawResponse, RawResponse, RawResponse, RawResponse, RawResponse];
    assert.equal(chunked.header('transfer-encoding'), 'chunked');
    assert.equal(chunked.text(), 'one,two');
    assert.equal(none.status, 204);
    assert.equal(none.body.length, 0);
    assert.equal(none.header('transfer-encoding'), undefined);
    assert.equal(head.header('content-length'), '3');
    assert.equal(head.body.length, 0);
    assert.equal(big.body.length, 300 * 1024);
    assert.equal(last.text(), 'ok\n');
  });

  test('Connection: close is the last response on the connection', async () => {
    const { conn, responses } = await send(server.port, 'GET /x HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\nGET /x HTTP/1.1\r\nHost: t\r\n\r\n', ['GET']);
    assert.equal(responses[0]?.header('connection'), 'close');
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(conn.closed, 'the connection closed after the response');
    assert.equal(conn.responses.length, 1);
  });

  test('a request the lane does not take as plain gets Node\'s answer: a control character in a header is a 400', async () => {
    const conn = await RawConnection.open(server.port);
    conn.send('GET /x HTTP/1.1\r\nHost: t\r\nX-Bad: a\x01b\r\n\r\n', ['GET']);
    await conn.waitFor(1, 3000);
    conn.destroy();
    assert.equal(conn.responses[0]?.status, 400, conn.describe());
  });
});

describe('the fast lane and its timeouts', () => {
  test('a connection that sends nothing gets a 408 after read_timeout_seconds and is closed, as Node\'s server does it', async () => {
    const project = new Project('tq-fast-lane-timeout-');
    project.server().write('config/server.yaml', project.read('config/server.yaml').replace('server:\n', 'server:\n  read_timeout_seconds: 1\n  idle_timeout_seconds: 60\n'));
    project.write('workers/w/index.mjs', WORKER);
    project.write('workers/w/config/worker.yaml', 'path: /\nnode:\n  entrypoint: index.mjs\nlogging:\n  log_file: ~\n');
    const s = await startServer(project);
    try {
      const silent = await RawConnection.open(s.port);
      const started = Date.now();
      await silent.waitFor(1, 5000);
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(silent.responses[0]?.status, 408, silent.describe());
      assert.ok(silent.closed, 'closed after the 408');
      assert.ok(Date.now() - started < 4000, `answered after ${Date.now() - started} ms`);
      // A connection that was answered once waits under idle_timeout_seconds instead.
      const kept = await RawConnection.open(s.port);
      kept.send('GET /x HTTP/1.1\r\nHost: t\r\n\r\n', ['GET']);
      assert.ok(await kept.waitFor(1, 5000), kept.describe());
      await new Promise((r) => setTimeout(r, 1600));
      assert.ok(!kept.closed, 'a kept-alive connection is not held to read_timeout_seconds');
      kept.destroy();
    } finally {
      await s.stop();
      project.remove();
    }
  });
});

describe('parsePlain: what the fast lane takes as plain', () => {
  const plain = (head: string): boolean => parsePlain(head) !== undefined;

  test('a GET or HEAD in HTTP/1.1 with one Host and nothing else unusual', () => {
    assert.ok(plain('GET / HTTP/1.1\r\nHost: a'));
    assert.ok(plain('HEAD /a/b?c=d&e=%20 HTTP/1.1\r\nHost: a\r\nAccept: */*\r\nX-Y:z'));
    assert.ok(plain('GET / HTTP/1.1\r\nhost: a\r\nConnection: close'));
    assert.equal(parsePlain('GET /p HTTP/1.1\r\nHost: a\r\nConnection: close')?.close, true);
  });

  const refused: [string, string][] = [
    ['another method', 'POST / HTTP/1.1\r\nHost: a'],
    ['a lower-case method', 'get / HTTP/1.1\r\nHost: a'],
    ['HTTP/1.0', 'GET / HTTP/1.0\r\nHost: a'],
    ['no Host', 'GET / HTTP/1.1\r\nX: y'],
    ['two Hosts', 'GET / HTTP/1.1\r\nHost: a\r\nHost: b'],
    ['a body announced', 'GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 0'],
    ['chunked', 'GET / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked'],
    ['an upgrade', 'GET / HTTP/1.1\r\nHost: a\r\nUpgrade: websocket\r\nConnection: Upgrade'],
    ['Expect', 'GET / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue'],
    ['an absolute-form target', 'GET http://a/ HTTP/1.1\r\nHost: a'],
    ['a space in the target', 'GET /a b HTTP/1.1\r\nHost: a'],
    ['a non-ASCII byte in the target', 'GET /caf\xe9 HTTP/1.1\r\nHost: a'],
    ['two spaces after the method', 'GET  / HTTP/1.1\r\nHost: a'],
    ['a header name that is not a token', 'GET / HTTP/1.1\r\nHost: a\r\nX(Y): z'],
    ['a space before the colon', 'GET / HTTP/1.1\r\nHost : a'],
    ['a control character in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b'],
    ['a bare LF in a value', 'GET / HTTP/1.1\r\nHost: a\r\nX: a\nInjected: b'],
    ['an obs-folded line', 'GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b'],
    ['a line without a colon', 'GET / HTTP/1.1\r\nHost: a\r\nbroken'],
    ['Proxy-Connection (Node reads it as Connection)', 'GET / HTTP/1.1\r\nHost: a\r\nProxy-Connection: keep-alive'],
  ];
  for (const [name, head] of refused) test(`not plain: ${name}`, () => assert.equal(plain(head), false));
});
