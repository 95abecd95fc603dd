/**
 * End to end: a SIGHUP applies the whole metrics block at once (enabled, path, listen, auth);
 * a metrics.listen that cannot bind keeps the running block; buckets wait for a restart.
 */
import assert from 'node:assert/strict';
import { connect, createServer, type Server } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { http, Project, startServer, type Running } from './helpers/project.js';
import { scrape } from './helpers/scrape.js';

const TOKEN = { Authorization: 'Bearer t0ken' };

/** Sends SIGHUP and waits for the reload to finish (the `count`-th "configuration reloaded"). */
async function sighup(s: Running, count: number): Promise<void> {
  s.child.kill('SIGHUP');
  await s.waitFor(new RegExp(`(configuration reloaded[\\s\\S]*){${count}}`));
}

/** The port of the last "metrics on http://...:PORT/..." line in the log. */
function lastAdminPort(s: Running): number {
  const all = [...s.stderr().matchAll(/metrics on http:\/\/[^\s]*:(\d+)\//g)];
  const last = all.at(-1);
  if (last === undefined) throw new Error(`no metrics listener in:\n${s.stderr()}`);
  return Number(last[1]);
}

/** Resolves with the error code of a connection to `port` (undefined if it connected). */
function connectError(port: number): Promise<string | undefined> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.on('connect', () => {
      socket.destroy();
      resolve(undefined);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => resolve(err.code));
  });
}

