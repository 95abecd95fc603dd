/**
 * A worker's run of failures: instances that exit on their own (a crash, a failed start) soon
 * after starting. It sets how long the next start waits, and says when the worker counts as
 * crash-looping, so that requests are refused at once instead of waiting for an instance that
 * the backoff holds back.
 */
import { CRASH_LOOP_FAILURES, restartDelayMs, STABLE_UPTIME_MS } from './decisions.js';

/** The failures in a row of one worker. */
export class CrashLoop {
  #failures = 0;
  #noStartBefore = 0;

  /** Failures in a row. */
  get failures(): number {
    return this.#failures;
  }

  /**
   * Records an instance started at `startedAtMs` that exited on its own at `nowMs`. One that ran
   * at least STABLE_UPTIME_MS starts a new count. Returns the delay before the next start.
   */
  failed(startedAtMs: number, nowMs: number): number {
    this.#failures = nowMs - startedAtMs >= STABLE_UPTIME_MS ? 1 : this.#failures + 1;
    const delay = restartDelayMs(this.#failures);
    this.#noStartBefore = nowMs + delay;
    return delay;
  }

  /** Whether a new instance may be started at `nowMs`. */
  canStart(nowMs: number): boolean {
    return nowMs >= this.#noStartBefore;
  }

  /** Milliseconds until a start is allowed again. */
  waitMs(nowMs: number): number {
    return Math.max(0, this.#noStartBefore - nowMs);
  }

  /** Lets the next start happen at once (new code to try), keeping the count. */
  allowStart(): void {
    this.#noStartBefore = 0;
  }

  /** Whether, with nothing alive, the worker is crash-looping (requests are then refused at once). */
  get looping(): boolean {
    return this.#failures >= CRASH_LOOP_FAILURES;
  }
}
