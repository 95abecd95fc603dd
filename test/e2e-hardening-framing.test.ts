/**
 * Hardening, bug 1: request smuggling. What tqserver sends a worker must be framed by tqserver
 * itself (RFC 9112 6.3, 7.6.1): a body is always announced, Connection cannot name the framing or
 * the forwarding headers away, Host is validated (RFC 9112 3.2), and the client's Forwarded and
 * X-Real-IP never reach the worker. The recorder fixture parses strictly what it receives, so the
 * worker's view of the stream is checked byte for byte.
 */
import assert from 'node:assert/strict';
import { after, before, beforeEach, describe, test } from 'node:test';
import { Project, startServer, type Running } from './helpers/project.js';
import { describeLog, exchange, fixtureWorker, RawConnection, RECORDER, RecorderClient, recordedHeader, sleep, stopWithin, writeServerYaml, type Recorded } from './helpers/raw.js';

/** A complete request, sent as the body of another one. */
const SMUGGLED = 'GET /smuggled HTTP/1.1\r\nHost: x\r\nX-Forwarded-For: 6.6.6.6\r\n\r\n';

/** `text` as a chunked body: one chunk, then the last chunk. */
function chunked(text: string): string {
  return `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n0\r\n\r\n`;
}

/** The recorded requests (not garbage). */
function requests(log: readonly Recorded[]): Recorded[] {
  return log.filter((e) => e.garbage === undefined);
}

function assertNoGarbage(log: readonly Recorded[], what: string): void {
  const garbage = log.filter((e) => e.garbage !== undefined);
  assert.equal(garbage.length, 0, `${what}: the worker received bytes a strict HTTP/1.1 server refuses: ${describeLog(garbage)}`);
}

/** The target the recorder says it answered, from its JSON body. */
function answeredTarget(text: string): string | undefined {
  try {
    return (JSON.parse(text) as { target?: string }).target;
  } catch {
    return undefined;
  }
}

