/**
 * The supervisor's decisions as pure functions of state and time, so that backoff and scaling
 * are tested without sleeping.
 */

/** Crash-loop backoff: the first replacement is immediate, then 100 ms doubling to a cap. */
export const BACKOFF_BASE_MS = 100;
/** The longest pause between restarts of a crash-looping worker (PM2 uses 15 s too). */
export const BACKOFF_MAX_MS = 15_000;
/** An instance that ran this long resets the crash count: it was not a crash loop. */
export const STABLE_UPTIME_MS = 30_000;
/**
 * Failures in a row after which a worker with nothing alive counts as crash-looping: requests
 * then get a 503 at once instead of waiting for an instance that the backoff holds back.
 */
export const CRASH_LOOP_FAILURES = 2;
/**
 * Health probes failed in a row before an instance is replaced: one missed probe (a GC pause,
 * a burst of load) is not worth a restart.
 */
export const HEALTH_FAILURES_TO_REPLACE = 3;
/** How long dispatch passes over an instance whose port refused a connection (it is probably exiting). */
export const REFUSED_PAUSE_MS = 1000;

/**
 * Delay before starting a replacement after `consecutiveCrashes` crashes in a row (1 for the
 * first): 0, then 100, 200, 400 ms ... up to BACKOFF_MAX_MS.
 */
export function restartDelayMs(consecutiveCrashes: number): number {
  if (consecutiveCrashes <= 1) return 0;
  return Math.min(BACKOFF_BASE_MS * 2 ** (consecutiveCrashes - 2), BACKOFF_MAX_MS);
}

/** What the scaler sees. */
export interface ScaleState {
  /** Requests waiting for an instance. */
  readonly queueDepth: number;
  /** Instances starting or serving (not draining). */
  readonly live: number;
  /** Of those, instances still starting. */
  readonly starting: number;
  readonly minWorkers: number;
  readonly maxWorkers: number;
  readonly queueThreshold: number;
  readonly scaleDownDelayMs: number;
  /** Healthy instances with nothing in flight, and since when they are idle. */
  readonly idle: readonly { readonly id: number; readonly idleSinceMs: number }[];
  readonly nowMs: number;
  /** Whether new instances may be started now (not crash-looping, not stopped, built). */
  readonly canStart: boolean;
}

/** What to do. */
export type ScaleAction = { readonly kind: 'none' } | { readonly kind: 'start'; readonly count: number } | { readonly kind: 'stop'; readonly id: number };

/**
 * Heal to min_workers; scale up by one while the queue is deeper than queue_threshold (and no
 * start is already under way for it); scale down by one idle instance above min_workers after
 * scale_down_delay with an empty queue.
 */
export function decideScale(s: ScaleState): ScaleAction {
  if (s.canStart && s.live < s.minWorkers) return { kind: 'start', count: s.minWorkers - s.live };
  if (s.canStart && s.queueDepth > 0 && s.live === 0) return { kind: 'start', count: 1 };
  if (s.canStart && s.queueDepth > s.queueThreshold && s.live < s.maxWorkers && s.starting === 0) return { kind: 'start', count: 1 };
  if (s.queueDepth === 0 && s.live - s.starting > s.minWorkers) {
    const candidate = [...s.idle].sort((a, b) => a.idleSinceMs - b.idleSinceMs)[0];
    if (candidate !== undefined && s.nowMs - candidate.idleSinceMs >= s.scaleDownDelayMs) return { kind: 'stop', id: candidate.id };
  }
  return { kind: 'none' };
}
