/**
 * End to end: every tqserver_* metric really recorded, bounded label sets, the endpoint's
 * negotiation, gzip, HEAD and auth, and promtool on the live output.
 */
import assert from 'node:assert/strict';
import { connect } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import { http, Project, startServer, eventually, type Running } from './helpers/project.js';
import { assertPromtoolClean, promtoolOrSkip } from './helpers/promtool.js';
import { scrape } from './helpers/scrape.js';

/** Sends one raw request on its own connection; resolves with the bytes written and read. */
function rawRequest(port: number, request: string | Buffer): Promise<{ written: number; read: number; text: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => socket.write(request));
    const chunks: Buffer[] = [];
    socket.on('data', (d: Buffer) => chunks.push(d));
    socket.on('error', reject);
    socket.on('close', () => {
      const all = Buffer.concat(chunks);
      resolve({ written: Buffer.byteLength(request), read: all.length, text: all.toString('latin1') });
    });
  });
}

function adminPort(s: Running): number {
  const m = /metrics on http:\/\/[^\s]*:(\d+)\/metrics/.exec(s.stderr());
  if (m === null) throw new Error(`no metrics listener in:\n${s.stderr()}`);
  return Number(m[1]);
}

describe('metrics with a separate admin listener', () => {
  const project = new Project();
  let s: Running;
  let admin: string;

  before(async () => {
    project.server('metrics:\n  listen: 127.0.0.1:0\n').echoWorker('api', '/api', 'scaling:\n  min_workers: 1\n  max_workers: 2\n').write('workers/api/public/app.css', 'x{}\n');
    s = await startServer(project);
    await s.waitFor(/metrics on/);
    admin = `http://127.0.0.1:${adminPort(s)}`;
  });
  after(async () => {
    assert.equal(await s.stop(), 0);
    project.remove();
  });

  test('known traffic changes every request metric by exactly what was sent', async () => {
    const before_ = await scrape(admin);
    const requests: [string, string, string, number][] = [
      // [method, path, body, expected status]
      ['GET', '/api/echo', '', 200],
      ['GET', '/api/echo', '', 200],
      ['GET', '/api/echo', '', 200],
      ['POST', '/api/echo', 'x'.repeat(1000), 200],
      ['GET', '/api/status/404', '', 404],
      ['GET', '/api/status/404', '', 404],
      ['GET', '/api/status/503', '', 503],
      ['PUT', '/api/status/201', 'abc', 201],
      ['PROPFIND', '/api/echo', '', 200],
      ['GET', '/nowhere', '', 404],
      ['GET', '/api/app.css', '', 200],
    ];
    let written = 0;
    let read = 0;
    for (const [method, path, body, status] of requests) {
      const head = `${method} ${path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n${body === '' ? '' : `Content-Length: ${body.length}\r\n`}\r\n`;
      const r = await rawRequest(s.port, head + body);
      assert.match(r.text, new RegExp(`^HTTP/1.1 ${status} `), `${method} ${path}`);
      written += r.written;
      read += r.read;
    }
    const after_ = await eventually(async () => {
      const m = await scrape(admin);
      return m.value('tqserver_active_requests') === 0 && m.value('tqserver_connections_total') - before_.value('tqserver_connections_total') === requests.length ? m : undefined;
    });
    const d = (name: string, labels: Record<string, string> = {}): number => after_.value(name, labels) - before_.value(name, labels);
    assert.equal(d('tqserver_requests_total', { method: 'GET', path: '/api', status: '200' }), 4, 'three echoes and a static file');
    assert.equal(d('tqserver_requests_total', { method: 'POST', path: '/api', status: '200' }), 1);
    assert.equal(d('tqserver_requests_total', { method: 'GET', path: '/api', status: '404' }), 2);
    assert.equal(d('tqserver_requests_total', { method: 'GET', path: '/api', status: '503' }), 1);
    assert.equal(d('tqserver_requests_total', { method: 'PUT', path: '/api', status: '201' }), 1);
    assert.equal(d('tqserver_requests_total', { method: 'OTHER', path: '/api', status: '200' }), 1);
    assert.equal(d('tqserver_requests_total', { method: 'GET', path: 'unmatched', status: '404' }), 1);
    assert.equal(d('tqserver_http_responses_total', { status_group: '2xx' }), 7);
    assert.equal(d('tqserver_http_responses_total', { status_group: '4xx' }), 3);
    assert.equal(d('tqserver_http_responses_total', { status_group: '5xx' }), 1);
    assert.equal(d('tqserver_worker_requests_total', { worker: 'api', status: '200' }), 6);
    assert.equal(d('tqserver_worker_requests_total', { worker: 'api', status: '404' }), 2);
    assert.equal(d('tqserver_worker_http_responses_total', { worker: 'api', status_group: '2xx' }), 7);
    assert.equal(d('tqserver_worker_http_responses_total', { worker: 'api', status_group: '5xx' }), 1);
    assert.equal(d('tqserver_request_duration_seconds_count', { method: 'GET', path: '/api' }), 7);
    assert.equal(d('tqserver_request_duration_seconds_bucket', { method: 'GET', path: '/api', le: '+Inf' }), 7);
    assert.ok(d('tqserver_request_duration_seconds_sum', { method: 'GET', path: '/api' }) > 0);
    assert.equal(d('tqserver_request_duration_seconds_count', { method: 'GET', path: 'unmatched' }), 1);
    assert.equal(d('tqserver_bytes_in_total'), written, 'bytes read from client sockets');
    assert.equal(d('tqserver_bytes_out_total'), read, 'bytes written to client sockets');
    assert.equal(d('tqserver_connections_total'), requests.length);
    assert.equal(after_.value('tqserver_active_requests'), 0);
  });

  test('the main listener reserves the metrics path (404, never proxied) and is not counted by scrapes', async () => {
    const r = await http(s.base, '/metrics');
    assert.equal(r.status, 404);
    assert.equal(r.text(), 'Not Found\n');
    const a = await scrape(admin);
    await scrape(admin);
    const b = await scrape(admin);
    assert.equal(b.value('tqserver_requests_total', { method: 'GET', path: 'unmatched', status: '404' }), a.value('tqserver_requests_total', { method: 'GET', path: 'unmatched', status: '404' }));
    assert.equal(b.value('tqserver_metrics_scrapes_total', { format: 'text' }) - a.value('tqserver_metrics_scrapes_total', { format: 'text' }), 2);
  });

  test('thousands of random paths and methods add only a handful of series', async () => {
    const count = (m: Awaited<ReturnType<typeof scrape>>): number => m.samples.length;
    const first = await scrape(admin);
    const methods = ['GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'HEAD', 'OPTIONS'];
    for (let i = 0; i < 2000; i++) {
      const method = i % 3 === 0 ? `X${i}Y` : (methods[i % methods.length] as string);
      const path = i % 2 === 0 ? `/api/${Math.random().toString(36).slice(2)}/${i}` : `/${i}-${Math.random().toString(36).slice(2)}`;
      await rawRequest(s.port, `${method} ${path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`);
    }
    const last = await scrape(admin);
    // Bounded by configuration, not by traffic: 8 method labels x 2 routes x a few statuses.
    const series = last.series('tqserver_requests_total');
    assert.ok(series.length <= 8 * 2 * 3, `${series.length} request series`);
    const pairs = new Set(last.series('tqserver_request_duration_seconds_count').map((x) => `${x.labels.method} ${x.labels.path}`));
    assert.ok(pairs.size <= 16, `${pairs.size} duration series`);
    assert.ok(last.samples.length - first.samples.length < 400, `exposition grew by ${last.samples.length - first.samples.length} lines for 2000 distinct requests`);
    const paths = new Set(series.map((x) => x.labels.path));
    assert.deepEqual([...paths].sort(), ['/api', 'unmatched']);
    const methodLabels = new Set(series.map((x) => x.labels.method));
    assert.ok([...methodLabels].every((m) => [...methods, 'OTHER'].includes(m as string)), [...methodLabels].join());
  });

  test('statuses outside 100-599 from a worker are counted as other, in status and status_group alike', async () => {
    const before_ = await scrape(admin);
    for (const status of [600, 799, 999, 599]) {
      const r = await rawRequest(s.port, `GET /api/status/${status} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n`);
      assert.match(r.text, new RegExp(`^HTTP/1.1 ${status} `), 'relayed as sent');
    }
    const after_ = await eventually(async () => {
      const m = await scrape(admin);
      return m.value('tqserver_http_responses_total', { status_group: '5xx' }) > before_.value('tqserver_http_responses_total', { status_group: '5xx' }) ? m : undefined;
    });
    const d = (name: string, labels: Record<string, string>): number => after_.value(name, labels) - before_.value(name, labels);
    assert.equal(d('tqserver_requests_total', { method: 'GET', path: '/api', status: 'other' }), 3);
    assert.equal(d('tqserver_requests_total', { method: 'GET', path: '/api', status: '599' }), 1);
    assert.equal(d('tqserver_http_responses_total', { status_group: 'other' }), 3);
    assert.equal(d('tqserver_worker_requests_total', { worker: 'api', status: 'other' }), 3);
    assert.equal(d('tqserver_worker_http_responses_total', { worker: 'api', status_group: 'other' }), 3);
    for (const name of ['tqserver_requests_total', 'tqserver_worker_requests_total']) {
      const statuses = after_.series(name).map((x) => x.labels.status as string);
      assert.ok(statuses.every((v) => v === 'other' || v === '0' || (Number(v) >= 100 && Number(v) <= 599)), `${name}: ${statuses.join()}`);
    }
    for (const name of ['tqserver_http_responses_total', 'tqserver_worker_http_responses_total']) {
      const groups = after_.series(name).map((x) => x.labels.status_group as string);
      assert.ok(groups.every((v) => /^[1-5]xx$|^other$/.test(v)), `${name}: ${groups.join()}`);
    }
  });

  test('an idle server reads event-loop lag near 0 (it read the 20 ms sampler resolution)', async () => {
    await scrape(admin);
    await new Promise((r) => setTimeout(r, 400));
    const m = await scrape(admin);
    for (const name of ['nodejs_eventloop_lag_seconds', 'nodejs_eventloop_lag_p50_seconds', 'nodejs_eventloop_lag_min_seconds']) {
      assert.ok(m.value(name) < 0.01, `${name} = ${m.value(name)}`);
    }
  });

  test('open connections: idle keep-alive connections count while open, and stop counting when closed', async () => {
    const base = (await scrape(admin)).value('tqserver_open_connections');
    const sockets = await Promise.all(Array.from({ length: 5 }, () => new Promise<ReturnType<typeof connect>>((resolve) => {
      const socket = connect(s.port, '127.0.0.1', () => resolve(socket));
    })));
    await eventually(async () => ((await scrape(admin)).value('tqserver_open_connections') === base + 5 ? true : undefined), 3000, 'five more open connections');
    for (const socket of sockets) socket.destroy();
    await eventually(async () => ((await scrape(admin)).value('tqserver_open_connections') === base ? true : undefined), 3000, 'the five to be gone');
  });

  test('current-state gauges: instances, healthy, up, queue depth, memory per instance slot', async () => {
    const m = await scrape(admin);
    assert.equal(m.value('tqserver_worker_instances', { worker: 'api' }), 1);
    assert.equal(m.value('tqserver_worker_instances_healthy', { worker: 'api' }), 1);
    assert.equal(m.value('tqserver_worker_up', { worker: 'api' }), 1);
    assert.equal(m.value('tqserver_worker_queue_depth', { worker: 'api' }), 0);
    assert.ok(m.value('tqserver_worker_memory_bytes', { worker: 'api', instance: '0' }) > 10_000_000);
    assert.ok(m.value('tqserver_process_uptime_seconds') > 0);
    assert.ok(m.value('tqserver_process_start_time_seconds') > 1.7e9);
    for (const type of ['heap', 'heap_total', 'external', 'array_buffers', 'rss']) assert.ok(m.value('tqserver_process_memory_bytes', { type }) > 0, type);
    assert.ok(m.value('tqserver_process_active_resources') > 0);
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_open_fds', 'process_max_fds', 'process_start_time_seconds', 'nodejs_heap_size_used_bytes', 'nodejs_heap_size_total_bytes', 'nodejs_external_memory_bytes']) {
      assert.ok(m.value(name) > 0, name);
    }
    assert.ok(m.has('nodejs_eventloop_lag_p99_seconds'));
    assert.ok(m.series('nodejs_heap_space_size_used_bytes').length > 3);
    assert.ok(m.has('nodejs_gc_duration_seconds_count', { kind: 'major' }));
    assert.equal(m.series('nodejs_version_info')[0]?.labels.version, process.version);
  });

  test('promtool check metrics reports nothing on the live output after traffic', async (t) => {
    if (!promtoolOrSkip(t)) return;
    const m = await scrape(admin);
    await assertPromtoolClean(m.text, 'live /metrics');
  });
});

