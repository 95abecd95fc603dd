/** Server and worker schemas: defaults, types, ranges, warnings, the loader. */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ConfigError, ConfigErrors } from '../lib/errors.js';
import { loadConfig, parseListen, parseYaml, readServerConfig, readWorkerConfig } from '../lib/config/index.js';

function server(yaml: string, warnings: string[] = []) {
  return readServerConfig(parseYaml(yaml, 'server.yaml'), 'server.yaml', '/proj', warnings);
}
function worker(yaml: string, warnings: string[] = [], mode: 'dev' | 'prod' = 'prod') {
  return readWorkerConfig(parseYaml(yaml, 'worker.yaml'), 'api', '/proj/workers/api', 'worker.yaml', mode, warnings);
}
/** The file's only problem is at `where` and says `message`. */
function configError(where: string, message: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof ConfigErrors, String(err));
    assert.equal(err.errors.length, 1, err.message);
    const only = err.errors[0];
    assert.ok(only instanceof ConfigError);
    assert.equal(`${only.line}:${only.col}`, where, only.message);
    assert.match(only.message, message);
    assert.equal(err.message, only.message);
    return true;
  };
}

describe('server.yaml', () => {
  test('an empty file gives the documented defaults', () => {
    const c = server('');
    assert.equal(c.server.port, 8080);
    assert.equal(c.server.host, '0.0.0.0');
    assert.equal(c.server.readTimeoutSeconds, 30);
    assert.equal(c.server.logFile, 'logs/tqserver_{date}.log');
    assert.equal(c.workers.directory, '/proj/workers');
    assert.deepEqual([c.workers.portRangeStart, c.workers.portRangeEnd], [9000, 9999]);
    assert.equal(c.workers.shutdownGracePeriodMs, 5000);
    assert.equal(c.workers.healthCheckIntervalMs, 5000);
    assert.equal(c.workers.healthCheckTimeoutMs, 250);
    assert.equal(c.fileWatcher.debounceMs, 50);
    assert.equal(c.dev.warmStandby, true);
    assert.equal(c.metrics.enabled, true);
    assert.equal(c.metrics.path, '/metrics');
    assert.equal(c.metrics.listen, undefined);
    assert.equal(c.metrics.auth, undefined);
    assert.deepEqual(c.metrics.buckets, [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);
  });

  test('dev.warm_standby turns the warm standbys off; an unknown dev key is a warning', () => {
    assert.equal(server('dev:\n  warm_standby: false\n').dev.warmStandby, false);
    const warnings: string[] = [];
    assert.equal(server('dev:\n  warm_standbys: false\n', warnings).dev.warmStandby, true);
    assert.deepEqual(warnings, ['server.yaml:2:3: warning: unknown key "warm_standbys" in dev (did you mean "warm_standby"?)']);
  });

  test('log_file: ~, null and "" disable the file', () => {
    for (const v of ['~', 'null', '""']) assert.equal(server(`server:\n  log_file: ${v}\n`).server.logFile, null);
  });

  test('wrong types and ranges point at the value', () => {
    assert.throws(() => server('server:\n  port: "8080"\n'), configError('2:9', /server\.port: must be an integer, got string "8080"/));
    assert.throws(() => server('server:\n  port: 70000\n'), configError('2:9', /between 0 and 65535/));
    assert.throws(() => server('server:\n  port: 1.5\n'), configError('2:9', /integer/));
    assert.throws(() => server('workers:\n  port_range_start: 9000\n  port_range_end: 8000\n'), configError('3:19', /must not be below port_range_start/));
    assert.throws(() => server('metrics:\n  enabled: yes\n'), configError('2:12', /true or false/));
    assert.throws(() => server('dev:\n  warm_standby: 1\n'), configError('2:17', /dev\.warm_standby: must be true or false/));
    assert.throws(() => server('metrics:\n  path: metrics\n'), configError('2:9', /absolute URL path/));
    assert.throws(() => server('metrics:\n  listen: nowhere\n'), configError('2:11', /host:port/));
    assert.throws(() => server('metrics:\n  buckets: [1, 0.5]\n'), configError('2:12', /ascending/));
    assert.throws(() => server('metrics:\n  buckets: [1, "x"]\n'), configError('2:16', /buckets\[1\]: must be a number/));
    assert.throws(() => server('server: 5\n'), configError('1:9', /server must be a mapping/));
    assert.throws(() => server('- a\n'), configError('1:1', /must be a mapping/));
  });

  test('metrics.listen and metrics.auth', () => {
    assert.deepEqual(server('metrics:\n  listen: 127.0.0.1:9100\n').metrics.listen, { host: '127.0.0.1', port: 9100 });
    assert.deepEqual(parseListen(':9100'), { host: '0.0.0.0', port: 9100 });
    assert.deepEqual(parseListen('[::1]:9100'), { host: '::1', port: 9100 });
    assert.equal(parseListen('[nope]:1'), undefined);
    assert.equal(parseListen('h:70000'), undefined);
    assert.deepEqual(server('metrics:\n  auth:\n    bearer_token: s3cret\n').metrics.auth, { kind: 'bearer', token: 's3cret' });
    assert.deepEqual(server('metrics:\n  auth:\n    basic:\n      username: prom\n      password: pw\n').metrics.auth, { kind: 'basic', username: 'prom', password: 'pw' });
    assert.throws(() => server('metrics:\n  auth:\n    bearer_token: a\n    basic:\n      username: u\n      password: p\n'), /either bearer_token or basic/);
    assert.throws(() => server('metrics:\n  auth:\n    basic:\n      username: u\n'), /password: must be a non-empty string/);
    assert.throws(() => server('metrics:\n  auth: {}\n'), /must hold bearer_token or basic/);
  });

  test('unknown keys warn with file:line:col and a close match', () => {
    const warnings: string[] = [];
    server('server:\n  prot: 1\nworkerz:\n  a: 1\nmetrics:\n  zzzzzzzz: 1\n', warnings);
    assert.deepEqual(warnings, [
      'server.yaml:3:1: warning: unknown key "workerz" at the top level (did you mean "workers"?)',
      'server.yaml:2:3: warning: unknown key "prot" in server (did you mean "port"?)',
      'server.yaml:6:3: warning: unknown key "zzzzzzzz" in metrics, ignored',
    ]);
  });
});

describe('worker.yaml', () => {
  test('defaults for a node worker', () => {
    const w = worker('path: /api/\n');
    assert.equal(w.path, '/api');
    assert.equal(w.type, 'node');
    assert.equal(w.enabled, true);
    assert.deepEqual(w.command, [process.execPath, 'index.js']);
    assert.equal(w.build, undefined);
    assert.deepEqual(w.scaling, { minWorkers: 1, maxWorkers: 5, queueThreshold: 10, scaleDownDelaySeconds: 60, maxConcurrency: 100 });
    assert.equal(w.maxRequests, 0);
    assert.equal(w.logFile, 'logs/worker_{name}_{date}.log');
  });

  test('path is required and must be a clean URL path', () => {
    assert.throws(() => worker('type: node\n'), configError('1:1', /path: is required/));
    for (const bad of ['api', '"/a b"', '/a/../b', '"/a?b"', '""']) assert.throws(() => worker(`path: ${bad}\n`), /path: must be a URL path/, bad);
    assert.equal(worker('path: //a//b/\n').path, '/a/b');
    assert.equal(worker('path: /\n').path, '/');
  });

  test('types, enabled and env', () => {
    assert.equal(worker('path: /\ntype: php\n').type, 'php');
    assert.throws(() => worker('path: /\ntype: cobol\n'), /type: must be one of node, exec, bun, go, php, got "cobol"/);
    assert.throws(() => worker('path: /\ntype: exec\n'), /exec.command is required/);
    const e = worker('path: /\ntype: exec\nexec:\n  command: [python3, app.py]\n  build: [make]\nenv:\n  A: 1\n');
    assert.deepEqual(e.command, ['python3', 'app.py']);
    assert.deepEqual(e.build, ['make']);
    assert.deepEqual(e.env, { A: '1' });
    const g = worker('path: /\ntype: go\ngo:\n  max_requests: 7\n');
    assert.deepEqual(g.build, ['go', 'build', '-o', 'bin/api', './src']);
    assert.equal(g.command[0], '/proj/workers/api/bin/api');
    assert.equal(g.maxRequests, 7);
    assert.equal(worker('path: /\nenabled: development\n', [], 'dev').enabled, true);
    assert.equal(worker('path: /\nenabled: development\n', [], 'prod').enabled, false);
    assert.equal(worker('path: /\nenabled: false\n').enabled, false);
    assert.throws(() => worker('path: /\nenabled: maybe\n'), /enabled: must be true, false or development/);
    const n = worker('path: /\nnode:\n  entrypoint: server.js\n  env:\n    X: y\nenv:\n  Z: z\n');
    assert.deepEqual(n.command, [process.execPath, 'server.js']);
    assert.deepEqual(n.env, { Z: 'z', X: 'y' });
  });

  test('scaling is checked', () => {
    assert.throws(() => worker('path: /\nscaling:\n  min_workers: 3\n  max_workers: 2\n'), configError('3:16', /min_workers: \(3\) must not exceed max_workers \(2\)/));
    assert.throws(() => worker('path: /\nscaling:\n  max_workers: 0\n'), /between 1 and 1000/);
    assert.equal(worker('path: /\nscaling:\n  min_workers: 0\n').scaling.minWorkers, 0);
    assert.equal(worker('path: /\nscaling:\n  min_workers: 8\n').scaling.maxWorkers, 8);
    assert.equal(worker('path: /\nlogging:\n  log_file: ~\n').logFile, null);
    assert.equal(worker('path: /\nmax_memory_mb: 256\n').maxMemoryMb, 256);
  });
});

describe('loadConfig', () => {
  const root = mkdtempSync(join(tmpdir(), 'tq-config-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const write = (rel: string, text: string): void => {
    mkdirSync(join(root, rel, '..'), { recursive: true });
    writeFileSync(join(root, rel), text);
  };

  test('reads server.yaml and every worker, skipping folders without worker.yaml', () => {
    write('config/server.yaml', 'server:\n  port: 0\n');
    write('workers/api/config/worker.yaml', 'path: /api\n');
    write('workers/web/config/worker.yaml', 'path: /\n');
    write('workers/off/config/worker.yaml', 'path: /off\nenabled: false\n');
    mkdirSync(join(root, 'workers/empty'), { recursive: true });
    const loaded = loadConfig({ root, mode: 'prod' });
    assert.deepEqual(loaded.workers.map((w) => w.name), ['api', 'web']);
    assert.equal(loaded.server.server.port, 0);
    assert.ok(loaded.warnings.some((w) => /empty: warning: no config\/worker.yaml, skipped/.test(w)), loaded.warnings.join('\n'));
  });

  test('two workers on one path, or on the metrics path, are errors naming the files', () => {
    write('workers/dup/config/worker.yaml', 'path: /api/\n');
    assert.throws(() => loadConfig({ root, mode: 'prod' }), /workers\/dup\/config\/worker.yaml:1:7: path \/api is already served by worker api/);
    rmSync(join(root, 'workers/dup'), { recursive: true });
    write('workers/m/config/worker.yaml', 'path: /metrics\n');
    assert.throws(() => loadConfig({ root, mode: 'prod' }), /path \/metrics is the metrics endpoint/);
    rmSync(join(root, 'workers/m'), { recursive: true });
  });

  test('a missing --config is an error; a missing default is a warning', () => {
    assert.throws(() => loadConfig({ root, mode: 'prod', configPath: 'nope.yaml' }), (err: unknown) => {
      assert.ok(err instanceof ConfigErrors, String(err));
      assert.equal(err.errors.length, 1);
      assert.match(err.message, /nope\.yaml: config file not found$/);
      assert.equal(err.errors[0].line, undefined);
      return true;
    });
    rmSync(join(root, 'config/server.yaml'));
    const loaded = loadConfig({ root, mode: 'prod' });
    assert.equal(loaded.server.file, '(defaults)');
    assert.ok(loaded.warnings.some((w) => /not found, using the defaults/.test(w)));
  });

  test('an absolute --config works (the Go server joined it onto the working directory)', () => {
    write('elsewhere/s.yaml', 'server:\n  port: 1234\n');
    assert.equal(loadConfig({ root, mode: 'prod', configPath: join(root, 'elsewhere/s.yaml') }).server.server.port, 1234);
  });

  test('broken YAML in a worker file names that file', () => {
    write('workers/bad/config/worker.yaml', 'path: "/x\n');
    assert.throws(() => loadConfig({ root, mode: 'prod' }), (err: unknown) => {
      assert.ok(err instanceof ConfigErrors, String(err));
      assert.equal(err.errors.length, 1, err.message);
      const [only] = err.errors;
      return /workers\/bad\/config\/worker.yaml$/.test(only.file) && only.line === 1 && only.col === 7;
    });
    rmSync(join(root, 'workers/bad'), { recursive: true });
  });
});
