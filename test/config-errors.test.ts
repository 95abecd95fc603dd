/**
 * Every problem of a configuration is reported at once: each file's schema errors by line and
 * column, files in load order, and a file that cannot be read is named without a position.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { ConfigError, ConfigErrors, TqError } from '../lib/errors.js';
import { loadConfig, parseYaml, readServerConfig, readWorkerConfig } from '../lib/config/index.js';

/** The errors thrown by `fn`, as `line:col: reason` (or `reason` for a whole-file problem). */
function errorsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof ConfigErrors, String(err));
    assert.equal(err.code, 'ERR_CONFIG');
    assert.ok(err instanceof TqError);
    assert.equal(err.message, err.errors.map((e) => e.message).join('\n'));
    for (const e of err.errors) assert.ok(e instanceof ConfigError && e.code === 'ERR_CONFIG');
    return err.errors.map((e) => (e.line === undefined ? `${e.file}: ${e.reason}` : `${e.file}:${e.line}:${e.col}: ${e.reason}`));
  }
  assert.fail('no error thrown');
}

const server = (yaml: string) => readServerConfig(parseYaml(yaml, 'server.yaml'), 'server.yaml', '/proj', []);
const worker = (yaml: string) => readWorkerConfig(parseYaml(yaml, 'worker.yaml'), 'api', '/proj/workers/api', 'worker.yaml', 'prod', []);

describe('every schema error of a file, by line then column', () => {
  test('three wrong types in server.yaml give three errors, not one', () => {
    assert.deepEqual(errorsOf(() => server('server:\n  port: eighty\n  host: [a]\nworkers:\n  queue_capacity: -1\n')), [
      'server.yaml:2:9: server.port: must be an integer, got string "eighty"',
      'server.yaml:3:9: server.host: must be a string, got a list',
      'server.yaml:5:19: workers.queue_capacity: must be between 0 and 1000000, got -1',
    ]);
  });

  test('errors are sorted by position, not by the order the schema checks keys in', () => {
    const text = 'metrics:\n  buckets: [1, "x", true]\n  path: nope\n  enabled: 2\nserver:\n  idle_timeout_seconds: -1\n  port: 1.5\n';
    assert.deepEqual(errorsOf(() => server(text)), [
      'server.yaml:2:16: metrics.buckets[1]: must be a number, got string "x"',
      'server.yaml:2:21: metrics.buckets[2]: must be a number, got boolean true',
      'server.yaml:3:9: metrics.path: must be an absolute URL path such as /metrics (no query, no trailing slash), got "nope"',
      'server.yaml:4:12: metrics.enabled: must be true or false, got number 2',
      'server.yaml:6:25: server.idle_timeout_seconds: must be between 0 and 86400, got -1',
      'server.yaml:7:9: server.port: must be an integer, got number 1.5',
    ]);
  });

  test('two errors on one line are sorted by column', () => {
    assert.deepEqual(errorsOf(() => server('metrics: {buckets: [x, y], auth: {basic: {username: "", password: ""}}}\n')), [
      'server.yaml:1:21: metrics.buckets[0]: must be a number, got string "x"',
      'server.yaml:1:24: metrics.buckets[1]: must be a number, got string "y"',
      'server.yaml:1:53: metrics.auth.basic.username: must be a non-empty string without ":"',
      'server.yaml:1:67: metrics.auth.basic.password: must be a non-empty string',
    ]);
  });

  test('a broken value does not cause a second error in a check that compares it', () => {
    assert.deepEqual(errorsOf(() => server('workers:\n  port_range_start: high\n  port_range_end: 80\n')), [
      'server.yaml:2:21: workers.port_range_start: must be an integer, got string "high"',
    ]);
    assert.deepEqual(errorsOf(() => worker('path: /\nscaling:\n  min_workers: 9\n  max_workers: x\n')), [
      'worker.yaml:4:16: scaling.max_workers: must be an integer, got string "x"',
    ]);
    assert.deepEqual(errorsOf(() => server('metrics:\n  auth: 5\n')), ['server.yaml:2:9: metrics.auth must be a mapping of keys, got number 5']);
    assert.deepEqual(errorsOf(() => server('metrics:\n  auth: {bearer_token: [a]}\n')), ['server.yaml:2:24: metrics.auth.bearer_token: must be a string, got a list']);
  });

  test('every error of a worker.yaml', () => {
    const text = 'type: cobol\nenabled: maybe\nenv: {A: [1], B: 2, C: {}}\nscaling:\n  min_workers: 3\n  max_workers: 2\nmax_memory_mb: lots\n';
    assert.deepEqual(errorsOf(() => worker(text)), [
      'worker.yaml:1:1: path: is required (the route prefix, e.g. / or /api)',
      'worker.yaml:1:7: type: must be one of node, exec, bun, go, php, got "cobol"',
      'worker.yaml:2:10: enabled: must be true, false or development, got "maybe"',
      'worker.yaml:3:10: env.A: must be a string, got a list',
      'worker.yaml:3:24: env.C: must be a string, got a mapping',
      'worker.yaml:5:16: scaling.min_workers: (3) must not exceed max_workers (2)',
      'worker.yaml:7:16: max_memory_mb: must be a number, got string "lots"',
    ]);
    assert.deepEqual(errorsOf(() => worker('path: /\ntype: exec\nexec:\n  command: [sh, ~, {}]\n  build: []\n')), [
      'worker.yaml:4:17: exec.command[1]: must be a string, got null',
      'worker.yaml:4:20: exec.command[2]: must be a string, got a mapping',
      'worker.yaml:5:10: exec.build: must not be an empty list',
    ]);
  });

  test('a file that is not a mapping is one error', () => {
    assert.deepEqual(errorsOf(() => server('[a, b]\n')), ['server.yaml:1:1: the file must be a mapping of keys, got a list']);
  });
});

