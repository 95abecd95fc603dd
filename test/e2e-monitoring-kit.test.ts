/**
 * The Prometheus operations kit in docs/monitoring/ is checked by the tools that will read it:
 * promtool checks and unit-tests the alert rules (with negative controls that prove the checks
 * run), checks every example prometheus.yml with the files it references, and the tqserver side
 * of each example is a valid server.yaml. The Grafana dashboard is checked for what makes it
 * importable anywhere (no data source uid, the variables) and for queries that honour the
 * variables. e2e-monitoring-kit-prometheus.test.ts runs all of it against a real Prometheus.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import YAML from 'yaml';
import { parseYaml, readServerConfig } from '../lib/config/index.js';
import { allPanels, panelQueries, parseLabelValues, variableQueries } from './helpers/dashboard-queries.js';
import { promtool } from './helpers/prometheus-server.js';
import { promtoolOrSkip } from './helpers/promtool.js';
import { REPO } from './helpers/project.js';

const KIT = join(REPO, 'docs', 'monitoring');
const read = (file: string): string => readFileSync(join(KIT, file), 'utf8');

interface Rule {
  readonly alert?: string;
  readonly expr: string;
  readonly for?: string;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
}
const alerts = (YAML.parse(read('alerts.yml')) as { groups: { rules: Rule[] }[] }).groups.flatMap((g) => g.rules).filter((r) => r.alert !== undefined);
const alertNames = alerts.map((r) => r.alert as string);
const examples = readdirSync(KIT).filter((f) => /^prometheus-.*\.yml$/.test(f)).sort();
const dashboard = JSON.parse(read('grafana-dashboard.json'));

/** A scratch copy of docs/monitoring/, plus the secret files the examples read. */
function kitCopy(): string {
  const dir = mkdtempSync(join(tmpdir(), 'tq-kit-'));
  cpSync(KIT, dir, { recursive: true });
  writeFileSync(join(dir, 'tqserver.token'), 'prom-s3cret\n');
  writeFileSync(join(dir, 'tqserver.password'), 'prom-passw0rd\n');
  return dir;
}

/** GitHub's anchor for a Markdown heading: lower case, punctuation dropped, spaces to dashes. */
function anchor(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/\s/g, '-');
}

