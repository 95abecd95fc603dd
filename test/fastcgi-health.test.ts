/**
 * php-fpm's health: its status page read into the tqserver_php_* figures, and the checkup rule
 * that a failed probe of a php-fpm whose children are all busy does not count.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parsePhpFpmStatus } from '../lib/fastcgi/index.js';
import { checkup } from '../lib/supervisor/checkup.js';
import type { Instance } from '../lib/supervisor/instance.js';

/** As php-fpm 8.2 answers `GET /tqserver-fpm-status?json` (captured). */
const STATUS = '{"pool":"x","process manager":"dynamic","start time":1795741228,"start since":21,"accepted conn":16,"listen queue":1,"max listen queue":1,"listen queue len":4096,"idle processes":0,"active processes":3,"total processes":3,"max active processes":4,"max children reached":1,"slow requests":2}';

describe('php-fpm status page', () => {
  test('read into counts; the child answering the status request is not counted as active', () => {
    assert.deepEqual(parsePhpFpmStatus(STATUS), { activeProcesses: 2, idleProcesses: 0, listenQueue: 1, maxChildrenReached: 1, slowRequests: 2, acceptedConnections: 16 });
  });

  test('a page without the counts is refused', () => {
    assert.throws(() => parsePhpFpmStatus('{"pool":"x"}'), /"active processes" is not a count/);
    assert.throws(() => parsePhpFpmStatus(STATUS.replace('"listen queue":1', '"listen queue":-1')), /"listen queue" is not a count/);
    assert.throws(() => parsePhpFpmStatus('pool: x'));
  });
});

describe('checkup of a php-fpm instance', () => {
  /** An instance whose probe fails as a timed-out status request would. */
  function fake(protocol: 'http' | 'fastcgi', inflight: number): Instance {
    let failures = 0;
    return {
      protocol,
      inflight,
      probe: async () => ({ ok: false, durationSeconds: 0.25, error: 'no answer within 250 ms' }),
      recordHealth: (ok: boolean) => (failures = ok ? 0 : failures + 1),
      memoryBytes: () => undefined,
    } as unknown as Instance;
  }

  test('all children busy: the failed probe is not counted (it waited in the backlog like any request)', async () => {
    const { verdict } = await checkup(fake('fastcgi', 5), 250, 0, 5);
    assert.equal(verdict.kind, 'not_counted');
    assert.match((verdict as { why: string }).why, /all of php-fpm's children were busy/);
  });

  test('a child free: the failed probe counts', async () => {
    assert.equal((await checkup(fake('fastcgi', 4), 250, 0, 5)).verdict.kind, 'failing');
  });

  test('an HTTP worker answers its health check whatever its load: the rule is php-fpm only', async () => {
    assert.equal((await checkup(fake('http', 500), 250, 0, 5)).verdict.kind, 'failing');
  });
});
