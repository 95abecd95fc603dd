/**
 * The monitoring page in a real browser (Debian's Chromium, driven by playwright-core): a real
 * tqserver in dev mode with metrics.auth set (so the page only has data if the worker's
 * credential works), the monitoring worker copied from workers/monitoring, an echo worker under
 * traffic, and one more node that cannot be reached. The page must show live numbers and
 * charts, the unreachable node as down (not as zeros), log no console error, and make no
 * request outside its origin. Screenshots (desktop and phone) go to /tmp for a human to look at.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { http, Project, REPO, startServer } from './helpers/project.js';

const CHROMIUM = '/usr/bin/chromium';
const TOKEN = 'e2e-monitoring-token';
const SCREENSHOT = '/tmp/tqserver-monitoring.png';
const PHONE_SCREENSHOT = '/tmp/tqserver-monitoring-phone.png';

// Code run in the page. Functions, not strings: the page's CSP forbids eval, which string
// predicates need. The DOM is reached through globalThis, as the tests compile without the DOM library.
const RPS_ABOVE_ZERO = (): boolean => Number((globalThis as any).document.querySelector('[data-id="rps"]')?.dataset.value) > 0;
const REQUESTS_LINE_DRAWN = (): boolean =>
  [...(globalThis as any).document.querySelectorAll('[data-id="requests"] path.line')].some((p: any) => String(p.getAttribute('d') ?? '').split('L').length > 5);
const PAGE_WEIGHT = (): { decoded: number; transferred: number; files: number } => {
  const perf = (globalThis as any).performance;
  const entries = [...perf.getEntriesByType('navigation'), ...perf.getEntriesByType('resource')].filter((e: any) => !String(e.name).includes('/api/'));
  return { decoded: entries.reduce((n: number, e: any) => n + e.decodedBodySize, 0), transferred: entries.reduce((n: number, e: any) => n + e.encodedBodySize, 0), files: entries.length };
};
const SIDEWAYS_OVERFLOW = (): number => (globalThis as any).document.documentElement.scrollWidth - (globalThis as any).innerWidth;

/** A loopback port nothing listens on (bound, then released). */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