describe('alert rules', () => {
  const scratch: string[] = [];
  after(() => scratch.forEach((d) => rmSync(d, { recursive: true, force: true })));

  test('the kit has the alerts issue 7 asks for', () => {
    for (const name of ['TQServerTargetDown', 'TQServerWorkerDown', 'TQServerWorkerCrashLooping', 'TQServerWorkerBuildFailing', 'TQServerHigh5xxRatio', 'TQServerHighLatencyP99', 'TQServerWorkerQueueGrowing']) {
      assert.ok(alertNames.includes(name), `${name} missing from alerts.yml (${alertNames.join(', ')})`);
    }
    assert.equal(new Set(alertNames).size, alertNames.length, 'alert names must be unique');
  });

  test('promtool check rules accepts alerts.yml', async (t) => {
    if (!promtoolOrSkip(t)) return;
    const r = await promtool(['check', 'rules', 'alerts.yml'], KIT);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, new RegExp(`SUCCESS: ${alerts.length} rules found`));
  });

  test('promtool test rules passes alerts.test.yml', async (t) => {
    if (!promtoolOrSkip(t)) return;
    const r = await promtool(['test', 'rules', 'alerts.test.yml'], KIT);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /SUCCESS/);
  });

  test('negative control: a broken expression is rejected by both checks', async (t) => {
    if (!promtoolOrSkip(t)) return;
    const dir = kitCopy();
    scratch.push(dir);
    const rules = read('alerts.yml');
    assert.ok(rules.includes('tqserver_worker_up == 0'));
    writeFileSync(join(dir, 'alerts.yml'), rules.replace('tqserver_worker_up == 0', 'tqserver_worker_up == == 0'));
    const check = await promtool(['check', 'rules', 'alerts.yml'], dir);
    assert.notEqual(check.code, 0, check.stdout);
    assert.match(check.stderr, /parse error/);
    const unit = await promtool(['test', 'rules', 'alerts.test.yml'], dir);
    assert.notEqual(unit.code, 0, unit.stdout);
  });

  test('negative control: the unit tests catch a rule that lost its traffic floor', async (t) => {
    if (!promtoolOrSkip(t)) return;
    const dir = kitCopy();
    scratch.push(dir);
    const rules = read('alerts.yml');
    const floor = /\n\s*and\n\s*sum without \(instance, status_group\) \(rate\(tqserver_worker_http_responses_total\[5m\]\)\) > 0\.1/;
    assert.match(rules, floor);
    writeFileSync(join(dir, 'alerts.yml'), rules.replace(floor, ''));
    assert.equal((await promtool(['check', 'rules', 'alerts.yml'], dir)).code, 0, 'the weakened rule is still valid');
    const unit = await promtool(['test', 'rules', 'alerts.test.yml'], dir);
    assert.notEqual(unit.code, 0, unit.stdout);
    assert.match(unit.stdout + unit.stderr, /alertname: TQServerHigh5xxRatio/);
  });

  test('every alert has a unit test where it fires and one where it does not', () => {
    const suite = YAML.parse(read('alerts.test.yml')) as { tests: { alert_rule_test?: { alertname: string; exp_alerts?: unknown[] }[] }[] };
    const cases = suite.tests.flatMap((t) => t.alert_rule_test ?? []);
    for (const name of alertNames) {
      const mine = cases.filter((c) => c.alertname === name);
      assert.ok(mine.some((c) => (c.exp_alerts ?? []).length > 0), `${name}: no case where it fires`);
      assert.ok(mine.some((c) => (c.exp_alerts ?? []).length === 0), `${name}: no case where it does not fire`);
    }
    for (const c of cases) assert.ok(alertNames.includes(c.alertname), `alerts.test.yml tests ${c.alertname}, which alerts.yml does not define`);
  });

  test('every alert has a severity, summary, description, runbook, and a runbook_url to its section of docs/monitoring.md', () => {
    const headings = new Set(
      readFileSync(join(REPO, 'docs', 'monitoring.md'), 'utf8')
        .split('\n')
        .filter((l) => /^#{1,6} /.test(l))
        .map((l) => anchor(l.replace(/^#+ /, ''))),
    );
    for (const rule of alerts) {
      const a = rule.annotations ?? {};
      assert.ok(['critical', 'warning'].includes(rule.labels?.severity ?? ''), `${rule.alert}: severity`);
      for (const key of ['summary', 'description', 'runbook', 'runbook_url']) assert.ok((a[key] ?? '').trim() !== '', `${rule.alert}: annotation ${key}`);
      const url = /^docs\/monitoring\.md#(.+)$/.exec(a.runbook_url as string);
      assert.ok(url !== null, `${rule.alert}: runbook_url ${a.runbook_url}`);
      assert.ok(headings.has(url[1] as string), `${rule.alert}: docs/monitoring.md has no heading with anchor #${url[1]}`);
    }
  });
});

describe('example Prometheus configurations', () => {
  const scratch: string[] = [];
  after(() => scratch.forEach((d) => rmSync(d, { recursive: true, force: true })));

  test('there are the four examples: one node, file_sd, admin listener with bearer and with basic auth', () => {
    assert.deepEqual(examples, ['prometheus-admin-basic.yml', 'prometheus-admin-bearer.yml', 'prometheus-nodes.yml', 'prometheus-one-node.yml']);
    const jobs = examples.map((f) => (YAML.parse(read(f)) as { scrape_configs: Record<string, unknown>[] }).scrape_configs);
    for (const [i, f] of examples.entries()) assert.deepEqual(jobs[i]?.map((j) => j.job_name), ['tqserver'], `${f}: the rules select job="tqserver"`);
    const job = (f: string): Record<string, any> => jobs[examples.indexOf(f)]?.[0] as Record<string, any>;
    assert.equal(job('prometheus-admin-bearer.yml').authorization.credentials_file, 'tqserver.token');
    assert.equal(job('prometheus-admin-basic.yml').basic_auth.password_file, 'tqserver.password');
    assert.deepEqual(job('prometheus-admin-basic.yml').params, { format: ['text'] });
    assert.deepEqual(job('prometheus-nodes.yml').file_sd_configs[0].files, ['tqserver-targets.json']);
  });

  for (const file of examples) {
    test(`promtool check config ${file}`, async (t) => {
      if (!promtoolOrSkip(t)) return;
      const dir = kitCopy();
      scratch.push(dir);
      const r = await promtool(['check', 'config', file], dir);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.doesNotMatch(r.stdout + r.stderr, /WARNING/);
      assert.match(r.stdout, new RegExp(`SUCCESS: ${alerts.length} rules found`));
    });
  }

  test('negative control: promtool check config fails when the token file is missing', async (t) => {
    if (!promtoolOrSkip(t)) return;
    const dir = kitCopy();
    scratch.push(dir);
    rmSync(join(dir, 'tqserver.token'));
    const r = await promtool(['check', 'config', 'prometheus-admin-bearer.yml'], dir);
    assert.notEqual(r.code, 0, r.stdout);
    assert.match(r.stdout + r.stderr, /tqserver\.token/);
  });

  test('the file_sd targets file has the shape Prometheus reads', () => {
    const groups = JSON.parse(read('tqserver-targets.json')) as { targets: unknown; labels?: Record<string, unknown> }[];
    assert.ok(Array.isArray(groups) && groups.length > 0);
    for (const g of groups) {
      assert.ok(Array.isArray(g.targets) && g.targets.every((x) => typeof x === 'string' && /^[\w.-]+:\d+$/.test(x)), JSON.stringify(g));
      for (const v of Object.values(g.labels ?? {})) assert.equal(typeof v, 'string');
    }
  });

  for (const [file, kind] of [['prometheus-admin-bearer.yml', 'bearer'], ['prometheus-admin-basic.yml', 'basic']] as const) {
    test(`the tqserver side of ${file} is a valid server.yaml`, () => {
      const lines = read(file).split('\n');
      const start = lines.findIndex((l) => l.includes('tqserver side (config/server.yaml):'));
      assert.ok(start >= 0);
      let i = start + 1;
      while (lines[i] === '#') i++;
      const block: string[] = [];
      for (; (lines[i] ?? '').startsWith('#   '); i++) block.push((lines[i] as string).slice(4));
      const warnings: string[] = [];
      const config = readServerConfig(parseYaml(block.join('\n') + '\n', file), file, '/proj', warnings);
      assert.deepEqual(warnings, []);
      assert.ok(config.metrics.listen !== undefined, 'metrics.listen');
      assert.equal(config.metrics.auth?.kind, kind);
    });
  }
});

describe('Grafana dashboard', () => {
  const panels = allPanels(dashboard);
  const queries = panelQueries(dashboard);

  test('imports anywhere: schemaVersion 38, the data source only through ${datasource}', () => {
    assert.equal(dashboard.schemaVersion, 38);
    assert.equal(dashboard.id, null);
    const uids: string[] = [];
    const walk = (v: unknown, key: string): void => {
      if (Array.isArray(v)) v.forEach((x) => walk(x, key));
      else if (v !== null && typeof v === 'object') for (const [k, x] of Object.entries(v)) walk(x, k);
      else if (key === 'uid') uids.push(String(v));
    };
    walk(dashboard.panels, '');
    walk(dashboard.templating, '');
    assert.ok(uids.length > 0);
    assert.deepEqual([...new Set(uids)], ['${datasource}']);
  });

  test('variables: datasource (prometheus), instance and worker from label_values, multi-value with All', () => {
    const byName = new Map<string, any>(dashboard.templating.list.map((v: { name: string }) => [v.name, v]));
    assert.deepEqual([...byName.keys()], ['datasource', 'instance', 'worker']);
    assert.equal(byName.get('datasource').type, 'datasource');
    assert.equal(byName.get('datasource').query, 'prometheus');
    const vars = variableQueries(dashboard);
    assert.deepEqual(vars.map((v) => [v.name, parseLabelValues(v.query)?.label]), [['instance', 'instance'], ['worker', 'worker']]);
    for (const name of ['instance', 'worker']) {
      assert.equal(byName.get(name).datasource.uid, '${datasource}');
      assert.equal(byName.get(name).multi, true);
      assert.equal(byName.get(name).includeAll, true);
    }
    assert.match(vars[1]?.query ?? '', /instance=~"\$instance"/, 'the worker list follows the instance selection');
  });

  test('rows match the monitoring page: Overview, Routes, Workers, Server, with the views asked for', () => {
    assert.deepEqual(dashboard.panels.filter((p: { type: string }) => p.type === 'row').map((p: { title: string }) => p.title), ['Overview', 'Routes', 'Workers', 'Server']);
    const titles = panels.map((p) => p.title);
    for (const title of [
      'Requests per second', 'Responses by status class', 'Latency p50 / p95 / p99', 'Active requests', 'New connections per second', 'Bytes in / out',
      'Busiest routes',
      'Instances and healthy instances', 'Queue depth', 'Restarts by reason', 'Memory per instance', 'Build errors', 'Health-check latency', 'Health-check failures',
      'Memory by type', 'Event-loop lag', 'CPU', 'Open file descriptors',
    ]) assert.ok(titles.includes(title), `no panel "${title}"`);
    assert.deepEqual(panels.find((p) => p.title === 'Busiest routes')?.targets?.map((t) => t.refId), ['A', 'B', 'C']);
  });

  test('every panel has queries; rates use $__rate_interval; every selector honours $instance, worker series $worker', () => {
    for (const p of panels) assert.ok((p.targets ?? []).length > 0 && (p.targets ?? []).every((t) => (t.expr ?? '').trim() !== ''), `${p.title}: no query`);
    for (const q of queries) {
      for (const m of q.expr.matchAll(/\[([^\]]*)\]/g)) assert.equal(m[1], '$__rate_interval', `${q.where}: range [${m[1]}]`);
      for (const m of q.expr.matchAll(/\b((?:tqserver|process|nodejs)_\w+)(\{[^}]*\})?/g)) {
        const [, name, matchers] = m as unknown as [string, string, string | undefined];
        assert.match(matchers ?? '', /instance=~"\$instance"/, `${q.where}: ${name} without instance=~"$instance"`);
        if (/^tqserver_(worker|health_check)_/.test(name)) assert.match(matchers ?? '', /worker=~"\$worker"/, `${q.where}: ${name} without worker=~"$worker"`);
      }
    }
  });
});
