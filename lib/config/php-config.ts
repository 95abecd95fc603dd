/**
 * The `php` section and `document_root` of a `type: php` worker.yaml, with the keys the Go
 * TQServer reads (`php.binary`, `php.config_file`, `php.settings`, `php.pool.*`), resolved into
 * what tqserver needs to write a php-fpm pool for each instance.
 */
import { isAbsolute, resolve } from 'node:path';
import type { Report } from './report.js';
import type { Section } from './section.js';

/** php-fpm's process managers (`pm`). */
export type PhpProcessManager = 'static' | 'dynamic' | 'ondemand';

/** A resolved `type: php` configuration. */
export interface PhpConfig {
  /** The folder scripts and static files are served from (absolute): `document_root`, default `public`. */
  readonly documentRoot: string;
  /** The php.ini php-fpm reads (`-c`, absolute), or undefined for php-fpm's own default. */
  readonly configFile: string | undefined;
  /** ini settings, each given to php-fpm as `-d name=value`. */
  readonly settings: Readonly<Record<string, string>>;
  /** The pool of php-fpm children behind each instance. */
  readonly pool: {
    readonly manager: PhpProcessManager;
    /** pm.max_children: requests one instance runs at once. */
    readonly maxChildren: number;
    /** pm.start_servers (dynamic). */
    readonly startServers: number;
    /** pm.min_spare_servers (dynamic). */
    readonly minSpareServers: number;
    /** pm.max_spare_servers (dynamic). */
    readonly maxSpareServers: number;
    /** pm.max_requests: a child is replaced after this many requests; 0 = never. */
    readonly maxRequests: number;
    /** request_terminate_timeout: a script running longer is killed; 0 = never. */
    readonly requestTimeoutSeconds: number;
    /** pm.process_idle_timeout (ondemand): an idle child is stopped after this. */
    readonly idleTimeoutSeconds: number;
    /** request_slowlog_timeout: a request running longer counts as slow; 0 = off. */
    readonly slowlogTimeoutSeconds: number;
  };
}

/** Keys of the `php` section. */
export const PHP_KEYS: readonly string[] = ['binary', 'config_file', 'settings', 'pool'];
/** Keys of `php.pool`: the Go TQServer's, and `slowlog_timeout` (tqserver's own). */
export const PHP_POOL_KEYS: readonly string[] = ['manager', 'min_workers', 'max_workers', 'start_workers', 'max_requests', 'request_timeout', 'idle_timeout', 'listen_address', 'slowlog_timeout'];
const MANAGERS: readonly PhpProcessManager[] = ['static', 'dynamic', 'ondemand'];

/** An ini setting name as php.ini spells one (`memory_limit`, `opcache.enable`). */
const INI_NAME = /^[A-Za-z0-9_.-]+$/;

/** `30`, `"30s"`, `"2m"`, `"1h"` as seconds; undefined when it is none of these. */
export function parseSeconds(value: unknown): number | undefined {
  if (typeof value === 'number') return Number.isInteger(value) && value >= 0 ? value : undefined;
  if (typeof value !== 'string') return undefined;
  const m = /^([0-9]+)(s|m|h)?$/.exec(value.trim());
  if (m === null) return undefined;
  return Number(m[1]) * (m[2] === 'h' ? 3600 : m[2] === 'm' ? 60 : 1);
}

function seconds(section: Section, key: string, fallback: number): number {
  const node = section.node(key);
  if (node === undefined || (node.kind === 'scalar' && node.value === null)) return fallback;
  const s = node.kind === 'scalar' ? parseSeconds(node.value) : undefined;
  if (s === undefined || s > 31_536_000) {
    section.fail(key, `must be a number of seconds (30) or a duration ("30s", "5m", "1h"), at most a year`);
    return fallback;
  }
  return s;
}

/**
 * Reads `php` (a section of `top`, already created with PHP_KEYS) and `document_root` of a php
 * worker in `dir`. Paths are relative to the worker folder.
 */
export function readPhpConfig(php: Section, documentRoot: string, dir: string, report: Report): PhpConfig {
  const configFile = php.string('config_file', undefined);
  if (configFile === '') php.fail('config_file', 'must not be empty: a php.ini path, relative to the worker folder');
  const settings = php.stringMap('settings');
  for (const [name, value] of Object.entries(settings)) {
    if (!INI_NAME.test(name)) php.fail('settings', `${JSON.stringify(name)} is not an ini setting name (letters, digits, ".", "_", "-")`);
    // One -d argument per setting: a line break would start another ini line.
    if (/[\r\n\0]/.test(value)) php.fail('settings', `${name}: the value must be one line`);
  }

  const pool = php.section('pool', PHP_POOL_KEYS);
  const managerText = pool.string('manager', 'dynamic');
  const manager = MANAGERS.includes(managerText as PhpProcessManager) ? (managerText as PhpProcessManager) : 'dynamic';
  if (pool.ok('manager') && manager !== managerText) pool.fail('manager', `must be one of ${MANAGERS.join(', ')}, got ${JSON.stringify(managerText)}`);
  const maxChildren = pool.int('max_workers', 5, 1, 10_000);
  const minSpareServers = pool.int('min_workers', 1, 1, 10_000);
  const startServers = pool.int('start_workers', Math.min(Math.max(2, minSpareServers), maxChildren), 1, 10_000);
  if (manager === 'dynamic') {
    // php-fpm refuses to start otherwise (fpm_conf.c): min_spare <= start <= max_spare <= max_children.
    if (pool.ok('min_workers') && pool.ok('max_workers') && minSpareServers > maxChildren) {
      pool.fail('min_workers', `(${minSpareServers}) must not exceed max_workers (${maxChildren})`);
    } else if (pool.ok('start_workers') && pool.ok('min_workers') && pool.ok('max_workers') && (startServers < minSpareServers || startServers > maxChildren)) {
      pool.fail('start_workers', `(${startServers}) must lie between min_workers (${minSpareServers}) and max_workers (${maxChildren})`);
    }
  }
  if (pool.has('listen_address')) {
    pool.string('listen_address', '');
    report.warnings.push(`${report.file}: warning: php.pool.listen_address is ignored: each instance's php-fpm listens on 127.0.0.1, on a port of workers.port_range_start..port_range_end`);
  }
  return {
    documentRoot: resolve(dir, documentRoot),
    configFile: configFile === undefined || configFile === '' ? undefined : isAbsolute(configFile) ? configFile : resolve(dir, configFile),
    settings,
    pool: {
      manager,
      maxChildren,
      startServers,
      minSpareServers,
      maxSpareServers: maxChildren,
      maxRequests: pool.int('max_requests', 0, 0),
      requestTimeoutSeconds: seconds(pool, 'request_timeout', 30),
      idleTimeoutSeconds: seconds(pool, 'idle_timeout', 10),
      slowlogTimeoutSeconds: seconds(pool, 'slowlog_timeout', 0),
    },
  };
}
