/**
 * The error taxonomy of tqserver: one base class, subclasses with a stable string `code`.
 * Callers branch on `code`, never on message text.
 */

/**
 * System error codes that mean tqserver itself ran out of something (file descriptors, buffer
 * space, memory): never a worker's fault, and reported as tqserver's own.
 */
export const OWN_LIMIT_CODES: ReadonlySet<string> = new Set(['EMFILE', 'ENFILE', 'ENOBUFS', 'ENOMEM']);

/** Base class of every error tqserver throws on purpose. */
export class TqError extends Error {
  /** Stable machine-readable code, e.g. `ERR_METRIC_NAME`. */
  readonly code: string;

  constructor(code: string, message: string) {
    super(message);
    this.name = new.target.name;
    this.code = code;
  }
}

/** Codes of {@link MetricError}. */
export type MetricErrorCode =
  | 'ERR_METRIC_NAME'
  | 'ERR_METRIC_HELP'
  | 'ERR_METRIC_LABELS'
  | 'ERR_METRIC_BUCKETS'
  | 'ERR_METRIC_DUPLICATE'
  | 'ERR_METRIC_VALUE'
  | 'ERR_METRIC_SNAPSHOT';

/** A metric was defined, registered, labeled or updated in a way the exposition formats forbid. */
export class MetricError extends TqError {
  declare readonly code: MetricErrorCode;

  constructor(code: MetricErrorCode, message: string) {
    super(code, message);
  }
}

/** Where in a file something is: 1-based line and column. */
export interface SourcePosition {
  readonly line: number;
  readonly col: number;
}

/**
 * A configuration file is broken: bad YAML, a wrong type, a value out of range. The message
 * starts with `file:line:col:` so editors and terminals can jump to it; a problem with the whole
 * file (not found, unreadable) has no position and starts with `file:`.
 */
export class ConfigError extends TqError {
  declare readonly code: 'ERR_CONFIG';
  readonly file: string;
  /** 1-based; undefined when the problem is the whole file. */
  readonly line: number | undefined;
  /** 1-based; undefined when the problem is the whole file. */
  readonly col: number | undefined;
  /** The message without the location prefix. */
  readonly reason: string;

  /** `at` is undefined for a problem with the whole file, such as a missing file. */
  constructor(file: string, at: SourcePosition | undefined, reason: string) {
    super('ERR_CONFIG', at === undefined ? `${file}: ${reason}` : `${file}:${at.line}:${at.col}: ${reason}`);
    this.file = file;
    this.line = at?.line;
    this.col = at?.col;
    this.reason = reason;
  }
}

/**
 * Every problem found in a configuration, at least one: the files in the order they were read,
 * each file's problems by line, then column. The message is their messages, one per line.
 */
export class ConfigErrors extends TqError {
  declare readonly code: 'ERR_CONFIG';
  readonly errors: readonly [ConfigError, ...ConfigError[]];

  constructor(errors: readonly [ConfigError, ...ConfigError[]]) {
    super('ERR_CONFIG', errors.map((e) => e.message).join('\n'));
    this.errors = Object.freeze([...errors]) as readonly [ConfigError, ...ConfigError[]];
  }
}

/** Codes of {@link ServeError}: why a request could not be served by a worker. */
export type ServeErrorCode =
  | 'ERR_BAD_REQUEST'
  | 'ERR_NOT_FOUND'
  | 'ERR_QUEUE_FULL'
  | 'ERR_QUEUE_TIMEOUT'
  | 'ERR_NO_INSTANCE'
  | 'ERR_BUILD_FAILED'
  | 'ERR_SHUTTING_DOWN'
  | 'ERR_UPSTREAM_UNREACHABLE'
  | 'ERR_UPSTREAM_BROKEN'
  | 'ERR_UPSTREAM_TIMEOUT'
  | 'ERR_NO_RESOURCES';

/** The HTTP status each serve error answers with; the one table that maps them. */
export const SERVE_ERROR_STATUS: Readonly<Record<ServeErrorCode, number>> = {
  ERR_BAD_REQUEST: 400,
  ERR_NOT_FOUND: 404,
  ERR_QUEUE_FULL: 503,
  ERR_QUEUE_TIMEOUT: 504,
  ERR_NO_INSTANCE: 503,
  ERR_BUILD_FAILED: 503,
  ERR_SHUTTING_DOWN: 503,
  ERR_UPSTREAM_UNREACHABLE: 502,
  ERR_UPSTREAM_BROKEN: 502,
  ERR_UPSTREAM_TIMEOUT: 504,
  ERR_NO_RESOURCES: 503,
};

/** A request could not be served; `status` is what the client gets. */
export class ServeError extends TqError {
  declare readonly code: ServeErrorCode;

  /** When the client may try again, for a Retry-After header (503s only). */
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ServeErrorCode, message: string, retryAfterSeconds?: number) {
    super(code, message);
    this.retryAfterSeconds = retryAfterSeconds;
  }

  /** The HTTP status for this error. */
  get status(): number {
    return SERVE_ERROR_STATUS[this.code];
  }
}

/** Codes of {@link SupervisorError}. */
export type SupervisorErrorCode =
  /** Every port of workers.port_range_start-end is taken. */
  | 'ERR_PORTS_EXHAUSTED'
  /** tqserver itself is out of file descriptors or memory. */
  | 'ERR_NO_RESOURCES'
  /** An instance (or a warm standby) was asked for a state change its state machine does not allow (a bug). */
  | 'ERR_INSTANCE_STATE';

/** The supervisor could not do what it had to: start an instance, change its state. */
export class SupervisorError extends TqError {
  declare readonly code: SupervisorErrorCode;

  constructor(code: SupervisorErrorCode, message: string) {
    super(code, message);
  }
}

/** A listener (server.host/port, metrics.listen) could not be bound; the message names the key to change. */
export class ListenError extends TqError {
  declare readonly code: 'ERR_LISTEN';
  /** The key to change: `server.port`, `server.host` or `metrics.listen`. */
  readonly key: string;

  constructor(key: string, message: string) {
    super('ERR_LISTEN', message);
    this.key = key;
  }
}

/** A worker's response is not valid HTTP/1.1 (RFC 9112): it is answered with a 502. */
export class UpstreamResponseError extends TqError {
  declare readonly code: 'ERR_UPSTREAM_RESPONSE';

  constructor(message: string) {
    super('ERR_UPSTREAM_RESPONSE', message);
  }
}