test('the monitoring page shows live data through tqserver, only from its own origin, with no console error', { timeout: 120_000 }, async (t) => {
  if (!existsSync(CHROMIUM)) {
    if (process.env.CI === 'true') throw new Error('chromium is not installed, and CI must run this test (.ci/run installs Debian package chromium)');
    console.error('!!! SKIPPED: chromium not found; install Debian package chromium to run this test !!!');
    t.skip('chromium not installed');
    return;
  }
  const project = new Project('tq-monitoring-');
  project.server(`metrics:\n  auth:\n    bearer_token: ${TOKEN}\n`);
  project.echoWorker('echo', '/echo');
  cpSync(join(REPO, 'workers/monitoring'), join(project.dir, 'workers/monitoring'), { recursive: true });
  const ghost = await closedPort();
  const yamlPath = join(project.dir, 'workers/monitoring/config/worker.yaml');
  writeFileSync(yamlPath, readFileSync(yamlPath, 'utf8') + `  MONITORING_NODES: "ghost=http://127.0.0.1:${ghost}/metrics"\n`);
  const server = await startServer(project, ['--mode', 'dev']);
  let traffic = true;
  const load = (async () => {
    for (let i = 0; traffic; i++) {
      const path = i % 10 === 0 ? '/echo/status/503' : i % 7 === 0 ? '/echo/status/404' : i % 3 === 0 ? '/echo/slow/20' : '/echo/echo';
      await http(server.base, path).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 15));
    }
  })();
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    // The credential path: /metrics refuses a request without the token, so data on the page
    // proves the worker sent TQSERVER_METRICS_AUTHORIZATION; the echo worker never sees it.
    assert.equal((await http(server.base, '/metrics')).status, 401);
    const echoed = (await http(server.base, '/echo/echo')).json<{ env: Record<string, string | undefined> }>();
    assert.equal(echoed.env.TQSERVER_METRICS_AUTHORIZATION, undefined);
    const html = await http(server.base, '/monitoring/');
    assert.equal(html.status, 200);
    assert.match(String(html.headers['content-security-policy']), /^default-src 'self';/);
    assert.match(html.text(), /<base href="\/monitoring\/">/);

    const page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
    const origin = new URL(server.base).origin;
    const requests: string[] = [];
    const problems: string[] = [];
    page.on('request', (r) => requests.push(r.url()));
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`));

    const started = Date.now();
    // Without the trailing slash: tqserver strips the prefix, the <base> keeps every URL right.
    await page.goto(`${server.base}/monitoring`);
    await page.waitForSelector('body[data-loaded="true"]', { timeout: 15_000 });
    const loadMs = Date.now() - started;
    assert.equal(new URL(page.url()).pathname, '/monitoring/', 'the address bar shows the canonical URL');

    // Live data: requests per second above zero, and a drawn line with many points.
    await page.waitForFunction(RPS_ABOVE_ZERO, undefined, { timeout: 20_000 });
    await page.waitForFunction(REQUESTS_LINE_DRAWN, undefined, { timeout: 20_000 });
    const rps = Number(await page.locator('[data-id="rps"]').getAttribute('data-value'));
    assert.ok(rps > 0, `requests/s ${rps}`);
    assert.match(await page.locator('[data-id="rps"] .tile-value').innerText(), /\/s$/);
    for (const id of ['latency', 'errors', 'bytes', 'healthy', 'memory', 'processMemory', 'lag', 'cpu', 'fds']) {
      assert.ok((await page.locator(`[data-id="${id}"] svg.plot`).count()) === 1, `chart ${id} is drawn`);
    }
    const routes = await page.locator('[data-id="routesTable"] tbody tr').allInnerTexts();
    assert.ok(routes.some((r) => r.includes('/echo')), `the busiest routes list /echo: ${routes.join(' | ')}`);
    const workers = await page.locator('[data-id="workersTable"] tbody').innerText();
    assert.match(workers, /echo/);
    assert.match(workers, /monitoring/);

    // Per node: local is up; the node that cannot be reached is shown down with its error.
    await page.waitForSelector('.node.down[data-node="ghost"]');
    assert.match(await page.locator('.node[data-node="ghost"]').innerText(), /down: connect ECONNREFUSED 127.0.0.1:\d+ · last success never/);
    assert.match(await page.locator('.node[data-node="local"]').innerText(), /scraped (just now|.* ago) in \d+ ms/);
    assert.ok(await page.locator('#node').isVisible(), 'with two nodes, the node picker is shown');

    // The range picker: 1 h reads the one-minute tier, whose current minute is live.
    const hour = page.waitForResponse((r) => r.url().includes('/monitoring/api/dashboard?range=1h'));
    await page.locator('[data-range="1h"]').click();
    assert.equal((await hour).status(), 200);
    assert.equal(await page.locator('[data-range="1h"]').getAttribute('aria-pressed'), 'true');
    assert.match(page.url(), /\?range=1h$/);
    await page.locator('[data-range="5m"]').click();
    await page.waitForFunction(RPS_ABOVE_ZERO);

    const weight = await page.evaluate(PAGE_WEIGHT);
    t.diagnostic(`page load to first data: ${loadMs} ms; page weight (HTML+JS+CSS+icon): ${weight.decoded} bytes, ${weight.transferred} bytes on the wire (gzip); ${weight.files} files`);
    assert.ok(weight.decoded < 100_000, 'the page stays small');

    await page.screenshot({ path: SCREENSHOT, fullPage: true });
    const phone = await browser.newPage({ viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true });
    phone.on('request', (r) => requests.push(r.url()));
    phone.on('pageerror', (e) => problems.push(`phone page error: ${e.message}`));
    await phone.goto(`${server.base}/monitoring/`);
    await phone.waitForFunction(RPS_ABOVE_ZERO, undefined, { timeout: 20_000 });
    const overflow = await phone.evaluate(SIDEWAYS_OVERFLOW);
    assert.ok(overflow <= 0, `no sideways scrolling on a phone (${overflow} px too wide)`);
    await phone.screenshot({ path: PHONE_SCREENSHOT });

    assert.deepEqual(problems, [], 'no console errors or warnings, no failed requests');
    const foreign = requests.filter((u) => new URL(u).origin !== origin);
    assert.deepEqual(foreign, [], 'every request went to the page\'s own origin');
    assert.ok(requests.some((u) => u.endsWith('/monitoring/api/dashboard?range=5m&node=all')), 'the page polls its JSON API relative to /monitoring/');
  } finally {
    traffic = false;
    await load;
    await browser.close();
    assert.equal(await server.stop(), 0);
    project.remove();
  }
});
