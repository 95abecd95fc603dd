/**
 * Hardening, bug 5: requests left behind. When a client leaves, every request on its connection
 * ends: the one dispatched has its upstream request aborted, the ones pipelined behind it were
 * never read (one request per connection at a time), the in-flight gauge returns to 0, each is
 * counted at most once, and a graceful shutdown does not wait for any of them.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Project, startServer, type Running } from './helpers/project.js';
import { BAD_UPSTREAM, descendants, fixtureWorker, RawConnection, reap, sleep, writeServerYaml } from './helpers/raw.js';
import { scrape, type Scrape } from './helpers/scrape.js';

/** The sum of tqserver_requests_total over every series of route `path`. */
function routeTotal(m: Scrape, path: string): number {
  return m.series('tqserver_requests_total').filter((s) => s.labels.path === path).reduce((sum, s) => sum + s.value, 0);
}

describe('hardening: a client that pipelines to a hanging worker and leaves', () => {
  const project = new Project('tq-harden-abandoned-');
  let server: Running;
  let before_: Scrape;
  /** The server's worker processes, to clean up if it has to be killed. */
  let family: ReturnType<typeof descendants> = [];

  before(async () => {
    writeServerYaml(project, { server: { write_timeout_seconds: 30 }, workers: { shutdown_grace_period_ms: 10_000 } });
    fixtureWorker(project, 'badworker', '/bad', BAD_UPSTREAM, 'scaling:\n  min_workers: 1\n  max_workers: 1\n');
    server = await startServer(project);
    family = descendants(server.child.pid as number);
    before_ = await scrape(server.base);
    const conn = await RawConnection.open(server.port);
    conn.send('GET /bad/hang HTTP/1.1\r\nHost: t\r\n\r\n'.repeat(10), new Array<string>(10).fill('GET'));
    await sleep(300);
    conn.destroy();
  });
  after(async () => {
    if (server !== undefined && server.child.exitCode === null && server.child.signalCode === null) server.child.kill('SIGKILL');
    await server?.exited;
    reap(family);
    project.remove();
  });

  test('tqserver_active_requests returns to 0 within 3 s', async () => {
    const deadline = Date.now() + 3000;
    let active = NaN;
    for (;;) {
      active = (await scrape(server.base)).value('tqserver_active_requests');
      if (active === 0 || Date.now() > deadline) break;
      await sleep(100);
    }
    assert.equal(active, 0, `3 s after the client left, tqserver_active_requests is still ${active}`);
  });

  test('only the request actually dispatched is counted, and nothing is left uncounted: requests_total for the route grows by at most 1, with none active', async () => {
    await sleep(200);
    const now = await scrape(server.base);
    const grown = routeTotal(now, '/bad') - routeTotal(before_, '/bad');
    const active = now.value('tqserver_active_requests');
    const series = now.series('tqserver_requests_total').filter((s) => s.labels.path === '/bad').map((s) => `${s.labels.method} ${s.labels.status}: ${s.value}`);
    // Both at once: a request never counted because it never ended would otherwise pass the first.
    assert.ok(grown <= 1 && active === 0, `10 pipelined requests of which one could have been dispatched: counted ${grown} times (${series.join(', ')}), ${active} still active`);
  });

  test('SIGTERM then exits 0 within 5 s (shutdown grace period 10 s): nothing left in flight', async () => {
    const started = Date.now();
    family = descendants(server.child.pid as number);
    server.child.kill('SIGTERM');
    const code = await Promise.race([server.exited, sleep(5000).then(() => 'still running' as const)]);
    assert.notEqual(code, 'still running', `still running 5 s after SIGTERM (a request left behind is holding the shutdown)\nstderr:\n${server.stderr().slice(-2000)}`);
    assert.equal(code, 0, `exit code ${code} after ${Date.now() - started} ms`);
  });
});
