/**
 * Every event the server reports, in one place: the proxy and the supervisor call these
 * hooks where things happen, and the metrics (or a test) listen. All hooks are optional and
 * synchronous; they must be cheap, because requestDone runs once per request.
 */

/** Why an instance stopped or is being replaced. */
export type ExitReason = 'crash' | 'start_failed' | 'health' | 'reload' | 'change' | 'max_requests' | 'memory' | 'scale_down' | 'shutdown' | 'removed';

/** What the observer is told about an instance. */
export interface InstanceInfo {
  readonly worker: string;
  /** Bounded per-worker slot number, reused after the instance is gone. */
  readonly slot: number;
  readonly port: number;
  readonly pid: number | undefined;
}

/** One finished request, as the client saw it. */
export interface RequestEvent {
  /** Standard method or `OTHER`. */
  readonly method: string;
  /** The matched route prefix, or the fixed value for unmatched requests. */
  readonly route: string;
  /** The worker that owns the route, if any. */
  readonly worker: string | undefined;
  /** Status sent to the client (0 if the connection died before a status went out). */
  readonly status: number;
  readonly durationSeconds: number;
  /** Bytes of the request read from the client socket (headers and body). */
  readonly bytesIn: number;
  /** Bytes of the response written to the client socket (headers and body). */
  readonly bytesOut: number;
}

/** The hooks. */
export interface ServerObserver {
  /** A client connection was accepted. */
  connectionOpened?(): void;
  /** A request (not one to the metrics endpoint) finished or was aborted. */
  requestDone?(event: RequestEvent): void;
  /** An instance answered its first health check and joined the rotation. */
  instanceReady?(info: InstanceInfo): void;
  /** An instance's process is gone. */
  instanceExited?(info: InstanceInfo, reason: ExitReason): void;
  /** An instance is being replaced by a new one (crash, failed health check, reload, ...). */
  instanceReplaced?(worker: string, reason: ExitReason): void;
  /** One health probe finished. */
  healthCheck?(worker: string, durationSeconds: number, ok: boolean): void;
  /** A build finished. */
  buildFinished?(worker: string, ok: boolean, durationSeconds: number): void;
  /**
   * A php worker's php-fpm status page was read: by how much its counters grew since the last
   * reading (times pm.max_children stopped a new child; requests over request_slowlog_timeout).
   */
  phpCounters?(worker: string, maxChildrenReached: number, slowRequests: number): void;
}