describe('hardening: request framing and forwarding headers (smuggling)', () => {
  const project = new Project('tq-harden-framing-');
  let server: Running;
  let rec: RecorderClient;

  before(async () => {
    writeServerYaml(project, { server: { write_timeout_seconds: 3 } });
    fixtureWorker(project, 'rec', '/rec', RECORDER, 'scaling:\n  min_workers: 1\n  max_workers: 1\n');
    server = await startServer(project);
    rec = await RecorderClient.discover(server.base, '/rec');
  });
  after(async () => {
    await stopWithin(server);
    project.remove();
  });
  beforeEach(async () => {
    await rec.reset();
  });

  for (const method of ['GET', 'HEAD', 'DELETE', 'OPTIONS']) {
    test(`${method} with a chunked body that holds a request: the body goes upstream framed, no request is smuggled`, async () => {
      const conn = await RawConnection.open(server.port);
      try {
        conn.send(`${method} /rec/a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n${chunked(SMUGGLED)}`, [method]);
        assert.ok(await conn.waitFor(1, 5000), `${method} /rec/a (chunked body) got no response: ${conn.describe()}`);
        assert.equal(conn.responses[0]?.status, 200, `${method} /rec/a: ${conn.describe()}`);
        conn.send('GET /rec/b HTTP/1.1\r\nHost: x\r\n\r\n');
        assert.ok(await conn.waitFor(2, 5000), `GET /rec/b, sent next on the same connection, got no response: ${conn.describe()}`);
        const second = conn.responses[1];
        assert.equal(second?.status, 200, `GET /rec/b: ${conn.describe()}`);
        if (method !== 'HEAD') assert.equal(answeredTarget(conn.responses[0]?.text() ?? ''), '/a', `the answer to ${method} /rec/a was the worker's answer to another request: ${conn.responses[0]?.text()}`);
        assert.equal(answeredTarget(second?.text() ?? ''), '/b', `the answer to GET /rec/b was the worker's answer to another request (desync): ${second?.text()}`);
      } finally {
        conn.destroy();
      }
      const log = await rec.log();
      const targets = requests(log).map((e) => e.target);
      assert.ok(!targets.includes('/smuggled'), `the request inside the body of ${method} /rec/a reached the worker as a request of its own (smuggled); the worker saw ${describeLog(log)}`);
      assertNoGarbage(log, `${method} with a chunked body`);
      assert.deepEqual(targets, ['/a', '/b'], `the worker should see exactly /a then /b; it saw ${describeLog(log)}`);
      const [a, b] = requests(log) as [Recorded, Recorded];
      assert.equal(a.method, method);
      assert.ok(a.framing === 'chunked' || a.framing === 'length', `${method} /a went upstream with a body its head did not announce (framing ${a.framing}): ${describeLog(log)}`);
      assert.equal(a.body, SMUGGLED, `${method} /a: the worker got a different body`);
      const xff = recordedHeader(b, 'x-forwarded-for');
      assert.equal(xff.length, 1, `/b should carry one X-Forwarded-For, got ${JSON.stringify(xff)}`);
      assert.match(xff[0] as string, /(^|,\s*)127\.0\.0\.1$/, `/b's X-Forwarded-For must end with the client address tqserver saw (127.0.0.1), got ${JSON.stringify(xff)}`);
    });
  }

  test('Connection: Content-Length cannot strip the framing of a body that holds a request; the next clients are not captured', async () => {
    const inner = 'POST /captured HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 500\r\n\r\n';
    const first = await exchange(server.port, `GET /rec/c HTTP/1.1\r\nHost: x\r\nContent-Length: ${Buffer.byteLength(inner)}\r\nConnection: Content-Length\r\n\r\n${inner}`);
    assert.ok(first.ok, `GET /rec/c got no response: ${first.conn.describe()}`);
    assert.equal(first.conn.responses[0]?.status, 200, `GET /rec/c: ${first.conn.describe()}`);

    const cookie = `session=${'s'.repeat(600)}`;
    // A victim without a body, then one with a body (bodies and bodyless requests may use different upstream connections).
    const d = await exchange(server.port, `GET /rec/d HTTP/1.1\r\nHost: x\r\nCookie: ${cookie}\r\n\r\n`);
    assert.ok(d.ok, `GET /rec/d (another client) got no response: ${d.conn.describe()}`);
    assert.equal(d.conn.responses[0]?.status, 200, `GET /rec/d: ${d.conn.describe()}`);
    const e = await exchange(server.port, `POST /rec/e HTTP/1.1\r\nHost: x\r\nCookie: ${cookie}\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nhello world`, { methods: ['POST'] });
    assert.ok(e.ok, `POST /rec/e (another client) got no response: ${e.conn.describe()}`);

    const log = await rec.log();
    const targets = requests(log).map((x) => x.target);
    assert.ok(!targets.includes('/captured'), `the request in the body of GET /rec/c reached the worker as a request of its own, capturing what came next: ${describeLog(log)}`);
    assert.equal(answeredTarget(d.conn.responses[0]?.text() ?? ''), '/d', `GET /rec/d got the answer to another request: ${d.conn.responses[0]?.text()}`);
    assert.equal(e.conn.responses[0]?.status, 200, `POST /rec/e: ${e.conn.describe()}`);
    assert.equal(answeredTarget(e.conn.responses[0]?.text() ?? ''), '/e', `POST /rec/e got the answer to another request: ${e.conn.responses[0]?.text()}`);
    assertNoGarbage(log, 'Connection: Content-Length');
    assert.deepEqual(targets, ['/c', '/d', '/e'], `the worker should see /c, /d, /e as three requests; it saw ${describeLog(log)}`);
    const [c, dd, ee] = requests(log) as [Recorded, Recorded, Recorded];
    assert.equal(c.body, inner, '/c: the worker got a different body');
    assert.deepEqual(recordedHeader(dd, 'cookie'), [cookie], '/d: the Cookie did not arrive intact');
    assert.deepEqual(recordedHeader(ee, 'cookie'), [cookie], '/e: the Cookie did not arrive intact');
    assert.equal(ee.body, 'hello world', '/e: the worker got a different body');
  });

  test('Connection naming Host, X-Forwarded-For, Content-Length and X-Correlation-ID removes none of them', async () => {
    const body = 'payload=1&more=2';
    const r = await exchange(
      server.port,
      `POST /rec/p HTTP/1.1\r\nHost: example.test\r\nX-Forwarded-For: 1.2.3.4\r\nX-Correlation-ID: corr-1\r\n` +
        `Connection: Host, X-Forwarded-For, Content-Length, X-Correlation-ID\r\nContent-Type: text/plain\r\nContent-Length: ${body.length}\r\n\r\n${body}`,
      { methods: ['POST'] },
    );
    assert.ok(r.ok, `POST /rec/p got no response: ${r.conn.describe()}`);
    assert.equal(r.conn.responses[0]?.status, 200, `POST /rec/p: ${r.conn.describe()}`);
    const log = await rec.log();
    assertNoGarbage(log, 'Connection naming framing headers');
    assert.equal(requests(log).length, 1, `one request expected upstream: ${describeLog(log)}`);
    const p = requests(log)[0] as Recorded;
    assert.deepEqual(recordedHeader(p, 'host'), ['example.test'], `the worker must get the client's Host even when Connection names it; got ${JSON.stringify(recordedHeader(p, 'host'))}`);
    const xff = recordedHeader(p, 'x-forwarded-for');
    assert.equal(xff.length, 1, `the worker must get X-Forwarded-For even when Connection names it; got ${JSON.stringify(xff)}`);
    assert.match(xff[0] as string, /(^|,\s*)127\.0\.0\.1$/, `X-Forwarded-For must end with 127.0.0.1, got ${JSON.stringify(xff)}`);
    assert.ok(p.framing === 'length' || p.framing === 'chunked', `the body went upstream unannounced (framing ${p.framing})`);
    if (p.framing === 'length') assert.deepEqual(recordedHeader(p, 'content-length'), [String(body.length)]);
    assert.equal(p.body, body, 'the worker got a different body');
  });

  for (const [what, hosts] of [
    ['two different Host headers', ['a.example', 'b.example']],
    ['two identical Host headers', ['a.example', 'a.example']],
  ] as const) {
    test(`${what}: 400 from tqserver, the worker sees nothing`, async () => {
      const r = await exchange(server.port, `GET /rec/h HTTP/1.1\r\n${hosts.map((h) => `Host: ${h}\r\n`).join('')}\r\n`);
      assert.ok(r.ok, `no response: ${r.conn.describe()}`);
      assert.equal(r.conn.responses[0]?.status, 400, `a request with more than one Host must get 400 (RFC 9112 3.2): ${r.conn.describe()}`);
      await sleep(100);
      const log = await rec.log();
      assert.equal(log.length, 0, `the worker must not see a request with two Hosts: ${describeLog(log)}`);
    });
  }

  test('an HTTP/1.1 request without Host: 400, the worker sees nothing', async () => {
    const r = await exchange(server.port, 'GET /rec/nohost HTTP/1.1\r\nX-A: 1\r\n\r\n');
    assert.ok(r.ok, `no response: ${r.conn.describe()}`);
    assert.equal(r.conn.responses[0]?.status, 400, `HTTP/1.1 without Host must get 400: ${r.conn.describe()}`);
    await sleep(100);
    const log = await rec.log();
    assert.equal(log.length, 0, `the worker must not see it: ${describeLog(log)}`);
  });

  test("an HTTP/1.0 request without Host reaches the worker with tqserver's own authority, never the worker's address", async () => {
    const r = await exchange(server.port, 'GET /rec/old HTTP/1.0\r\n\r\n');
    assert.ok(r.ok, `no response: ${r.conn.describe()}`);
    assert.equal(r.conn.responses[0]?.status, 200, r.conn.describe());
    const log = await rec.log();
    assert.equal(requests(log).length, 1, describeLog(log));
    const old = requests(log)[0] as Recorded;
    const listener = `127.0.0.1:${server.port}`;
    const host = recordedHeader(old, 'host');
    assert.deepEqual(host, [listener], `Host should be the listener's address ${listener}; got ${JSON.stringify(host)} (the worker listens on ${rec.port})`);
    const xfh = recordedHeader(old, 'x-forwarded-host');
    assert.ok(xfh.length <= 1, `one X-Forwarded-Host at most, got ${JSON.stringify(xfh)}`);
    if (xfh.length === 1) {
      assert.ok(!(xfh[0] as string).includes(String(rec.port)), `X-Forwarded-Host names the worker's internal address: ${JSON.stringify(xfh)}`);
      assert.ok(xfh[0] === listener || xfh[0] === '', `X-Forwarded-Host should be ${listener} (or absent), got ${JSON.stringify(xfh)}`);
    }
  });

  for (const version of ['1.0', '1.1']) {
    test(`client-sent Forwarded and X-Real-IP never reach the worker (HTTP/${version})`, async () => {
      const host = version === '1.1' ? 'Host: x\r\n' : '';
      const r = await exchange(server.port, `GET /rec/fwd HTTP/${version}\r\n${host}Forwarded: for=6.6.6.6\r\nX-Real-IP: 6.6.6.6\r\n\r\n`);
      assert.ok(r.ok, `no response: ${r.conn.describe()}`);
      assert.equal(r.conn.responses[0]?.status, 200, r.conn.describe());
      const log = await rec.log();
      assert.equal(requests(log).length, 1, describeLog(log));
      const fwd = requests(log)[0] as Recorded;
      assert.deepEqual(recordedHeader(fwd, 'forwarded'), [], `the client's Forwarded reached the worker: ${JSON.stringify(recordedHeader(fwd, 'forwarded'))}`);
      assert.deepEqual(recordedHeader(fwd, 'x-real-ip'), [], `the client's X-Real-IP reached the worker: ${JSON.stringify(recordedHeader(fwd, 'x-real-ip'))}`);
    });
  }
});
