/**
 * The php-fpm behind each instance of a `type: php` worker: a configuration of its own (a
 * `[global]` section and one pool) written to a private folder, listening on the instance's port,
 * and the command line that runs it in the foreground. Its children are php-fpm's business; the
 * instance is the master process, started, probed (over FastCGI), stopped and replaced like any
 * other instance.
 */
import { mkdtempSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Mode, PhpConfig, WorkerConfig } from '../config/index.js';
import { PHP_FPM_PING_PATH, PHP_FPM_PING_RESPONSE, PHP_FPM_STATUS_PATH } from '../fastcgi/php-fpm-status.js';

/** A php-fpm configuration string value: double-quoted, with `"` and `\` escaped (PHP INI syntax). */
function quoted(value: string): string {
  return `"${value.replaceAll('\\', '\\\\').replaceAll('"', '\\"')}"`;
}

/**
 * The php-fpm configuration of one instance of worker `name`, listening on 127.0.0.1:`port`.
 * - its log to stderr (which tqserver keeps and writes to the worker's log), in the foreground;
 * - the children's own output caught into that log too, undecorated;
 * - the environment kept (`clear_env = no`), so scripts see WORKER_* and the worker's `env`;
 * - only `.php` runs (`security.limit_extensions`), and only connections from 127.0.0.1;
 * - `ping.path` for readiness and `pm.status_path` for the tqserver_php_* metrics.
 */
export function fpmConfig(name: string, port: number, php: PhpConfig): string {
  const { pool } = php;
  const lines = [
    `; Written by tqserver for an instance of worker ${name}; removed when it exits.`,
    '[global]',
    // Its log goes to stderr (-O, see fpmArgv); the file is opened all the same, so it must open.
    'error_log = /dev/null',
    'log_level = notice',
    'daemonize = no',
    '',
    `[${name}]`,
    `listen = 127.0.0.1:${port}`,
    'listen.allowed_clients = 127.0.0.1',
    `pm = ${pool.manager}`,
    `pm.max_children = ${pool.maxChildren}`,
  ];
  if (pool.manager === 'dynamic') {
    lines.push(`pm.start_servers = ${pool.startServers}`, `pm.min_spare_servers = ${pool.minSpareServers}`, `pm.max_spare_servers = ${pool.maxSpareServers}`);
  }
  if (pool.manager === 'ondemand') lines.push(`pm.process_idle_timeout = ${pool.idleTimeoutSeconds}s`);
  lines.push(
    `pm.max_requests = ${pool.maxRequests}`,
    `pm.status_path = ${PHP_FPM_STATUS_PATH}`,
    `ping.path = ${PHP_FPM_PING_PATH}`,
    `ping.response = ${PHP_FPM_PING_RESPONSE}`,
    `request_terminate_timeout = ${pool.requestTimeoutSeconds}s`,
    // Counted for tqserver_php_slow_requests_total, and logged (to stderr) by php-fpm with the
    // script's name; the backtrace php-fpm would write to the slowlog file is not kept.
    `request_slowlog_timeout = ${pool.slowlogTimeoutSeconds}s`,
    'slowlog = /dev/null',
    'catch_workers_output = yes',
    'decorate_workers_output = no',
    'clear_env = no',
    `chdir = ${quoted(php.documentRoot)}`,
    'security.limit_extensions = .php',
    '',
  );
  return lines.join('\n');
}

/**
 * The command line of one instance: `binary -F -O -y <conf>` (in the foreground, logging to
 * stderr although it is not a terminal: /proc/self/fd/2 cannot be opened when stderr is the
 * socket Node gives a child), `-R` when tqserver runs as root
 * (php-fpm refuses to run a pool as root without it, and the pool has no `user` to switch to),
 * `-c <php.ini>` if set, then one `-d name=value` per setting. Before them, tqserver's own
 * defaults, which a setting of the worker's comes after and overrides:
 * - `fastcgi.logging=0`: a child writes PHP's messages to its stderr, which php-fpm passes on to
 *   the worker's log; with FastCGI logging on it also sends each one as FCGI_STDERR, which
 *   tqserver writes to the same log, so every message would be there twice;
 * - in dev mode, `opcache.revalidate_freq=0`: opcache checks every script's time stamp on every
 *   request, so a saved script runs at once.
 */
export function fpmArgv(binary: string, configFile: string, php: PhpConfig, mode: Mode, asRoot: boolean): string[] {
  const argv = [binary, '-F', '-O', '-y', configFile];
  if (asRoot) argv.push('-R');
  if (php.configFile !== undefined) argv.push('-c', php.configFile);
  argv.push('-d', 'fastcgi.logging=0');
  if (mode === 'dev') argv.push('-d', 'opcache.revalidate_freq=0');
  for (const [name, value] of Object.entries(php.settings)) argv.push('-d', `${name}=${value}`);
  return argv;
}

/** The private folder of this process's php-fpm configurations, made on first use, removed at exit. */
let folder: string | undefined;

function configFolder(): string {
  if (folder === undefined) {
    folder = mkdtempSync(join(tmpdir(), 'tqserver-php-'));
    const made = folder;
    process.once('exit', () => rmSync(made, { recursive: true, force: true }));
  }
  return folder;
}

/** A php-fpm ready to be started: its argv, and the removal of its configuration file. */
export interface PhpFpmLaunch {
  readonly argv: readonly string[];
  /** Removes the configuration file (once the instance has exited). */
  remove(): void;
}

/** Writes the configuration of an instance of `worker` on `port`; returns how to start it. */
export function preparePhpFpm(worker: WorkerConfig, port: number, mode: Mode): PhpFpmLaunch {
  const php = worker.php as PhpConfig;
  const file = join(configFolder(), `${worker.name}-${port}.conf`);
  writeFileSync(file, fpmConfig(worker.name, port, php), { mode: 0o600 });
  const asRoot = process.getuid?.() === 0;
  return {
    argv: fpmArgv(worker.command[0] ?? 'php-fpm', file, php, mode, asRoot),
    remove: () => {
      try {
        unlinkSync(file);
      } catch {
        // Gone already.
      }
    },
  };
}
