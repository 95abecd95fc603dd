/**
 * Hardening, bug 6: upgrades (WebSocket). Before the 101 an upgrade is a request like any other:
 * it holds a worker slot only while its client is there, it gets 504/502 when the worker does not
 * answer within write_timeout_seconds, it carries no body (a body makes its framing ambiguous:
 * 400), it is counted in tqserver_requests_total, and the metrics path is never proxied.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Project, startServer, type Running } from './helpers/project.js';
import { BAD_UPSTREAM, describeLog, exchange, fetchWithTimeout, fixtureWorker, RawConnection, RECORDER, RecorderClient, sleep, stopWithin, writeServerYaml } from './helpers/raw.js';
import { scrape } from './helpers/scrape.js';

const UPGRADE = 'Connection: Upgrade\r\nUpgrade: websocket\r\n';

describe('hardening: upgrades', () => {
  const project = new Project('tq-harden-upgrade-');
  let server: Running;
  let rec: RecorderClient;

  before(async () => {
    writeServerYaml(project, { server: { write_timeout_seconds: 2 }, workers: { queue_timeout_ms: 1000 } });
    fixtureWorker(project, 'rec', '/', RECORDER, 'scaling:\n  min_workers: 1\n  max_workers: 1\n');
    fixtureWorker(project, 'one', '/one', BAD_UPSTREAM, 'scaling:\n  min_workers: 1\n  max_workers: 1\n  max_concurrency: 1\n');
    fixtureWorker(project, 'silent', '/silent', BAD_UPSTREAM, 'scaling:\n  min_workers: 1\n  max_workers: 1\n');
    project.echoWorker('ws', '/ws', 'scaling:\n  min_workers: 1\n  max_workers: 1\n');
    server = await startServer(project);
    rec = await RecorderClient.discover(server.base, '/');
  });
  after(async () => {
    await stopWithin(server);
    project.remove();
  });

  test('upgrades a worker never answers, left by their clients, free its only slot: a GET then gets 200', async () => {
    const conns: RawConnection[] = [];
    for (let i = 0; i < 5; i++) {
      const c = await RawConnection.open(server.port);
      c.send(`GET /one/socket-${i} HTTP/1.1\r\nHost: x\r\n${UPGRADE}\r\n`);
      conns.push(c);
    }
    await sleep(200);
    for (const c of conns) c.destroy();
    await sleep(100);
    let r;
    try {
      r = await fetchWithTimeout(server.base, '/one/ok', { timeoutMs: 5000 });
    } catch (err) {
      assert.fail(`GET /one/ok after the upgrade clients left: ${(err as Error).message}`);
    }
    assert.equal(r.status, 200, `GET /one/ok after the upgrade clients left got ${r.status} (max_concurrency 1: an abandoned upgrade still holds the slot, or its queue place)`);
    assert.equal(r.text(), 'fine');
  });

  test('an upgrade the worker never answers gets 504 (or 502) within write_timeout_seconds + 1 s', async () => {
    const { conn, ok, elapsedMs } = await exchange(server.port, `GET /silent/socket HTTP/1.1\r\nHost: x\r\n${UPGRADE}\r\n`, { timeoutMs: 5000 });
    assert.ok(ok, `no answer after ${elapsedMs} ms: ${conn.describe()}`);
    const status = conn.responses[0]?.status;
    assert.ok(status === 504 || status === 502, `expected 504 or 502, got ${status}: ${conn.describe()}`);
    assert.ok(elapsedMs < 3000, `the ${status} took ${elapsedMs} ms (write_timeout_seconds is 2)`);
  });

  test('an upgrade request with a body (Content-Length: 5) gets 400 and never reaches a worker', async () => {
    await rec.reset();
    const { conn, ok } = await exchange(server.port, `GET /with-body HTTP/1.1\r\nHost: x\r\n${UPGRADE}Content-Length: 5\r\n\r\nhello`, { timeoutMs: 5000 });
    await sleep(200);
    const log = await rec.log();
    const problems: string[] = [];
    if (log.length > 0) problems.push(`the worker saw it: ${describeLog(log)}`);
    if (!ok) problems.push(`no answer: ${conn.describe()}`);
    else if (conn.responses[0]?.status !== 400) problems.push(`expected 400: ${conn.describe()}`);
    assert.deepEqual(problems, [], `an upgrade with a body must get 400 and reach no worker: ${problems.join('; ')}`);
  });

  test('a successful upgrade is counted in tqserver_requests_total with status 101', async () => {
    const labels = { method: 'GET', path: '/ws', status: '101' };
    const before_ = (await scrape(server.base)).value('tqserver_requests_total', labels);
    const conn = await RawConnection.open(server.port);
    try {
      conn.send('GET /ws/socket HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n');
      assert.ok(await conn.waitFor(1, 5000), `no answer to the upgrade: ${conn.describe()}`);
      assert.equal(conn.responses[0]?.status, 101, conn.describe());
      conn.socket.write('ping-pong');
      const deadline = Date.now() + 3000;
      while (!conn.reader.rest.toString('latin1').includes('ping-pong') && Date.now() < deadline) await sleep(20);
      assert.ok(conn.reader.rest.toString('latin1').includes('ping-pong'), `the upgraded connection did not echo: ${JSON.stringify(conn.reader.rest.toString('latin1'))}`);
    } finally {
      conn.destroy();
    }
    const deadline = Date.now() + 3000;
    let counted = 0;
    for (;;) {
      counted = (await scrape(server.base)).value('tqserver_requests_total', labels) - before_;
      if (counted >= 1 || Date.now() > deadline) break;
      await sleep(100);
    }
    assert.equal(counted, 1, `tqserver_requests_total{method="GET",path="/ws",status="101"} grew by ${counted} for one upgrade`);
  });

  test('GET /metrics with Connection: Upgrade is never proxied to a worker', async () => {
    await rec.reset();
    const { conn, ok } = await exchange(server.port, `GET /metrics HTTP/1.1\r\nHost: x\r\n${UPGRADE}\r\n`, { timeoutMs: 5000 });
    await sleep(200);
    const log = await rec.log();
    assert.equal(log.length, 0, `the metrics path was proxied to the worker at /: ${describeLog(log)}`);
    assert.ok(ok, `no answer: ${conn.describe()}`);
    const r = conn.responses[0];
    const status = r?.status ?? 0;
    assert.ok((status === 200 && /^# (HELP|TYPE) tqserver_/m.test(r?.text() ?? '')) || (status >= 400 && status < 500), `expected the metrics text or a 4xx from tqserver: ${conn.describe()}`);
  });
});
