/** `config/server.yaml`: keys, defaults and validation. */
import { isIP } from 'node:net';
import { resolve } from 'node:path';
import { byPosition, throwIfAny, type Report } from './report.js';
import { Section } from './section.js';
import type { YamlNode } from './yaml-node.js';

/** Credentials that protect the metrics endpoint. */
export type MetricsAuth =
  | { readonly kind: 'bearer'; readonly token: string }
  | { readonly kind: 'basic'; readonly username: string; readonly password: string };

/** A `host:port` to listen on. */
export interface ListenAddress {
  readonly host: string;
  readonly port: number;
}

/** The resolved server configuration; every value has its default filled in. */
export interface ServerConfig {
  /** The file it was read from, or `(defaults)`. */
  readonly file: string;
  /** The project root every relative path is resolved against. */
  readonly root: string;
  readonly server: {
    readonly host: string;
    readonly port: number;
    readonly readTimeoutSeconds: number;
    readonly writeTimeoutSeconds: number;
    readonly idleTimeoutSeconds: number;
    /**
     * Client connections open at once; more are closed as soon as they are accepted. Undefined:
     * as many as the file-descriptor limit allows, at most 10,000 (see proxy/fd-limit.ts).
     */
    readonly maxConnections: number | undefined;
    /** Template with `{date}`, resolved against the root; null disables the file. */
    readonly logFile: string | null;
  };
  readonly workers: {
    /** Absolute path of the workers folder. */
    readonly directory: string;
    readonly portRangeStart: number;
    readonly portRangeEnd: number;
    readonly startupDelayMs: number;
    readonly restartDelayMs: number;
    readonly shutdownGracePeriodMs: number;
    readonly healthCheckWaitTimeoutMs: number;
    readonly healthCheckTimeoutMs: number;
    readonly healthCheckIntervalMs: number;
    /** Requests that may wait for an instance, per worker; one more gets 503. */
    readonly queueCapacity: number;
    /** How long a request may wait for an instance before it gets 504. */
    readonly queueTimeoutMs: number;
  };
  readonly fileWatcher: {
    readonly debounceMs: number;
  };
  /** Dev mode only; prod mode ignores this section. */
  readonly dev: {
    /**
     * Keep one warm standby Node process per instance of each `type: node` worker, started ahead
     * of time and held before its entrypoint loads, so that a reload skips Node's start-up
     * (see supervisor/standby.ts). Costs one idle Node process per instance.
     */
    readonly warmStandby: boolean;
  };
  readonly metrics: {
    readonly enabled: boolean;
    readonly path: string;
    /** A separate listener for the endpoint, instead of the main port. */
    readonly listen: ListenAddress | undefined;
    readonly auth: MetricsAuth | undefined;
    /** Request-duration histogram bounds, in seconds. */
    readonly buckets: readonly number[];
  };
}

/** The top-level keys of server.yaml. */
export const SERVER_TOP_KEYS: readonly string[] = ['server', 'workers', 'file_watcher', 'dev', 'metrics'];
const SERVER = ['host', 'port', 'read_timeout_seconds', 'write_timeout_seconds', 'idle_timeout_seconds', 'max_connections', 'log_file'];
const WORKERS = [
  'directory', 'port_range_start', 'port_range_end', 'startup_delay_ms', 'restart_delay_ms', 'shutdown_grace_period_ms',
  'health_check_wait_timeout_ms', 'health_check_timeout_ms', 'health_check_interval_ms', 'queue_capacity', 'queue_timeout_ms',
];
const METRICS = ['enabled', 'path', 'listen', 'auth', 'buckets'];

/**
 * Top-level sections of the Go TQServer's server.yaml that tqserver has no counterpart for: a
 * Go project's file still loads, with a warning that says so rather than "unknown key".
 */
const GO_ONLY_SECTIONS: ReadonlyMap<string, string> = new Map([
  ['socks5', 'its SOCKS5 egress proxy for workers, with optional HTTPS inspection'],
]);
const DAY_MS = 86_400_000;

/** Prometheus' default request-duration buckets, in seconds. */
export const DEFAULT_DURATION_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/** Parses `host:port`, `[v6]:port` or `:port` (all interfaces). */
export function parseListen(text: string): ListenAddress | undefined {
  const m = /^(?:\[([^\]]+)\]|([^:]*)):(\d{1,5})$/.exec(text);
  if (m === null) return undefined;
  const host = m[1] ?? (m[2] === '' ? '0.0.0.0' : (m[2] as string));
  const port = Number(m[3]);
  if (port > 65535 || (m[1] !== undefined && isIP(host) !== 6)) return undefined;
  return { host, port };
}

/**
 * Reads the server configuration from a parsed `server.yaml` (undefined for none: defaults).
 * Relative paths resolve against `root`. Pushes unknown-key warnings; throws ConfigErrors listing
 * every problem of the file, by line and column.
 */
export function readServerConfig(node: YamlNode | undefined, file: string, root: string, warnings: string[]): ServerConfig {
  const report: Report = { file, warnings, errors: [] };
  const config = checkServerConfig(node, root, report);
  throwIfAny(byPosition(report.errors));
  return config;
}

/**
 * As readServerConfig, but reports every problem to `report` instead of throwing; a broken
 * value is replaced by its default, so the result is only meaningful when none was reported.
 */
