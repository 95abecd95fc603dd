/**
 * Requests waiting for an instance of one worker: first come, first served, each with a
 * deadline, and dropped as soon as its client goes away.
 */
import { ServeError } from '../errors.js';

interface Waiter<T> {
  readonly resolve: (value: T) => void;
  readonly reject: (err: Error) => void;
  readonly timer: NodeJS.Timeout;
  readonly signal: AbortSignal | undefined;
  readonly onAbort: () => void;
}

/** A FIFO of waiting requests. */
export class DispatchQueue<T> {
  readonly #worker: string;
  readonly #waiters: Waiter<T>[] = [];

  /** `worker` names the worker in error messages. */
  constructor(worker: string) {
    this.#worker = worker;
  }

  /** Requests waiting now. */
  get length(): number {
    return this.#waiters.length;
  }

  /**
   * Waits for {@link serve} to hand over a value. Rejects with ERR_QUEUE_TIMEOUT after
   * `timeoutMs`, and with ERR_BAD_REQUEST when `signal` aborts (the client left); either way
   * the request leaves the queue.
   */
  wait(timeoutMs: number, signal: AbortSignal | undefined): Promise<T> {
    return new Promise((resolve, reject) => {
      const waiter: Waiter<T> = {
        resolve,
        reject,
        signal,
        timer: setTimeout(() => {
          this.#drop(waiter);
          reject(new ServeError('ERR_QUEUE_TIMEOUT', `worker ${this.#worker}: no instance became free within ${timeoutMs} ms`));
        }, timeoutMs),
        onAbort: () => {
          this.#drop(waiter);
          reject(new ServeError('ERR_BAD_REQUEST', 'the client went away while waiting'));
        },
      };
      signal?.addEventListener('abort', waiter.onAbort, { once: true });
      this.#waiters.push(waiter);
    });
  }

  #detach(waiter: Waiter<T>): void {
    clearTimeout(waiter.timer);
    waiter.signal?.removeEventListener('abort', waiter.onAbort);
  }

  #drop(waiter: Waiter<T>): void {
    this.#detach(waiter);
    const at = this.#waiters.indexOf(waiter);
    if (at >= 0) this.#waiters.splice(at, 1);
  }

  /** Hands values from `next` to waiting requests, oldest first, while `next` has one. */
  serve(next: () => T | undefined): void {
    while (this.#waiters.length > 0) {
      const value = next();
      if (value === undefined) return;
      const waiter = this.#waiters.shift() as Waiter<T>;
      this.#detach(waiter);
      waiter.resolve(value);
    }
  }

  /** Rejects every waiting request with `err`. */
  rejectAll(err: Error): void {
    for (const waiter of this.#waiters.splice(0)) {
      this.#detach(waiter);
      waiter.reject(err);
    }
  }
}
