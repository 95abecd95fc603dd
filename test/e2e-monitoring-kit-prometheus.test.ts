/**
 * The monitoring kit against the real thing: two tqserver nodes, each with the echo fixture as
 * workers `api` (/api) and `web` (/), scraped every second by ONE real Prometheus configured from
 * docs/monitoring/prometheus-nodes.yml (file_sd, with a third target that is down) and loading
 * docs/monitoring/alerts.yml. Traffic includes 5xx (/api/status/503) and slow requests
 * (/api/slow/1500); one instance crashes (node A) and one fails its health checks (node B).
 *
 * Checked: aggregation over both nodes, every alert rule loaded and healthy, the alerts this
 * traffic must trigger are pending (and those it must not are absent), and every query of the
 * Grafana dashboard, variables included, parses and has data unless listed in ALLOWED_EMPTY.
 */
import assert from 'node:assert/strict';
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import YAML from 'yaml';
import { panelQueries, parseLabelValues, substitute, variableQueries } from './helpers/dashboard-queries.js';
import { eventually, http, Project, REPO, startServer, type Running } from './helpers/project.js';
import { freePort, prometheusUnavailable, startPrometheus, type RunningPrometheus } from './helpers/prometheus-server.js';
import { trafficMix, type TrafficResult } from './helpers/traffic-mix.js';

const KIT = join(REPO, 'docs', 'monitoring');
const read = (file: string): string => readFileSync(join(KIT, file), 'utf8');
const dashboard = JSON.parse(read('grafana-dashboard.json'));
const alertNames = (YAML.parse(read('alerts.yml')) as { groups: { rules: { alert?: string }[] }[] }).groups.flatMap((g) => g.rules.flatMap((r) => r.alert ?? []));

/**
 * Dashboard queries that may have no data after this test's traffic, and why. Everything else
 * must return at least one series. Build errors: no worker here has a build step, so no build
 * can fail (the rule for it is unit-tested in alerts.test.yml). The restart and health-check
 * failure panels are not here: the test provokes a crash and a failing health check.
 */
const ALLOWED_EMPTY = new Map([['Build errors/A', 'no worker in this test has a build step that can fail']]);

interface AlertState {
  readonly labels: Record<string, string>;
  readonly state: string;
}

