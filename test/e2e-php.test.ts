/**
 * `type: php` end to end: a real php-fpm behind a real tqserver (dist/main.js), spoken to with
 * tqserver's own FastCGI client. php-fpm comes from Debian's php8.2-fpm (.ci/run installs it);
 * without it this suite skips loudly on a developer machine and fails in CI (CI=true).
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect } from 'node:net';
import { findPhpFpm } from '../lib/config/index.js';
import { alive, eventually, http, Project, startServer, type Running } from './helpers/project.js';

const PHP_FPM = findPhpFpm();
const missing = PHP_FPM === undefined;
if (missing && process.env.CI === 'true') throw new Error('php-fpm is not installed, and CI must run this test (.ci/run installs Debian package php8.2-fpm)');
if (missing) console.error('!!! SKIPPED: php-fpm not found; install Debian package php8.2-fpm to run the php suite !!!');

/** A worker name no other test uses: php-fpm's process titles carry it. */
const NAME = 'phpe2e';
const RECYCLE = 'phprecycle';
const SECRET = 'SECRET-RAN-OUTSIDE-THE-ROOT';

/** Process ids of php-fpm processes of the worker `name` (masters and children), from /proc. */
function fpmPids(name: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(entry)) continue;
    let cmd: string;
    try {
      cmd = readFileSync(`/proc/${entry}/cmdline`, 'latin1').replaceAll('\0', ' ');
    } catch {
      continue;
    }
    if (cmd.startsWith(`php-fpm: pool ${name} `) || cmd.trim() === `php-fpm: pool ${name}` || (cmd.startsWith('php-fpm: master process') && cmd.includes(`/${name}-`))) pids.push(Number(entry));
  }
  return pids;
}

function masterPid(name: string): number | undefined {
  for (const pid of fpmPids(name)) {
    const cmd = readFileSync(`/proc/${pid}/cmdline`, 'latin1');
    if (cmd.startsWith('php-fpm: master process')) return pid;
  }
  return undefined;
}

/** One raw request line, sent as is (no client-side normalisation), answered with status and body. */
function raw(port: number, path: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    let data = '';
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => (data += d));
    socket.on('end', () => {
      const status = Number(/^HTTP\/1\.1 (\d{3})/.exec(data)?.[1] ?? 0);
      resolve({ status, body: data.slice(data.indexOf('\r\n\r\n') + 4) });
    });
    socket.on('error', reject);
    socket.write(`GET ${path} HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n`);
  });
}