describe('loadConfig reports every file', () => {
  const base = mkdtempSync(join(tmpdir(), 'tq-config-errors-'));
  after(() => rmSync(base, { recursive: true, force: true }));
  let projects = 0;
  /** A fresh project root holding `files`. */
  const project = (files: Record<string, string>): string => {
    const root = join(base, String(++projects));
    for (const [rel, text] of Object.entries(files)) {
      mkdirSync(join(root, rel, '..'), { recursive: true });
      writeFileSync(join(root, rel), text);
    }
    return root;
  };
  /** Messages with the project root cut off, as `workers/a/config/worker.yaml:1:2: ...`. */
  const relative = (root: string, lines: string[]) => lines.map((l) => (l.startsWith(root) ? l.slice(root.length + 1) : l));
  const errorsOfLoad = (root: string, configPath?: string) => relative(root, errorsOf(() => loadConfig({ root, mode: 'prod', configPath })));

  test('server.yaml first, then each worker by name, each by line and column', () => {
    const root = project({
      'config/server.yaml': 'server:\n  port: x\n  host: 1.2.3.4\n  read_timeout_seconds: [1]\n',
      'workers/b/config/worker.yaml': 'path: /b\nscaling:\n  max_workers: 0\n  min_workers: -1\n',
      'workers/a/config/worker.yaml': 'path: "/a\n',
      'workers/c/config/worker.yaml': 'path: /c\n',
      'workers/d/config/worker.yaml': 'path: /c/\n',
    });
    assert.deepEqual(errorsOfLoad(root), [
      'config/server.yaml:2:9: server.port: must be an integer, got string "x"',
      'config/server.yaml:4:25: server.read_timeout_seconds: must be a number, got a list',
      'workers/a/config/worker.yaml:1:7: unclosed double quote (quoted values must end on the same line)',
      'workers/b/config/worker.yaml:3:16: scaling.max_workers: must be between 1 and 1000, got 0',
      'workers/b/config/worker.yaml:4:16: scaling.min_workers: must be between 0 and 1000, got -1',
      `workers/d/config/worker.yaml:1:7: path /c is already served by worker c (${join(root, 'workers/c/config/worker.yaml')})`,
    ]);
  });

  test('a YAML syntax error in server.yaml stops there: it decides where the workers are', () => {
    const root = project({
      'config/server.yaml': 'server:\n  port: 1\n   host: x\nworkers: {port_range_start: x}\n',
      'workers/a/config/worker.yaml': 'type: node\n',
    });
    assert.deepEqual(errorsOfLoad(root), ['config/server.yaml:3:4: bad indentation: a value continued on the next line is not supported; put it on one line (quoted if need be)']);
  });

  test('a missing --config file has no position (it was nope.yaml:1:1)', () => {
    assert.deepEqual(errorsOfLoad(project({}), 'nope.yaml'), ['nope.yaml: config file not found']);
  });

  test('an unreadable file has no position and says why', () => {
    const root = project({ 'config/dir.yaml/x': '' });
    assert.deepEqual(errorsOfLoad(root, 'config/dir.yaml'), ['config/dir.yaml: cannot read: is a directory']);
  });

  test('an unreadable file: permission denied', () => {
    const root = project({ 'config/locked.yaml': 'server:\n  port: 1\n' });
    chmodSync(join(root, 'config/locked.yaml'), 0o000);
    if (process.getuid?.() !== 0) {
      assert.deepEqual(errorsOfLoad(root, 'config/locked.yaml'), ['config/locked.yaml: cannot read: permission denied']);
      return;
    }
    // Root reads any file, so the load runs as nobody, from the built loader.
    for (const dir of [base, root, join(root, 'config')]) chmodSync(dir, 0o755);
    const loader = new URL('../dist/config/index.js', import.meta.url).href;
    const script = `import(${JSON.stringify(loader)}).then((c) => { try { c.loadConfig({ root: process.cwd(), configPath: 'config/locked.yaml', mode: 'prod' }); } catch (e) { console.log(JSON.stringify(e.errors.map((x) => x.message))); } });`;
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: root, uid: 65534, gid: 65534, encoding: 'utf8' });
    assert.equal(run.status, 0, run.stderr);
    assert.deepEqual(JSON.parse(run.stdout), ['config/locked.yaml: cannot read: permission denied']);
  });

  test('a worker folder with a bad name is reported without a position, and the others still are', () => {
    const root = project({
      'workers/bad name/config/worker.yaml': 'path: /x\n',
      'workers/ok/config/worker.yaml': 'path: /ok\nmax_requests: -1\n',
    });
    assert.deepEqual(errorsOfLoad(root), [
      'workers/bad name/config/worker.yaml: worker folder name "bad name" must be letters, digits, ".", "_" or "-"',
      'workers/ok/config/worker.yaml:2:15: max_requests: must be between 0 and 9007199254740991, got -1',
    ]);
  });

  test('a worker on the metrics path is an error only when server.yaml is sound', () => {
    const files = { 'config/server.yaml': 'metrics:\n  path: /stats\n', 'workers/m/config/worker.yaml': 'path: /stats\n' };
    const root = project(files);
    assert.deepEqual(errorsOfLoad(root), [`workers/m/config/worker.yaml:1:7: path /stats is the metrics endpoint (metrics.path in ${join(root, 'config/server.yaml')})`]);
    const broken = { ...files, 'config/server.yaml': 'metrics:\n  path: [/stats]\n', 'workers/m/config/worker.yaml': 'path: /metrics\n' };
    assert.deepEqual(errorsOfLoad(project(broken)), ['config/server.yaml:2:9: metrics.path: must be a string, got a list']);
  });
});

test('a worker.yaml that is not a mapping is one error, not also "path is required"', () => {
  assert.deepEqual(errorsOf(() => worker('- a\n')), ['worker.yaml:1:1: the file must be a mapping of keys, got a list']);
});
