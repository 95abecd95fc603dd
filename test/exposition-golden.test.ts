/**
 * Golden files: each case builds a registry (or a snapshot by hand) and must render exactly the
 * files in fixtures/exposition/, which were written by hand from the format rules
 * (../shared/reference/exposition-formats.md) and whose text-format half promtool must accept
 * without a single remark.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { NO_LABELS, Registry, renderOpenMetrics, renderText, type Snapshot } from '../lib/exposition/index.js';
import { assertPromtoolClean, promtoolOrSkip } from './helpers/promtool.js';

const dir = new URL('../fixtures/exposition/', import.meta.url);

const cases: Record<string, () => Snapshot> = {
  '01-counter-basic': () => {
    const r = new Registry();
    r.counter({ name: 'http_requests_total', help: 'Total requests.' }).inc(5);
    return r.collect();
  },
  '02-label-escaping': () => {
    const r = new Registry();
    const g = r.gauge({ name: 'escape_demo', help: 'Escaping.', labelNames: ['v'] });
    ['C:\\dir', 'say "hi"', 'a\nb', 'a\\nb', '\t\r', '\\t'].forEach((v, i) => g.labels(v).set(i + 1));
    return r.collect();
  },
  '03-help-escaping': () => {
    const r = new Registry();
    r.gauge({ name: 'help_demo', help: 'Path "C:\\x"\nnext' }).set(1);
    return r.collect();
  },
  '04-special-values': () => {
    const r = new Registry();
    const g = r.gauge({ name: 'special_values', help: 'Special values.', labelNames: ['case'] });
    g.labels('pos_inf').set(Infinity);
    g.labels('neg_inf').set(-Infinity);
    g.labels('nan').set(NaN);
    g.labels('neg_zero').set(-0);
    return r.collect();
  },
  '05-float-digits': () => {
    const r = new Registry();
    const g = r.gauge({ name: 'float_digits', help: 'Float digits.', labelNames: ['case'] });
    const values: Record<string, number> = {
      point_three: 0.1 + 0.2, million: 1e6, tiny: 1e-7, huge: 1e21, big_int: 2 ** 53 + 2, negative: -2.5, small: 0.0001, exp_small: 1.5e-10,
    };
    for (const [k, v] of Object.entries(values)) g.labels(k).set(v);
    return r.collect();
  },
  '06-le-text': () => {
    const r = new Registry();
    r.histogram({ name: 'le_text_seconds', help: 'Bounds in text.', buckets: [1e-5, 1, 2.5, 1e6] });
    return r.collect();
  },
  '07-le-openmetrics': () => {
    const r = new Registry();
    r.histogram({ name: 'le_om_seconds', help: 'Canonical bounds.', buckets: [0, 1e-5, 1, 10, 1e5, 1e6, Infinity] });
    return r.collect();
  },
  '08-histogram-basic': () => {
    const r = new Registry();
    const h = r.histogram({ name: 'lat_seconds', help: 'Latency.', buckets: [0.1, 1] });
    [0.05, 0.5, 3].forEach((v) => h.observe(v));
    return r.collect();
  },
  '09-histogram-labeled': () => {
    const r = new Registry();
    const h = r.histogram({ name: 'req_seconds', help: 'Request time.', labelNames: ['method'], buckets: [0.1, 1] });
    h.labels('POST').observe(0.1);
    [0.05, 0.5, 3].forEach((v) => h.labels('GET').observe(v));
    return r.collect();
  },
  '10-empty-family': () => {
    const r = new Registry();
    r.counter({ name: 'absent_total', help: 'No series yet.', labelNames: ['code'] });
    r.gauge({ name: 'present_value', help: 'Present.' });
    return r.collect();
  },
  '11-empty-registry': () => new Registry().collect(),
  '12-family-order': () => {
    const r = new Registry();
    r.gauge({ name: 'zeta_value', help: 'Z.' }).set(1);
    r.gauge({ name: 'Mid_value', help: 'M.' }).set(2);
    r.gauge({ name: 'alpha_value', help: 'A.' }).set(3);
    return r.collect();
  },
  '13-label-name-order': () => {
    const r = new Registry();
    r.gauge({ name: 'placed_value', help: 'Placed.', labelNames: ['zone', 'app'] }).labels('eu', 'web').set(1);
    return r.collect();
  },
  '14-multibyte': () => {
    const r = new Registry();
    const g = r.gauge({ name: 'text_value', help: 'Grüße 😀.', labelNames: ['v'] });
    g.labels('😀 ü').set(1);
    g.labels('x\uD800y').set(2);
    return r.collect();
  },
  '15-unlabeled-histogram': () => {
    const r = new Registry();
    r.histogram({ name: 'idle_seconds', help: 'Idle.', buckets: [1] });
    return r.collect();
  },
  '16-no-collision': () => {
    const r = new Registry();
    const c = r.counter({ name: 'pairs_total', help: 'Pairs.', labelNames: ['a', 'b'] });
    c.labels('x|', '').inc();
    c.labels('x', '|').inc();
    return r.collect();
  },
  '17-untyped': () => ({
    families: [{ type: 'untyped', name: 'temp_celsius', help: 'Temperature.', series: [{ labels: NO_LABELS, value: 21.5 }] }],
  }),
  '18-counter-float': () => {
    const r = new Registry();
    const c = r.counter({ name: 'work_seconds_total', help: 'Work done.' });
    c.inc(0.1);
    c.inc(0.1);
    c.inc(0.1);
    return r.collect();
  },
  '19-remove-series': () => {
    const r = new Registry();
    const g = r.gauge({ name: 'kept_value', help: 'Kept.', labelNames: ['k'] });
    g.labels('a').set(1);
    g.labels('b').set(2);
    g.labels('c').set(3);
    assert.equal(g.remove('b'), true);
    assert.equal(g.remove('zz'), false);
    const c = r.counter({ name: 'reset_things_total', help: 'Reset.' });
    c.inc(9);
    c.remove();
    return r.collect();
  },
  '20-only-inf-bucket': () => {
    const r = new Registry();
    r.histogram({ name: 'single_bucket_seconds', help: 'Single bucket.', buckets: [] }).observe(2);
    return r.collect();
  },
  '21-empty-label-value': () => {
    const r = new Registry();
    r.gauge({ name: 'blank_value', help: 'Blank.', labelNames: ['a', 'b'] }).labels('', 'x').set(1);
    return r.collect();
  },
  '22-series-order': () => {
    const r = new Registry();
    const c = r.counter({ name: 'codes_total', help: 'Codes.', labelNames: ['code'] });
    c.labels('200').inc(1);
    c.labels('404').inc(2);
    c.labels('20').inc(3);
    c.labels('1000').inc(4);
    return r.collect();
  },
  '23-histogram-boundaries': () => {
    const r = new Registry();
    const h = r.histogram({ name: 'edge_seconds', help: 'Edges.', buckets: [0.5, 1, 2] });
    [0.5, 1, 2, 2.0000001, 0].forEach((v) => h.observe(v));
    return r.collect();
  },
  '24-gauge-dec': () => {
    const r = new Registry();
    const g = r.gauge({ name: 'balance_value', help: 'Balance.' });
    g.inc(5);
    g.dec(7.5);
    return r.collect();
  },
  '25-mixed': () => {
    const r = new Registry();
    const h = r.histogram({ name: 'app_wait_seconds', help: 'Waits.', buckets: [0.5] });
    h.observe(0.25);
    h.observe(1);
    r.gauge({ name: 'app_inflight_value', help: 'In flight.' }).set(7);
    r.counter({ name: 'app_errors_total', help: 'Errors.', labelNames: ['kind'] }).labels('io').inc(2);
    return r.collect();
  },
  '26-collect-hook': () => {
    const r = new Registry();
    let calls = 0;
    r.gauge({
      name: 'scraped_value',
      help: 'Set when scraped.',
      labelNames: ['source'],
      collect: (g) => {
        calls++;
        g.labels('hook').set(42);
      },
    });
    const snapshot = r.collect();
    assert.equal(calls, 1);
    return snapshot;
  },
  '27-counter-help': () => {
    const r = new Registry();
    r.counter({ name: 'quoted_total', help: 'The "quoted" one \\ done.' }).inc();
    return r.collect();
  },
};

const files = readdirSync(dir).sort();

test('every golden file has a case and every case has both goldens', () => {
  const stems = new Set(files.map((f) => f.replace(/\.(prom|om)$/, '')));
  assert.deepEqual([...stems].sort(), Object.keys(cases).sort());
  for (const stem of stems) {
    assert.ok(files.includes(`${stem}.prom`), `${stem}.prom missing`);
    assert.ok(files.includes(`${stem}.om`), `${stem}.om missing`);
  }
  assert.ok(stems.size >= 25, 'at least 25 golden cases');
});

for (const [stem, build] of Object.entries(cases)) {
  test(`golden ${stem}: text 0.0.4`, () => {
    assert.equal(renderText(build()), readFileSync(new URL(`${stem}.prom`, dir), 'utf8'));
  });
  test(`golden ${stem}: OpenMetrics 1.0`, () => {
    assert.equal(renderOpenMetrics(build()), readFileSync(new URL(`${stem}.om`, dir), 'utf8'));
  });
}

test('promtool check metrics reports nothing on any text-format golden', async (t) => {
  if (!promtoolOrSkip(t)) return;
  const goldens = files.filter((f) => f.endsWith('.prom'));
  await Promise.all(goldens.map((f) => assertPromtoolClean(readFileSync(new URL(f, dir), 'utf8'), f)));
});

test('promtool really rejects broken text, so the clean results above mean something', async (t) => {
  if (!promtoolOrSkip(t)) return;
  const { checkMetrics } = await import('./helpers/promtool.js');
  const broken = await checkMetrics('# HELP x_total h\n# TYPE x_total counter\nx_total{v="a\\tb"} 1\n');
  assert.notEqual(broken.code, 0, 'an unknown escape must fail');
  const lint = await checkMetrics('# HELP x h\n# TYPE x counter\nx 1\n');
  assert.match(lint.stderr, /counter metrics should have "_total" suffix/);
});