describe('SIGHUP applies the metrics block at once', () => {
  const project = new Project();
  const base = (metrics: string): string => `metrics:\n${metrics}`;
  let s: Running;
  let reloads = 0;
  const reload = async (metrics: string): Promise<void> => {
    project.server(base(metrics));
    await sighup(s, ++reloads);
  };

  before(async () => {
    project.server(base('  enabled: true\n')).echoWorker('app', '/');
    s = await startServer(project);
  });
  after(async () => {
    assert.equal(await s.stop(), 0);
    project.remove();
  });

  test('moving to metrics.listen with auth: the new listener asks for the token, the main port answers 404, never 401', async () => {
    assert.equal((await http(s.base, '/metrics')).status, 200);
    await reload('  listen: 127.0.0.1:0\n  auth:\n    bearer_token: t0ken\n');
    const admin = `http://127.0.0.1:${lastAdminPort(s)}`;
    const main = await http(s.base, '/metrics');
    assert.equal(main.status, 404, 'the main listener reserves the path');
    assert.equal(main.text(), 'Not Found\n');
    assert.equal((await http(admin, '/metrics')).status, 401);
    const m = await scrape(admin, '/metrics', TOKEN);
    assert.equal(m.series('tqserver_requests_total').length, 0, 'neither scrapes nor the 404 for the reserved path are requests');
  });

  test('metrics.path changes apply to the admin listener and to the reserved path on the main one', async () => {
    const oldPort = lastAdminPort(s);
    await reload('  path: /stats\n  listen: 127.0.0.1:0\n  auth:\n    bearer_token: t0ken\n');
    assert.equal(lastAdminPort(s), oldPort, 'the same metrics.listen keeps its listener');
    const admin = `http://127.0.0.1:${oldPort}`;
    assert.equal((await http(admin, '/stats', { headers: TOKEN })).status, 200);
    assert.equal((await http(admin, '/metrics', { headers: TOKEN })).status, 404);
    assert.equal((await http(s.base, '/stats')).text(), 'Not Found\n');
    const toWorker = await http(s.base, '/metrics');
    assert.equal(toWorker.json().name, 'app', '/metrics is an ordinary path of the worker now');
  });

  test('removing metrics.listen closes the admin listener and the main listener serves the path again', async () => {
    const oldPort = lastAdminPort(s);
    await reload('  path: /stats\n  auth:\n    bearer_token: t0ken\n');
    assert.match(s.stderr(), /metrics on the main listener at \/stats/);
    assert.equal(await connectError(oldPort), 'ECONNREFUSED');
    assert.equal((await http(s.base, '/stats')).status, 401);
    const a = await scrape(s.base, '/stats', TOKEN);
    const b = await scrape(s.base, '/stats', TOKEN);
    const requests = (m: typeof a): number => m.series('tqserver_requests_total').reduce((sum, x) => sum + x.value, 0);
    assert.equal(requests(b), requests(a), 'scrapes are not requests');
    assert.equal(b.value('tqserver_metrics_scrapes_total', { format: 'text' }) - a.value('tqserver_metrics_scrapes_total', { format: 'text' }), 1);
  });

  test('a metrics.listen that cannot bind is an error naming the key, and the whole running block stays', async () => {
    const busy: Server = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as { port: number }).port;
    try {
      await reload(`  path: /other\n  listen: 127.0.0.1:${port}\n  auth:\n    bearer_token: changed\n`);
      assert.match(s.stderr(), new RegExp(`metrics\\.listen 127\\.0\\.0\\.1:${port} is already in use \\(EADDRINUSE\\); change metrics\\.listen in config/server\\.yaml or stop the other process; the metrics settings stay as they were \\(metrics on the main listener at /stats\\)`));
      assert.equal((await http(s.base, '/stats', { headers: TOKEN })).status, 200, 'old path, old token');
      assert.equal((await http(s.base, '/stats', { headers: { Authorization: 'Bearer changed' } })).status, 401, 'the new token is not applied alone');
      assert.equal((await http(s.base, '/other')).json().name, 'app', 'the new path is not applied alone');
    } finally {
      busy.close();
    }
  });

  test('enabled: false gives the path to the workers at once and stops recording; enabled: true takes both back', async () => {
    const notFound = { method: 'GET', path: '/', status: '404' };
    const before_ = await scrape(s.base, '/stats', TOKEN);
    await reload('  enabled: false\n  path: /stats\n');
    assert.match(s.stderr(), /metrics off \(metrics\.enabled: false\)/);
    const r = await http(s.base, '/stats');
    assert.equal(r.status, 404);
    assert.equal(r.json().name, 'app', 'answered by the worker');
    await reload('  enabled: true\n  path: /stats\n');
    const after_ = await scrape(s.base, '/stats');
    assert.equal(after_.value('tqserver_requests_total', notFound), before_.value('tqserver_requests_total', notFound), 'nothing recorded while off');
    assert.ok(before_.value('tqserver_requests_total', notFound) > 0, 'the counters resume where they were');
    await http(s.base, '/nothing-here');
    assert.equal((await scrape(s.base, '/stats')).value('tqserver_requests_total', notFound), before_.value('tqserver_requests_total', notFound) + 1);
  });

  test('metrics.buckets changes wait for a restart, and the log says so', async () => {
    await reload('  path: /stats\n  buckets: [0.1, 1]\n');
    assert.match(s.stderr(), /metrics\.buckets changes take effect at the next restart/);
    const m = await scrape(s.base, '/stats');
    assert.ok(m.has('tqserver_request_duration_seconds_bucket', { method: 'GET', path: '/', le: '0.005' }), 'the running buckets stay');
  });
});

test('a server started with metrics.enabled: false serves them after a reload turns them on', async () => {
  const project = new Project();
  project.server('metrics:\n  enabled: false\n').echoWorker('app', '/');
  const s = await startServer(project);
  try {
    assert.equal((await http(s.base, '/metrics')).json().name, 'app');
    assert.equal((await http(s.base, '/echo')).status, 200);
    project.server('metrics:\n  listen: 127.0.0.1:0\n');
    await sighup(s, 1);
    const admin = `http://127.0.0.1:${lastAdminPort(s)}`;
    const m = await scrape(admin);
    assert.equal(m.series('tqserver_requests_total').length, 0, 'nothing was recorded while metrics were off');
    assert.equal(m.series('tqserver_worker_restarts_by_reason_total').length, 7, 'every restart reason from 0');
    assert.equal(m.value('tqserver_worker_restarts_by_reason_total', { worker: 'app', reason: 'reload' }), 1, 'the reload that turned them on is recorded');
    assert.equal((await http(s.base, '/metrics')).text(), 'Not Found\n');
    assert.equal((await http(s.base, '/echo')).status, 200);
    assert.equal((await scrape(admin)).value('tqserver_requests_total', { method: 'GET', path: '/', status: '200' }), 1);
  } finally {
    assert.equal(await s.stop(), 0);
    project.remove();
  }
});
