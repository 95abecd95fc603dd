/**
 * End to end: how worker failures reach the client and the log. A worker that cannot start is
 * explained (its exit and its stderr) and refused at once; a refused connection is retried on
 * another instance; one missed health probe does not replace a healthy instance.
 */
import assert from 'node:assert/strict';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventually, http, Project, REPO, startServer, type Running } from './helpers/project.js';
import { scrape } from './helpers/scrape.js';

const FLAKY = join(REPO, 'fixtures', 'workers', 'flaky.mjs');

/** A node worker whose entrypoint throws a SyntaxError at start. */
const BROKEN = 'const port = Number(process.env.WORKER_PORT);\nthis is not javascript(\n';
const FIXED =
  "import { createServer } from 'node:http';\n" +
  "createServer((req, res) => res.writeHead(200, { 'Content-Type': 'text/plain' }).end(req.url === '/health' ? 'ok' : 'fixed and serving')).listen(Number(process.env.WORKER_PORT), '127.0.0.1');\n";

describe('a worker that cannot start', () => {
  test('dev mode: the browser gets a start-failure page with the worker output, then the fixed code', async () => {
    const project = new Project();
    project.server().write('workers/app/config/worker.yaml', 'path: /\nnode:\n  entrypoint: index.mjs\n').write('workers/app/index.mjs', BROKEN);
    const s = await startServer(project, ['--mode', 'dev']);
    try {
      // The log names the exit and quotes the worker's own error, from the first failure on.
      await s.waitFor(/worker app: instance app#\d+ .* exited during start-up \(code 1\); its stderr ended with:[^]*SyntaxError/);
      const page = await eventually(async () => {
        const r = await http(s.base, '/', { headers: { accept: 'text/html' } });
        return r.status === 503 && r.text().includes('SyntaxError') ? r : undefined;
      }, 10_000, 'the start-failure page');
      assert.match(page.text(), /Worker failed to start: app/);
      assert.match(page.text(), /dev-reload\.js/, 'the page reloads itself');
      assert.ok(Number(page.headers['retry-after']) >= 1);
      project.write('workers/app/index.mjs', FIXED);
      const served = await eventually(async () => {
        const r = await http(s.base, '/page');
        return r.status === 200 ? r : undefined;
      }, 15_000, 'the fixed worker to serve');
      assert.equal(served.text(), 'fixed and serving');
    } finally {
      assert.equal(await s.stop(), 0);
      project.remove();
    }
  });

  test('prod mode: refused at once with 503 and Retry-After, and the client is not shown the worker output', async () => {
    const project = new Project();
    project.server('  queue_timeout_ms: 20000\n').write('workers/app/config/worker.yaml', 'path: /\nnode:\n  entrypoint: index.mjs\n').write('workers/app/index.mjs', BROKEN);
    const s = await startServer(project, ['--mode', 'prod']);
    try {
      await s.waitFor(/crash loop/);
      const started = Date.now();
      const r = await http(s.base, '/');
      assert.equal(r.status, 503);
      assert.ok(Date.now() - started < 5000, 'answered long before queue_timeout_ms (20 s)');
      assert.ok(Number(r.headers['retry-after']) >= 1);
      assert.doesNotMatch(r.text(), /SyntaxError/);
      assert.match(s.stderr(), /SyntaxError/, 'the operator finds the reason in the log');
    } finally {
      assert.equal(await s.stop(), 0);
      project.remove();
    }
  });
});

test('SIGHUP on a worker that was never healthy does not claim that old instances keep serving', async () => {
  const project = new Project();
  project.server().echoWorker('never', '/', 'env:\n  CRASH_ON_START: "1"\n');
  const s = await startServer(project);
  try {
    await s.waitFor(/crash loop/);
    s.child.kill('SIGHUP');
    await s.waitFor(/worker never: restart \(reload\) failed/, 15_000);
    assert.match(s.stderr(), /restart \(reload\) failed, no new instance became healthy; the worker has no healthy instance/);
    assert.doesNotMatch(s.stderr(), /keep serving/);
  } finally {
    assert.equal(await s.stop(), 0);
    project.remove();
  }
});

describe('faults of a running instance', () => {
  const project = new Project();
  let s: Running;

  before(async () => {
    project.server().write('workers/flaky/config/worker.yaml', `path: /\nnode:\n  entrypoint: ${JSON.stringify(FLAKY)}\nscaling:\n  min_workers: 2\n  max_workers: 2\n`);
    s = await startServer(project, ['--mode', 'prod']);
  });
  after(async () => {
    assert.equal(await s.stop(), 0);
    project.remove();
  });

  test('one failed health probe does not replace a healthy instance', async () => {
    // Scraped first: the failing probe may come before a scrape sent after the POST is answered.
    const before_ = await scrape(s.base);
    const pid = Number((await http(s.base, '/fail-health/1', { method: 'POST' })).text());
    // Five probe intervals (200 ms in tests) later, the instance is still there.
    await new Promise((r) => setTimeout(r, 1000));
    const m = await scrape(s.base);
    assert.ok(m.value('tqserver_health_check_failures_total', { worker: 'flaky' }) > before_.value('tqserver_health_check_failures_total', { worker: 'flaky' }), 'the failed probe is counted');
    assert.equal(m.value('tqserver_worker_restarts_total', { worker: 'flaky' }), 0, 'but nothing was replaced');
    const pids = new Set<number>();
    for (let i = 0; i < 6; i++) pids.add((await http(s.base, '/pid')).json().pid);
    assert.ok(pids.has(pid), 'the instance still serves');
  });

  test('a connection refused by a dying instance is retried on another one, whatever the method', async () => {
    const stopped = Number((await http(s.base, '/stop-listening', { method: 'POST' })).text());
    const statuses: number[] = [];
    const pids = new Set<number>();
    for (let i = 0; i < 10; i++) {
      const r = await http(s.base, '/echo', { method: 'POST', body: 'x'.repeat(5000), headers: { 'content-type': 'text/plain' } });
      statuses.push(r.status);
      if (r.status === 200) {
        assert.equal(r.json().bodyBytes, 5000, 'the body arrived whole on the retry');
        pids.add(r.json().pid);
      }
    }
    assert.deepEqual(statuses, Array(10).fill(200));
    assert.ok(!pids.has(stopped), 'nothing was answered by the instance that stopped listening');
    assert.match(s.stderr(), /could not be reached: ECONNREFUSED/);
  });

  test('on the fast lane too: a GET refused by a dying instance is answered by another one', async () => {
    const refusals = (): number => s.stderr().match(/GET \/pid: worker flaky instance .* could not be reached: ECONNREFUSED/g)?.length ?? 0;
    const before_ = refusals();
    const stopped = Number((await http(s.base, '/stop-listening', { method: 'POST' })).text());
    const statuses: number[] = [];
    const pids = new Set<number>();
    for (let i = 0; i < 10; i++) {
      const r = await http(s.base, '/pid');
      statuses.push(r.status);
      if (r.status === 200) pids.add(r.json().pid);
    }
    assert.deepEqual(statuses, Array(10).fill(200));
    assert.ok(!pids.has(stopped), 'nothing was answered by the instance that stopped listening');
    assert.ok(refusals() > before_, 'a GET was refused and retried');
  });
});

describe('connection limits and file descriptors', () => {
  /** Opens `n` idle connections; resolves once each is connected or refused. */
  async function openIdle(port: number, n: number): Promise<Socket[]> {
    const sockets: Socket[] = [];
    await Promise.all(
      Array.from({ length: n }, () =>
        new Promise<void>((resolve) => {
          const socket = connect(port, '127.0.0.1', () => resolve());
          socket.on('error', () => resolve());
          sockets.push(socket);
        }),
      ),
    );
    return sockets;
  }

  test('server.max_connections caps client connections; the server serves again when they go', async () => {
    const project = new Project();
    project.server().write('config/server.yaml', project.read('config/server.yaml').replace('server:\n', 'server:\n  max_connections: 20\n')).echoWorker('w', '/');
    const s = await startServer(project);
    try {
      const sockets = await openIdle(s.port, 60);
      // Node closes connections over the cap as soon as it accepts them.
      const closed = await eventually(() => {
        const n = sockets.filter((x) => x.destroyed || x.readableEnded).length;
        return n >= 40 ? n : undefined;
      }, 5000, 'connections over the cap to be closed');
      assert.ok(closed <= 40 + 1, `only the connections over the cap are closed (${closed})`);
      for (const x of sockets) x.destroy();
      const r = await eventually(async () => {
        const reply = await http(s.base, '/echo');
        return reply.status === 200 ? reply : undefined;
      }, 5000, 'a request after the connections went');
      assert.equal(r.status, 200);
    } finally {
      assert.equal(await s.stop(), 0);
      project.remove();
    }
  });

  test('out of file descriptors: tqserver says it is its own limit, blames no worker, and recovers', async () => {
    const project = new Project();
    project.server().echoWorker('w', '/', 'scaling:\n  min_workers: 1\n  max_workers: 1\n');
    // A cap the descriptor limit cannot carry (left unset, the cap would follow the limit).
    project.write('config/server.yaml', project.read('config/server.yaml').replace('server:\n', 'server:\n  max_connections: 10000\n'));
    // Node raises the soft limit to the hard one at start-up, so both are set.
    const s = await startServer(project, ['--mode', 'prod'], {}, ['prlimit', '--nofile=120:120', '--']);
    try {
      assert.match(s.stderr(), /server\.max_connections 10000 needs up to \d+ file descriptors .* this process may open 120/);
      const pid = (await http(s.base, '/echo')).json().pid as number;
      const sockets = await openIdle(s.port, 200);
      // A descriptor tqserver held during the burst (a health probe's connection) is free again
      // after it, and libuv closes what it cannot accept without a word: one more connection every
      // 50 ms takes a freed descriptor back before the next probe (every 200 ms) can use it.
      const pressure = setInterval(() => sockets.push(connect(s.port, '127.0.0.1').on('error', () => {})), 50);
      try {
        // Five probes failed while no descriptor was free: none may count against the worker.
        await s.waitFor(/(?:not counted: tqserver is out of file descriptors[^]*){5}/, 10_000);
      } finally {
        clearInterval(pressure);
        for (const x of sockets) x.destroy();
      }
      const r = await eventually(async () => {
        const reply = await http(s.base, '/echo');
        return reply.status === 200 ? reply : undefined;
      }, 10_000, 'a request after the descriptors came back');
      assert.equal(r.json().pid, pid, 'the instance was not replaced');
      const m = await scrape(s.base);
      assert.equal(m.value('tqserver_worker_restarts_total', { worker: 'w' }), 0);
      assert.doesNotMatch(s.stderr(), /failed its health check|no free port/);
    } finally {
      assert.equal(await s.stop(), 0);
      project.remove();
    }
  });
});

describe('requests a client gave up on while they waited', () => {
  test('a client that resets while its request waits for a static-file check does not keep the worker slot', async () => {
    const project = new Project();
    project
      .server('  queue_timeout_ms: 3000\n')
      .echoWorker('w', '/', 'scaling:\n  min_workers: 1\n  max_workers: 1\n  max_concurrency: 2\n')
      .write('workers/w/public/app.css', 'x{}\n');
    const s = await startServer(project);
    try {
      // Each request waits on a stat of public/ before it is sent on; its client is gone by then.
      await Promise.all(
        Array.from({ length: 60 }, () =>
          new Promise<void>((resolve) => {
            const socket = connect(s.port, '127.0.0.1', () => {
              socket.write('GET /slow/400 HTTP/1.1\r\nHost: x\r\n\r\n');
              socket.resetAndDestroy();
              resolve();
            });
            socket.on('error', () => resolve());
          }),
        ),
      );
      await new Promise((r) => setTimeout(r, 1500));
      const r = await http(s.base, '/echo');
      assert.equal(r.status, 200, 'a slot of the only instance is free again');
      const m = await scrape(s.base);
      assert.equal(m.value('tqserver_active_requests'), 0);
    } finally {
      assert.equal(await s.stop(), 0);
      project.remove();
    }
  });

  test('a request pipelined behind one answered with Connection: close is never sent to a worker', async () => {
    const project = new Project();
    project.server().echoWorker('w', '/');
    const s = await startServer(project);
    try {
      const before_ = (await scrape(s.base)).value('tqserver_requests_total', { method: 'POST', path: '/', status: '200' });
      const reply = await new Promise<string>((resolve) => {
        const socket = connect(s.port, '127.0.0.1', () => {
          // Two Host headers: a 400 that closes the connection; the POST behind it must not run.
          socket.write('GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\nPOST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\n\r\nhi');
        });
        let text = '';
        socket.setEncoding('latin1').on('data', (d: string) => (text += d));
        socket.on('close', () => resolve(text));
        setTimeout(() => socket.destroy(), 3000);
      });
      assert.match(reply, /^HTTP\/1\.1 400 /);
      assert.equal(reply.split('HTTP/1.1 ').length - 1, 1, 'one answer, then the connection closed');
      await new Promise((r) => setTimeout(r, 300));
      assert.equal((await scrape(s.base)).value('tqserver_requests_total', { method: 'POST', path: '/', status: '200' }), before_, 'the POST never reached the worker');
    } finally {
      assert.equal(await s.stop(), 0);
      project.remove();
    }
  });
});
