/**
 * The periodic checkup of one healthy instance: a health probe, and its resident memory against
 * max_memory_mb. It decides; the pool acts.
 */
import { HEALTH_FAILURES_TO_REPLACE } from './decisions.js';
import type { ProbeResult } from './health.js';
import type { Instance } from './instance.js';

/** What a checkup found. */
export type Verdict =
  | { readonly kind: 'ok' }
  /** The probe failed for a reason of tqserver's own: it does not count. */
  | { readonly kind: 'not_counted'; readonly why: string }
  /** Failed, fewer than HEALTH_FAILURES_TO_REPLACE times in a row. */
  | { readonly kind: 'failing'; readonly failures: number; readonly why: string }
  /** Failed HEALTH_FAILURES_TO_REPLACE times in a row: replace it. */
  | { readonly kind: 'unhealthy'; readonly why: string }
  /** Over max_memory_mb: replace it (the replacement first). */
  | { readonly kind: 'memory'; readonly bytes: number };

/** A checkup's probe (for the health metrics) and verdict. */
export interface Checkup {
  readonly probe: ProbeResult;
  readonly verdict: Verdict;
}

/**
 * Probes `instance` and weighs the result; `maxMemoryBytes` 0 means no memory limit.
 * `maxConcurrency` is the requests it may have in flight: a php-fpm serving that many has every
 * child busy, so its status page waits in the backlog like any request, and a probe that fails
 * then says nothing about its health.
 */
export async function checkup(instance: Instance, probeTimeoutMs: number, maxMemoryBytes: number, maxConcurrency = Infinity): Promise<Checkup> {
  const busy = (): boolean => instance.protocol === 'fastcgi' && instance.inflight >= maxConcurrency;
  const busyBefore = busy();
  const result = await instance.probe(probeTimeoutMs);
  if (result.inconclusive === true) return { probe: result, verdict: { kind: 'not_counted', why: result.error ?? 'inconclusive' } };
  if (!result.ok && (busyBefore || busy())) {
    return { probe: result, verdict: { kind: 'not_counted', why: `${result.error ?? 'failed'}, while all of php-fpm's children were busy` } };
  }
  const failures = instance.recordHealth(result.ok);
  if (!result.ok) {
    const why = result.error ?? 'failed';
    return { probe: result, verdict: failures < HEALTH_FAILURES_TO_REPLACE ? { kind: 'failing', failures, why } : { kind: 'unhealthy', why } };
  }
  const bytes = maxMemoryBytes > 0 ? instance.memoryBytes() : undefined;
  if (bytes !== undefined && bytes > maxMemoryBytes) return { probe: result, verdict: { kind: 'memory', bytes } };
  return { probe: result, verdict: { kind: 'ok' } };
}
