/**
 * Instance ports from the configured range. A port is handed out only after a test bind on
 * 127.0.0.1 succeeds, so ports other programs hold are skipped; the cursor moves on after each
 * grant, so a port just released is not reused at once.
 */
import { createServer } from 'node:net';
import { TqError } from '../errors.js';

/** Whether 127.0.0.1:`port` can be bound right now. */
export function canBind(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolve(false));
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
      if (await canBind(port)) return port;
      this.#taken.delete(port);
    }
    throw new TqError('ERR_PORTS_EXHAUSTED', `no free port in ${this.#start}-${this.#end}`);
  }

  /** Gives a port back. */
  release(port: number): void {
    this.#taken.delete(port);
  }
}
