/**
 * Randomized registries (seeded, so a failure is reproducible): hostile label values, odd
 * numbers, every type. Each must pass `promtool check metrics` with no remark at all, and must
 * read back, through an independent parser, to exactly the values recorded.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatGoFloat, Registry, renderOpenMetrics, renderPieces, renderText, type Snapshot } from '../lib/exposition/index.js';
import { parseSamples, sampleKey } from './helpers/parse-text.js';
import { assertPromtoolClean, promtoolOrSkip } from './helpers/promtool.js';
import { prng } from './helpers/prng.js';

// Words that trip none of promtool's lint rules (no units to rename, no type names, no
// abbreviations such as _s or _ms).
const WORDS = ['alpha', 'beta', 'queue', 'cache', 'pool', 'route', 'store', 'ring', 'shard', 'lane', 'disk', 'frame', 'page', 'task'];
const NASTY = ['', ' ', '"', '\\', '\\n', '\n', '\t', '\r', 'a"b\\c\nd', '😀', 'ü', 'x|', '|', ',', '=', '}', '{', '\u0000', 'GET', '/api/users?id=1', 'line1\nline2\\', '\\"', 'é\u0301'];
const NUMBERS = [0, -0, 1, -1, 0.1 + 0.2, 1e21, 1e-7, 2 ** 53 + 2, 123456789.125, -5.5e-300, NaN, Infinity, -Infinity, 1e6, 42];

interface Expected {
  readonly key: string;
  readonly value: number;
}

/** Builds a random registry and the samples a scraper must read from it. */
function randomRegistry(seed: number): { registry: Registry; expected: Expected[] } {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const registry = new Registry();
  const expected = new Map<string, number>();
  const metrics = 1 + Math.floor(rnd() * 6);
  for (let m = 0; m < metrics; m++) {
    const base = `rnd_${seed}_${m}_${pick(WORDS)}`;
    const labelCount = Math.floor(rnd() * 4);
    const labelNames = Array.from({ length: labelCount }, (_, i) => `${pick(WORDS)}_${i}`);
    const seriesCount = labelCount === 0 ? 1 : Math.floor(rnd() * 6);
    const tuples = Array.from({ length: seriesCount }, () => labelNames.map(() => (rnd() < 0.6 ? pick(NASTY) : `v${Math.floor(rnd() * 1000)}`)));
    const help = rnd() < 0.5 ? `Help for ${base}.` : `Tricky help: ${pick(NASTY)} and ${pick(NASTY)} "quoted" \\ end`;
    const labelsOf = (values: string[]): Record<string, string> => Object.fromEntries(labelNames.map((n, i) => [n, values[i] as string]));
    const kind = pick(['counter', 'gauge', 'histogram'] as const);
    if (kind === 'counter') {
      const c = registry.counter({ name: `${base}_total`, help, labelNames });
      for (const t of tuples) {
        const child = c.labels(...t);
        const n = pick([0, 1, 2.5, 1e-7, 1e21, 7]);
        child.inc(n);
        expected.set(sampleKey(`${base}_total`, labelsOf(t)), child.value);
      }
    } else if (kind === 'gauge') {
      const g = registry.gauge({ name: base, help, labelNames });
      for (const t of tuples) {
        const v = pick(NUMBERS);
        g.labels(...t).set(v);
        expected.set(sampleKey(base, labelsOf(t)), v === 0 ? 0 : v);
      }
    } else {
      const bounds: number[] = [];
      let b = rnd() < 0.3 ? 0 : rnd() * 1e-3;
      for (let i = Math.floor(rnd() * 12); i > 0; i--) {
        bounds.push(b);
        b = b * (1 + rnd() * 20) + rnd() * 5 + 1e-9;
      }
      const h = registry.histogram({ name: `${base}_seconds`, help, labelNames, buckets: bounds });
      // Two tuples may be equal; their observations then go to one series.
      const observed = new Map<object, number[]>();
      for (const t of tuples) {
        const child = h.labels(...t);
        const fresh = Array.from({ length: Math.floor(rnd() * 20) }, () => rnd() * (b + 1) * 1.2);
        fresh.forEach((v) => child.observe(v));
        const values = [...(observed.get(child) ?? []), ...fresh];
        observed.set(child, values);
        const observations = values.length;
        const labels = labelsOf(t);
        for (const bound of [...bounds, Infinity]) {
          const count = values.filter((v) => v <= bound).length;
          expected.set(sampleKey(`${base}_seconds_bucket`, { ...labels, le: formatGoFloat(bound) }), count);
        }
        expected.set(sampleKey(`${base}_seconds_sum`, labels), child.sum);
        expected.set(sampleKey(`${base}_seconds_count`, labels), observations);
      }
    }
  }
  return { registry, expected: [...expected].map(([key, value]) => ({ key, value })) };
}

