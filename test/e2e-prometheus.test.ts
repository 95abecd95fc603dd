/**
 * A real Prometheus (Debian's package) scrapes tqserver every second, once negotiating
 * OpenMetrics (its default Accept header) and once asking for text, through bearer auth on the
 * admin listener; the targets must be up without a scrape error, and PromQL over our series must
 * return data.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { load } from './helpers/load.js';
import { eventually, Project, startServer } from './helpers/project.js';

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

async function promql(base: string, query: string): Promise<{ metric: Record<string, string>; value: [number, string] }[]> {
  const res = await fetch(`${base}/api/v1/query?query=${encodeURIComponent(query)}`);
  const body = (await res.json()) as { status: string; data: { result: { metric: Record<string, string>; value: [number, string] }[] }; error?: string };
  if (body.status !== 'success') throw new Error(`${query}: ${body.error}`);
  return body.data.result;
}

test('a real Prometheus scrapes tqserver (OpenMetrics and text) and PromQL works', { timeout: 90_000 }, async (t) => {
  if (spawnSync('prometheus', ['--version']).status !== 0) {
    if (process.env.CI === 'true') throw new Error('prometheus is not installed, and CI must run this test (.ci/run installs Debian package prometheus)');
    console.error('!!! SKIPPED: prometheus not found; install Debian package "prometheus" to run this test !!!');
    t.skip('prometheus not installed');
    return;
  }
  const project = new Project();
  project.server('metrics:\n  listen: 127.0.0.1:0\n  auth:\n    bearer_token: prom-s3cret\n').echoWorker('api', '/api').echoWorker('web', '/');
  const server = await startServer(project);
  await server.waitFor(/metrics on/);
  const adminPort = Number(/metrics on http:\/\/[^\s]*:(\d+)/.exec(server.stderr())?.[1]);
  const promPort = await freePort();
  const promDir = mkdtempSync(join(tmpdir(), 'tq-prom-'));
  const job = (name: string, extra: string): string =>
    `  - job_name: ${name}\n    authorization:\n      credentials: prom-s3cret\n${extra}    static_configs:\n      - targets: ['127.0.0.1:${adminPort}']\n`;
  writeFileSync(
    join(promDir, 'prometheus.yml'),
    `global:\n  scrape_interval: 1s\n  scrape_timeout: 900ms\nscrape_configs:\n${job('tq_openmetrics', '')}${job('tq_text', '    params:\n      format: [text]\n')}`,
  );
  const prometheus = spawn('prometheus', [`--config.file=${join(promDir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(promDir, 'data')}`, `--web.listen-address=127.0.0.1:${promPort}`, '--log.level=warn'], { stdio: ['ignore', 'ignore', 'pipe'] });
  let promLog = '';
  prometheus.stderr.setEncoding('utf8').on('data', (d: string) => (promLog += d));
  const promExited = new Promise((resolve) => prometheus.on('exit', resolve));
  const base = `http://127.0.0.1:${promPort}`;
  const traffic = load(server.base, '/api/echo', 2, 60_000);
  try {
    await eventually(async () => ((await fetch(`${base}/-/ready`)).ok ? true : undefined), 20_000, `prometheus to be ready\n${promLog}`);
    const targets = await eventually(
      async () => {
        const body = (await (await fetch(`${base}/api/v1/targets`)).json()) as { data: { activeTargets: { labels: { job: string }; health: string; lastError: string }[] } };
        const active = body.data.activeTargets;
        return active.length === 2 && active.every((a) => a.health === 'up') ? active : undefined;
      },
      20_000,
      'both targets to be up',
    );
    for (const target of targets) assert.equal(target.lastError, '', `${target.labels.job}: ${target.lastError}`);
    // Enough scrapes for rate() over a 5 s window.
    await new Promise((r) => setTimeout(r, 5000));

    for (const jobName of ['tq_openmetrics', 'tq_text']) {
      const up = await promql(base, `up{job="${jobName}"}`);
      assert.equal(up[0]?.value[1], '1', jobName);
      const rate = await promql(base, `sum(rate(tqserver_requests_total{job="${jobName}",path="/api"}[5s]))`);
      assert.ok(Number(rate[0]?.value[1]) > 0, `${jobName}: request rate ${JSON.stringify(rate)}`);
      const p90 = await promql(base, `histogram_quantile(0.9, sum by (le) (rate(tqserver_request_duration_seconds_bucket{job="${jobName}"}[5s])))`);
      const q = Number(p90[0]?.value[1]);
      assert.ok(Number.isFinite(q) && q > 0 && q < 10, `${jobName}: p90 ${JSON.stringify(p90)}`);
      const byWorker = await promql(base, `sum by (worker) (tqserver_worker_requests_total{job="${jobName}"})`);
      assert.ok(byWorker.some((r) => r.metric.worker === 'api' && Number(r.value[1]) > 0), `${jobName}: ${JSON.stringify(byWorker)}`);
      const instances = await promql(base, `sum by (worker) (tqserver_worker_instances_healthy{job="${jobName}"})`);
      assert.deepEqual(instances.map((r) => r.metric.worker).sort(), ['api', 'web']);
    }
    // Each job really got its format: nothing else scrapes the endpoint during this test.
    for (const format of ['openmetrics', 'text']) {
      const served = await promql(base, `max(increase(tqserver_metrics_scrapes_total{format="${format}"}[5s]))`);
      assert.ok(Number(served[0]?.value[1]) >= 2, `${format} scrapes: ${JSON.stringify(served)}`);
    }
    const failed = await promql(base, 'sum(scrape_samples_post_metric_relabeling)');
    assert.ok(Number(failed[0]?.value[1]) > 100);
  } finally {
    const result = await traffic.stop();
    prometheus.kill('SIGTERM');
    await promExited;
    assert.equal(await server.stop(), 0);
    rmSync(promDir, { recursive: true, force: true });
    project.remove();
    assert.deepEqual(result.failures, []);
  }
});
