/**
 * The monitoring worker's history and its PromQL: ring buffers in fixed memory, gaps, expiry,
 * the one-minute tier; rate() with counter resets and Prometheus' extrapolation; and
 * histogram_quantile(), each against examples worked out by hand from the rules in
 * shared/reference/fastcgi-and-promql.md (the arithmetic is in the comments).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';

type Label = [string, string];
interface Family { name: string; type: string; samples: { name: string; labels: Label[]; value: number }[] }
interface Window { count: number; firstT: number; firstV: number; lastT: number; lastV: number; resets: number }
type Points = readonly (readonly [number, number])[];
interface Tier { slots: number; count: number; head: number; times: Float64Array; timeAt(i: number): number; firstAfter(t: number): number; lastTime(): number; push(t: number): number }
interface Series { key: string; name: string; labels: Label[]; counter: boolean; values: Float64Array; le: number; label(n: string): string }
interface NodeHistory {
  name: string;
  fine: Tier;
  coarse: Tier;
  seriesCount: number;
  ingest(t: number, families: readonly Family[]): number;
  fail(t: number): number;
  byName(name: string): Iterable<Series>;
  allSeries(): Iterable<Series>;
  offset(tier: 'fine' | 'coarse'): number;
}
interface Store {
  rowLength: number;
  generation: number;
  node(name: string): NodeHistory;
  stats(): { series: number; refusedSamples: number; bytesPerSeries: number; ringBytes: number };
}
interface Grid { tier: 'fine' | 'coarse'; start: number; stepMs: number; points: number; windowMs: number; lookbackMs: number }

const promql = (await import(new URL('../workers/monitoring/src/promql.mjs', import.meta.url).href)) as {
  rate(points: Points, t: number, rangeMs: number): number;
  increase(points: Points, t: number, rangeMs: number): number;
  windowOf(points: Points, from: number, to: number): Window;
  extrapolatedRate(w: Window, from: number, to: number, isRate: boolean): number;
  bucketQuantile(q: number, buckets: readonly { le: number; count: number }[]): number;
};
const storeModule = (await import(new URL('../workers/monitoring/src/store.mjs', import.meta.url).href)) as {
  Store: new (o: { fineSlots: number; coarseSlots: number; staleAfterMs: number; maxSeries: number }) => Store;
};
const tierModule = (await import(new URL('../workers/monitoring/src/tier.mjs', import.meta.url).href)) as { Tier: new (slots: number) => Tier };
const query = (await import(new URL('../workers/monitoring/src/query.mjs', import.meta.url).href)) as {
  seriesRate(node: NodeHistory, s: Series, grid: Grid): Float64Array;
  seriesInstant(node: NodeHistory, s: Series, grid: Grid): Float64Array;
  sumRateBy(nodes: NodeHistory[], name: string, grid: Grid, groupOf: (s: Series) => string | undefined): Map<string, Float64Array>;
  quantilesBy(nodes: NodeHistory[], name: string, grid: Grid, qs: number[], groupOf: (s: Series) => string | undefined): Map<string, Float64Array[]>;
  countedIncrease(node: NodeHistory, s: Series, tier: 'fine' | 'coarse', from: number, to: number): number;
};
const { parseExposition } = (await import(new URL('../workers/monitoring/src/parse.mjs', import.meta.url).href)) as { parseExposition(b: string, f: 'text'): { families: Family[] } };
const { buildDashboard } = (await import(new URL('../workers/monitoring/src/dashboard.mjs', import.meta.url).href)) as {
  buildDashboard(i: { nodes: NodeHistory[]; multiNode: boolean; range: string; now: number; intervalMs: number }): {
    sections: { id: string; tiles: { id: string; value: number | null }[]; charts: { id: string; lines: { label: string; values: (number | null)[] }[] }[]; tables: { rows: Record<string, unknown>[] }[] }[];
  };
};

const { rate, increase, windowOf, extrapolatedRate, bucketQuantile } = promql;
const s = (seconds: number): number => seconds * 1000;
const close = (actual: number, expected: number, what: string): void => assert.ok(Math.abs(actual - expected) < 1e-9 * Math.max(1, Math.abs(expected)), `${what}: ${actual}, expected ${expected}`);
const families = (text: string): Family[] => parseExposition(text, 'text').families;

test('rate(): samples near both edges extrapolate to the edges', () => {
  // Window (0, 60 s]; samples every 10 s from 5 s to 55 s, 100 -> 150. Increase 50 over a sampled
  // 50 s; both edges 5 s away (< 1.1 x 10 s), so extrapolate to 60 s: 50 x 60/50 = 60; / 60 s = 1/s.
  const points = [5, 15, 25, 35, 45, 55].map((t, i) => [s(t), 100 + 10 * i] as const);
  close(increase(points, s(60), s(60)), 60, 'increase');
  close(rate(points, s(60), s(60)), 1, 'rate');
});

test('rate(): a counter is never extrapolated below zero', () => {
  // Window (0, 40 s]; 5, 15, 25 at 10, 20, 30 s. Increase 20 over 20 s. To the start: 10 s
  // (< 11 s), but the slope reaches 0 after 20 x 5/20 = 5 s, so only 5 s. To the end: 10 s.
  // 20 x (20 + 5 + 10)/20 = 35; rate 35/40 = 0.875.
  const points = [[s(10), 5], [s(20), 15], [s(30), 25]] as const;
  close(increase(points, s(40), s(40)), 35, 'increase');
  close(rate(points, s(40), s(40)), 0.875, 'rate');
});

test('rate(): far from an edge, extrapolate half an interval only (and the zero point still applies)', () => {
  // Window (0, 100 s]; 0, 10, 20 at 40, 50, 60 s. Average interval 10 s, threshold 11 s.
  // Start: 40 s away -> 5 s, then the zero point (first value 0) makes it 0 s. End: 40 s away ->
  // 5 s. 20 x (20 + 0 + 5)/20 = 25.
  close(increase([[s(40), 0], [s(50), 10], [s(60), 20]], s(100), s(100)), 25, 'increase from 0');
  // The same with a first value of 100: no zero point within reach, 5 s at each end: 20 x 30/20 = 30.
  close(increase([[s(40), 100], [s(50), 110], [s(60), 120]], s(100), s(100)), 30, 'increase from 100');
});

test('rate(): counter resets add the value before the drop, as Prometheus does', () => {
  // 100, 200, 50, 150 at 10..40 s in (0, 40 s]: increase 150 - 100 + 200 = 250 over 30 s.
  // Start 10 s (< 11 s; zero point 30 x 100/250 = 12 s is farther), end 0 s: 250 x 40/30.
  const points = [[s(10), 100], [s(20), 200], [s(30), 50], [s(40), 150]] as const;
  const w = windowOf(points, 0, s(40));
  assert.deepEqual(w, { count: 4, firstT: s(10), firstV: 100, lastT: s(40), lastV: 150, resets: 200 });
  close(increase(points, s(40), s(40)), (250 * 40) / 30, 'increase');
  close(rate(points, s(40), s(40)), 250 / 30, 'rate');
  // Two resets in a row: 10, 20, 5, 15, 3 -> 3 - 10 + 20 + 15 = 28 counted.
  assert.equal(windowOf([[1, 10], [2, 20], [3, 5], [4, 15], [5, 3]], 0, 5).resets, 35);
  // A restart is never a negative rate.
  assert.ok(rate([[s(1), 1000], [s(2), 0], [s(3), 10]], s(3), s(3)) > 0);
});

test('rate(): fewer than 2 samples is no value (a gap, not a zero); the range is left-open; NaN samples are gaps', () => {
  assert.ok(Number.isNaN(rate([[s(10), 5]], s(20), s(20))));
  assert.ok(Number.isNaN(rate([], s(20), s(20))));
  // The sample exactly at the window's start is outside (t - range, t].
  assert.equal(windowOf([[s(0), 1], [s(10), 2], [s(20), 3]], s(0), s(20)).count, 2);
  assert.equal(windowOf([[s(10), 2], [s(15), NaN], [s(20), 3]], 0, s(20)).count, 2);
  assert.ok(Number.isNaN(extrapolatedRate(windowOf([[s(10), 2], [s(15), NaN]], 0, s(20)), 0, s(20), true)));
});

test('histogram_quantile(): linear within the bucket, from 0 for the lowest bucket, +Inf gives the highest finite bound', () => {
  // rank 0.5 x 40 = 20, in (0.1, 0.5] holding 30 - 10 = 20: 0.1 + 0.4 x (20 - 10)/20 = 0.3.
  close(bucketQuantile(0.5, [{ le: 0.1, count: 10 }, { le: 0.5, count: 30 }, { le: 1, count: 40 }, { le: Infinity, count: 40 }]), 0.3, 'p50');
  // rank 0.5 x 10 = 5 in the first bucket, from 0: 0.1 x 5/10 = 0.05.
  close(bucketQuantile(0.5, [{ le: 0.1, count: 10 }, { le: Infinity, count: 10 }]), 0.05, 'lowest bucket');
  // rank 0.9 x 10 = 9 lies in +Inf: the highest finite le, 1.
  assert.equal(bucketQuantile(0.9, [{ le: 1, count: 5 }, { le: Infinity, count: 10 }]), 1);
  // Unsorted input is sorted; p99 of 0.005..10 buckets with 100 observations: rank 99 in (0.5, 1]
  // holding 100 - 90 = 10: 0.5 + 0.5 x (99 - 90)/10 = 0.95.
  close(bucketQuantile(0.99, [{ le: 1, count: 100 }, { le: 0.5, count: 90 }, { le: Infinity, count: 100 }, { le: 0.1, count: 50 }]), 0.95, 'p99');
  // Non-monotonic counts (rates of buckets scraped apart) are raised to the running maximum:
  // 10, 8 -> 10, 12; rank 6 in the first bucket: 1 x 6/10 = 0.6.
  close(bucketQuantile(0.5, [{ le: 1, count: 10 }, { le: 2, count: 8 }, { le: Infinity, count: 12 }]), 0.6, 'monotonic');
  // A first bucket with le <= 0 answers its bound.
  assert.equal(bucketQuantile(0.2, [{ le: -1, count: 5 }, { le: Infinity, count: 10 }]), -1);
});

test('histogram_quantile(): no value without observations, without +Inf, or with one bucket; q outside [0, 1]', () => {
  assert.ok(Number.isNaN(bucketQuantile(0.5, [{ le: 1, count: 0 }, { le: Infinity, count: 0 }])));
  assert.ok(Number.isNaN(bucketQuantile(0.5, [{ le: 1, count: 5 }, { le: 2, count: 10 }])));
  assert.ok(Number.isNaN(bucketQuantile(0.5, [{ le: Infinity, count: 10 }])));
  assert.ok(Number.isNaN(bucketQuantile(NaN, [{ le: 1, count: 5 }, { le: Infinity, count: 10 }])));
  assert.equal(bucketQuantile(-0.1, [{ le: 1, count: 5 }, { le: Infinity, count: 10 }]), -Infinity);
  assert.equal(bucketQuantile(1.1, [{ le: 1, count: 5 }, { le: Infinity, count: 10 }]), Infinity);
});

test('a tier is a ring: it wraps, keeps its newest rows in order, and finds times by binary search', () => {
  const tier = new tierModule.Tier(5);
  for (let t = 1; t <= 12; t++) tier.push(t * 10);
  assert.equal(tier.count, 5);
  assert.deepEqual([0, 1, 2, 3, 4].map((i) => tier.timeAt(i)), [80, 90, 100, 110, 120]);
  assert.equal(tier.lastTime(), 120);
  assert.equal(tier.firstAfter(95), 2);
  assert.equal(tier.firstAfter(0), 0);
  assert.equal(tier.firstAfter(120), 5);
});

function newStore(overrides: Partial<{ fineSlots: number; coarseSlots: number; staleAfterMs: number; maxSeries: number }> = {}): Store {
  return new storeModule.Store({ fineSlots: 10, coarseSlots: 6, staleAfterMs: s(30), maxSeries: 100, ...overrides });
}
const only = (node: NodeHistory, name: string): Series => {
  const [series, ...rest] = [...node.byName(name)];
  assert.ok(series !== undefined && rest.length === 0, `one series ${name}`);
  return series;
};
const fineValues = (node: NodeHistory, series: Series): number[] => Array.from({ length: node.fine.count }, (_, i) => series.values[(node.fine.head - node.fine.count + 1 + i + node.fine.slots) % node.fine.slots] as number);

test('every series has one preallocated Float64Array, never grown or replaced; memory is counted exactly', () => {
  const store = newStore();
  const node = store.node('a');
  node.ingest(s(1), families('# TYPE x_total counter\nx_total 1\n# TYPE g gauge\ng{k="1"} 5\ng{k="2"} 6\n'));
  const x = only(node, 'x_total');
  const array = x.values;
  assert.ok(array instanceof Float64Array);
  assert.equal(array.length, 10 + 6 + 2);
  for (let i = 2; i <= 40; i++) node.ingest(s(i), families(`# TYPE x_total counter\nx_total ${i}\n# TYPE g gauge\ng{k="1"} 5\ng{k="2"} 6\n`));
  assert.equal(only(node, 'x_total').values, array, 'the same array after the ring wrapped four times');
  assert.deepEqual(fineValues(node, x), [31, 32, 33, 34, 35, 36, 37, 38, 39, 40]);
  const stats = store.stats();
  assert.equal(stats.series, 3);
  assert.equal(stats.bytesPerSeries, 18 * 8);
  assert.equal(stats.ringBytes, 3 * 18 * 8 + (10 + 6) * 8);
});

test('a series missing from a scrape, and every series of a failed scrape, is a gap (NaN), never a zero or the last value', () => {
  const store = newStore();
  const node = store.node('a');
  node.ingest(s(1), families('a 1\nb 1\n'));
  node.ingest(s(2), families('a 2\n'));
  node.fail(s(3));
  node.ingest(s(4), families('a 4\nb 4\n'));
  assert.deepEqual(fineValues(node, only(node, 'a')), [1, 2, NaN, 4]);
  assert.deepEqual(fineValues(node, only(node, 'b')), [1, NaN, NaN, 4]);
  const grid: Grid = { tier: 'fine', start: s(1), stepMs: s(1), points: 4, windowMs: s(10), lookbackMs: s(3) };
  assert.deepEqual([...query.seriesInstant(node, only(node, 'b'), grid)], [1, NaN, NaN, 4]);
});

test('series that successful scrapes lacked for over staleAfterMs are dropped, their arrays reused; a node that is down keeps its series', () => {
  const store = newStore({ staleAfterMs: s(5) });
  const node = store.node('a');
  node.ingest(s(0), families('gone 1\nstays 1\n'));
  const goneArray = only(node, 'gone').values;
  for (let t = 1; t <= 20; t++) node.fail(s(t));
  assert.equal(node.seriesCount, 2, 'failed scrapes expire nothing');
  for (let t = 21; t <= 26; t++) node.ingest(s(t), families('stays 1\n'));
  assert.equal(node.seriesCount, 2, 'missing from successful scrapes for 5 s (21 s to 26 s): kept');
  node.ingest(s(27), families('stays 1\n'));
  assert.equal(node.seriesCount, 1, 'missing for 6 s: dropped');
  assert.deepEqual([...node.byName('gone')], []);
  node.ingest(s(28), families('stays 1\nnewcomer 7\n'));
  const newcomer = only(node, 'newcomer');
  assert.equal(newcomer.values, goneArray, 'the freed array serves the next new series');
  assert.deepEqual(fineValues(node, newcomer).slice(-3), [NaN, NaN, 7], 'and it was wiped');
});

test('the coarse tier keeps a row per minute: last value for counters, mean for gauges, live for the current minute', () => {
  const store = newStore({ fineSlots: 200, coarseSlots: 3 });
  const node = store.node('a');
  const scrape = (t: number, c: number, g: number): void => void node.ingest(t, families(`# TYPE c_total counter\nc_total ${c}\n# TYPE g gauge\ng ${g}\n`));
  const coarse = (name: string): number[] => {
    const series = only(node, name);
    return Array.from({ length: node.coarse.count }, (_, i) => series.values[node.offset('coarse') + ((node.coarse.head - node.coarse.count + 1 + i + 3) % 3)] as number);
  };
  scrape(s(60), 10, 1);
  scrape(s(80), 20, 2);
  scrape(s(100), 30, 6);
  assert.deepEqual(coarse('c_total'), [30]);
  assert.deepEqual(coarse('g'), [3], '(1 + 2 + 6) / 3');
  assert.equal(node.coarse.lastTime(), s(100), 'the row carries the time of its latest scrape');
  node.fail(s(120));
  scrape(s(130), 40, 10);
  node.fail(s(180));
  for (const t of [240, 300]) scrape(s(t), t, t);
  assert.equal(node.coarse.count, 3, 'a ring of 3 minutes');
  assert.deepEqual(coarse('c_total'), [NaN, 240, 300], 'the minute with only a failed scrape is a gap');
  assert.deepEqual([0, 1, 2].map((i) => node.coarse.timeAt(i)), [s(180), s(240), s(300)]);
});

test('series identity is Prometheus\': empty label = absent, le 1 = 1.0; a repeated series in one scrape keeps the first', () => {
  const store = newStore();
  const node = store.node('a');
  node.ingest(s(1), families('x{a="",b="1"} 1\nx{b="1"} 2\nh_bucket{le="1.0"} 3\n'));
  node.ingest(s(2), families('x{b="1"} 4\nh_bucket{le="1"} 5\n'));
  assert.deepEqual(fineValues(node, only(node, 'x')), [1, 4]);
  const h = only(node, 'h_bucket');
  assert.deepEqual(fineValues(node, h), [3, 5]);
  assert.equal(h.le, 1);
  assert.deepEqual(h.labels, [['le', '1']]);
});

test('the series budget is shared by all nodes; what does not fit is refused and counted, never an error', () => {
  const store = newStore({ maxSeries: 3 });
  store.node('a').ingest(s(1), families('a 1\nb 1\n'));
  store.node('b').ingest(s(1), families('c 1\nd 1\ne 1\n'));
  assert.equal(store.stats().series, 3);
  assert.equal(store.stats().refusedSamples, 2);
  assert.equal(store.node('b').seriesCount, 1);
});

test('the clock stepping back keeps row times strictly increasing', () => {
  const node = newStore().node('a');
  node.ingest(s(10), families('a 1\n'));
  assert.equal(node.ingest(s(5), families('a 2\n')), s(10) + 1);
  assert.equal(node.fine.timeAt(1), s(10) + 1);
});

test('rate() over stored rows equals rate() over the same points, through resets and gaps', () => {
  const store = newStore({ fineSlots: 100 });
  const node = store.node('a');
  const raw: [number, number][] = [];
  let v = 0;
  for (let t = 1; t <= 60; t++) {
    if (t % 17 === 0) {
      node.fail(s(t));
      continue;
    }
    v = t === 30 ? 3 : v + t; // a reset at 30 s
    node.ingest(s(t), families(`# TYPE r_total counter\nr_total ${v}\n`));
    raw.push([s(t), v]);
  }
  const grid: Grid = { tier: 'fine', start: s(20), stepMs: s(5), points: 9, windowMs: s(10), lookbackMs: s(3) };
  const got = query.seriesRate(node, only(node, 'r_total'), grid);
  for (let k = 0; k < grid.points; k++) close(got[k] as number, rate(raw, grid.start + k * grid.stepMs, grid.windowMs), `step ${k}`);
  assert.ok([...got].every((x) => x > 0), 'a reset is never a negative rate');
  // Counted increase over (15 s, 35 s]: 16..35 without 17 and 34, reset at 30.
  const counted = query.countedIncrease(node, only(node, 'r_total'), 'fine', s(15), s(35));
  const inWindow = raw.filter(([t]) => t > s(15) && t <= s(35));
  const w = windowOf(inWindow, s(15), s(35));
  assert.equal(counted, w.lastV - w.firstV + w.resets);
});

test('sum by and histogram_quantile over stored buckets, across two nodes', () => {
  const store = newStore({ fineSlots: 100 });
  const [a, b] = [store.node('a'), store.node('b')];
  // Node a: 10 req/s on /x, all in (0, 0.1]; node b: 10 req/s on /x, all in (0.1, 0.5].
  for (let t = 1; t <= 30; t++) {
    const n = 10 * t;
    a.ingest(s(t), families(`# TYPE d histogram\nd_bucket{path="/x",le="0.1"} ${n}\nd_bucket{path="/x",le="0.5"} ${n}\nd_bucket{path="/x",le="+Inf"} ${n}\n# TYPE q_total counter\nq_total{path="/x",status="200"} ${n}\n`));
    b.ingest(s(t), families(`# TYPE d histogram\nd_bucket{path="/x",le="0.1"} 0\nd_bucket{path="/x",le="0.5"} ${n}\nd_bucket{path="/x",le="+Inf"} ${n}\n# TYPE q_total counter\nq_total{path="/x",status="500"} ${n}\n`));
  }
  const grid: Grid = { tier: 'fine', start: s(30), stepMs: s(1), points: 1, windowMs: s(10), lookbackMs: s(3) };
  const byStatus = query.sumRateBy([a, b], 'q_total', grid, (x) => x.label('status'));
  close(byStatus.get('200')?.[0] as number, 10, '200/s');
  close(byStatus.get('500')?.[0] as number, 10, '500/s');
  // Summed bucket rates: le 0.1: 10, 0.5: 20, +Inf: 20. p50: rank 10 in the first bucket: 0.1 x 10/10 = 0.1.
  // p75: rank 15 in (0.1, 0.5] holding 10: 0.1 + 0.4 x 5/10 = 0.3.
  const [p50, p75] = query.quantilesBy([a, b], 'd', grid, [0.5, 0.75], () => 'all').get('all') as Float64Array[];
  close(p50?.[0] as number, 0.1, 'p50');
  close(p75?.[0] as number, 0.3, 'p75');
  // Node a alone: all in the first bucket, p75 = 0.075.
  close((query.quantilesBy([a], 'd', grid, [0.75], () => 'all').get('all') as Float64Array[])[0]?.[0] as number, 0.075, 'p75 of a');
});

test('the dashboard of a simulated tqserver: requests/s, error ratio, p95, a route table; gaps stay null', () => {
  const store = new storeModule.Store({ fineSlots: 900, coarseSlots: 1440, staleAfterMs: 600_000, maxSeries: 5000 });
  const node = store.node('local');
  const start = Date.UTC(2026, 0, 1, 12, 0, 0);
  for (let t = 1; t <= 120; t++) {
    const ok = 9 * t;
    const bad = t;
    node.ingest(
      start + s(t),
      families(
        `# TYPE tqserver_requests_total counter\ntqserver_requests_total{method="GET",path="/api",status="200"} ${ok}\ntqserver_requests_total{method="GET",path="/api",status="503"} ${bad}\n` +
          `# TYPE tqserver_http_responses_total counter\ntqserver_http_responses_total{status_group="2xx"} ${ok}\ntqserver_http_responses_total{status_group="5xx"} ${bad}\n` +
          `# TYPE tqserver_request_duration_seconds histogram\n` +
          `tqserver_request_duration_seconds_bucket{method="GET",path="/api",le="0.01"} ${5 * t}\ntqserver_request_duration_seconds_bucket{method="GET",path="/api",le="0.1"} ${10 * t}\n` +
          `tqserver_request_duration_seconds_bucket{method="GET",path="/api",le="+Inf"} ${10 * t}\n` +
          `# TYPE tqserver_active_requests gauge\ntqserver_active_requests ${t % 3}\n`,
      ),
    );
  }
  node.fail(start + s(121));
  const dashboard = buildDashboard({ nodes: [node], multiNode: false, range: '5m', now: start + s(121) + 500, intervalMs: 1000 });
  const overview = dashboard.sections.find((x) => x.id === 'overview');
  const tile = (id: string): number | null | undefined => overview?.tiles.find((x) => x.id === id)?.value;
  close(tile('rps') as number, 10, 'requests/s');
  close(tile('errors5xx') as number, 0.1, '5xx ratio');
  // p95: rank 9.5 of 10/s in (0.01, 0.1] holding 5: 0.01 + 0.09 x 4.5/5 = 0.091.
  close(tile('p95') as number, 0.091, 'p95');
  assert.equal(tile('active'), null, 'the failed last scrape is a gap, not a zero');
  const requests = overview?.charts.find((x) => x.id === 'requests')?.lines.find((l) => l.label === 'all');
  assert.equal(requests?.values.length, 300);
  assert.equal(requests?.values[0], null, 'before the first scrape: a gap');
  const routes = dashboard.sections.find((x) => x.id === 'routes')?.tables[0]?.rows;
  assert.equal(routes?.length, 1);
  assert.equal(routes?.[0]?.path, '/api');
  close(routes?.[0]?.errors5xx as number, 0.1, 'route 5xx share');
});
