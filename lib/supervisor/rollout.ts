/**
 * Rolling restarts: new instances first, healthy before the old ones leave, so no request is
 * refused on the way; if none of the new ones becomes healthy, the old ones keep serving. The new
 * instances start together, and each that answers its health check takes an old one's place at
 * once (after restart_delay_ms, 0 by default): the dev loop waits for nothing else.
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
  /** Pause between a new instance answering its health check and the old one it replaces leaving (restart_delay_ms). */
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
  const leaving = [...old];
  // Each new instance that answers its health check takes one old instance's place at once.
  const fresh = Array.from({ length: count }, () =>
    host.spawn().then((instance) => {
      const replaced = instance === undefined ? undefined : leaving.shift();
      if (replaced === undefined) return instance;
      const delay = host.restartDelayMs();
      if (delay > 0) return sleep(delay).then(() => (host.retire(replaced, reason), instance));
      host.retire(replaced, reason);
      return instance;
    }),
  );
  const started = (await Promise.all(fresh)).filter((i): i is Instance => i !== undefined);
  if (count > 0 && started.length === 0) {
    const serving = old.filter((i) => i.state === 'healthy').length;
    host.log.error(`worker ${host.name}: restart (${reason}) failed, no new instance became healthy; ${serving > 0 ? `the ${serving} old instance(s) keep serving` : 'the worker has no healthy instance'}`);
    return false;
  }
  for (const instance of leaving) host.retire(instance, reason);
  host.log.info(`worker ${host.name}: restarted (${reason}), ${started.length} new instance(s) serving`);
  return true;
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