describe('the monitoring kit with a real Prometheus and two tqserver nodes', { skip: prometheusUnavailable() ?? false, timeout: 90_000 }, () => {
  const projects = [new Project('tq-kit-a-'), new Project('tq-kit-b-')];
  const promDir = mkdtempSync(join(tmpdir(), 'tq-kit-prom-'));
  const servers: Running[] = [];
  let prom: RunningPrometheus | undefined;
  let traffic: { stop: () => Promise<TrafficResult> } | undefined;
  let nodeA = '';
  let nodeB = '';
  let dead = '';
  /** Every query compares data at this one instant (Unix seconds). */
  let at = 0;

  const prometheus = (): RunningPrometheus => prom as RunningPrometheus;
  const activeAlerts = async (): Promise<AlertState[]> => (await prometheus().api<{ alerts: AlertState[] }>('/api/v1/alerts')).alerts;
  const hasAlert = (alerts: AlertState[], name: string, labels: Record<string, string>): boolean =>
    alerts.some((a) => a.labels.alertname === name && Object.entries(labels).every(([k, v]) => a.labels[k] === v));

  before(async () => {
    for (const p of projects) p.server().echoWorker('api', '/api').echoWorker('web', '/');
    servers.push(...(await Promise.all(projects.map((p) => startServer(p)))));
    const [a, b] = servers as [Running, Running];
    nodeA = `127.0.0.1:${a.port}`;
    nodeB = `127.0.0.1:${b.port}`;
    dead = `127.0.0.1:${await freePort()}`;

    // The file_sd example as shipped, with test timings, our targets, and no Alertmanager.
    const config = YAML.parse(read('prometheus-nodes.yml'));
    config.global = { scrape_interval: '1s', scrape_timeout: '900ms', evaluation_interval: '1s' };
    delete config.alerting;
    const groups = JSON.parse(read('tqserver-targets.json')) as { labels?: Record<string, string> }[];
    const sdFile = config.scrape_configs[0].file_sd_configs[0].files[0] as string;
    writeFileSync(join(promDir, sdFile), JSON.stringify([{ targets: [nodeA, nodeB], labels: groups[0]?.labels }, { targets: [dead], labels: groups[1]?.labels }]));
    for (const rules of config.rule_files as string[]) copyFileSync(join(KIT, rules), join(promDir, rules));
    writeFileSync(join(promDir, 'prometheus.yml'), YAML.stringify(config));
    prom = await startPrometheus(join(promDir, 'prometheus.yml'), promDir);

    traffic = trafficMix(
      servers.flatMap((s) => [
        { base: s.base, path: '/api/echo', pauseMs: 20 },
        { base: s.base, path: '/echo', pauseMs: 40 },
        { base: s.base, path: '/api/status/503', pauseMs: 100 },
        { base: s.base, path: '/api/slow/1500', pauseMs: 0 },
        { base: s.base, path: '/api/slow/1500', pauseMs: 0 },
      ]),
      60_000,
    );
    await eventually(
      async () => {
        const { activeTargets } = await prometheus().api<{ activeTargets: { labels: { instance: string }; health: string }[] }>('/api/v1/targets');
        const health = Object.fromEntries(activeTargets.map((t) => [t.labels.instance, t.health]));
        return health[nodeA] === 'up' && health[nodeB] === 'up' && health[dead] === 'down' ? true : undefined;
      },
      20_000,
      `both nodes up and the third target down\n${prometheus().log()}`,
    );
    assert.equal((await http(a.base, '/api/crash')).status, 200);
    assert.equal((await http(b.base, '/api/sick')).status, 200);
    // The crash, the health restart and the alerts that this traffic triggers, seen by Prometheus.
    await eventually(
      async () => {
        const restarts = await prometheus().query('sum by (instance, reason) (tqserver_worker_restarts_by_reason_total{worker="api"}) > 0');
        const seen = new Set(restarts.map((r) => `${r.metric.instance} ${r.metric.reason}`));
        if (!seen.has(`${nodeA} crash`) || !seen.has(`${nodeB} health`)) return undefined;
        const alerts = await activeAlerts();
        return hasAlert(alerts, 'TQServerHigh5xxRatio', { worker: 'api' }) && hasAlert(alerts, 'TQServerHighLatencyP99', { path: '/api' }) ? true : undefined;
      },
      30_000,
      'a crash on node A, a health restart on node B, and the 5xx and latency alerts pending',
    );
    await new Promise((r) => setTimeout(r, 2000));
    at = Math.floor(Date.now() / 1000) - 1;
  }, { timeout: 70_000 });

  after(async () => {
    const seen = await traffic?.stop();
    await prom?.stop();
    await Promise.all(servers.map((s) => s.stop()));
    for (const p of projects) p.remove();
    rmSync(promDir, { recursive: true, force: true });
    if (seen !== undefined) console.error(`traffic by status: ${JSON.stringify([...seen.byStatus])}`);
  });

  test('sum by (worker) adds up both nodes', async () => {
    const total = await prometheus().query('sum by (worker) (rate(tqserver_worker_requests_total[1m]))', at);
    const perNode = await prometheus().query('sum by (worker, instance) (rate(tqserver_worker_requests_total[1m]))', at);
    assert.deepEqual(total.map((s) => s.metric.worker).sort(), ['api', 'web']);
    for (const series of total) {
      const worker = series.metric.worker as string;
      const nodes = perNode.filter((s) => s.metric.worker === worker);
      assert.deepEqual(nodes.map((s) => s.metric.instance).sort(), [nodeA, nodeB].sort(), worker);
      for (const n of nodes) assert.ok(Number(n.value[1]) > 0, `${worker} on ${n.metric.instance}: ${n.value[1]}`);
      const sum = nodes.reduce((acc, n) => acc + Number(n.value[1]), 0);
      assert.ok(Math.abs(sum - Number(series.value[1])) <= 1e-9 * sum, `${worker}: ${series.value[1]} vs ${sum}`);
    }
    // tqserver_requests_total is by route (path), not by worker: grouped by worker it is one
    // series with no worker label. Per-worker rates come from tqserver_worker_requests_total.
    const byWorker = await prometheus().query('sum by (worker) (rate(tqserver_requests_total[1m]))', at);
    assert.deepEqual(byWorker.map((s) => s.metric), [{}]);
    const byPath = await prometheus().query('sum by (path) (rate(tqserver_requests_total[1m]))', at);
    assert.deepEqual(byPath.map((s) => s.metric.path).sort(), ['/', '/api']);
  });

  test('every alert rule of alerts.yml is loaded and evaluates without error', async () => {
    type Rules = { groups: { name: string; rules: { name: string; health: string; lastError?: string }[] }[] };
    const rules = await eventually(
      async () => {
        const data = await prometheus().api<Rules>('/api/v1/rules?type=alert');
        const all = data.groups.flatMap((g) => g.rules);
        return all.length > 0 && all.every((r) => r.health !== 'unknown') ? all : undefined;
      },
      10_000,
      'every rule evaluated',
    );
    assert.deepEqual(rules.map((r) => r.name).sort(), [...alertNames].sort());
    for (const r of rules) assert.deepEqual([r.name, r.health, r.lastError ?? ''], [r.name, 'ok', '']);
  });

  test('the alerts this traffic triggers are active, with the target labels kept; the others are not', async () => {
    const alerts = await activeAlerts();
    const show = JSON.stringify(alerts.map((a) => [a.labels.alertname, a.state, a.labels.worker ?? a.labels.path ?? a.labels.instance]));
    assert.ok(hasAlert(alerts, 'TQServerHigh5xxRatio', { worker: 'api', env: 'production' }), show);
    assert.ok(!hasAlert(alerts, 'TQServerHigh5xxRatio', { worker: 'web' }), show);
    assert.ok(hasAlert(alerts, 'TQServerHighLatencyP99', { path: '/api', env: 'production' }), show);
    assert.ok(!hasAlert(alerts, 'TQServerHighLatencyP99', { path: '/' }), show);
    assert.ok(hasAlert(alerts, 'TQServerTargetDown', { instance: dead }), show);
    for (const name of ['TQServerWorkerBuildFailing', 'TQServerWorkerQueueGrowing', 'TQServerFileDescriptorsNearLimit', 'TQServerWorkerCrashLooping']) {
      assert.ok(!hasAlert(alerts, name, {}), `${name} should not be active: ${show}`);
    }
    assert.ok(!hasAlert(alerts, 'TQServerTargetDown', { instance: nodeA }) && !hasAlert(alerts, 'TQServerTargetDown', { instance: nodeB }), show);
  });

  test('the worker memory slot arrives as exported_instance, next to the target instance', async () => {
    const memory = await prometheus().query('tqserver_worker_memory_bytes', at);
    assert.ok(memory.length >= 4, JSON.stringify(memory));
    for (const s of memory) {
      assert.ok([nodeA, nodeB].includes(s.metric.instance as string), JSON.stringify(s.metric));
      assert.match(s.metric.exported_instance ?? '', /^\d+$/, JSON.stringify(s.metric));
    }
  });

  test('every dashboard query parses and has data (all nodes, all workers)', async () => {
    const problems: string[] = [];
    for (const q of panelQueries(dashboard)) {
      const expr = substitute(q.expr, { instance: '.*', worker: '.*' });
      try {
        const result = await prometheus().query(expr, at);
        const empty = ALLOWED_EMPTY.has(q.where);
        if (!empty && result.length === 0) problems.push(`${q.where}: no data for ${expr}`);
        if (empty && result.length > 0) problems.push(`${q.where}: expected no data (${ALLOWED_EMPTY.get(q.where)}), got ${JSON.stringify(result)}`);
      } catch (err) {
        problems.push(`${q.where}: ${String(err)}`);
      }
    }
    assert.deepEqual(problems, []);
  });

  test('every dashboard query honours a chosen node and worker', async () => {
    const problems: string[] = [];
    for (const q of panelQueries(dashboard)) {
      const expr = substitute(q.expr, { instance: nodeB, worker: 'api' });
      try {
        const result = await prometheus().query(expr, at);
        if (!ALLOWED_EMPTY.has(q.where) && result.length === 0) problems.push(`${q.where}: no data for ${expr}`);
        for (const s of result) {
          if (s.metric.instance !== undefined && s.metric.instance !== nodeB) problems.push(`${q.where}: series of ${s.metric.instance}`);
          if (s.metric.worker !== undefined && s.metric.worker !== 'api') problems.push(`${q.where}: series of worker ${s.metric.worker}`);
        }
      } catch (err) {
        problems.push(`${q.where}: ${String(err)}`);
      }
    }
    assert.deepEqual(problems, []);
  });

  test('the variables list the two nodes (not the down target) and the two workers', async () => {
    const values: Record<string, string[]> = {};
    for (const v of variableQueries(dashboard)) {
      const lv = parseLabelValues(v.query);
      assert.ok(lv !== undefined, v.query);
      const selector = substitute(lv.selector, { instance: '.*' });
      const start = at - 60;
      values[v.name] = (await prometheus().api<string[]>(`/api/v1/label/${lv.label}/values?match[]=${encodeURIComponent(selector)}&start=${start}&end=${at}`)).sort();
    }
    assert.deepEqual(values, { instance: [nodeA, nodeB].sort(), worker: ['api', 'web'] });
  });
});
