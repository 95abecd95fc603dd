/**
 * The monitoring worker's configuration and scraping, against real sockets: the environment is
 * read and checked once; a scrape sends the credential, undoes gzip, and turns every kind of
 * failure (status, timeout, size, cut connection, unreadable body) into a gap row and a node
 * status, never an exception out of the loop.
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { test } from 'node:test';
import { gzipSync } from 'node:zlib';

interface NodeTarget { name: string; url: URL; authorization: string | undefined; local: boolean }
interface Config { port: number; basePath: string; intervalMs: number; timeoutMs: number; staleAfterMs: number; maxSeries: number; maxScrapeBytes: number; fineSlots: number; coarseSlots: number; accessAuthorization: string | undefined; nodes: readonly NodeTarget[] }
interface NodeStatus { name: string; state: string; lastSuccessAt: number | null; lastError: string | null; lastErrorCode: string | null; consecutiveFailures: number; format: string | null; samples: number | null }
interface Series { values: Float64Array; name: string }
interface NodeHistory { fine: { count: number; head: number; slots: number }; byName(n: string): Iterable<Series>; seriesCount: number }

const { resolveConfig, nodeAuthorizationVariable } = (await import(new URL('../workers/monitoring/src/config.mjs', import.meta.url).href)) as {
  resolveConfig(env: Record<string, string | undefined>): Config;
  nodeAuthorizationVariable(name: string): string;
};
const { fetchExposition } = (await import(new URL('../workers/monitoring/src/fetch-exposition.mjs', import.meta.url).href)) as {
  fetchExposition(url: URL, o: { authorization: string | undefined; timeoutMs: number; maxBytes: number }): Promise<{ body: string; contentType: string | undefined; wireBytes: number }>;
};
const { Scraper } = (await import(new URL('../workers/monitoring/src/scraper.mjs', import.meta.url).href)) as {
  Scraper: new (c: Pick<Config, 'nodes' | 'intervalMs' | 'timeoutMs' | 'maxScrapeBytes'>, store: unknown, clock?: { now?: () => number }) => { scrapeAll(): Promise<void>; status(): NodeStatus[]; stop(): void };
};
const { Store } = (await import(new URL('../workers/monitoring/src/store.mjs', import.meta.url).href)) as {
  Store: new (o: { fineSlots: number; coarseSlots: number; staleAfterMs: number; maxSeries: number }) => { node(n: string): NodeHistory };
};

/** A metrics server on 127.0.0.1, port 0, answering with `handler`. */
async function serve(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<{ server: Server; url: URL; close(): Promise<void> }> {
  const server = createServer(handler);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    server,
    url: new URL(`http://127.0.0.1:${port}/metrics`),
    close: () =>
      new Promise((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

test('configuration: defaults written next to their meaning, the local node from the worker contract', () => {
  const c = resolveConfig({ WORKER_PORT: '9001', WORKER_PATH: '/monitoring', TQSERVER_METRICS_URL: 'http://127.0.0.1:8080/metrics', TQSERVER_METRICS_AUTHORIZATION: 'Bearer t' });
  assert.equal(c.port, 9001);
  assert.equal(c.basePath, '/monitoring');
  assert.equal(c.intervalMs, 1000);
  assert.equal(c.timeoutMs, 900);
  assert.equal(c.staleAfterMs, 600_000);
  assert.equal(c.maxSeries, 5000);
  assert.equal(c.fineSlots, 900, '15 minutes of 1 s rows');
  assert.equal(c.coarseSlots, 1440, '24 hours of minutes');
  assert.deepEqual(c.nodes.map((n) => [n.name, n.url.href, n.authorization, n.local]), [['local', 'http://127.0.0.1:8080/metrics', 'Bearer t', true]]);
  assert.ok(Object.isFrozen(c));
  assert.equal(resolveConfig({ WORKER_PORT: '1', MONITORING_SCRAPE_INTERVAL_MS: '5000' }).timeoutMs, 4500, 'the timeout follows the interval');
  assert.equal(resolveConfig({ WORKER_PORT: '1', MONITORING_SCRAPE_INTERVAL_MS: '5000' }).fineSlots, 180);
  assert.equal(resolveConfig({ WORKER_PORT: '1', WORKER_PATH: '/' }).basePath, '');
  assert.deepEqual(resolveConfig({ WORKER_PORT: '1' }).nodes, [], 'no TQSERVER_METRICS_URL (metrics disabled): nothing to scrape, not an error');
});

test('configuration: other nodes from MONITORING_NODES, each credential from its own variable', () => {
  assert.equal(nodeAuthorizationVariable('eu-1.b'), 'MONITORING_NODE_EU_1_B_AUTHORIZATION');
  const c = resolveConfig({
    WORKER_PORT: '1',
    TQSERVER_METRICS_URL: 'http://127.0.0.1:8080/metrics',
    MONITORING_LOCAL_NAME: 'here',
    MONITORING_NODES: ' eu-1 = http://10.0.0.2:9100/metrics , us=https://us.example/metrics,',
    MONITORING_NODE_EU_1_AUTHORIZATION: 'Basic cHJvbTpzZWNyZXQ=',
  });
  assert.deepEqual(c.nodes.map((n) => [n.name, n.url.href, n.authorization, n.local]), [
    ['here', 'http://127.0.0.1:8080/metrics', undefined, true],
    ['eu-1', 'http://10.0.0.2:9100/metrics', 'Basic cHJvbTpzZWNyZXQ=', false],
    ['us', 'https://us.example/metrics', undefined, false],
  ]);
});

test('configuration: a bad value names its variable', () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{}, /^WORKER_PORT: not set/],
    [{ WORKER_PORT: 'x' }, /^WORKER_PORT: expected a whole number/],
    [{ WORKER_PORT: '1', MONITORING_SCRAPE_INTERVAL_MS: '1s' }, /^MONITORING_SCRAPE_INTERVAL_MS: expected a whole number, got "1s"/],
    [{ WORKER_PORT: '1', MONITORING_SCRAPE_INTERVAL_MS: '10' }, /^MONITORING_SCRAPE_INTERVAL_MS: must be between 100 and 60000/],
    [{ WORKER_PORT: '1', MONITORING_SCRAPE_TIMEOUT_MS: '2000' }, /^MONITORING_SCRAPE_TIMEOUT_MS: must be between 10 and 1000/],
    [{ WORKER_PORT: '1', MONITORING_NODES: 'http://a/metrics' }, /^MONITORING_NODES: "http:\/\/a\/metrics": expected name=url/],
    [{ WORKER_PORT: '1', MONITORING_NODES: 'a=http://x/m,a=http://y/m' }, /node name a is used twice/],
    [{ WORKER_PORT: '1', MONITORING_NODES: 'a=ftp://x/m' }, /only http: and https:/],
    [{ WORKER_PORT: '1', MONITORING_NODES: 'a=http://u:p@x/m' }, /no credentials in the URL/],
    [{ WORKER_PORT: '1', MONITORING_NODES: 'a=not a url' }, /is not a URL/],
    [{ WORKER_PORT: '1', MONITORING_BASE_PATH: '/x"><script>' }, /^MONITORING_BASE_PATH: .* is not a URL path/],
  ];
  for (const [env, pattern] of cases) {
    assert.throws(() => resolveConfig(env), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_MONITORING_CONFIG');
      assert.match(err.message, pattern);
      return true;
    }, JSON.stringify(env));
  }
});