function readBack(snapshot: Snapshot): Map<string, number> {
  const got = new Map<string, number>();
  for (const s of parseSamples(renderText(snapshot))) {
    const key = sampleKey(s.name, s.labels);
    assert.ok(!got.has(key), `sample ${key} written twice`);
    got.set(key, s.value);
  }
  return got;
}

const SEEDS = Array.from({ length: 300 }, (_, i) => 1000 + i);

test('300 random registries read back to exactly the values recorded', () => {
  for (const seed of SEEDS) {
    const { registry, expected } = randomRegistry(seed);
    const snapshot = registry.collect();
    const got = readBack(snapshot);
    assert.equal(got.size, expected.length, `seed ${seed}: sample count`);
    for (const { key, value } of expected) {
      assert.ok(got.has(key), `seed ${seed}: missing ${key}`);
      assert.ok(Object.is(got.get(key), value), `seed ${seed}: ${key} read ${got.get(key)}, recorded ${value}`);
    }
    const om = renderOpenMetrics(snapshot);
    assert.ok(om.endsWith('# EOF\n') && !om.includes('\n\n') && !/ \n/.test(om), `seed ${seed}: OpenMetrics layout`);
  }
});

test('rendered in pieces, 300 random registries join to exactly the whole rendering, and no piece runs long', () => {
  /** Sample lines in a rendering: every line that is not a comment. */
  const sampleLines = (text: string): number => text.split('\n').filter((line) => line !== '' && !line.startsWith('#')).length;
  for (const seed of SEEDS) {
    const snapshot = randomRegistry(seed).registry.collect();
    // The most lines one series writes: a histogram's buckets, +Inf, _sum and _count.
    const longest = Math.max(1, ...snapshot.families.map((f) => (f.type === 'histogram' ? f.bounds.length + 3 : 1)));
    const series = snapshot.families.reduce((n, f) => n + f.series.length, 0);
    for (const per of [1, 3, 16, 1000]) {
      for (const [format, whole] of [['text', renderText(snapshot)], ['openmetrics', renderOpenMetrics(snapshot)]] as const) {
        const pieces = [...renderPieces(snapshot, format, per)];
        assert.equal(pieces.join(''), whole, `seed ${seed}, ${format}, ${per} lines a piece`);
        for (const piece of pieces) {
          assert.ok(piece.endsWith('\n'), `seed ${seed}: a piece that ends inside a line`);
          assert.ok(sampleLines(piece) < per + longest, `seed ${seed}, ${format}: a piece of ${sampleLines(piece)} lines for ${per}`);
        }
        // One line a piece: a piece per series, so a cut falls only where a series ends, never
        // among a histogram's lines (and OpenMetrics' # EOF is a piece of its own).
        if (per === 1) assert.equal(pieces.length, series + (format === 'openmetrics' ? 1 : 0), `seed ${seed}, ${format}: pieces`);
      }
    }
  }
});

test('300 random registries pass promtool check metrics with no remark', async (t) => {
  if (!promtoolOrSkip(t)) return;
  const queue = [...SEEDS];
  const worker = async (): Promise<void> => {
    for (let seed = queue.shift(); seed !== undefined; seed = queue.shift()) {
      await assertPromtoolClean(renderText(randomRegistry(seed).registry.collect()), `random registry seed ${seed}`);
    }
  };
  await Promise.all(Array.from({ length: 6 }, worker));
});

test('a large generated registry (about 10,000 series) passes promtool and reads back', async (t) => {
  const registry = new Registry();
  const c = registry.counter({ name: 'large_requests_total', help: 'Requests.', labelNames: ['method', 'route', 'status'] });
  const g = registry.gauge({ name: 'large_memory_bytes', help: 'Memory.', labelNames: ['worker', 'instance'] });
  const h = registry.histogram({ name: 'large_duration_seconds', help: 'Durations.', labelNames: ['route'] });
  for (let i = 0; i < 6000; i++) c.labels(['GET', 'POST', 'PUT'][i % 3] as string, `/r${i % 200}/"q"\\${i}`, String(200 + (i % 7))).inc(i);
  for (let i = 0; i < 2500; i++) g.labels(`w${i % 50}`, String(i)).set(i * 1.5);
  for (let i = 0; i < 100; i++) for (let k = 0; k < 10; k++) h.labels(`/r${i}`).observe(k * 0.37);
  const snapshot = registry.collect();
  const text = renderText(snapshot);
  const samples = parseSamples(text);
  assert.equal(samples.length, 6000 + 2500 + 100 * 14);
  assert.equal(samples.filter((s) => s.name === 'large_requests_total').reduce((a, s) => a + s.value, 0), (5999 * 6000) / 2);
  if (!promtoolOrSkip(t)) return;
  await assertPromtoolClean(text, 'large registry');
});
