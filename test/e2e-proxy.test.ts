/** End to end: the real server in front of real worker processes, over real sockets. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { http, Project, startServer, type Running } from './helpers/project.js';

describe('routing, forwarding and static files', () => {
  const project = new Project();
  let server: Running;

  before(async () => {
    project
      .server('  queue_timeout_ms: 400\n')
      .echoWorker('root', '/', 'env:\n  EXTRA: root-extra\n')
      .echoWorker('api', '/api')
      .echoWorker('deep', '/api/v2/deep')
      .echoWorker('slowpoke', '/slow', 'scaling:\n  min_workers: 1\n  max_workers: 1\n  max_concurrency: 1\n')
      .write('workers/api/public/app.css', 'body{}\n')
      .write('workers/api/public/sub/page.html', '<p>hi</p>\n')
      .write('workers/api/secret.txt', 'SECRET-IN-WORKER-DIR\n')
      .write('outside.txt', 'SECRET-OUTSIDE\n');
    server = await startServer(project, ['--mode', 'prod']);
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
    project.remove();
  });

  test('longest prefix on segment boundaries, prefix stripped, query kept', async () => {
    // The echo worker answers unknown paths with 404 and the name and URL it saw.
    const cases: [string, string, string][] = [
      ['/api/users?x=1', 'api', '/users?x=1'],
      ['/api', 'api', '/'],
      ['/api/', 'api', '/'],
      ['/apiary', 'root', '/apiary'],
      ['/api/v2/deep/x', 'deep', '/x'],
      ['/api/v2/deeper', 'api', '/v2/deeper'],
      ['/', 'root', '/'],
      ['/other/thing?a=b', 'root', '/other/thing?a=b'],
    ];
    for (const [path, worker, url] of cases) {
      const seen = (await http(server.base, path)).json();
      assert.equal(seen.name, worker, path);
      assert.equal(seen.url, url, path);
    }
  });

  test('each worker gets the contract environment', async () => {
    const root = (await http(server.base, '/echo')).json();
    assert.equal(root.env.WORKER_NAME, 'root');
    assert.equal(root.env.WORKER_PATH, '/');
    assert.equal(root.env.WORKER_TYPE, 'node');
    assert.equal(root.env.WORKER_MODE, 'prod');
    assert.equal(root.env.WORKER_PORT, root.env.PORT);
    assert.equal(root.env.EXTRA, 'root-extra');
    const api = (await http(server.base, '/api/echo?q=1')).json();
    assert.equal(api.env.WORKER_NAME, 'api');
    assert.equal(api.url, '/echo?q=1');
  });

  test('forwarded headers, correlation id, hop-by-hop removal, Host kept', async () => {
    const r = await http(server.base, '/api/echo', {
      headers: {
        Host: 'example.test',
        'X-Forwarded-For': '203.0.113.7',
        'X-Correlation-ID': 'abc-123',
        Connection: 'close, X-Secret-Hop',
        'X-Secret-Hop': 'drop me',
        'Keep-Alive': 'timeout=5',
        TE: 'trailers',
        'Proxy-Connection': 'keep-alive',
        'X-Custom': 'kept',
      },
    });
    const seen = r.json().headers;
    assert.equal(seen['x-forwarded-for'], '203.0.113.7, 127.0.0.1');
    assert.equal(seen['x-forwarded-proto'], 'http');
    assert.equal(seen['x-forwarded-host'], 'example.test');
    assert.equal(seen.host, 'example.test');
    assert.equal(seen['x-correlation-id'], 'abc-123');
    assert.equal(seen['x-custom'], 'kept');
    for (const hop of ['x-secret-hop', 'keep-alive', 'te', 'proxy-connection']) assert.equal(seen[hop], undefined, hop);
    assert.equal(r.headers['x-correlation-id'], 'abc-123');
    const generated = await http(server.base, '/api/echo', { headers: { 'X-Correlation-ID': 'bad "id" with spaces' } });
    assert.match(String(generated.headers['x-correlation-id']), /^[0-9a-f-]{36}$/);
    assert.equal(generated.json().headers['x-correlation-id'], generated.headers['x-correlation-id']);
  });

  test('request and response bodies stream through intact', async () => {
    const body = Buffer.alloc(3 * 1024 * 1024, 7);
    const r = await http(server.base, '/api/echo', { method: 'POST', body, headers: { 'Content-Type': 'application/octet-stream' } });
    assert.equal(r.json().bodyBytes, body.length);
    const big = await http(server.base, '/api/bytes/2000000');
    assert.equal(big.body.length, 2_000_000);
    assert.equal(big.headers['content-length'], '2000000');
  });

  test('static files from public/, with content type, ETag and 304, and HEAD', async () => {
    const css = await http(server.base, '/api/app.css');
    assert.equal(css.status, 200);
    assert.equal(css.text(), 'body{}\n');
    assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');
    assert.ok(css.headers.etag);
    assert.ok(css.headers['last-modified']);
    const again = await http(server.base, '/api/app.css', { headers: { 'If-None-Match': String(css.headers.etag) } });
    assert.equal(again.status, 304);
    assert.equal(again.body.length, 0);
    const since = await http(server.base, '/api/app.css', { headers: { 'If-Modified-Since': String(css.headers['last-modified']) } });
    assert.equal(since.status, 304);
    const head = await http(server.base, '/api/sub/page.html', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], '10');
    assert.equal(head.body.length, 0);
    const post = await http(server.base, '/api/app.css', { method: 'POST' });
    assert.equal(post.status, 404, 'POST goes to the worker, which has no such route');
  });

  test('nothing outside public/ is ever served, however .. is spelled', async () => {
    const attempts = [
      '/api/../secret.txt', '/api/%2e%2e/secret.txt', '/api/%2E%2E/secret.txt', '/api/%252e%252e/secret.txt',
      '/api/..%2fsecret.txt', '/api/..%2Fsecret.txt', '/api/..\\secret.txt', '/api/..%5csecret.txt', '/api/%5c..%5csecret.txt',
      '/api/sub/../../secret.txt', '/api/sub/%2e%2e/%2e%2e/secret.txt', '/api/../../outside.txt', '/api/%2e%2e/%2e%2e/outside.txt',
      '/api/app.css%00.txt', '/api/%c0%ae%c0%ae/secret.txt', '/api//..//..//outside.txt', '/api/.%2e/secret.txt',
      '/api/sub/..%2f..%2fsecret.txt', '/api/%2fetc%2fpasswd', '/api/....//secret.txt',
    ];
    for (const path of attempts) {
      const r = await http(server.base, path);
      assert.ok(!r.text().includes('SECRET'), `${path} leaked a file (status ${r.status})`);
      assert.ok(!r.text().includes('root:'), `${path} leaked /etc/passwd`);
      assert.notEqual(r.headers['content-type'], 'text/plain; charset=utf-8', path);
    }
  });

  test('no route: 404 page; JSON when asked for JSON', async () => {
    const p = new Project();
    p.server().echoWorker('only', '/only');
    const s = await startServer(p);
    try {
      const page = await http(s.base, '/nowhere');
      assert.equal(page.status, 404);
      assert.match(String(page.headers['content-type']), /text\/html/);
      assert.match(page.text(), /404 Not Found/);
      const json = await http(s.base, '/nowhere', { headers: { Accept: 'application/json' } });
      assert.deepEqual(json.json(), { error: { status: 404, message: 'No worker serves this path.' } });
    } finally {
      await s.stop();
      p.remove();
    }
  });

  test('a full queue answers 503, a long wait 504', async () => {
    const inflight = http(server.base, '/slow/slow/1500');
    await new Promise((r) => setTimeout(r, 100));
    const waited = await http(server.base, '/slow/echo');
    assert.equal(waited.status, 504, 'waited past queue_timeout_ms');
    assert.equal((await inflight).status, 200);
  });

  test('an HTTP/1.0 request without Host is still served', async () => {
    const raw = await new Promise<string>((resolve) => {
      const socket = connect(server.port, '127.0.0.1', () => socket.write('GET /api/echo HTTP/1.0\r\n\r\n'));
      let data = '';
      socket.on('data', (d) => (data += d));
      socket.on('close', () => resolve(data));
    });
    assert.match(raw, /^HTTP\/1.1 200 /);
    assert.match(raw, /"host":"127\.0\.0\.1:\d+"/);
  });

  test('oversized headers get 431; a bad request line gets 400; the server lives on', async () => {
    const big = await http(server.base, '/api/echo', { headers: { 'X-Big': 'x'.repeat(20_000) } });
    assert.equal(big.status, 431);
    const raw = await new Promise<string>((resolve) => {
      const socket = connect(server.port, '127.0.0.1', () => socket.write('GARBAGE\r\n\r\n'));
      let data = '';
      socket.on('data', (d) => (data += d));
      socket.on('close', () => resolve(data));
    });
    assert.match(raw, /^HTTP\/1.1 400/);
    assert.equal((await http(server.base, '/api/echo')).status, 200);
  });

  test('WebSocket-style upgrades are relayed both ways', async () => {
    const echoed = await new Promise<string>((resolve, reject) => {
      const socket = connect(server.port, '127.0.0.1', () => {
        socket.write('GET /api/ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n');
      });
      let data = '';
      socket.setEncoding('utf8');
      socket.on('data', (d) => {
        data += d;
        if (data.includes('\r\n\r\n') && !data.includes('ping-pong')) socket.write('ping-pong');
        if (data.includes('ping-pong')) {
          socket.destroy();
          resolve(data);
        }
      });
      socket.on('error', reject);
    });
    assert.match(echoed, /^HTTP\/1.1 101/);
    assert.match(echoed, /ping-pong$/);
  });
});

describe('the fast upstream path: framing, reuse, backpressure', () => {
  const project = new Project();
  let server: Running;
  before(async () => {
    project.server().echoWorker('api', '/', 'scaling:\n  min_workers: 1\n  max_workers: 1\n');
    server = await startServer(project);
  });
  after(async () => {
    assert.equal(await server.stop(), 0);
    project.remove();
  });

  test('chunked, close-delimited and 1xx-preceded responses arrive whole, and the next request still works', async () => {
    const { Agent } = await import('node:http');
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const chunked = await http(server.base, '/chunked/50', { agent });
      assert.equal(chunked.text(), Array.from({ length: 50 }, (_, i) => `piece-${i};`).join(''));
      const close = await http(server.base, '/until-close', { agent });
      assert.equal(close.status, 200);
      assert.equal(close.text(), 'body until close');
      const hints = await http(server.base, '/early-hints', { agent });
      assert.equal(hints.text(), 'hints');
      const head = await http(server.base, '/bytes/1000', { agent, method: 'HEAD' });
      assert.equal(head.headers['content-length'], '1000');
      assert.equal(head.body.length, 0);
      for (let i = 0; i < 20; i++) {
        const paths = ['/echo', '/chunked/3', '/until-close', '/status/204', '/status/304', '/bytes/10'];
        const path = paths[i % paths.length] as string;
        const r = await http(server.base, path, { agent, method: i % 4 === 3 ? 'HEAD' : 'GET' });
        assert.ok(r.status >= 200 && r.status < 400, `${path}: ${r.status}`);
      }
    } finally {
      agent.destroy();
    }
  });

  test('a slow reader gets a large body intact (backpressure), and the connection is reused after', async () => {
    const { request, Agent } = await import('node:http');
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const size = 16 * 1024 * 1024;
    const received = await new Promise<number>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port: server.port, path: '/bytes/' + size, agent }, (res) => {
        let n = 0;
        res.on('data', (chunk: Buffer) => {
          n += chunk.length;
          res.pause();
          setTimeout(() => res.resume(), 1);
        });
        res.on('end', () => resolve(n));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(received, size);
    const after_ = await http(server.base, '/echo', { agent });
    assert.equal(after_.status, 200);
    agent.destroy();
  });

  test('a client that leaves mid-response does not break the next requests', async () => {
    const { connect: connectTo } = await import('node:net');
    await new Promise<void>((resolve) => {
      const socket = connectTo(server.port, '127.0.0.1', () => socket.write('GET /bytes/50000000 HTTP/1.1\r\nHost: x\r\n\r\n'));
      socket.once('data', () => {
        socket.destroy();
        resolve();
      });
    });
    for (let i = 0; i < 10; i++) assert.equal((await http(server.base, '/echo')).status, 200);
  });
});

test('a client that does not finish its request within read_timeout_seconds gets 408', async () => {
  const project = new Project();
  project.server().echoWorker('w', '/');
  project.write('config/server.yaml', readConfig(project).replace('  log_file: ~\n', '  log_file: ~\n  read_timeout_seconds: 1\n'));
  const s = await startServer(project);
  try {
    const started = Date.now();
    const raw = await new Promise<string>((resolve) => {
      const socket = connect(s.port, '127.0.0.1', () => socket.write('GET /echo HTTP/1.1\r\nHost: x\r\nX-Slow: '));
      let data = '';
      socket.on('data', (d) => (data += d));
      socket.on('close', () => resolve(data));
    });
    assert.match(raw, /^HTTP\/1.1 408 /);
    assert.ok(Date.now() - started < 4000, `took ${Date.now() - started} ms`);
  } finally {
    assert.equal(await s.stop(), 0);
    project.remove();
  }
});

function readConfig(project: Project): string {
  return readFileSync(join(project.dir, 'config/server.yaml'), 'utf8');
}

test('a worker that does not start answering within write_timeout_seconds gets the client a 504', async () => {
  const project = new Project();
  project.server().echoWorker('w', '/');
  project.write('config/server.yaml', readConfig(project).replace('  log_file: ~\n', '  log_file: ~\n  write_timeout_seconds: 1\n'));
  const s = await startServer(project);
  try {
    const started = Date.now();
    const r = await http(s.base, '/slow/3000');
    assert.equal(r.status, 504);
    assert.ok(Date.now() - started < 2500, `took ${Date.now() - started} ms`);
    const post = await http(s.base, '/slow/3000', { method: 'POST', body: 'x' });
    assert.equal(post.status, 504, 'the node:http path for bodies too');
    assert.equal((await http(s.base, '/echo')).status, 200);
  } finally {
    assert.equal(await s.stop(), 0);
    project.remove();
  }
});