test('a scrape sends the credential and the Accept header, and undoes gzip', async () => {
  let seen: IncomingMessage | undefined;
  const body = '# TYPE a gauge\na 1\n# EOF\n';
  const metrics = await serve((req, res) => {
    seen = req;
    const gz = gzipSync(body);
    res.writeHead(200, { 'Content-Type': 'application/openmetrics-text; version=1.0.0; charset=utf-8', 'Content-Encoding': 'gzip', 'Content-Length': gz.length }).end(gz);
  });
  try {
    const got = await fetchExposition(metrics.url, { authorization: 'Bearer s3cret', timeoutMs: 1000, maxBytes: 1 << 20 });
    assert.equal(got.body, body);
    assert.match(String(got.contentType), /openmetrics/);
    assert.ok(got.wireBytes > 0 && got.wireBytes !== body.length);
    assert.equal(seen?.headers.authorization, 'Bearer s3cret');
    assert.match(String(seen?.headers.accept), /^application\/openmetrics-text;version=1\.0\.0,text\/plain;version=0\.0\.4;q=0\.5/);
  } finally {
    await metrics.close();
  }
});

test('a failed scrape is an error with a stable code: status, timeout, size, cut connection, refused', async () => {
  const metrics = await serve((req, res) => {
    if (req.url === '/401') res.writeHead(401).end('no');
    else if (req.url === '/slow') setTimeout(() => res.end('a 1\n'), 2000).unref();
    else if (req.url === '/big') res.end('x'.repeat(5000));
    else if (req.url === '/cut') {
      res.writeHead(200, { 'Content-Length': 1000 });
      res.write('a 1\n');
      setTimeout(() => res.socket?.destroy(), 20);
    } else res.end('a 1\n');
  });
  const at = (path: string): URL => new URL(path, metrics.url);
  const options = { authorization: undefined, timeoutMs: 300, maxBytes: 1024 };
  try {
    await assert.rejects(fetchExposition(at('/401'), options), { code: 'ERR_SCRAPE_STATUS', message: /^HTTP 401 \(check the credential/ });
    const started = Date.now();
    await assert.rejects(fetchExposition(at('/slow'), options), { code: 'ERR_SCRAPE_TIMEOUT', message: 'no complete answer within 300 ms' });
    assert.ok(Date.now() - started < 1500, 'the timeout is kept');
    await assert.rejects(fetchExposition(at('/big'), options), { code: 'ERR_SCRAPE_TOO_LARGE' });
    await assert.rejects(fetchExposition(at('/cut'), options), { code: 'ERR_SCRAPE_NETWORK' });
    assert.equal((await fetchExposition(at('/ok'), options)).body, 'a 1\n');
  } finally {
    await metrics.close();
  }
  const gone = await serve(() => undefined);
  await gone.close();
  await assert.rejects(fetchExposition(gone.url, options), { code: 'ERR_SCRAPE_NETWORK', message: /^connect ECONNREFUSED 127\.0\.0\.1:\d+$/ });
});

test('the scrape loop: a good node is stored, a failing one is a gap and a status, one cut short is not half-read', async () => {
  let n = 0;
  const good = await serve((req, res) => {
    n++;
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' }).end(`# TYPE r_total counter\nr_total ${n * 10}\n`);
  });
  let mode = 'ok';
  const flaky = await serve((req, res) => {
    if (mode === 'down') return void res.writeHead(500).end('oops');
    const om = 'application/openmetrics-text; version=1.0.0';
    // 'cut': an OpenMetrics body without its # EOF, as a body cut short would be.
    res.writeHead(200, { 'Content-Type': om }).end(mode === 'cut' ? '# TYPE g gauge\ng 1\n' : '# TYPE g gauge\ng 1\n# EOF\n');
  });
  const store = new Store({ fineSlots: 20, coarseSlots: 5, staleAfterMs: 60_000, maxSeries: 100 });
  let clock = 1_000_000;
  const scraper = new Scraper(
    {
      nodes: [
        { name: 'good', url: good.url, authorization: undefined, local: true },
        { name: 'flaky', url: flaky.url, authorization: undefined, local: false },
      ],
      intervalMs: 1000,
      timeoutMs: 500,
      maxScrapeBytes: 1 << 20,
    },
    store,
    { now: () => clock },
  );
  const fine = (node: string, name: string): number[] => {
    const h = store.node(node);
    const [series] = [...h.byName(name)];
    assert.ok(series, `${node} has ${name}`);
    return Array.from({ length: h.fine.count }, (_, i) => series.values[(h.fine.head - h.fine.count + 1 + i + h.fine.slots) % h.fine.slots] as number);
  };
  try {
    assert.deepEqual(scraper.status().map((s) => s.state), ['pending', 'pending']);
    for (const m of ['ok', 'down', 'cut', 'ok']) {
      mode = m;
      await scraper.scrapeAll();
      clock += 1000;
    }
    assert.deepEqual(fine('good', 'r_total'), [10, 20, 30, 40]);
    assert.deepEqual(fine('flaky', 'g'), [1, NaN, NaN, 1], 'a 500 and a body without # EOF are gaps, not zeros');
    const [goodStatus, flakyStatus] = scraper.status() as [NodeStatus, NodeStatus];
    assert.equal(goodStatus.state, 'up');
    assert.equal(goodStatus.format, 'text');
    assert.equal(flakyStatus.state, 'up', 'it recovered');
    assert.equal(flakyStatus.format, 'openmetrics');
    assert.equal(flakyStatus.lastErrorCode, 'ERR_EXPOSITION_PARSE');
    assert.match(String(flakyStatus.lastError), /unreadable openmetrics exposition: line 2: the body does not end with # EOF/);
    assert.equal(flakyStatus.consecutiveFailures, 0);
    mode = 'down';
    await scraper.scrapeAll();
    const down = scraper.status()[1] as NodeStatus;
    assert.deepEqual([down.state, down.lastErrorCode, down.lastError, down.consecutiveFailures, down.lastSuccessAt], ['down', 'ERR_SCRAPE_STATUS', 'HTTP 500', 1, 1_000_000 + 3000]);
  } finally {
    scraper.stop();
    await good.close();
    await flaky.close();
  }
});