export function checkServerConfig(node: YamlNode | undefined, root: string, report: Report): ServerConfig {
  const top = new Section(report, '', node, [...SERVER_TOP_KEYS, ...GO_ONLY_SECTIONS.keys()]);
  for (const entry of node?.kind === 'map' ? node.entries : []) {
    const what = GO_ONLY_SECTIONS.get(entry.key);
    if (what === undefined) continue;
    report.warnings.push(`${report.file}:${entry.keyPos.line}:${entry.keyPos.col}: warning: "${entry.key}" is a Go TQServer setting (${what}) that tqserver ignores`);
  }
  const s = top.section('server', SERVER);
  const w = top.section('workers', WORKERS);
  const f = top.section('file_watcher', ['debounce_ms']);
  const d = top.section('dev', ['warm_standby']);
  const m = top.section('metrics', METRICS);

  const portRangeStart = w.int('port_range_start', 9000, 1, 65535);
  const portRangeEnd = w.int('port_range_end', 9999, 1, 65535);
  if (w.ok('port_range_start') && w.ok('port_range_end') && portRangeEnd < portRangeStart) {
    w.fail('port_range_end', `must not be below port_range_start (${portRangeStart}), got ${portRangeEnd}`);
  }

  const path = m.string('path', '/metrics');
  if (m.ok('path') && (!/^\/[^\s?#]*$/.test(path) || (path.length > 1 && path.endsWith('/')))) {
    m.fail('path', `must be an absolute URL path such as /metrics (no query, no trailing slash), got ${JSON.stringify(path)}`);
  }
  const listenText = m.string('listen', undefined);
  const listen = listenText === undefined ? undefined : parseListen(listenText);
  if (listenText !== undefined && listen === undefined) {
    m.fail('listen', `must be host:port, [ipv6]:port or :port, got ${JSON.stringify(listenText)}`);
  }

  const list = m.numberList('buckets');
  if (list !== undefined && !list.every((b, i) => b >= 0 && Number.isFinite(b) && (i === 0 || b > (list[i - 1] as number)))) {
    m.fail('buckets', `must be finite numbers >= 0 in strictly ascending order, got ${JSON.stringify(list)}`);
  }
  const buckets = list ?? [...DEFAULT_DURATION_BUCKETS];

  const root_ = resolve(root);
  const config: ServerConfig = {
    file: report.file,
    root: root_,
    server: {
      host: s.string('host', '0.0.0.0'),
      port: s.int('port', 8080, 0, 65535),
      readTimeoutSeconds: s.number('read_timeout_seconds', 30, 0, 86400),
      writeTimeoutSeconds: s.number('write_timeout_seconds', 30, 0, 86400),
      idleTimeoutSeconds: s.number('idle_timeout_seconds', 120, 0, 86400),
      maxConnections: s.has('max_connections') ? s.int('max_connections', 10_000, 1, 1_000_000) : undefined,
      logFile: s.optionalString('log_file', 'logs/tqserver_{date}.log'),
    },
    workers: {
      directory: resolve(root_, w.string('directory', 'workers')),
      portRangeStart,
      portRangeEnd,
      startupDelayMs: w.int('startup_delay_ms', 100, 0, DAY_MS),
      restartDelayMs: w.int('restart_delay_ms', 0, 0, DAY_MS),
      shutdownGracePeriodMs: w.int('shutdown_grace_period_ms', 5000, 0, DAY_MS),
      healthCheckWaitTimeoutMs: w.int('health_check_wait_timeout_ms', 5000, 1, DAY_MS),
      healthCheckTimeoutMs: w.int('health_check_timeout_ms', 250, 1, DAY_MS),
      healthCheckIntervalMs: w.int('health_check_interval_ms', 5000, 10, DAY_MS),
      queueCapacity: w.int('queue_capacity', 1000, 0, 1_000_000),
      queueTimeoutMs: w.int('queue_timeout_ms', 30_000, 1, DAY_MS),
    },
    fileWatcher: { debounceMs: f.int('debounce_ms', 50, 0, 60_000) },
    dev: { warmStandby: d.bool('warm_standby', true) },
    metrics: {
      enabled: m.bool('enabled', true),
      path,
      listen,
      auth: readAuth(m),
      buckets,
    },
  };
  return config;
}

function readAuth(metrics: Section): MetricsAuth | undefined {
  if (metrics.node('auth') === undefined) return undefined;
  const auth = metrics.section('auth', ['bearer_token', 'basic']);
  if (!metrics.ok('auth')) return undefined;
  const token = auth.string('bearer_token', undefined);
  const hasBasic = auth.node('basic') !== undefined;
  if (token !== undefined && hasBasic) {
    auth.fail('basic', 'give either bearer_token or basic, not both');
    return undefined;
  }
  if (token !== undefined) {
    if (token !== '') return { kind: 'bearer', token };
    auth.fail('bearer_token', 'must not be empty');
    return undefined;
  }
  if (!hasBasic) {
    if (auth.ok('bearer_token')) metrics.fail('auth', 'must hold bearer_token or basic: {username, password}');
    return undefined;
  }
  const basic = auth.section('basic', ['username', 'password']);
  if (!auth.ok('basic')) return undefined;
  const username = basic.string('username', '');
  const password = basic.string('password', '');
  if (basic.ok('username') && (username === '' || username.includes(':'))) basic.fail('username', 'must be a non-empty string without ":"');
  if (basic.ok('password') && password === '') basic.fail('password', 'must be a non-empty string');
  return basic.ok('username') && basic.ok('password') ? { kind: 'basic', username, password } : undefined;
}