function metric(text: string, name: string, labels: string): number | undefined {
  const line = text.split('\n').find((l) => l.startsWith(`${name}{`) && l.includes(labels));
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('php workers through php-fpm', { skip: missing ? 'php-fpm not installed' : false }, () => {
  let project: Project;
  let s: Running;
  let allPids: Set<number>;

  before(async () => {
    project = new Project('tq-php-');
    project.server();
    const site = `workers/${NAME}`;
    project
      .write(`${site}/config/worker.yaml`, [
        'path: /app', 'type: php',
        'logging:', '  log_file: logs/{name}.log',
        'env:', '  GREETING: hello from env',
        'php:',
        `  binary: ${PHP_FPM}`,
        '  settings:', '    post_max_size: 64M', '    upload_max_filesize: 64M', '    display_errors: "Off"', '    log_errors: "On"',
        '  pool:', '    manager: static', '    max_workers: 2', '    max_requests: 3', '    slowlog_timeout: 1', '',
      ].join('\n'))
      .write(`${site}/public/index.php`, `<?php
header('Content-Type: application/json');
echo json_encode([
  'script' => $_SERVER['SCRIPT_NAME'], 'path_info' => $_SERVER['PATH_INFO'] ?? null, 'uri' => $_SERVER['REQUEST_URI'],
  'query' => $_SERVER['QUERY_STRING'], 'method' => $_SERVER['REQUEST_METHOD'], 'self' => $_SERVER['PHP_SELF'],
  'xff' => $_SERVER['HTTP_X_FORWARDED_FOR'] ?? null, 'xfh' => $_SERVER['HTTP_X_FORWARDED_HOST'] ?? null, 'cid' => $_SERVER['HTTP_X_CORRELATION_ID'] ?? null,
  'proxy' => $_SERVER['HTTP_PROXY'] ?? null, 'https' => $_SERVER['HTTPS'] ?? null, 'software' => $_SERVER['SERVER_SOFTWARE'],
  'greeting' => getenv('GREETING'), 'worker' => getenv('WORKER_NAME'), 'get' => $_GET, 'pid' => getmypid(),
]);
`)
      .write(`${site}/public/form.php`, `<?php header('Content-Type: application/json'); echo json_encode(['post' => $_POST, 'type' => $_SERVER['CONTENT_TYPE'] ?? null, 'length' => $_SERVER['CONTENT_LENGTH'] ?? null]);\n`)
      .write(`${site}/public/upload.php`, `<?php
$f = $_FILES['file'] ?? null;
if ($f === null || $f['error'] !== UPLOAD_ERR_OK) { http_response_code(400); echo 'upload failed: ', json_encode($f); exit; }
echo json_encode(['name' => $f['name'], 'size' => filesize($f['tmp_name']), 'sha256' => hash_file('sha256', $f['tmp_name']), 'note' => $_POST['note'] ?? null]);
`)
      .write(`${site}/public/raw.php`, `<?php $h = hash_init('sha256'); $n = 0; $in = fopen('php://input', 'rb'); while (!feof($in)) { $b = fread($in, 65536); $n += strlen($b); hash_update($h, $b); } echo $n, ' ', hash_final($h);\n`)
      .write(`${site}/public/headers.php`, `<?php
http_response_code(201);
header('X-From-Php: yes');
setcookie('first', '1');
setcookie('second', '2', ['path' => '/app']);
echo 'made';
`)
      .write(`${site}/public/redirect.php`, `<?php header('Location: /app/elsewhere');\n`)
      .write(`${site}/public/teapot.php`, `<?php header('HTTP/1.1 418 I am a teapot'); echo 'short and stout';\n`)
      .write(`${site}/public/fatal.php`, `<?php echo 'before '; this_function_does_not_exist();\n`)
      .write(`${site}/public/warn.php`, `<?php error_log('a line for the worker log'); echo 'warned';\n`)
      .write(`${site}/public/big.php`, `<?php $chunk = str_repeat('x', 65536); for ($i = 0; $i < 64; $i++) { echo $chunk; flush(); }\n`)
      .write(`${site}/public/pid.php`, `<?php echo getmypid();\n`)
      // php-fpm looks for slow requests on a heartbeat of a third of slowlog_timeout (333 ms
      // here): 1.3 s let a heartbeat miss it about one time in ten; 1.8 s always spans one.
      .write(`${site}/public/slow.php`, `<?php usleep(1800000); echo 'slow';\n`)
      .write(`${site}/public/style.css`, 'body { color: red }\n')
      .write(`${site}/public/docs/readme.txt`, 'static text\n')
      .write(`${site}/public/admin/index.php`, `<?php echo 'admin index ', $_SERVER['SCRIPT_NAME'];\n`)
      .write(`${site}/public/UPPER.PHP`, `<?php echo 'source must not leak';\n`)
      .write(`${site}/secret.php`, `<?php echo '${SECRET}';\n`)
      .write(`${site}/secret.txt`, `${SECRET}\n`)
      .write(`workers/${RECYCLE}/config/worker.yaml`, ['path: /recycle', 'type: php', 'max_requests: 4', 'logging:', '  log_file: ~', 'php:', `  binary: ${PHP_FPM}`, '  pool:', '    max_workers: 1', ''].join('\n'))
      .write(`workers/${RECYCLE}/public/index.php`, `<?php echo getmypid();\n`);
    symlinkSync(join(project.dir, site, 'secret.php'), join(project.dir, site, 'public', 'linked.php'));
    symlinkSync(join(project.dir, site, 'secret.txt'), join(project.dir, site, 'public', 'linked.txt'));
    s = await startServer(project);
    allPids = new Set([...fpmPids(NAME), ...fpmPids(RECYCLE)]);
    assert.ok(fpmPids(NAME).length >= 3, 'a master and its 2 static children');
  });

  after(async () => {
    const before = new Set([...allPids, ...fpmPids(NAME), ...fpmPids(RECYCLE)]);
    assert.equal(await s.stop(), 0);
    // Every php-fpm process started (masters and children, including replaced ones) is gone.
    await eventually(() => ([...before].some(alive) ? undefined : true), 5000, 'every php-fpm process to be gone');
    assert.deepEqual([...fpmPids(NAME), ...fpmPids(RECYCLE)], []);
    project.remove();
  });

  test('a GET through the front controller: CGI variables, forwarding headers, the environment', async () => {
    const r = await http(s.base, '/app/users/42?sort=name&x=%C3%A9', { headers: { 'X-Correlation-ID': 'trace-1', Proxy: 'http://evil:1' } });
    assert.equal(r.status, 200, r.text());
    assert.equal(r.headers['content-type'], 'application/json');
    assert.equal(r.headers['x-correlation-id'], 'trace-1');
    const j = r.json();
    assert.equal(j.script, '/app/index.php');
    assert.equal(j.path_info, '/users/42');
    assert.equal(j.self, '/app/index.php/users/42');
    assert.equal(j.uri, '/app/users/42?sort=name&x=%C3%A9');
    assert.equal(j.query, 'sort=name&x=%C3%A9');
    assert.deepEqual(j.get, { sort: 'name', x: 'é' });
    assert.equal(j.method, 'GET');
    assert.equal(j.xff, '127.0.0.1');
    assert.equal(j.xfh, `127.0.0.1:${s.port}`);
    assert.equal(j.cid, 'trace-1');
    assert.equal(j.proxy, null, 'httpoxy');
    assert.equal(j.https, null);
    assert.match(j.software, /^tqserver\//);
    assert.equal(j.greeting, 'hello from env');
    assert.equal(j.worker, NAME);
    const root = (await http(s.base, '/app')).json();
    assert.equal(root.script, '/app/index.php');
    assert.equal(root.path_info, '');
    assert.equal((await http(s.base, '/app/admin')).text(), 'admin index /app/admin/index.php');
  });

  test('a POST form, urlencoded, read through $_POST (with a Content-Length, and chunked)', async () => {
    const body = 'name=Ada+Lovelace&tags%5B%5D=math&tags%5B%5D=poetry&empty=';
    const r = await http(s.base, '/app/form.php', { method: 'POST', body, headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'Content-Length': String(body.length) } });
    assert.equal(r.status, 200, r.text());
    assert.deepEqual(r.json(), { post: { name: 'Ada Lovelace', tags: ['math', 'poetry'], empty: '' }, type: 'application/x-www-form-urlencoded', length: String(body.length) });
    const chunked = await http(s.base, '/app/form.php', { method: 'POST', body, headers: { 'Content-Type': 'application/x-www-form-urlencoded', 'Transfer-Encoding': 'chunked' } });
    assert.deepEqual(chunked.json().post, { name: 'Ada Lovelace', tags: ['math', 'poetry'], empty: '' });
    assert.equal(chunked.json().length, String(body.length), 'a chunked body is read whole and given its CONTENT_LENGTH');
    const tooBig = await http(s.base, '/app/raw.php', { method: 'POST', body: Buffer.alloc(9 * 1024 * 1024), headers: { 'Transfer-Encoding': 'chunked' } }).catch((err: Error) => err);
    assert.ok(tooBig instanceof Error || tooBig.status === 413, 'over 8 MiB without a Content-Length: 413 (or the connection is closed while sending)');
  });

  test('an upgrade request to a php worker is refused (501), not passed to php-fpm', async () => {
    const answer = await new Promise<string>((resolve, reject) => {
      const socket = connect(s.port, '127.0.0.1');
      let data = '';
      socket.setEncoding('latin1');
      socket.on('data', (d: string) => (data += d));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
      socket.write('GET /app/ HTTP/1.1\r\nHost: test\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n');
    });
    assert.match(answer, /^HTTP\/1\.1 501 /);
  });

  test('a 20 MB multipart upload arrives whole ($_FILES, size and SHA-256 checked in PHP), and a 20 MB raw body too', async () => {
    const file = randomBytes(20 * 1024 * 1024);
    const boundary = '----tqserver' + randomBytes(8).toString('hex');
    const body = Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="note"\r\n\r\nhi\r\n`),
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="file"; filename="blob.bin"\r\nContent-Type: application/octet-stream\r\n\r\n`),
      file,
      Buffer.from(`\r\n--${boundary}--\r\n`),
    ]);
    const started = performance.now();
    const r = await http(s.base, '/app/upload.php', { method: 'POST', body, headers: { 'Content-Type': `multipart/form-data; boundary=${boundary}`, 'Content-Length': String(body.length) } });
    const ms = performance.now() - started;
    assert.equal(r.status, 200, r.text());
    assert.deepEqual(r.json(), { name: 'blob.bin', size: file.length, sha256: createHash('sha256').update(file).digest('hex'), note: 'hi' });
    const rawStarted = performance.now();
    const rawReply = await http(s.base, '/app/raw.php', { method: 'POST', body: file, headers: { 'Content-Type': 'application/octet-stream', 'Content-Length': String(file.length) } });
    const rawMs = performance.now() - rawStarted;
    assert.equal(rawReply.text(), `${file.length} ${createHash('sha256').update(file).digest('hex')}`);
    console.error(`# 20 MB multipart upload: ${ms.toFixed(0)} ms; 20 MB raw body: ${rawMs.toFixed(0)} ms`);
  });

  test('status codes and headers set by PHP: http_response_code, header(), two Set-Cookie, Location, a status line', async () => {
    const made = await http(s.base, '/app/headers.php');
    assert.equal(made.status, 201);
    assert.equal(made.headers['x-from-php'], 'yes');
    assert.deepEqual(made.headers['set-cookie'], ['first=1', 'second=2; path=/app']);
    assert.equal(made.text(), 'made');
    const moved = await http(s.base, '/app/redirect.php');
    assert.equal(moved.status, 302);
    assert.equal(moved.headers.location, '/app/elsewhere');
    const teapot = await http(s.base, '/app/teapot.php');
    assert.equal(teapot.status, 418);
    assert.equal(teapot.text(), 'short and stout');
    const big = await http(s.base, '/app/big.php');
    assert.equal(big.body.length, 64 * 65536);
    assert.equal(big.headers['transfer-encoding'], 'chunked', 'no Content-Length from PHP: chunked to the client');
  });

  test('a fatal error is a 500 (its message in the worker log), and the server keeps serving', async () => {
    const r = await http(s.base, '/app/fatal.php');
    assert.equal(r.status, 500);
    assert.equal(r.text(), 'before ');
    await http(s.base, '/app/warn.php');
    const log = await eventually(() => {
      const text = project.read(`logs/${NAME}.log`);
      return text.includes('this_function_does_not_exist') && text.includes('a line for the worker log') ? text : undefined;
    }, 3000, 'PHP messages in the worker log');
    assert.match(log, /PHP Fatal error: {2}Uncaught Error: Call to undefined function this_function_does_not_exist\(\)/);
    for (let i = 0; i < 3; i++) assert.equal((await http(s.base, '/app/users')).status, 200);
  });

  test('static files next to PHP files: served with their type and ETag, never a script as source', async () => {
    const css = await http(s.base, '/app/style.css');
    assert.equal(css.status, 200);
    assert.equal(css.headers['content-type'], 'text/css; charset=utf-8');
    assert.equal(css.text(), 'body { color: red }\n');
    const again = await http(s.base, '/app/style.css', { headers: { 'If-None-Match': css.headers.etag as string } });
    assert.equal(again.status, 304);
    assert.equal((await http(s.base, '/app/docs/readme.txt')).text(), 'static text\n');
    assert.equal((await http(s.base, '/app/style.css', { method: 'POST', body: 'x' })).status, 405);
    assert.equal((await http(s.base, '/app/UPPER.PHP')).status, 404);
    const form = await http(s.base, '/app/form.php');
    assert.ok(!form.text().includes('<?php'), 'a script runs, it is never sent');
  });

  test('nothing outside the document root runs or is served, however the path is spelled', async () => {
    const attempts = [
      '/app/../secret.php', '/app/%2e%2e/secret.php', '/app/%2E%2E/secret.php', '/app/.%2e/secret.php', '/app/%2e%2e%2fsecret.php',
      '/app/%252e%252e/secret.php', '/app/%252e%252e%252fsecret.php', '/app/..%5csecret.php', '/app/..\\secret.php', '/app/%5c..%5csecret.php',
      '/app/secret.php%00.css', '/app/index.php%00', '/app/linked.php', '/app/linked.php/x', '/app/linked.txt', '/app/../secret.txt',
      '/app/docs/..%2f..%2fsecret.txt', '/app/%c0%ae%c0%ae/secret.php',
    ];
    for (const path of attempts) {
      const r = await raw(s.port, path);
      assert.ok(!r.body.includes(SECRET), `${path} reached the secret: ${r.status} ${r.body.slice(0, 200)}`);
      assert.ok(r.status === 404 || r.status === 400 || (r.status === 200 && r.body.includes('"script":"\\/app\\/index.php"')), `${path}: ${r.status} ${r.body.slice(0, 200)}`);
    }
  });

  test('php.pool.max_requests: php-fpm replaces its children (keep-alive connections and all), no request fails', async () => {
    const pids = new Set<string>();
    for (let i = 0; i < 14; i++) {
      const r = await http(s.base, '/app/pid.php');
      assert.equal(r.status, 200, `request ${i}: ${r.text()}`);
      pids.add(r.text());
    }
    // 2 children, each replaced after 3 requests: at least 4 different children served 14.
    assert.ok(pids.size >= 4, `children seen: ${[...pids].join(', ')}`);
    // Concurrent too, over kept connections that php-fpm closes as children retire.
    const replies = await Promise.all(Array.from({ length: 24 }, () => http(s.base, '/app/pid.php', { agent: undefined })));
    assert.deepEqual(replies.map((r) => r.status), Array(24).fill(200));
  });

  test("tqserver's own max_requests: the php-fpm instance is replaced, no request fails", async () => {
    for (let i = 0; i < 10; i++) assert.equal((await http(s.base, '/recycle/')).status, 200);
    const text = await eventually(async () => {
      const m = (await http(s.base, '/metrics')).text();
      return (metric(m, 'tqserver_worker_restarts_by_reason_total', `reason="max_requests",worker="${RECYCLE}"`) ?? 0) >= 2 ? m : undefined;
    }, 5000, 'two max_requests restarts');
    assert.ok(text.includes(`tqserver_worker_instances{worker="${RECYCLE}"} 1`));
  });

  test('a php-fpm that dies is restarted, and requests are served again', async () => {
    const master = masterPid(NAME);
    assert.ok(master !== undefined);
    process.kill(master, 'SIGKILL');
    await eventually(() => (masterPid(NAME) !== undefined && masterPid(NAME) !== master ? true : undefined), 5000, 'a new php-fpm');
    for (const p of fpmPids(NAME)) allPids.add(p);
    const r = await eventually(async () => {
      const reply = await http(s.base, '/app/pid.php');
      return reply.status === 200 ? reply : undefined;
    }, 5000, 'requests served again');
    assert.equal(r.status, 200);
    const m = (await http(s.base, '/metrics')).text();
    assert.ok((metric(m, 'tqserver_worker_restarts_by_reason_total', `reason="crash",worker="${NAME}"`) ?? 0) >= 1);
  });

  test('metrics: php workers count like any other, and php-fpm exports its pool', async () => {
    assert.equal((await http(s.base, '/app/slow.php')).text(), 'slow');
    await eventually(async () => ((metric((await http(s.base, '/metrics')).text(), 'tqserver_php_slow_requests_total', `worker="${NAME}"`) ?? 0) >= 1 ? true : undefined), 5000, 'a slow request counted');
    const m = await eventually(async () => {
      const text = (await http(s.base, '/metrics')).text();
      return metric(text, 'tqserver_php_idle_processes', `worker="${NAME}"`) !== undefined ? text : undefined;
    }, 5000, 'tqserver_php_* series');
    assert.ok((metric(m, 'tqserver_worker_requests_total', `status="200",worker="${NAME}"`) ?? 0) > 10);
    assert.ok((metric(m, 'tqserver_worker_requests_total', `status="500",worker="${NAME}"`) ?? 0) >= 1);
    assert.ok((metric(m, 'tqserver_requests_total', 'path="/app"') ?? 0) > 0);
    assert.ok((metric(m, 'tqserver_request_duration_seconds_count', 'path="/app"') ?? 0) > 0);
    assert.equal(metric(m, 'tqserver_worker_instances', `worker="${NAME}"`), 1);
    assert.equal(metric(m, 'tqserver_worker_up', `worker="${NAME}"`), 1);
    assert.ok((metric(m, 'tqserver_worker_memory_bytes', `worker="${NAME}"`) ?? 0) > 10_000_000, 'the master and its children');
    assert.ok((metric(m, 'tqserver_health_check_duration_seconds_count', `worker="${NAME}"`) ?? 0) > 0);
    const idle = metric(m, 'tqserver_php_idle_processes', `worker="${NAME}"`) ?? -1;
    const active = metric(m, 'tqserver_php_active_processes', `worker="${NAME}"`) ?? -1;
    assert.ok(idle >= 0 && active >= 0 && idle + active <= 2, `idle ${idle}, active ${active}: pm.max_children is 2`);
    assert.equal(metric(m, 'tqserver_php_listen_queue', `worker="${NAME}"`), 0);
    assert.ok(metric(m, 'tqserver_php_max_children_reached_total', `worker="${NAME}"`) !== undefined);
    assert.ok(metric(m, 'tqserver_php_slow_requests_total', `worker="${NAME}"`) !== undefined);
  });
});
