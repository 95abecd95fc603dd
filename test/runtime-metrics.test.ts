/**
 * The runtime families: event-loop lag reads about 0 on an idle loop (the sampler's own interval
 * is not lag) and clearly more when the loop was blocked; tick arithmetic without sleeping.
 */
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { Registry } from '../lib/exposition/index.js';
import { LAG_RESOLUTION_MS, LoopLag, registerRuntimeMetrics } from '../lib/runtime-metrics.js';

/** Every nodejs_eventloop_lag* gauge of one collect, by name. */
function lagGauges(registry: Registry): Record<string, number> {
  const out: Record<string, number> = {};
  for (const family of registry.collect().families) {
    if (family.type !== 'gauge' || !family.name.startsWith('nodejs_eventloop_lag')) continue;
    out[family.name] = family.series[0]?.value ?? NaN;
  }
  return out;
}

describe('LoopLag (ticks given by hand)', () => {
  test('ticks exactly one resolution apart are lag 0, not the resolution', () => {
    const lag = new LoopLag(20);
    for (let t = 0; t <= 200; t += 20) lag.tick(1000 + t);
    const r = lag.take();
    assert.equal(r.count, 10);
    assert.deepEqual([r.min, r.max, r.mean, r.stddev, r.p50, r.p90, r.p99], [0, 0, 0, 0, 0, 0, 0]);
  });

  test('a tick 200 ms late is 0.2 s of lag; a tick early by clock rounding is 0', () => {
    const lag = new LoopLag(20);
    lag.tick(0);
    lag.tick(20);
    lag.tick(39.5);
    lag.tick(259.5);
    const r = lag.take();
    assert.equal(r.count, 3);
    assert.equal(r.min, 0);
    assert.ok(Math.abs(r.max - 0.2) < 0.0005, `max ${r.max}`);
    assert.ok(Math.abs(r.mean - 0.2 / 3) < 0.0005, `mean ${r.mean}`);
  });

  test('take() starts a new window without losing the interval that straddles it', () => {
    const lag = new LoopLag(20);
    lag.tick(0);
    lag.tick(20);
    assert.equal(lag.take().count, 1);
    assert.equal(lag.take().count, 0, 'an empty window reads 0');
    lag.tick(120);
    const r = lag.take();
    assert.equal(r.count, 1);
    assert.ok(Math.abs(r.max - 0.08) < 0.0005, `the 100 ms from the tick before take() counts: ${r.max}`);
  });
});

describe('nodejs_eventloop_lag_* on a real event loop', () => {
  test('an idle loop reads under 10 ms (it read the 20 ms sampler resolution before)', async () => {
    const registry = new Registry();
    const stop = registerRuntimeMetrics(registry);
    try {
      await sleep(200);
      lagGauges(registry);
      await sleep(20 * LAG_RESOLUTION_MS);
      const g = lagGauges(registry);
      for (const name of ['nodejs_eventloop_lag_seconds', 'nodejs_eventloop_lag_mean_seconds', 'nodejs_eventloop_lag_min_seconds', 'nodejs_eventloop_lag_p50_seconds']) {
        assert.ok(g[name]! >= 0 && g[name]! < 0.01, `${name} = ${g[name]}`);
      }
    } finally {
      stop();
    }
  });

  test('a loop blocked for 200 ms reads clearly more, and the next idle window reads about 0 again', async () => {
    const registry = new Registry();
    const stop = registerRuntimeMetrics(registry);
    try {
      await sleep(100);
      lagGauges(registry);
      await sleep(50);
      const until = performance.now() + 200;
      while (performance.now() < until);
      await sleep(3 * LAG_RESOLUTION_MS);
      const blocked = lagGauges(registry);
      assert.ok(blocked['nodejs_eventloop_lag_max_seconds']! > 0.15, `max ${blocked['nodejs_eventloop_lag_max_seconds']}`);
      assert.ok(blocked['nodejs_eventloop_lag_seconds']! > 0.03, `mean over a short window with one 200 ms stall: ${blocked['nodejs_eventloop_lag_seconds']}`);
      await sleep(10 * LAG_RESOLUTION_MS);
      const idle = lagGauges(registry);
      assert.ok(idle['nodejs_eventloop_lag_seconds']! < 0.01, `after the stall: ${idle['nodejs_eventloop_lag_seconds']}`);
      assert.ok(idle['nodejs_eventloop_lag_max_seconds']! < 0.1, `the stall belongs to the previous window: ${idle['nodejs_eventloop_lag_max_seconds']}`);
    } finally {
      stop();
    }
  });

  test('one scrape reads one window: every lag family of a collect agrees', async () => {
    const registry = new Registry();
    const stop = registerRuntimeMetrics(registry);
    try {
      await sleep(50);
      const until = performance.now() + 60;
      while (performance.now() < until);
      await sleep(2 * LAG_RESOLUTION_MS);
      const g = lagGauges(registry);
      assert.equal(g['nodejs_eventloop_lag_seconds'], g['nodejs_eventloop_lag_mean_seconds']);
      assert.ok(g['nodejs_eventloop_lag_max_seconds']! > 0.03, `max ${g['nodejs_eventloop_lag_max_seconds']}`);
      assert.ok(g['nodejs_eventloop_lag_min_seconds']! <= g['nodejs_eventloop_lag_p50_seconds']!);
      assert.ok(g['nodejs_eventloop_lag_p50_seconds']! <= g['nodejs_eventloop_lag_max_seconds']!);
    } finally {
      stop();
    }
  });
});
