/**
 * Rolling restarts: new instances first, healthy before the old ones leave, so no request is
 * refused on the way; if none of the new ones becomes healthy, the old ones keep serving.
 */
import type { Logger } from '../log.js';
import type { ExitReason } from '../observer.js';
import type { Instance } from './instance.js';

/** What a rolling restart needs from its pool. */
export interface RolloutHost {
  readonly name: string;
  readonly log: Logger;
  /** Instances starting or serving now. */
  live(): Instance[];
  /** The least number of instances to run (min_workers). */
  minimum(): number;
  /** Pause between starting two instances (startup_delay_ms). */
  startupDelayMs(): number;
  /** Pause between the new instances being healthy and the old ones draining (restart_delay_ms). */
  restartDelayMs(): number;
  /** Starts one instance; resolves with it once healthy, or undefined. */
  spawn(): Promise<Instance | undefined>;
  /** Retires `instance` for `reason`, draining it; its replacement is already there. */
  retire(instance: Instance, reason: ExitReason): void;
}

/**
 * Starts as many new instances as are serving now (at least min_workers), waits until they are
 * healthy, then retires the old ones. Resolves whether new instances serve.
 */
export async function rollOut(host: RolloutHost, reason: ExitReason): Promise<boolean> {
  const old = host.live();
  const count = Math.max(old.filter((i) => i.state === 'healthy').length, host.minimum(), old.length > 0 ? 1 : 0);
  const fresh: Promise<Instance | undefined>[] = [];
  for (let i = 0; i < count; i++) {
    if (i > 0) await sleep(host.startupDelayMs());
    fresh.push(host.spawn());
  }
  const started = (await Promise.all(fresh)).filter((i): i is Instance => i !== undefined);
  if (count > 0 && started.length === 0) {
    const serving = old.filter((i) => i.state === 'healthy').length;
    host.log.error(`worker ${host.name}: restart (${reason}) failed, no new instance became healthy; ${serving > 0 ? `the ${serving} old instance(s) keep serving` : 'the worker has no healthy instance'}`);
    return false;
  }
  await sleep(host.restartDelayMs());
  for (const instance of old) host.retire(instance, reason);
  host.log.info(`worker ${host.name}: restarted (${reason}), ${started.length} new instance(s) serving`);
  return true;
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
