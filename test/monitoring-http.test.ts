/**
 * The monitoring worker as tqserver runs it: `node workers/monitoring/index.mjs` in a child
 * process with the worker contract's environment, scraping a fake metrics endpoint that wants a
 * bearer token. Its HTTP side: /health, the page and every file it names (same origin, strict
 * CSP, ETag, gzip), the JSON API and its errors, the optional access credential, SIGTERM, and a
 * configuration error that stops it at once.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { http } from './helpers/project.js';

const ENTRY = fileURLToPath(new URL('../workers/monitoring/index.mjs', import.meta.url));
const TOKEN = 'Bearer http-test-token';

/** A fake tqserver /metrics that counts up and refuses requests without the token. */
async function metricsServer(): Promise<{ server: Server; url: string; authorizations: (string | undefined)[] }> {
  const authorizations: (string | undefined)[] = [];
  let n = 0;
  const server = createServer((req, res) => {
    authorizations.push(req.headers.authorization);
    if (req.headers.authorization !== TOKEN) return void res.writeHead(401).end();
    n++;
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4; charset=utf-8' });
    res.end(
      `# TYPE tqserver_requests_total counter\ntqserver_requests_total{method="GET",path="/api",status="200"} ${n * 5}\n` +
        `# TYPE tqserver_worker_instances gauge\ntqserver_worker_instances{worker="api"} 2\n`,
    );
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}/metrics`, authorizations };
}

/** Starts the worker; resolves with its base URL once it logged where it listens. */
function startWorker(env: Record<string, string>): Promise<{ child: ChildProcess; base: string; exited: Promise<number | null> }> {
  const child = spawn(process.execPath, [ENTRY], { env: { PATH: process.env.PATH, WORKER_PORT: '0', WORKER_PATH: '/monitoring', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`worker did not start: ${out}`));
    }, 10_000);
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /listening on 127\.0\.0\.1:(\d+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, base: `http://127.0.0.1:${m[1]}`, exited });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`worker exited with ${code}: ${out}`));
    });
  });
}

