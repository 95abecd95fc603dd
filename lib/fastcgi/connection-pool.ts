/**
 * Keep-alive connections to FastCGI applications, by port. php-fpm serves one request at a time
 * per connection, and a connection kept open (FCGI_KEEP_CONN) holds one php-fpm child for as long
 * as it stays open: the child waits on it for the next request and php-fpm counts it as busy. So
 * the pool keeps few and short-lived: no more connections open to a port between requests than
 * its `keep` limit (below the children php-fpm may run, so one is always free for a new
 * connection, such as a health probe), and none idle for longer than IDLE_TIMEOUT_MS.
 */
import { connect, type Socket } from 'node:net';
import { IdleByPort } from '../idle-by-port.js';

/** Where a pooled connection's events go while an exchange holds it. */
export interface ConnectionUser {
  data(chunk: Buffer): void;
  closed(err: NodeJS.ErrnoException | undefined): void;
}

const kUser = Symbol('tqserver.fastcgi.user');
const kError = Symbol('tqserver.fastcgi.lastError');
const kPort = Symbol('tqserver.fastcgi.port');
const kCounted = Symbol('tqserver.fastcgi.counted');

/** A connection of the pool. */
export type PooledConnection = Socket & { [kUser]?: ConnectionUser | undefined; [kError]?: NodeJS.ErrnoException; [kPort]: number; [kCounted]?: boolean };

/**
 * How long a kept connection may stay idle. Short, because it holds a php-fpm child that
 * php-fpm cannot give to anyone else or stop as idle.
 */
export const IDLE_TIMEOUT_MS = 2000;

/** Connections to FastCGI applications, by port. */
export class FastCgiPool {
  readonly #idle = new IdleByPort<PooledConnection>();
  /** Connections open now (idle or in use), by port. */
  readonly #open = new Map<number, number>();

  /** Connections open to `port` now, idle or in use. */
  openCount(port: number): number {
    return this.#open.get(port) ?? 0;
  }

  /** Idle connections to `port` now. */
  idleCount(port: number): number {
    return this.#idle.count(port);
  }

  /** An idle connection to `port`, or a new one (writable at once: writes wait for the connection). */
  take(port: number, user: ConnectionUser): { socket: PooledConnection; reused: boolean } {
    const reused = this.#idle.pop(port, (s) => !s.destroyed && !s.readableEnded);
    if (reused !== undefined) {
      reused.setTimeout(0);
      reused[kUser] = user;
      return { socket: reused, reused: true };
    }
    const socket = connect({ port, host: '127.0.0.1', noDelay: true }) as PooledConnection;
    socket[kPort] = port;
    socket[kUser] = user;
    socket[kCounted] = true;
    this.#open.set(port, this.openCount(port) + 1);
    socket.on('data', (chunk: Buffer) => {
      const current = socket[kUser];
      // Bytes on an idle connection belong to no request: the connection cannot be trusted.
      if (current === undefined) socket.destroy();
      else current.data(chunk);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => {
      socket[kError] = err;
    });
    // The application closing its side ends the connection for us too.
    socket.on('end', () => socket.destroy());
    socket.on('timeout', () => {
      if (socket[kUser] === undefined) socket.destroy();
    });
    socket.on('close', () => {
      const current = socket[kUser];
      socket[kUser] = undefined;
      this.#uncount(socket);
      this.#idle.remove(port, socket);
      current?.closed(socket[kError]);
    });
    return { socket, reused: false };
  }

  /**
   * Takes back a connection whose request is complete. It stays open, idle, if the application
   * kept it and no more than `keep` connections would then be open to its port; otherwise it is
   * closed.
   */
  give(socket: PooledConnection, keep: number): void {
    socket[kUser] = undefined;
    const port = socket[kPort];
    if (socket.destroyed || socket.readableEnded || this.openCount(port) > keep) {
      // No longer counted from now: its 'close' comes later, and the next connection given
      // back must not be closed for it.
      this.#uncount(socket);
      socket.destroy();
      return;
    }
    socket.setTimeout(IDLE_TIMEOUT_MS);
    this.#idle.push(port, socket);
  }

  #uncount(socket: PooledConnection): void {
    if (socket[kCounted] !== true) return;
    socket[kCounted] = false;
    const port = socket[kPort];
    const n = this.openCount(port) - 1;
    if (n <= 0) this.#open.delete(port);
    else this.#open.set(port, n);
  }

  /** Closes every idle connection. */
  destroy(): void {
    this.#idle.destroyAll();
  }
}