describe('the endpoint on the main port, with a bearer token', () => {
  const project = new Project();
  let s: Running;
  before(async () => {
    project.server('metrics:\n  auth:\n    bearer_token: s3cret-token\n').echoWorker('api', '/api');
    s = await startServer(project);
  });
  after(async () => {
    assert.equal(await s.stop(), 0);
    project.remove();
  });

  test('401 with WWW-Authenticate unless the token is right', async () => {
    const wrong: Record<string, string>[] = [{}, { Authorization: 'Bearer wrong' }, { Authorization: 'Bearer s3cret' }, { Authorization: 'Bearer s3cret-token-and-more' }, { Authorization: 'Basic czNjcmV0LXRva2Vu' }];
    for (const headers of wrong) {
      const r = await http(s.base, '/metrics', { headers });
      assert.equal(r.status, 401, JSON.stringify(headers));
      assert.equal(r.headers['www-authenticate'], 'Bearer realm="tqserver metrics"');
    }
    const ok = await http(s.base, '/metrics', { headers: { Authorization: 'bearer s3cret-token' } });
    assert.equal(ok.status, 200);
    assert.match(ok.text(), /^# HELP nodejs_active_resources /);
  });
});

describe('endpoint formats, gzip, HEAD, methods and basic auth', () => {
  const project = new Project();
  let s: Running;
  const basic = { Authorization: `Basic ${Buffer.from('prom:pa:ss wörd').toString('base64')}` };
  before(async () => {
    project.server('metrics:\n  auth:\n    basic:\n      username: prom\n      password: "pa:ss wörd"\n').echoWorker('api', '/api');
    s = await startServer(project);
  });
  after(async () => {
    assert.equal(await s.stop(), 0);
    project.remove();
  });

  test('basic auth', async () => {
    assert.equal((await http(s.base, '/metrics', { headers: basic })).status, 200);
    for (const creds of ['prom:wrong', 'other:pa:ss wörd', 'prom', '']) {
      const r = await http(s.base, '/metrics', { headers: { Authorization: `Basic ${Buffer.from(creds).toString('base64')}` } });
      assert.equal(r.status, 401, creds);
      assert.equal(r.headers['www-authenticate'], 'Basic realm="tqserver metrics", charset="UTF-8"');
    }
  });

  test('negotiation: text, OpenMetrics for the Prometheus 2.42 Accept header, and ?format', async () => {
    const text = await http(s.base, '/metrics', { headers: basic });
    assert.equal(text.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    assert.ok(!text.text().includes('# EOF'));
    const accept = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
    const om = await http(s.base, '/metrics', { headers: { ...basic, Accept: accept } });
    assert.equal(om.headers['content-type'], 'application/openmetrics-text; version=1.0.0; charset=utf-8');
    assert.ok(om.text().endsWith('# EOF\n'));
    assert.match(om.text(), /^# TYPE tqserver_connections counter$/m);
    assert.match(om.text(), /^tqserver_connections_total \d+$/m);
    const forced = await http(s.base, '/metrics?format=text', { headers: { ...basic, Accept: accept } });
    assert.equal(forced.headers['content-type'], 'text/plain; version=0.0.4; charset=utf-8');
    const forcedOm = await http(s.base, '/metrics?format=openmetrics', { headers: basic });
    assert.ok(forcedOm.text().endsWith('# EOF\n'));
  });

  test('gzip when accepted; HEAD has headers and no body; other methods 405', async () => {
    const gz = await http(s.base, '/metrics', { headers: { ...basic, 'Accept-Encoding': 'gzip, deflate' } });
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.equal(Number(gz.headers['content-length']), gz.body.length);
    assert.match(gunzipSync(gz.body).toString('utf8'), /^# HELP /);
    const head = await http(s.base, '/metrics', { method: 'HEAD', headers: basic });
    assert.equal(head.status, 200);
    assert.ok(Number(head.headers['content-length']) > 1000);
    assert.equal(head.body.length, 0);
    const post = await http(s.base, '/metrics', { method: 'POST', headers: basic });
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
  });
});

describe('supervision shows in the metrics', () => {
  test('a killed instance: restarts counted with their reason, gauges follow, gone instances leave no series', async () => {
    const project = new Project();
    project.server().echoWorker('api', '/api', 'scaling:\n  min_workers: 2\n  max_workers: 2\n');
    const s = await startServer(project);
    try {
      const before_ = await scrape(s.base);
      assert.equal(before_.value('tqserver_worker_instances', { worker: 'api' }), 2);
      assert.equal(before_.value('tqserver_worker_restarts_total', { worker: 'api' }), 0, 'initialised at 0');
      // Every restart reason starts at 0, so that increase() sees the first crash.
      const reasons = before_.series('tqserver_worker_restarts_by_reason_total').filter((x) => x.labels.worker === 'api');
      assert.deepEqual(reasons.map((x) => x.labels.reason).sort(), ['change', 'crash', 'health', 'max_requests', 'memory', 'reload', 'start_failed']);
      assert.ok(reasons.every((x) => x.value === 0));
      const slots = before_.series('tqserver_worker_memory_bytes').map((x) => x.labels.instance).sort();
      assert.deepEqual(slots, ['0', '1']);
      // Kill one instance from outside, as the OOM killer or an operator would.
      const pid = (await http(s.base, '/api/echo')).json().pid as number;
      process.kill(pid, 'SIGKILL');
      const after_ = await eventually(async () => {
        const m = await scrape(s.base);
        return m.value('tqserver_worker_restarts_total', { worker: 'api' }) === 1 && m.value('tqserver_worker_instances_healthy', { worker: 'api' }) === 2 ? m : undefined;
      });
      assert.equal(after_.value('tqserver_worker_restarts_by_reason_total', { worker: 'api', reason: 'crash' }), 1);
      assert.equal(after_.value('tqserver_worker_instances', { worker: 'api' }), 2);
      assert.equal(after_.value('tqserver_worker_up', { worker: 'api' }), 1);
      assert.deepEqual(after_.series('tqserver_worker_memory_bytes').map((x) => x.labels.instance).sort(), ['0', '1'], 'slots are reused, so the series stay bounded');
      // A failed health check is a restart too, with its own reason.
      await http(s.base, '/api/sick');
      const sick = await eventually(async () => {
        const m = await scrape(s.base);
        return m.value('tqserver_health_check_failures_total', { worker: 'api' }) >= 1 && m.value('tqserver_worker_restarts_by_reason_total', { worker: 'api', reason: 'health' }) >= 1 ? m : undefined;
      });
      assert.equal(sick.value('tqserver_worker_restarts_total', { worker: 'api' }), 1 + sick.value('tqserver_worker_restarts_by_reason_total', { worker: 'api', reason: 'health' }));
      assert.ok(sick.value('tqserver_health_check_duration_seconds_count', { worker: 'api' }) > 0);
      // A SIGHUP reload replaces every instance, counted as reload.
      s.child.kill('SIGHUP');
      await s.waitFor(/configuration reloaded/);
      const reloaded = await scrape(s.base);
      assert.equal(reloaded.value('tqserver_worker_restarts_by_reason_total', { worker: 'api', reason: 'reload' }), 2);
    } finally {
      assert.equal(await s.stop(), 0);
      project.remove();
    }
  });

  test('a worker removed by a reload leaves no series; one added starts every counter at 0', async () => {
    const project = new Project();
    project.server().echoWorker('keep', '/keep').echoWorker('gone', '/gone');
    const s = await startServer(project);
    try {
      for (const path of ['/gone/echo', '/gone/status/503', '/keep/echo']) await http(s.base, path);
      // Both workers have been probed, so their health series exist before the reload as after it.
      await eventually(async () => {
        const m = await scrape(s.base);
        return ['gone', 'keep'].every((worker) => m.value('tqserver_health_check_duration_seconds_count', { worker }) > 0) ? true : undefined;
      });
      const before_ = await scrape(s.base);
      const perWorker = (m: Awaited<ReturnType<typeof scrape>>, worker: string): string[] => m.samples.filter((x) => x.labels.worker === worker).map((x) => x.name);
      assert.ok(perWorker(before_, 'gone').length > 15, perWorker(before_, 'gone').join());
      project.write('workers/gone/config/worker.yaml', 'path: /gone\nenabled: false\n').echoWorker('new', '/new');
      s.child.kill('SIGHUP');
      await s.waitFor(/configuration reloaded/);
      const after_ = await scrape(s.base);
      assert.deepEqual(perWorker(after_, 'gone'), [], 'every series of the removed worker is gone');
      assert.deepEqual(new Set(perWorker(after_, 'keep')), new Set(perWorker(before_, 'keep')));
      assert.equal(after_.series('tqserver_worker_restarts_by_reason_total').filter((x) => x.labels.worker === 'new').length, 7);
      assert.equal(after_.value('tqserver_worker_restarts_total', { worker: 'new' }), 0);
      assert.ok(after_.has('tqserver_worker_build_errors_total', { worker: 'new' }));
      assert.ok(after_.has('tqserver_health_check_failures_total', { worker: 'new' }));
    } finally {
      assert.equal(await s.stop(), 0);
      project.remove();
    }
  });

  test('a worker with no healthy instance is down; build failures are counted', async () => {
    const project = new Project();
    project
      .server('  queue_timeout_ms: 200\n')
      .echoWorker('bad', '/bad', 'env:\n  CRASH_ON_START: "1"\n')
      .echoWorker('one', '/one', 'scaling:\n  min_workers: 1\n  max_workers: 1\n  max_concurrency: 1\n')
      .write('workers/nobuild/config/worker.yaml', 'path: /nb\ntype: exec\nexec:\n  command: [sh, -c, "sleep 30"]\n  build: [sh, -c, "exit 1"]\n');
    const s = await startServer(project);
    try {
      const m = await eventually(async () => {
        const x = await scrape(s.base);
        return x.value('tqserver_worker_restarts_total', { worker: 'bad' }) >= 2 ? x : undefined;
      });
      assert.equal(m.value('tqserver_worker_up', { worker: 'bad' }), 0);
      assert.equal(m.value('tqserver_worker_instances_healthy', { worker: 'bad' }), 0);
      assert.ok(m.value('tqserver_worker_restarts_by_reason_total', { worker: 'bad', reason: 'start_failed' }) >= 2);
      assert.equal(m.value('tqserver_worker_build_errors_total', { worker: 'nobuild' }), 1);
      assert.equal(m.value('tqserver_worker_up', { worker: 'nobuild' }), 0);
      assert.equal(m.value('tqserver_worker_build_errors_total', { worker: 'bad' }), 0);
      // A crash-looping worker refuses at once, saying when to come back, rather than queueing.
      const refused = await http(s.base, '/bad/echo');
      assert.equal(refused.status, 503);
      assert.ok(Number(refused.headers['retry-after']) >= 1, 'Retry-After is set');
      assert.equal((await scrape(s.base)).value('tqserver_worker_queue_depth', { worker: 'bad' }), 0);
      // A request behind a busy instance waits in the queue, and the gauge shows it.
      const busy = http(s.base, '/one/slow/1500');
      await eventually(async () => ((await scrape(s.base)).value('tqserver_active_requests') === 1 ? true : undefined), 2000, 'the slow request');
      const waiting = http(s.base, '/one/echo');
      const queued = await eventually(async () => ((await scrape(s.base)).value('tqserver_worker_queue_depth', { worker: 'one' }) === 1 ? true : undefined), 2000, 'a queued request');
      assert.equal(queued, true);
      assert.equal((await waiting).status, 504);
      assert.equal((await busy).status, 200);
    } finally {
      assert.equal(await s.stop(), 0);
      project.remove();
    }
  });
});
