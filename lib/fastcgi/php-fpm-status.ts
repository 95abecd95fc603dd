/**
 * php-fpm's own pages, asked for over FastCGI: `ping.path` (readiness) and `pm.status_path` (the
 * pool's state, as JSON with `?json`). tqserver writes both paths into the pool it configures;
 * neither ends in `.php`, so no client request is ever routed to them.
 */

/** The ping.path tqserver configures. */
export const PHP_FPM_PING_PATH = '/tqserver-fpm-ping';
/** The pm.status_path tqserver configures. */
export const PHP_FPM_STATUS_PATH = '/tqserver-fpm-status';
/** The ping.response tqserver configures. */
export const PHP_FPM_PING_RESPONSE = 'pong';

/** The PARAMS of a GET of `path` (with `query`): php-fpm matches its pages on SCRIPT_NAME. */
export function pageParams(path: string, query = ''): string[] {
  return [
    'GATEWAY_INTERFACE', 'CGI/1.1',
    'REQUEST_METHOD', 'GET',
    'SCRIPT_NAME', path,
    'SCRIPT_FILENAME', path,
    'REQUEST_URI', query === '' ? path : `${path}?${query}`,
    'QUERY_STRING', query,
    'SERVER_PROTOCOL', 'HTTP/1.1',
    'REMOTE_ADDR', '127.0.0.1',
    'HTTP_USER_AGENT', 'tqserver-health',
  ];
}

/** The state of one php-fpm pool, from its status page. */
export interface PhpFpmStatus {
  /** Children serving a request, less the one that answered the status request itself. */
  readonly activeProcesses: number;
  /** Children waiting for a connection. */
  readonly idleProcesses: number;
  /** Connections waiting in the listen backlog for a free child. */
  readonly listenQueue: number;
  /** Times php-fpm wanted another child and pm.max_children stopped it, since it started. */
  readonly maxChildrenReached: number;
  /** Requests over request_slowlog_timeout, since it started. */
  readonly slowRequests: number;
  /** Connections accepted, since it started. */
  readonly acceptedConnections: number;
}

function count(json: Record<string, unknown>, key: string): number {
  const v = json[key];
  if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) throw new Error(`php-fpm status: "${key}" is not a count: ${JSON.stringify(v)}`);
  return v;
}

/** Reads the JSON of php-fpm's status page (`?json`); throws if a field is missing or not a count. */
export function parsePhpFpmStatus(text: string): PhpFpmStatus {
  const json = JSON.parse(text) as Record<string, unknown>;
  if (json === null || typeof json !== 'object') throw new Error('php-fpm status: not a JSON object');
  return {
    // The status request is served by a child, which php-fpm counts as active.
    activeProcesses: Math.max(0, count(json, 'active processes') - 1),
    idleProcesses: count(json, 'idle processes'),
    listenQueue: count(json, 'listen queue'),
    maxChildrenReached: count(json, 'max children reached'),
    slowRequests: count(json, 'slow requests'),
    acceptedConnections: count(json, 'accepted conn'),
  };
}
