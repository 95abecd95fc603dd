/**
 * Health probes of php-fpm instances, over FastCGI (php-fpm speaks no HTTP): its ping page for
 * readiness, its status page for periodic checks, which also brings the pool's state for the
 * tqserver_php_* metrics. Failures are weighed as the HTTP probe weighs them (health.ts).
 */
import { OWN_LIMIT_CODES } from '../errors.js';
import { pageParams, parsePhpFpmStatus, PHP_FPM_PING_PATH, PHP_FPM_PING_RESPONSE, PHP_FPM_STATUS_PATH, type PhpFpmStatus } from '../fastcgi/php-fpm-status.js';
import type { FastCgiRequestError, FastCgiResponse } from '../fastcgi/request.js';
import { STALL_ALLOWANCE_MS, type ProbeResult } from './health.js';

/** A status probe's result, with the pool's state when it succeeded. */
export interface StatusProbe {
  readonly probe: ProbeResult;
  readonly status?: PhpFpmStatus;
}

/**
 * The FastCGI client, loaded by the first probe of a php instance: a server without php workers
 * never loads it (docs/performance.md, "Idle memory").
 */
let client: Promise<typeof import('../fastcgi/request.js')> | undefined;

async function ask(port: number, path: string, query: string, timeoutMs: number, accept: (answer: FastCgiResponse) => string | undefined): Promise<ProbeResult> {
  const { fastcgiRequest } = await (client ??= import('../fastcgi/request.js'));
  const started = process.hrtime.bigint();
  const elapsed = (): number => Number(process.hrtime.bigint() - started) / 1e9;
  try {
    const answer = await fastcgiRequest(port, pageParams(path, query), timeoutMs);
    const problem = answer.status === 200 ? accept(answer) : `status ${answer.status}`;
    return problem === undefined ? { ok: true, durationSeconds: elapsed() } : { ok: false, durationSeconds: elapsed(), error: problem };
  } catch (err) {
    const e = err as FastCgiRequestError;
    if (e.timedOut) {
      const late = elapsed() * 1000 - timeoutMs;
      const stalled = late > STALL_ALLOWANCE_MS;
      return { ok: false, durationSeconds: elapsed(), error: `no answer within ${timeoutMs} ms${stalled ? ` (tqserver's event loop was ${Math.round(late)} ms late)` : ''}`, inconclusive: stalled };
    }
    const own = e.code !== undefined && OWN_LIMIT_CODES.has(e.code);
    return { ok: false, durationSeconds: elapsed(), error: own ? `tqserver is out of file descriptors (${e.code})` : e.message, inconclusive: own };
  }
}

/** One readiness probe: php-fpm's ping page must answer 200 `pong`. Never rejects. */
export function fastcgiPing(port: number, timeoutMs: number): Promise<ProbeResult> {
  return ask(port, PHP_FPM_PING_PATH, '', timeoutMs, (a) => (a.body.toString('utf8').trim() === PHP_FPM_PING_RESPONSE ? undefined : 'the ping page did not answer pong'));
}

/** One periodic probe: php-fpm's status page, as JSON. Never rejects. */
export async function fastcgiStatus(port: number, timeoutMs: number): Promise<StatusProbe> {
  let status: PhpFpmStatus | undefined;
  const probe = await ask(port, PHP_FPM_STATUS_PATH, 'json', timeoutMs, (a) => {
    try {
      status = parsePhpFpmStatus(a.body.toString('utf8'));
      return undefined;
    } catch (err) {
      return `unreadable status page: ${(err as Error).message}`;
    }
  });
  return status === undefined ? { probe } : { probe, status };
}
