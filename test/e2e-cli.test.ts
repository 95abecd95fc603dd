/** End to end: the command line, broken configurations, dev-mode live reload, memory limits. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { connect, createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { listenError } from '../lib/listen-error.js';
import { parseArgs } from '../lib/cli.js';
import { acceptKey } from '../lib/proxy/index.js';
import { eventually, http, Project, runToExit, startServer } from './helpers/project.js';

describe('command line', () => {
  test('flags, TQSERVER_MODE and usage errors', () => {
    assert.deepEqual(parseArgs([], {}), { kind: 'run', configPath: undefined, mode: 'dev', quiet: false });
    assert.deepEqual(parseArgs(['--config', 'c.yaml', '--mode', 'prod', '--quiet'], {}), { kind: 'run', configPath: 'c.yaml', mode: 'prod', quiet: true });
    assert.deepEqual(parseArgs(['--mode=production'], {}), { kind: 'run', configPath: undefined, mode: 'prod', quiet: false });
    assert.equal((parseArgs([], { TQSERVER_MODE: 'prod' }) as { mode: string }).mode, 'prod');
    assert.equal((parseArgs(['--mode', 'dev'], { TQSERVER_MODE: 'prod' }) as { mode: string }).mode, 'dev');
    assert.equal(parseArgs(['--help'], {}).kind, 'help');
    assert.equal(parseArgs(['--version'], {}).kind, 'version');
    assert.match((parseArgs(['--mode', 'staging'], {}) as { message: string }).message, /dev or prod/);
    assert.match((parseArgs([], { TQSERVER_MODE: 'x' }) as { message: string }).message, /TQSERVER_MODE/);
    assert.equal(parseArgs(['--config'], {}).kind, 'usage-error');
    assert.equal(parseArgs(['--nope'], {}).kind, 'usage-error');
  });

  test('the Go TQServer spellings: one dash or two, the value after a space or "="', () => {
    const run = (configPath: string | undefined, mode: 'dev' | 'prod', quiet = false) => ({ kind: 'run', configPath, mode, quiet });
    assert.deepEqual(parseArgs(['-config=c.yaml', '-mode=prod'], {}), run('c.yaml', 'prod'));
    assert.deepEqual(parseArgs(['-config', 'c.yaml', '-mode', 'prod'], {}), run('c.yaml', 'prod'));
    assert.deepEqual(parseArgs(['--config=c.yaml', '--mode=dev'], { TQSERVER_MODE: 'prod' }), run('c.yaml', 'dev'));
    assert.deepEqual(parseArgs(['-config=/abs/a=b.yaml'], {}), run('/abs/a=b.yaml', 'dev'), 'only the first "=" splits');
    assert.deepEqual(parseArgs(['-mode=development', '-quiet'], {}), run(undefined, 'dev', true));
    assert.equal(parseArgs(['-help'], {}).kind, 'help');
    assert.equal(parseArgs(['-version'], {}).kind, 'version');
    assert.match((parseArgs(['-config='], {}) as { message: string }).message, /--config needs a path/);
    assert.match((parseArgs(['-mode=staging'], {}) as { message: string }).message, /dev or prod, got "staging"/);
    assert.match((parseArgs(['--quiet=yes'], {}) as { message: string }).message, /--quiet takes no value/);
    assert.match((parseArgs(['-conf=c.yaml'], {}) as { message: string }).message, /unknown argument "-conf=c\.yaml"/);
  });

  test('listen errors name the setting to change and the file it is in', () => {
    const err = (code: string, message = `listen ${code}`): NodeJS.ErrnoException => Object.assign(new Error(message), { code });
    const at = { host: '127.0.0.1', port: 8080 };
    const cases: [ReturnType<typeof listenError>, string][] = [
      [listenError(err('EADDRINUSE'), 'server', at, 'config/server.yaml'), 'server.port 8080 on 127.0.0.1 is already in use (EADDRINUSE); change server.port in config/server.yaml or stop the other process'],
      [listenError(err('EADDRINUSE'), 'server', at, '(defaults)'), 'server.port 8080 on 127.0.0.1 is already in use (EADDRINUSE); change server.port in config/server.yaml or stop the other process'],
      [listenError(err('EACCES'), 'server', { host: '0.0.0.0', port: 80 }, 'prod.yaml'), 'server.port 80 on 0.0.0.0 is not allowed for this process (EACCES: ports below 1024 need privileges); change server.port in prod.yaml'],
      [listenError(err('EADDRNOTAVAIL'), 'server', { host: '10.9.9.9', port: 80 }, 'config/server.yaml'), 'server.host 10.9.9.9 is not an address of this machine (EADDRNOTAVAIL); change server.host in config/server.yaml'],
      [listenError(err('ENOTFOUND'), 'server', { host: 'nohost.invalid', port: 80 }, 'config/server.yaml'), 'server.host nohost.invalid is not a host name that resolves (ENOTFOUND); change server.host in config/server.yaml'],
      [listenError(err('EADDRINUSE'), 'metrics.listen', { host: '::1', port: 9100 }, 'config/server.yaml'), 'metrics.listen [::1]:9100 is already in use (EADDRINUSE); change metrics.listen in config/server.yaml or stop the other process'],
      [listenError(err('EWHATEVER', 'listen EWHATEVER: odd'), 'metrics.listen', { host: '127.0.0.1', port: 9100 }, 'config/server.yaml'), 'metrics.listen 127.0.0.1:9100 cannot be bound (listen EWHATEVER: odd); change metrics.listen in config/server.yaml'],
    ];
    for (const [error, message] of cases) {
      assert.equal(error.message, message);
      assert.equal(error.code, 'ERR_LISTEN');
    }
  });

  test('--help and --version print and exit 0; a usage error exits 2', async () => {
    const p = new Project();
    try {
      const help = await runToExit(p, ['--help']);
      assert.equal(help.code, 0);
      assert.match(help.stdout, /--config PATH/);
      assert.match(help.stdout, /-config=PATH/, 'the Go TQServer spelling is documented');
      assert.match(help.stdout, /SIGHUP/);
      const version = await runToExit(p, ['--version']);
      assert.match(version.stdout, /^tqserver \d+\.\d+\.\d+\n$/);
      const bad = await runToExit(p, ['--frobnicate']);
      assert.equal(bad.code, 2);
      assert.match(bad.stderr, /unknown argument "--frobnicate"/);
    } finally {
      p.remove();
    }
  });
});

describe('broken configurations stop start-up with exit 1 before anything is spawned', () => {
  const marker = 'started.marker';
  const cases: [string, Record<string, string>, RegExp][] = [
    ['bad YAML in server.yaml', { 'config/server.yaml': 'server:\n  port: 8080\n   host: x\n' }, /config\/server\.yaml:3:4: bad indentation/],
    ['wrong type', { 'config/server.yaml': 'server:\n  port: eighty\n' }, /config\/server\.yaml:2:9: server\.port: must be an integer, got string "eighty"/],
    ['tab indentation', { 'config/server.yaml': 'server:\n\tport: 1\n' }, /config\/server\.yaml:2:1: tab character in indentation/],
    ['duplicate key', { 'config/server.yaml': 'metrics:\n  path: /a\n  path: /b\n' }, /config\/server\.yaml:3:3: duplicate key "path"/],
    ['unclosed quote', { 'workers/w/config/worker.yaml': 'path: "/w\n' }, /workers\/w\/config\/worker\.yaml:1:7: unclosed double quote/],
    ['missing path', { 'workers/w/config/worker.yaml': 'type: node\n' }, /workers\/w\/config\/worker\.yaml:1:1: path: is required/],
    ['min above max', { 'workers/w/config/worker.yaml': 'path: /w\nscaling:\n  min_workers: 4\n  max_workers: 2\n' }, /worker\.yaml:3:16: scaling\.min_workers: \(4\) must not exceed max_workers \(2\)/],
    ['two workers on one path', { 'workers/w/config/worker.yaml': 'path: /x\n', 'workers/z/config/worker.yaml': 'path: /x/\n' }, /workers\/z\/config\/worker\.yaml:1:7: path \/x is already served by worker w/],
    ['anchors', { 'config/server.yaml': 'server: &s\n  port: 1\n' }, /config\/server\.yaml:1:9: anchors/],
    ['missing --config file', {}, /nope\.yaml: config file not found/],
  ];
  for (const [name, files, message] of cases) {
    test(name, async () => {
      const p = new Project();
      try {
        p.write('workers/spy/config/worker.yaml', `path: /spy\ntype: exec\nexec:\n  command: [sh, -c, "touch ${marker}; sleep 30"]\n`);
        for (const [rel, text] of Object.entries(files)) p.write(rel, text);
        const args = name === 'missing --config file' ? ['--mode', 'prod', '--config', 'nope.yaml'] : ['--mode', 'prod'];
        const run = await runToExit(p, args);
        assert.equal(run.code, 1, run.stderr);
        assert.match(run.stderr, message);
        assert.equal(run.stdout, '', 'nothing was started');
        assert.equal(existsSync(join(p.dir, 'workers/spy', marker)), false, 'no worker was spawned');
      } finally {
        p.remove();
      }
    });
  }

  test('unknown keys are warnings, with a suggestion, and the server starts', async () => {
    const p = new Project();
    p.server('  helth_check_interval_ms: 5\n').echoWorker('w', '/');
    const s = await startServer(p);
    try {
      assert.match(s.stderr(), /config\/server\.yaml:\d+:3: warning: unknown key "helth_check_interval_ms" in workers \(did you mean "health_check_interval_ms"\?\)/);
    } finally {
      await s.stop();
      p.remove();
    }
  });

  test('a Go TQServer project starts as it did: -config=PATH -mode=prod, and its socks5: section is warned about and ignored', async () => {
    const p = new Project();
    p.server('socks5:\n  enabled: true\n  port: 1080\n  https_inspection:\n    enabled: false\n').echoWorker('w', '/');
    p.write('config/go-server.yaml', p.read('config/server.yaml'));
    // Were -config not read, start-up would stop on this file.
    p.write('config/server.yaml', 'server: [\n');
    const s = await startServer(p, ['-config=config/go-server.yaml', '-mode=prod']);
    try {
      assert.equal((await http(s.base, '/echo')).json().env.WORKER_MODE, 'prod');
      assert.match(s.stderr(), /config\/go-server\.yaml:\d+:1: warning: "socks5" is a Go TQServer setting \(its SOCKS5 egress proxy for workers, with optional HTTPS inspection\) that tqserver ignores/);
      assert.doesNotMatch(s.stderr(), /unknown key/);
    } finally {
      assert.equal(await s.stop(), 0);
      p.remove();
    }
  });

  test('a port already in use names the key to change, with exit 1', async () => {
    const busy = createServer();
    await new Promise<void>((resolve) => busy.listen(0, '127.0.0.1', resolve));
    const port = (busy.address() as AddressInfo).port;
    const p = new Project();
    p.write('config/server.yaml', `server:\n  host: 127.0.0.1\n  port: ${port}\n  log_file: ~\n`);
    try {
      const run = await runToExit(p);
      assert.equal(run.code, 1);
      assert.equal(run.stdout, '');
      assert.match(run.stderr, new RegExp(`server\\.port ${port} on 127\\.0\\.0\\.1 is already in use \\(EADDRINUSE\\); change server\\.port in config/server\\.yaml or stop the other process\n`));
      p.write('config/server.yaml', `server:\n  host: 127.0.0.1\n  port: 0\n  log_file: ~\nmetrics:\n  listen: 127.0.0.1:${port}\n`);
      const metrics = await runToExit(p);
      assert.equal(metrics.code, 1);
      assert.equal(metrics.stdout, '');
      assert.match(metrics.stderr, new RegExp(`metrics\\.listen 127\\.0\\.0\\.1:${port} is already in use \\(EADDRINUSE\\); change metrics\\.listen in config/server\\.yaml or stop the other process\n`));
    } finally {
      busy.close();
      p.remove();
    }
  });
});

test('SIGHUP with a broken config keeps the running configuration', async () => {
  const p = new Project();
  p.server().echoWorker('w', '/');
  const s = await startServer(p);
  try {
    p.write('config/server.yaml', 'server:\n  port: [\n');
    s.child.kill('SIGHUP');
    await s.waitFor(/reload refused, the running configuration stays: .*config\/server\.yaml:2:9: unclosed flow sequence/);
    assert.equal((await http(s.base, '/echo')).status, 200);
  } finally {
    assert.equal(await s.stop(), 0);
    p.remove();
  }
});

test('SIGHUP adds and removes workers without dropping the others', async () => {
  const p = new Project();
  p.server().echoWorker('a', '/a').echoWorker('b', '/b');
  const s = await startServer(p);
  try {
    p.echoWorker('c', '/c');
    p.write('workers/b/config/worker.yaml', 'path: /b\nenabled: false\n');
    s.child.kill('SIGHUP');
    await s.waitFor(/configuration reloaded/);
    assert.equal((await http(s.base, '/c/echo')).json().env.WORKER_NAME, 'c');
    assert.equal((await http(s.base, '/b/echo')).status, 404);
    assert.equal((await http(s.base, '/a/echo')).status, 200);
  } finally {
    assert.equal(await s.stop(), 0);
    p.remove();
  }
});

test('dev mode: /ws/reload tells open pages to reload after a change', async () => {
  const p = new Project();
  p.server('file_watcher:\n  debounce_ms: 30\n').echoWorker('w', '/').write('workers/w/public/page.html', '<p>1</p>');
  const s = await startServer(p, ['--mode', 'dev']);
  try {
    const script = await http(s.base, '/dev-reload.js');
    assert.equal(script.status, 200);
    assert.match(script.text(), /\/ws\/reload/);
    const key = 'dGhlIHNhbXBsZSBub25jZQ==';
    const received = await new Promise<string>((resolve, reject) => {
      const socket = connect(s.port, '127.0.0.1', () => {
        socket.write(`GET /ws/reload HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`);
      });
      let data = Buffer.alloc(0);
      socket.on('data', (d: Buffer) => {
        data = Buffer.concat([data, d]);
        const text = data.toString('latin1');
        if (text.includes('\r\n\r\n') && !text.includes('written')) {
          assert.match(text, new RegExp(`Sec-WebSocket-Accept: ${acceptKey(key).replace(/[+/=]/g, '\\$&')}`));
          p.write('workers/w/public/page.html', '<p>2</p>');
          data = Buffer.concat([data, Buffer.from('written')]);
        }
        if (text.includes('reload')) {
          socket.destroy();
          resolve(text);
        }
      });
      socket.on('error', reject);
      setTimeout(() => reject(new Error('no reload frame')), 8000);
    });
    assert.equal(acceptKey(key), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=', 'RFC 6455 section 1.3 example');
    assert.match(received, /\x81\x06reload/);
  } finally {
    assert.equal(await s.stop(), 0);
    p.remove();
  }
});

test('max_memory_mb recycles an instance that grows past it', async () => {
  const p = new Project();
  p.server().echoWorker('w', '/', 'max_memory_mb: 120\n');
  const s = await startServer(p);
  try {
    const first = (await http(s.base, '/hog/150')).json().pid;
    await s.waitFor(/over max_memory_mb 120/, 5000);
    const next = await eventually(async () => {
      const pid = (await http(s.base, '/echo')).json().pid;
      return pid !== first ? pid : undefined;
    });
    assert.notEqual(next, first);
  } finally {
    assert.equal(await s.stop(), 0);
    p.remove();
  }
});

test('zero runtime dependencies: dist/ alone, with no node_modules anywhere, serves traffic and metrics', async () => {
  const { cpSync, readdirSync, readFileSync } = await import('node:fs');
  const { REPO } = await import('./helpers/project.js');
  const pkg = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { dependencies?: Record<string, string> };
  assert.deepEqual(Object.keys(pkg.dependencies ?? {}), [], 'package.json has no runtime dependencies');
  const files = (readdirSync(join(REPO, 'dist'), { recursive: true }) as string[]).filter((f) => f.endsWith('.js'));
  assert.ok(files.length > 20);
  let imports = 0;
  for (const f of files) {
    const source = readFileSync(join(REPO, 'dist', f), 'utf8');
    const statements = [...source.matchAll(/^\s*(?:import|export)\b[^;]*?\bfrom\s+['"]([^'"]+)['"]/gm), ...source.matchAll(/\bimport\(\s*['"]([^'"]+)['"]\s*\)/g)];
    imports += statements.length;
    for (const m of statements) {
      const spec = m[1] as string;
      assert.ok(spec.startsWith('./') || spec.startsWith('../') || spec.startsWith('node:'), `dist/${f} imports ${spec}`);
    }
  }
  assert.ok(imports > 100, `only ${imports} import statements found: the scan is broken`);
  const p = new Project('tq-bare-');
  cpSync(join(REPO, 'dist'), join(p.dir, 'app/dist'), { recursive: true });
  cpSync(join(REPO, 'package.json'), join(p.dir, 'app/package.json'));
  p.server().echoWorker('w', '/');
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [join(p.dir, 'app/dist/main.js'), '--mode', 'prod'], { cwd: p.dir, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NODE_PATH: '' } });
  try {
    const port = await new Promise<number>((resolve, reject) => {
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => {
        out += d;
        const m = /ready on http:\/\/[^\s]*:(\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.on('exit', (code) => reject(new Error(`exited ${code}`)));
    });
    assert.equal((await http(`http://127.0.0.1:${port}`, '/echo')).status, 200);
    assert.match((await http(`http://127.0.0.1:${port}`, '/metrics')).text(), /^tqserver_requests_total\{method="GET",path="\/",status="200"\} 1$/m);
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.on('exit', r));
    p.remove();
  }
});

test('dev mode: editing one worker.yaml restarts that worker only', async () => {
  const p = new Project();
  p.server('file_watcher:\n  debounce_ms: 30\n').echoWorker('a', '/a').echoWorker('b', '/b');
  const s = await startServer(p, ['--mode', 'dev']);
  try {
    const a1 = (await http(s.base, '/a/echo')).json().pid;
    const b1 = (await http(s.base, '/b/echo')).json().pid;
    p.echoWorker('a', '/a', 'env:\n  EXTRA: changed\n');
    const a2 = await eventually(async () => {
      const r = (await http(s.base, '/a/echo')).json();
      return r.env.EXTRA === 'changed' ? r.pid : undefined;
    });
    assert.notEqual(a2, a1);
    await s.waitFor(/configuration reloaded/);
    assert.equal((await http(s.base, '/b/echo')).json().pid, b1, 'worker b kept its instance');
  } finally {
    assert.equal(await s.stop(), 0);
    p.remove();
  }
});

test('prod mode: SIGHUP with a build that now fails keeps the running instance serving', async () => {
  const p = new Project();
  const build = 'if [ -f broken ]; then echo "compile error" >&2; exit 1; fi';
  const { ECHO } = await import('./helpers/project.js');
  p.server().write('workers/app/config/worker.yaml', `path: /\ntype: exec\nexec:\n  command: [${JSON.stringify(process.execPath)}, ${JSON.stringify(ECHO)}]\n  build: [sh, -c, ${JSON.stringify(build)}]\n`);
  const s = await startServer(p);
  try {
    const pid = (await http(s.base, '/echo')).json().pid;
    p.write('workers/app/broken', 'x');
    s.child.kill('SIGHUP');
    await s.waitFor(/build failed; the running instances keep serving/);
    for (let i = 0; i < 5; i++) {
      const r = await http(s.base, '/echo');
      assert.equal(r.status, 200);
      assert.equal(r.json().pid, pid);
    }
  } finally {
    assert.equal(await s.stop(), 0);
    p.remove();
  }
});

test('metrics.enabled: false leaves the path to the workers', async () => {
  const p = new Project();
  p.server('metrics:\n  enabled: false\n').echoWorker('w', '/');
  const s = await startServer(p);
  try {
    const r = await http(s.base, '/metrics');
    assert.equal(r.status, 404);
    assert.equal(r.json().name, 'w', 'answered by the worker');
  } finally {
    assert.equal(await s.stop(), 0);
    p.remove();
  }
});
