/**
 * Idle keep-alive connections, by the port they go to: the bookkeeping that tqserver's HTTP
 * client (proxy/upstream.ts) and its FastCGI client (fastcgi/connection-pool.ts) share.
 */
import type { Socket } from 'node:net';

/** Idle connections by port, the most recently used first out. */
export class IdleByPort<T extends Socket> {
  readonly #idle = new Map<number, T[]>();

  /** Idle connections to `port` now. */
  count(port: number): number {
    return this.#idle.get(port)?.length ?? 0;
  }

  /** The most recently idle connection to `port` that `usable` accepts; the others are destroyed. */
  pop(port: number, usable: (socket: T) => boolean): T | undefined {
    const idle = this.#idle.get(port);
    while (idle !== undefined && idle.length > 0) {
      const socket = idle.pop() as T;
      if (usable(socket)) return socket;
      socket.destroy();
    }
    return undefined;
  }

  /** Keeps `socket` as idle for `port`. */
  push(port: number, socket: T): void {
    let idle = this.#idle.get(port);
    if (idle === undefined) {
      idle = [];
      this.#idle.set(port, idle);
    }
    idle.push(socket);
  }

  /** Forgets `socket` (it closed). */
  remove(port: number, socket: T): void {
    const idle = this.#idle.get(port);
    if (idle === undefined) return;
    const at = idle.indexOf(socket);
    if (at >= 0) idle.splice(at, 1);
    if (idle.length === 0) this.#idle.delete(port);
  }

  /** Destroys every idle connection. */
  destroyAll(): void {
    for (const idle of this.#idle.values()) for (const s of [...idle]) s.destroy();
    this.#idle.clear();
  }
}
