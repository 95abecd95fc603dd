/** The metric model: validation at creation, label handles, removal, collect hooks, the registry. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { Counter, Gauge, Histogram, MetricError, Registry, checkSnapshot, labelSet, NO_LABELS, type Snapshot } from '../lib/exposition/index.js';

function code(c: string): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof MetricError, `expected a MetricError, got ${String(err)}`);
    assert.equal(err.code, c, err.message);
    return true;
  };
}

describe('validation at creation', () => {
  test('metric names follow [a-zA-Z_:][a-zA-Z0-9_:]*', () => {
    for (const name of ['my.metric_total', '1abc_total', '', 'a-b_total', 'sp ace_total']) {
      assert.throws(() => new Counter({ name, help: 'h' }), code('ERR_METRIC_NAME'), name);
    }
    assert.throws(() => new Gauge({ name: undefined as unknown as string, help: 'h' }), code('ERR_METRIC_NAME'));
    assert.throws(() => new Gauge(null as never), code('ERR_METRIC_NAME'));
    new Gauge({ name: 'ok:colon_value', help: 'h' });
  });

  test('counters end in _total; other types may not end in a suffix that names another type', () => {
    assert.throws(() => new Counter({ name: 'jobs', help: 'h' }), (err: MetricError) => err.code === 'ERR_METRIC_NAME' && /jobs_total/.test(err.message));
    assert.throws(() => new Counter({ name: '_total', help: 'h' }), code('ERR_METRIC_NAME'));
    for (const name of ['x_total', 'x_count', 'x_sum', 'x_bucket', 'x_created']) {
      assert.throws(() => new Gauge({ name, help: 'h' }), code('ERR_METRIC_NAME'), name);
      assert.throws(() => new Histogram({ name, help: 'h' }), code('ERR_METRIC_NAME'), name);
    }
  });

  test('help is a non-empty string', () => {
    assert.throws(() => new Gauge({ name: 'g', help: '' }), code('ERR_METRIC_HELP'));
    assert.throws(() => new Gauge({ name: 'g', help: 3 as unknown as string }), code('ERR_METRIC_HELP'));
  });

  test('label names: valid, no __ prefix, no le or quantile, no duplicates', () => {
    const bad: unknown[][] = [['a-b'], ['1a'], [''], ['__name__'], ['__x'], ['le'], ['quantile'], ['a', 'a'], [7]];
    for (const labelNames of bad) {
      assert.throws(() => new Gauge({ name: 'g', help: 'h', labelNames: labelNames as string[] }), code('ERR_METRIC_LABELS'), JSON.stringify(labelNames));
    }
    assert.throws(() => new Histogram({ name: 'h', help: 'h', labelNames: ['le'] }), /reserved/);
    assert.throws(() => new Gauge({ name: 'g', help: 'h', labelNames: 'a' as unknown as string[] }), code('ERR_METRIC_LABELS'));
    new Gauge({ name: 'g', help: 'h', labelNames: ['_a', 'b_2'] });
  });

  test('buckets: finite, >= 0, strictly ascending; a trailing +Inf is accepted', () => {
    for (const buckets of [[1, 0.5], [1, 1], [NaN], [-1, 0], [0, Infinity, 5], ['1'], 'x']) {
      assert.throws(() => new Histogram({ name: 'h', help: 'h', buckets: buckets as number[] }), code('ERR_METRIC_BUCKETS'), JSON.stringify(buckets));
    }
    assert.deepEqual(new Histogram({ name: 'h', help: 'h', buckets: [1, 2, Infinity] }).bounds, [1, 2]);
    assert.deepEqual(new Histogram({ name: 'h', help: 'h' }).bounds, [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);
  });

  test('a bad collect hook is refused', () => {
    assert.throws(() => new Gauge({ name: 'g', help: 'h', collect: 5 as never }), code('ERR_METRIC_NAME'));
  });
});

describe('values', () => {
  test('counter increments are finite and >= 0', () => {
    const c = new Counter({ name: 'c_total', help: 'h' });
    for (const n of [-1, NaN, Infinity, -Infinity]) assert.throws(() => c.inc(n), code('ERR_METRIC_VALUE'), String(n));
    c.inc();
    c.inc(2.5);
    assert.equal(c.labels().value, 3.5);
  });

  test('gauge inc/dec need finite numbers; set takes any number', () => {
    const g = new Gauge({ name: 'g', help: 'h' });
    for (const n of [NaN, Infinity]) {
      assert.throws(() => g.inc(n), code('ERR_METRIC_VALUE'));
      assert.throws(() => g.dec(n), code('ERR_METRIC_VALUE'));
    }
    assert.throws(() => g.set('1' as unknown as number), code('ERR_METRIC_VALUE'));
    g.set(NaN);
    assert.ok(Number.isNaN(g.labels().value));
    g.set(-Infinity);
    g.set(4);
    g.inc();
    g.dec(0.5);
    assert.equal(g.labels().value, 4.5);
  });

  test('histogram observations are finite and >= 0, and land in the first bucket >= them', () => {
    const h = new Histogram({ name: 'h', help: 'h', buckets: [1, 2] });
    for (const v of [-0.1, NaN, Infinity]) assert.throws(() => h.observe(v), code('ERR_METRIC_VALUE'), String(v));
    [0, 1, 1.5, 2, 99].forEach((v) => h.observe(v));
    const family = h.collect();
    assert.equal(family.type, 'histogram');
    if (family.type !== 'histogram') return;
    assert.deepEqual(family.series[0]?.buckets, [2, 4]);
    assert.equal(family.series[0]?.count, 5);
    assert.equal(family.series[0]?.sum, 103.5);
  });
});

describe('labels', () => {
  test('a wrong count names the metric, the expected names and the values received', () => {
    const c = new Counter({ name: 'req_total', help: 'h', labelNames: ['method', 'path'] });
    assert.throws(
      () => (c.labels as (...v: string[]) => unknown)('GET'),
      (err: MetricError) => err.code === 'ERR_METRIC_LABELS' && /req_total/.test(err.message) && /method, path/.test(err.message) && /"GET"/.test(err.message),
    );
    assert.throws(() => c.inc(), code('ERR_METRIC_LABELS'));
  });

  test('label values must be strings, even on a lookup that would otherwise miss', () => {
    const c = new Counter({ name: 'req_total', help: 'h', labelNames: ['status'] });
    assert.throws(() => c.labels(200 as unknown as string), code('ERR_METRIC_LABELS'));
    assert.equal(c.seriesCount, 0);
  });

  test('the same values give the same child; a child keeps working', () => {
    const c = new Counter({ name: 'req_total', help: 'h', labelNames: ['a', 'b', 'c'] as const });
    const child = c.labels('x', 'y', 'z');
    assert.equal(c.labels('x', 'y', 'z'), child);
    child.inc();
    child.inc();
    assert.equal(c.labels('x', 'y', 'z').value, 2);
  });

  test('no collision between label sets a joined key would merge', () => {
    const c = new Counter({ name: 'c_total', help: 'h', labelNames: ['a', 'b'] });
    c.labels('x|', '').inc(1);
    c.labels('x', '|').inc(2);
    c.labels('x,b=', '').inc(3);
    c.labels('x', 'b=').inc(4);
    c.labels('x\u0000', '').inc(5);
    c.labels('x', '\u0000').inc(6);
    assert.equal(c.seriesCount, 6);
    assert.deepEqual([1, 2, 3, 4, 5, 6], [c.labels('x|', ''), c.labels('x', '|'), c.labels('x,b=', ''), c.labels('x', 'b='), c.labels('x\u0000', ''), c.labels('x', '\u0000')].map((ch) => ch.value));
  });

  test('shared prefixes split and re-join without losing or confusing series', () => {
    const g = new Gauge({ name: 'g', help: 'h', labelNames: ['a', 'b', 'c'] });
    const keys: [string, string, string][] = [];
    for (const a of ['p', 'q']) for (const b of ['1', '2', '3']) for (const c of ['x', 'y']) keys.push([a, b, c]);
    keys.forEach((k, i) => g.labels(...k).set(i));
    keys.forEach((k, i) => assert.equal(g.labels(...k).value, i));
    // Remove all but one below each prefix, so that maps collapse back into single entries.
    keys.forEach((k, i) => {
      if (i % 4 !== 0) assert.equal(g.remove(...k), true);
    });
    assert.equal(g.remove('p', '1', 'y'), false);
    assert.equal(g.remove('zz', '1', 'x'), false);
    assert.equal(g.remove('p', '1', 'nope'), false);
    assert.equal(g.seriesCount, 3);
    keys.forEach((k, i) => {
      if (i % 4 === 0) assert.equal(g.labels(...k).value, i, k.join());
    });
    assert.equal(g.seriesCount, 3, 'lookups of remaining series created nothing');
    assert.equal(g.labels('p', '1', 'y').value, 0, 'a removed series comes back at zero');
    g.clear();
    assert.equal(g.seriesCount, 0);
    assert.equal(g.labels('p', '1', 'x').value, 0);
  });

  test('a removed handle is detached', () => {
    const c = new Counter({ name: 'c_total', help: 'h', labelNames: ['a'] });
    const old = c.labels('x');
    old.inc(5);
    c.remove('x');
    old.inc();
    assert.equal(c.labels('x').value, 0);
    assert.throws(() => (c.remove as (...v: string[]) => boolean)(), code('ERR_METRIC_LABELS'));
  });

  test('series are exported sorted by label values, and stay sorted as series are added', () => {
    const r = new Registry();
    const g = r.gauge({ name: 'g', help: 'h', labelNames: ['a', 'b'] });
    g.labels('b', '1').set(1);
    g.labels('a', '2').set(2);
    const first = r.collect().families[0]?.series.map((s) => s.labels.values.join('/'));
    assert.deepEqual(first, ['a/2', 'b/1']);
    g.labels('a', '1').set(3);
    const second = r.collect().families[0]?.series.map((s) => s.labels.values.join('/'));
    assert.deepEqual(second, ['a/1', 'a/2', 'b/1']);
  });
});

describe('registry', () => {
  test('duplicate names and clashing written names are refused, naming both metrics', () => {
    const r = new Registry();
    r.counter({ name: 'foo_total', help: 'h' });
    assert.throws(() => r.counter({ name: 'foo_total', help: 'h' }), (e: MetricError) => e.code === 'ERR_METRIC_DUPLICATE' && /already registered/.test(e.message));
    // OpenMetrics calls counter foo_total's family "foo".
    assert.throws(() => r.gauge({ name: 'foo', help: 'h' }), (e: MetricError) => e.code === 'ERR_METRIC_DUPLICATE' && /foo_total/.test(e.message));
    r.histogram({ name: 'lat', help: 'h' });
    assert.throws(() => r.gauge({ name: 'lat', help: 'h' }), code('ERR_METRIC_DUPLICATE'));
    // OpenMetrics calls counter lat_count_total's family "lat_count", which histogram lat writes.
    assert.throws(() => r.counter({ name: 'lat_count_total', help: 'h' }), (e: MetricError) => e.code === 'ERR_METRIC_DUPLICATE' && /lat_count/.test(e.message));
    assert.throws(() => r.counter({ name: 'lat_total', help: 'h' }), code('ERR_METRIC_DUPLICATE'));
  });

  test('a refused metric leaves the registry unchanged', () => {
    const r = new Registry();
    r.histogram({ name: 'x', help: 'h' });
    assert.throws(() => r.register(new Histogram({ name: 'x', help: 'h' })), code('ERR_METRIC_DUPLICATE'));
    r.counter({ name: 'y_total', help: 'h' });
    assert.deepEqual(r.collect().families.map((f) => f.name), ['x', 'y_total']);
  });

  test('families are collected sorted by name whatever the order of registration and removal', () => {
    const r = new Registry();
    for (const name of ['m', 'a_b', 'z', 'a', 'B', 'a_a', 'mm', '_x', 'ab']) r.gauge({ name, help: 'h' });
    r.unregister('mm');
    r.gauge({ name: 'm_', help: 'h' });
    assert.deepEqual(r.collect().families.map((f) => f.name), ['B', '_x', 'a', 'a_a', 'a_b', 'ab', 'm', 'm_', 'z']);
  });

  test('unregister frees the names; get finds a metric', () => {
    const r = new Registry();
    const g = r.gauge({ name: 'g', help: 'h' });
    assert.equal(r.get('g'), g);
    assert.equal(r.unregister('g'), true);
    assert.equal(r.unregister('g'), false);
    assert.equal(r.get('g'), undefined);
    r.gauge({ name: 'g', help: 'h' });
    assert.equal(r.collect().families.length, 1);
  });

  test('a collect hook that throws fails the collection with its error', () => {
    const r = new Registry();
    r.gauge({ name: 'g', help: 'h', collect: () => { throw new Error('boom'); } });
    assert.throws(() => r.collect(), /boom/);
  });

  test('hooks run on every collect, so state gauges are current', () => {
    const r = new Registry();
    let now = 1;
    r.gauge({ name: 'now_value', help: 'h', collect: (g) => g.set(now) });
    const read = (): number | undefined => {
      const f = r.collect().families[0];
      return f?.type === 'gauge' ? f.series[0]?.value : undefined;
    };
    assert.equal(read(), 1);
    now = 2;
    assert.equal(read(), 2);
  });

  test('a snapshot does not change when the metric does afterwards', () => {
    const r = new Registry();
    const c = r.counter({ name: 'c_total', help: 'h' });
    c.inc();
    const snap = r.collect();
    c.inc();
    const f = snap.families[0];
    assert.equal(f?.type === 'counter' ? f.series[0]?.value : undefined, 1);
  });
});

describe('checkSnapshot', () => {
  const fam = (extra: object): Snapshot => ({ families: [{ type: 'gauge', name: 'x', help: 'h', series: [], ...extra } as never] });

  test('accepts what a registry collects', () => {
    const r = new Registry();
    r.counter({ name: 'a_total', help: 'h', labelNames: ['k'] }).labels('v').inc();
    r.histogram({ name: 'b_seconds', help: 'h', labelNames: ['k'] }).labels('v').observe(1);
    r.gauge({ name: 'c', help: 'h' });
    checkSnapshot(r.collect());
  });

  test('refuses duplicate series, counting an empty value as absent', () => {
    const a = labelSet(['a'], ['x']);
    assert.throws(() => checkSnapshot(fam({ series: [{ labels: a, value: 1 }, { labels: labelSet(['a'], ['x']), value: 2 }] })), code('ERR_METRIC_SNAPSHOT'));
    assert.throws(() => checkSnapshot(fam({ series: [{ labels: labelSet(['a', 'b'], ['', 'y']), value: 1 }, { labels: labelSet(['a', 'b'], ['', 'y']), value: 1 }] })), code('ERR_METRIC_SNAPSHOT'));
  });

  test('refuses mixed label names, wrong text, bad names and help, clashes', () => {
    assert.throws(() => checkSnapshot(fam({ series: [{ labels: labelSet(['a'], ['x']), value: 1 }, { labels: labelSet(['b'], ['x']), value: 1 }] })), code('ERR_METRIC_SNAPSHOT'));
    assert.throws(() => checkSnapshot(fam({ series: [{ labels: { names: ['a'], values: ['x'], text: 'a="y"' }, value: 1 }] })), code('ERR_METRIC_SNAPSHOT'));
    assert.throws(() => checkSnapshot(fam({ name: 'bad.name' })), code('ERR_METRIC_NAME'));
    assert.throws(() => checkSnapshot(fam({ help: '' })), code('ERR_METRIC_HELP'));
    assert.throws(() => checkSnapshot(fam({ series: [{ labels: { names: ['__x'], values: ['1'], text: '__x="1"' }, value: 1 }] })), code('ERR_METRIC_LABELS'));
    assert.throws(() => checkSnapshot({ families: [{ type: 'counter', name: 'c', help: 'h', series: [] }] }), code('ERR_METRIC_SNAPSHOT'));
    assert.throws(() => checkSnapshot({ families: [{ type: 'counter', name: 'c_total', help: 'h', series: [{ labels: NO_LABELS, value: -1 }] }] }), code('ERR_METRIC_SNAPSHOT'));
    assert.throws(
      () => checkSnapshot({ families: [{ type: 'histogram', name: 'x', help: 'h', bounds: [], series: [] }, { type: 'gauge', name: 'x_count', help: 'h', series: [] }] }),
      code('ERR_METRIC_SNAPSHOT'),
    );
  });

  test('refuses inconsistent histograms', () => {
    const h = (series: object, bounds = [1, 2]): Snapshot => ({ families: [{ type: 'histogram', name: 'h', help: 'h', bounds, series: [{ labels: NO_LABELS, sum: 1, count: 3, buckets: [1, 2], ...series }] }] });
    checkSnapshot(h({}));
    assert.throws(() => checkSnapshot(h({ buckets: [1] })), code('ERR_METRIC_SNAPSHOT'));
    assert.throws(() => checkSnapshot(h({ buckets: [2, 1] })), code('ERR_METRIC_SNAPSHOT'));
    assert.throws(() => checkSnapshot(h({ count: 1 })), code('ERR_METRIC_SNAPSHOT'));
    assert.throws(() => checkSnapshot(h({ sum: NaN })), code('ERR_METRIC_SNAPSHOT'));
    assert.throws(() => checkSnapshot(h({}, [2, 1])), code('ERR_METRIC_SNAPSHOT'));
  });

  test('labelSet copies values and checks counts and types', () => {
    const values = ['x'];
    const set = labelSet(['a'], values);
    values[0] = 'changed';
    assert.deepEqual(set.values, ['x']);
    assert.equal(labelSet([], []), NO_LABELS);
    assert.throws(() => labelSet(['a'], []), code('ERR_METRIC_LABELS'));
    assert.throws(() => labelSet(['a'], [1 as unknown as string]), code('ERR_METRIC_LABELS'));
  });
});
