/**
 * `type: php` in worker.yaml (the Go TQServer's keys), the php-fpm configuration and command line
 * tqserver writes for each instance, and where php-fpm is found.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { findPhpFpm, parseSeconds, parseYaml, readWorkerConfig, type PhpConfig } from '../lib/config/index.js';
import { fpmArgv, fpmConfig } from '../lib/supervisor/php-fpm.js';

function worker(yaml: string, warnings: string[] = []) {
  return readWorkerConfig(parseYaml(yaml, 'worker.yaml'), 'site', '/proj/workers/site', 'worker.yaml', 'prod', warnings);
}

describe('type: php', () => {
  test('defaults: document root public/, dynamic pool of 5, one instance taking 5 requests at once', () => {
    const w = worker('path: /\ntype: php\n');
    const php = w.php as PhpConfig;
    assert.equal(w.type, 'php');
    assert.equal(w.build, undefined);
    assert.equal(php.documentRoot, '/proj/workers/site/public');
    assert.equal(php.configFile, undefined);
    assert.deepEqual(php.settings, {});
    assert.deepEqual(php.pool, { manager: 'dynamic', maxChildren: 5, startServers: 2, minSpareServers: 1, maxSpareServers: 5, maxRequests: 0, requestTimeoutSeconds: 30, idleTimeoutSeconds: 10, slowlogTimeoutSeconds: 0 });
    assert.deepEqual(w.scaling, { minWorkers: 1, maxWorkers: 1, queueThreshold: 10, scaleDownDelaySeconds: 60, maxConcurrency: 5 });
    assert.equal(w.command.length, 1);
    assert.match(w.command[0] as string, /php-fpm/);
  });

  test('every Go TQServer key, as spelled', () => {
    const warnings: string[] = [];
    const w = worker(
      [
        'path: /app', 'type: php', 'document_root: web',
        'php:', '  binary: /opt/php/sbin/php-fpm', '  config_file: config/php.ini',
        '  settings:', '    memory_limit: 256M', '    display_errors: "Off"', '    opcache.enable: 1',
        '  pool:', '    manager: ondemand', '    min_workers: 2', '    max_workers: 8', '    start_workers: 3', '    max_requests: 500',
        '    request_timeout: 60s', '    idle_timeout: 5', '    slowlog_timeout: 2s',
        'scaling:', '  max_workers: 3', '',
      ].join('\n'),
      warnings,
    );
    const php = w.php as PhpConfig;
    assert.deepEqual(warnings, []);
    assert.deepEqual(w.command, ['/opt/php/sbin/php-fpm']);
    assert.equal(php.documentRoot, '/proj/workers/site/web');
    assert.equal(php.configFile, '/proj/workers/site/config/php.ini');
    assert.deepEqual(php.settings, { memory_limit: '256M', display_errors: 'Off', 'opcache.enable': '1' });
    assert.deepEqual(php.pool, { manager: 'ondemand', maxChildren: 8, startServers: 3, minSpareServers: 2, maxSpareServers: 8, maxRequests: 500, requestTimeoutSeconds: 60, idleTimeoutSeconds: 5, slowlogTimeoutSeconds: 2 });
    assert.equal(w.scaling.maxWorkers, 3);
    assert.equal(w.scaling.maxConcurrency, 8, 'max_concurrency follows pm.max_children');
  });

  test('listen_address is accepted and warned about: tqserver picks the port', () => {
    const warnings: string[] = [];
    worker('path: /\ntype: php\nphp:\n  pool:\n    listen_address: 127.0.0.1:9000\n', warnings);
    assert.equal(warnings.length, 1);
    assert.match(warnings[0] as string, /listen_address is ignored/);
  });

  test('unknown keys warn; php keys on another type warn', () => {
    const warnings: string[] = [];
    worker('path: /\ntype: php\nphp:\n  pol:\n    manager: static\n', warnings);
    assert.match(warnings.join('\n'), /unknown key "pol" in php \(did you mean "pool"\?\)/);
    const other: string[] = [];
    worker('path: /\ndocument_root: web\n', other);
    assert.match(other.join('\n'), /document_root applies to type php only/);
  });

  test('wrong values are errors naming the key', () => {
    const bad: [string, RegExp][] = [
      ['php:\n  pool:\n    manager: fast\n', /php\.pool\.manager: must be one of static, dynamic, ondemand/],
      ['php:\n  pool:\n    max_workers: 0\n', /php\.pool\.max_workers: must be between 1 and 10000/],
      ['php:\n  pool:\n    min_workers: 6\n', /php\.pool\.min_workers: \(6\) must not exceed max_workers \(5\)/],
      ['php:\n  pool:\n    start_workers: 9\n', /php\.pool\.start_workers: \(9\) must lie between min_workers \(1\) and max_workers \(5\)/],
      ['php:\n  pool:\n    request_timeout: soon\n', /php\.pool\.request_timeout: must be a number of seconds/],
      ['php:\n  settings:\n    "bad name": x\n', /"bad name" is not an ini setting name/],
      ['php:\n  binary: ""\n', /php\.binary: must not be empty/],
      ['php:\n  settings: [a]\n', /php\.settings: must be a mapping/],
    ];
    for (const [yaml, why] of bad) assert.throws(() => worker(`path: /\ntype: php\n${yaml}`), why, yaml);
  });

  test('durations: seconds, or a number with s, m or h', () => {
    assert.deepEqual(['30', 30, '30s', '2m', '1h', ' 5s ', '1.5s', '-1', 'x', null].map(parseSeconds), [30, 30, 30, 120, 3600, 5, undefined, undefined, undefined, undefined]);
  });
});

describe('the php-fpm of an instance', () => {
  const php: PhpConfig = {
    documentRoot: '/srv/my "site"/public',
    configFile: '/srv/php.ini',
    settings: { memory_limit: '64M', 'opcache.revalidate_freq': '5' },
    pool: { manager: 'dynamic', maxChildren: 4, startServers: 2, minSpareServers: 1, maxSpareServers: 4, maxRequests: 100, requestTimeoutSeconds: 45, idleTimeoutSeconds: 10, slowlogTimeoutSeconds: 3 },
  };

  test('its configuration: foreground, the instance port on 127.0.0.1, the pool, ping and status pages', () => {
    const text = fpmConfig('site', 9123, php);
    const lines = text.split('\n');
    for (const line of [
      '[global]', 'error_log = /dev/null', 'daemonize = no', '[site]', 'listen = 127.0.0.1:9123', 'listen.allowed_clients = 127.0.0.1',
      'pm = dynamic', 'pm.max_children = 4', 'pm.start_servers = 2', 'pm.min_spare_servers = 1', 'pm.max_spare_servers = 4',
      'pm.max_requests = 100', 'pm.status_path = /tqserver-fpm-status', 'ping.path = /tqserver-fpm-ping', 'ping.response = pong',
      'request_terminate_timeout = 45s', 'request_slowlog_timeout = 3s', 'slowlog = /dev/null', 'catch_workers_output = yes', 'clear_env = no', 'chdir = "/srv/my \\"site\\"/public"',
      'security.limit_extensions = .php',
    ]) assert.ok(lines.includes(line), `missing: ${line}\n${text}`);
    assert.ok(!text.includes('process_idle_timeout'), 'dynamic has no idle timeout');
    const ondemand = fpmConfig('site', 9123, { ...php, pool: { ...php.pool, manager: 'ondemand' } });
    assert.ok(ondemand.includes('pm.process_idle_timeout = 10s'));
    assert.ok(!ondemand.includes('pm.start_servers'));
  });

  test("its command line: -F -O -y, -R only as root, -c, tqserver's defaults, then the worker's settings (dev mode revalidates scripts on every request)", () => {
    assert.deepEqual(fpmArgv('/usr/sbin/php-fpm8.2', '/tmp/x.conf', php, 'prod', false), [
      '/usr/sbin/php-fpm8.2', '-F', '-O', '-y', '/tmp/x.conf', '-c', '/srv/php.ini', '-d', 'fastcgi.logging=0', '-d', 'memory_limit=64M', '-d', 'opcache.revalidate_freq=5',
    ]);
    assert.deepEqual(fpmArgv('php-fpm', '/tmp/x.conf', { ...php, configFile: undefined, settings: {} }, 'dev', true), ['php-fpm', '-F', '-O', '-y', '/tmp/x.conf', '-R', '-d', 'fastcgi.logging=0', '-d', 'opcache.revalidate_freq=0']);
  });

  test('php-fpm is found as php-fpm in PATH, else the newest php-fpmX.Y', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tq-fpm-bin-'));
    try {
      const a = join(dir, 'a');
      const b = join(dir, 'b');
      mkdirSync(a);
      mkdirSync(b);
      for (const name of ['php-fpm7.4', 'php-fpm8.10', 'php-fpm8.2']) {
        writeFileSync(join(a, name), '#!/bin/sh\n');
        chmodSync(join(a, name), 0o755);
      }
      writeFileSync(join(a, 'php-fpm9.0'), 'not executable');
      const env = { PATH: `${a}:${b}` };
      const found = findPhpFpm(env);
      assert.ok(found === join(a, 'php-fpm8.10') || found?.startsWith('/usr/'), found);
      writeFileSync(join(b, 'php-fpm'), '#!/bin/sh\n');
      chmodSync(join(b, 'php-fpm'), 0o755);
      assert.equal(findPhpFpm(env), join(b, 'php-fpm'));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
