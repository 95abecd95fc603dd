/**
 * What the proxy needs from the workers behind it, and nothing more: routes, an instance for a
 * request and its release, and why a worker cannot serve. The supervisor provides it.
 */

/** An instance a request is sent to. */
export interface Upstream {
  readonly port: number;
  /** Its slot, for dev-mode headers (`name#slot`). */
  readonly slot: number;
  /** Takes what a FastCGI application wrote to FCGI_STDERR for a request: it goes to the worker's log. */
  appendStderr?(chunk: Buffer): void;
}

/** A worker as the proxy sees it. */
export interface BackendWorker {
  readonly name: string;
  /** Its type (node, exec, go, bun, php), for dev-mode headers. */
  readonly type: string;
  /**
   * How its instances are spoken to: HTTP/1.1, or FastCGI (php-fpm). A `fastcgi` worker's
   * requests go through php-dispatch.ts: static files from its document root, scripts to php-fpm.
   */
  readonly protocol: 'http' | 'fastcgi';
  /** `fastcgi`: the folder its scripts and static files are served from (absolute). */
  readonly documentRoot?: string | undefined;
  /**
   * `fastcgi`: connections that may stay open to one instance between requests. Each one holds
   * a php-fpm child, so this stays below the children php-fpm may run.
   */
  readonly keepConnections?: number | undefined;
  /** Its route prefix. */
  readonly route: string;
  /** Its folder: files in its public/ are served without asking an instance (`http` workers). */
  readonly dir: string;
  /** The compiler output of its last failed build, until a build succeeds. */
  readonly buildError: string | undefined;
  /** Why its instances fail to start, while none is alive. */
  readonly startFailure: string | undefined;
  /** An instance with room now (its in-flight count raised), without waiting. */
  tryAcquire(): Upstream | undefined;
  /** An instance, after waiting in the queue if need be; rejects with a ServeError. */
  acquire(signal?: AbortSignal): Promise<Upstream>;
  /** Ends a request on `upstream`; `refused` when its port refused the connection. */
  release(upstream: Upstream, refused?: boolean): void;
}

/** The workers behind the proxy. */
export interface Backend {
  workers(): readonly BackendWorker[];
  /** `listener` runs whenever the set of workers, or what they serve, may have changed. */
  onChange(listener: () => void): void;
}