async function until<T>(what: string, check: () => Promise<T | undefined>, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('the worker serves /health, its page and files under a strict CSP, and its JSON API', { timeout: 60_000 }, async () => {
  const metrics = await metricsServer();
  const worker = await startWorker({ TQSERVER_METRICS_URL: metrics.url, TQSERVER_METRICS_AUTHORIZATION: TOKEN, MONITORING_SCRAPE_INTERVAL_MS: '200' });
  try {
    assert.equal((await http(worker.base, '/health')).status, 200);
    // A request target that is no URL is refused, and the worker lives on.
    assert.equal((await http(worker.base, '//[x')).status, 400);
    assert.equal((await http(worker.base, '/health')).status, 200);

    const page = await http(worker.base, '/');
    assert.equal(page.status, 200);
    assert.equal(page.headers['content-type'], 'text/html; charset=utf-8');
    assert.equal(page.headers['content-security-policy'], "default-src 'self'; base-uri 'self'; form-action 'none'; frame-ancestors 'none'; object-src 'none'");
    assert.equal(page.headers['x-content-type-options'], 'nosniff');
    const html = page.text();
    assert.match(html, /<base href="\/monitoring\/">/, 'the base URL comes from WORKER_PATH');
    assert.doesNotMatch(html, /<script>|\sstyle=|\son[a-z]+=/i, 'no inline script, style or handler');
    const refs = [...html.matchAll(/(?:href|src)="([^"]+)"/g)].map((m) => m[1] as string).filter((r) => !r.startsWith('#') && r !== '/monitoring/');
    assert.ok(refs.length >= 6, `the page names its files: ${refs.join(', ')}`);
    for (const ref of refs) {
      assert.match(ref, /^\.\//, `${ref} is relative, so it follows the route prefix`);
      const path = '/' + ref.slice(2);
      const res = await http(worker.base, path);
      assert.equal(res.status, 200, path);
      if (path.endsWith('.mjs')) {
        assert.equal(res.headers['content-type'], 'text/javascript; charset=utf-8');
        assert.doesNotMatch(res.text(), /https?:\/\/(?!www\.w3\.org\/2000\/svg)/, `${path} names no other origin`);
        for (const [, dep] of res.text().matchAll(/from '(\.\/[^']+)'/g)) assert.equal((await http(worker.base, '/' + (dep as string).slice(2))).status, 200, `${path} imports ${dep}`);
      }
    }
    const css = await http(worker.base, '/style.css', { headers: { 'Accept-Encoding': 'gzip' } });
    assert.equal(css.headers['content-encoding'], 'gzip');
    assert.equal((await http(worker.base, '/style.css', { headers: { 'If-None-Match': String(css.headers.etag) } })).status, 304);
    assert.equal((await http(worker.base, '/', { method: 'POST' })).status, 405);
    assert.equal((await http(worker.base, '/nothing')).status, 404);

    const status = await until('the node to be up with data', async () => {
      const s = (await http(worker.base, '/api/status')).json<{ nodes: { name: string; state: string; series: number }[]; store: { series: number; ringBytes: number; bytesPerSeries: number } }>();
      return s.nodes[0]?.state === 'up' && (s.nodes[0]?.series ?? 0) >= 2 ? s : undefined;
    });
    assert.equal(status.nodes[0]?.name, 'local');
    assert.equal(status.store.bytesPerSeries, (900 * 5 + 1440 + 2) * 8, 'a 200 ms interval: 4,500 rows for 15 minutes');
    assert.ok(metrics.authorizations.length > 0 && metrics.authorizations.every((a) => a === TOKEN), 'every scrape carried TQSERVER_METRICS_AUTHORIZATION');

    const dashboard = await until('a requests/s value', async () => {
      const d = (await http(worker.base, '/api/dashboard?range=5m')).json<{ sections: { id: string; tiles: { id: string; value: number | null }[] }[] }>();
      const rps = d.sections[0]?.tiles.find((t) => t.id === 'rps')?.value;
      return rps !== null && rps !== undefined && rps > 0 ? d : undefined;
    });
    assert.deepEqual(dashboard.sections.map((s) => s.id), ['overview', 'routes', 'workers', 'server']);
    for (const range of ['15m', '1h', '24h']) assert.equal((await http(worker.base, `/api/dashboard?range=${range}&node=local`)).status, 200, range);
    const gz = await http(worker.base, '/api/dashboard', { headers: { 'Accept-Encoding': 'gzip' } });
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.equal(gz.headers['cache-control'], 'no-store');
    assert.deepEqual((await http(worker.base, '/api/dashboard?range=2d')).json(), { error: 'range must be one of 5m, 15m, 1h, 24h' });
    assert.equal((await http(worker.base, '/api/dashboard?node=nope')).status, 404);

    const series = (await http(worker.base, '/api/series?name=tqserver_requests_total')).json<{ tier: string; series: { labels: Record<string, string>; counter: boolean; points: [number, number | null][] }[] }>();
    assert.equal(series.tier, 'fine');
    assert.deepEqual(series.series[0]?.labels, { method: 'GET', path: '/api', status: '200' });
    assert.equal(series.series[0]?.counter, true);
    assert.ok((series.series[0]?.points.length ?? 0) >= 2);
    assert.equal((await http(worker.base, '/api/series')).status, 400);
  } finally {
    worker.child.kill('SIGTERM');
    assert.equal(await worker.exited, 0, 'SIGTERM: a clean exit');
    metrics.server.close();
  }
});

test('a failing endpoint shows as down with its error, never as zeros', { timeout: 30_000 }, async () => {
  const metrics = await metricsServer();
  const worker = await startWorker({ TQSERVER_METRICS_URL: metrics.url, TQSERVER_METRICS_AUTHORIZATION: 'Bearer wrong', MONITORING_SCRAPE_INTERVAL_MS: '200' });
  try {
    const node = await until('the node to be down', async () => {
      const s = (await http(worker.base, '/api/status')).json<{ nodes: { state: string; lastError: string | null; lastSuccessAt: number | null; series: number }[] }>();
      return s.nodes[0]?.state === 'down' ? s.nodes[0] : undefined;
    });
    assert.match(String(node.lastError), /^HTTP 401 \(check the credential/);
    assert.equal(node.lastSuccessAt, null);
    const d = (await http(worker.base, '/api/dashboard')).json<{ sections: { tiles: { value: number | null }[] }[] }>();
    assert.ok(d.sections.every((s) => s.tiles.every((t) => t.value === null)), 'every tile is a gap');
  } finally {
    worker.child.kill('SIGTERM');
    await worker.exited;
    metrics.server.close();
  }
});

test('MONITORING_AUTHORIZATION guards the page and the API, not /health', { timeout: 30_000 }, async () => {
  const worker = await startWorker({ MONITORING_AUTHORIZATION: 'Basic b3BzOnB3' });
  try {
    assert.equal((await http(worker.base, '/health')).status, 200);
    const refused = await http(worker.base, '/');
    assert.equal(refused.status, 401);
    assert.match(String(refused.headers['www-authenticate']), /^Basic realm="tqserver monitoring"/);
    assert.equal((await http(worker.base, '/api/status', { headers: { Authorization: 'Basic b3BzOnB3x' } })).status, 401);
    assert.equal((await http(worker.base, '/api/status', { headers: { Authorization: 'Basic b3BzOnB3' } })).status, 200);
    assert.equal((await http(worker.base, '/', { headers: { Authorization: 'Basic b3BzOnB3' } })).status, 200);
  } finally {
    worker.child.kill('SIGTERM');
    await worker.exited;
  }
});

test('a configuration error stops the worker at once, naming the variable', { timeout: 30_000 }, async () => {
  const child = spawn(process.execPath, [ENTRY], { env: { PATH: process.env.PATH, WORKER_PORT: '0', MONITORING_SCRAPE_INTERVAL_MS: 'often' }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (err += d));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  assert.equal(code, 1);
  assert.match(err, /^monitoring: MONITORING_SCRAPE_INTERVAL_MS: expected a whole number, got "often"/);
});
