/**
 * Instance ports from the configured range. A port is handed out only after a test bind on
 * 127.0.0.1 succeeds, so ports other programs hold are skipped; the cursor moves on after each
 * grant, so a port just released is not reused at once.
 */
import { createServer } from 'node:net';
import { OWN_LIMIT_CODES, SupervisorError } from '../errors.js';


/**
 * Whether 127.0.0.1:`port` can be bound right now. Rejects with ERR_NO_RESOURCES when tqserver
 * itself is out of file descriptors, which would otherwise look like a range with no free port.
 */
export function canBind(port: number): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code !== undefined && OWN_LIMIT_CODES.has(err.code)) reject(new SupervisorError('ERR_NO_RESOURCES', `tqserver is out of file descriptors (${err.code}): raise the limit (ulimit -n) or lower server.max_connections`));
      else resolve(false);
    });
    server.listen({ port, host: '127.0.0.1', exclusive: true }, () => server.close(() => resolve(true)));
  });
}

/** The port range shared by every worker. */
export class PortPool {
  readonly #start: number;
  readonly #end: number;
  readonly #taken = new Set<number>();
  #cursor: number;

  constructor(start: number, end: number) {
    this.#start = start;
    this.#end = end;
    this.#cursor = start;
  }

  /** A free, bindable port; throws ERR_PORTS_EXHAUSTED when the whole range is busy. */
  async acquire(): Promise<number> {
    const size = this.#end - this.#start + 1;
    for (let tried = 0; tried < size; tried++) {
      const port = this.#cursor;
      this.#cursor = port >= this.#end ? this.#start : port + 1;
      if (this.#taken.has(port)) continue;
      this.#taken.add(port);
      let free = false;
      try {
        free = await canBind(port);
      } finally {
        if (!free) this.#taken.delete(port);
      }
      if (free) return port;
    }
    throw new SupervisorError('ERR_PORTS_EXHAUSTED', `no free port in ${this.#start}-${this.#end}`);
  }

  /** Gives a port back. */
  release(port: number): void {
    this.#taken.delete(port);
  }
}
