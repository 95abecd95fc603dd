/**
 * The monitoring worker's exposition parser (workers/monitoring/src/parse.mjs, tokens.mjs), text 0.0.4 and
 * OpenMetrics 1.0:
 * - every golden file in fixtures/exposition/ reads to the samples an independent reader
 *   (test/helpers/parse-text.ts) finds, to the same samples in both formats, and to the values
 *   written out by hand below for the cases that matter (escapes, specials, histograms);
 * - randomized registries (lib/exposition) with hostile label values and help read back, in
 *   both formats, to exactly what was recorded;
 * - malformed bodies fail with the line and the reason.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { test } from 'node:test';
import { Registry, renderOpenMetrics, renderText } from '../lib/exposition/index.js';
import { parseSamples, sampleKey } from './helpers/parse-text.js';
import { prng } from './helpers/prng.js';

type Label = [string, string];
interface Sample { name: string; labels: Label[]; text: string; value: number; timestampMs: number | undefined; exemplar?: { labels: Label[]; value: number; timestampMs: number | undefined } }
interface Family { name: string; type: string; help: string | undefined; unit: string | undefined; samples: Sample[] }
interface Exposition { format: 'text' | 'openmetrics'; families: Family[] }
interface HistogramSeries { labels: Label[]; buckets: { le: number; count: number }[]; sum: number | undefined; count: number | undefined }
interface ParserModule { parseExposition(body: string, format: 'text' | 'openmetrics'): Exposition }
interface TokensModule {
  formatOf(contentType: string | undefined): 'text' | 'openmetrics';
  parseNumber(token: string): number | undefined;
}
interface HistogramsModule { histogramSeries(family: Family): HistogramSeries[] }

const { parseExposition } = (await import(new URL('../workers/monitoring/src/parse.mjs', import.meta.url).href)) as ParserModule;
const { formatOf, parseNumber } = (await import(new URL('../workers/monitoring/src/tokens.mjs', import.meta.url).href)) as TokensModule;
const { histogramSeries } = (await import(new URL('../workers/monitoring/src/histograms.mjs', import.meta.url).href)) as HistogramsModule;

const dir = new URL('../fixtures/exposition/', import.meta.url);
const files = readdirSync(dir).filter((f) => f.endsWith('.prom') || f.endsWith('.om')).sort();
const read = (file: string): Exposition => parseExposition(readFileSync(new URL(file, dir), 'utf8'), file.endsWith('.om') ? 'openmetrics' : 'text');
const family = (e: Exposition, name: string): Family => {
  const f = e.families.find((x) => x.name === name);
  assert.ok(f, `family ${name} in ${e.families.map((x) => x.name).join(', ')}`);
  return f;
};
const values = (f: Family): Record<string, number> => Object.fromEntries(f.samples.map((s) => [sampleKey(s.name, Object.fromEntries(s.labels)), s.value]));
/** `le` as a number, so `le="1"` (text) and `le="1.0"` (OpenMetrics) compare equal. */
const numericLe = (labels: Label[]): Record<string, string> => Object.fromEntries(labels.map(([k, v]) => [k, k === 'le' ? String(v === '+Inf' ? Infinity : Number(v)) : v]));

test('every golden file reads to the samples an independent reader finds', () => {
  assert.ok(files.length >= 50, 'the golden files are there');
  for (const file of files) {
    const text = readFileSync(new URL(file, dir), 'utf8');
    const expected = parseSamples(text).map((s) => [sampleKey(s.name, s.labels), s.value]);
    const got = read(file).families.flatMap((f) => f.samples.map((s) => [sampleKey(s.name, Object.fromEntries(s.labels)), s.value]));
    assert.deepEqual(got, expected, file);
  }
});

test('the .prom and .om of every golden case hold the same families, help and samples', () => {
  const stems = [...new Set(files.map((f) => f.replace(/\.(prom|om)$/, '')))];
  for (const stem of stems) {
    const text = read(`${stem}.prom`);
    const om = read(`${stem}.om`);
    assert.equal(text.families.length, om.families.length, stem);
    text.families.forEach((t, i) => {
      const o = om.families[i] as Family;
      assert.equal(o.type, t.type === 'untyped' ? 'unknown' : t.type, `${stem} ${t.name} type`);
      assert.equal(t.type === 'counter' ? o.name + '_total' : o.name, t.name, `${stem}: OpenMetrics names a counter family without _total`);
      assert.equal(o.help, t.help, `${stem} ${t.name} help`);
      assert.deepEqual(
        o.samples.map((s) => [s.name, numericLe(s.labels), s.value]),
        t.samples.map((s) => [s.name, numericLe(s.labels), s.value]),
        `${stem} ${t.name} samples`,
      );
    });
  }
});

test('golden values, written out by hand from the fixtures', () => {
  for (const ext of ['prom', 'om']) {
    const escaping = family(read(`02-label-escaping.${ext}`), 'escape_demo');
    assert.deepEqual(
      escaping.samples.map((s) => [s.labels[0]?.[1], s.value]),
      [['\t\r', 5], ['C:\\dir', 1], ['\\t', 6], ['a\nb', 3], ['a\\nb', 4], ['say "hi"', 2]],
      `02 ${ext}: \\\\ \\" \\n undone, tab and CR raw, backslash-t stays two characters`,
    );
    assert.equal(escaping.help, 'Escaping.');
    assert.equal(escaping.type, 'gauge');

    assert.equal(family(read(`03-help-escaping.${ext}`), 'help_demo').help, 'Path "C:\\x"\nnext', `03 ${ext}`);

    const special = family(read(`04-special-values.${ext}`), 'special_values');
    const byCase = Object.fromEntries(special.samples.map((s) => [s.labels[0]?.[1], s.value]));
    assert.ok(Number.isNaN(byCase.nan));
    assert.equal(byCase.pos_inf, Infinity);
    assert.equal(byCase.neg_inf, -Infinity);
    assert.ok(Object.is(byCase.neg_zero, 0), '-0 is written 0');

    const digits = values(family(read(`05-float-digits.${ext}`), 'float_digits'));
    assert.equal(digits[sampleKey('float_digits', { case: 'point_three' })], 0.1 + 0.2);
    assert.equal(digits[sampleKey('float_digits', { case: 'huge' })], 1e21);
    assert.equal(digits[sampleKey('float_digits', { case: 'tiny' })], 1e-7);
    assert.equal(digits[sampleKey('float_digits', { case: 'big_int' })], 2 ** 53 + 2);

    const bounds = histogramSeries(family(read(`07-le-openmetrics.${ext}`), 'le_om_seconds'));
    assert.deepEqual(bounds[0]?.buckets.map((b) => b.le), [0, 1e-5, 1, 10, 1e5, 1e6, Infinity], `07 ${ext}: canonical and Go forms read as the same numbers`);

    const [lat] = histogramSeries(family(read(`08-histogram-basic.${ext}`), 'lat_seconds'));
    assert.deepEqual(lat, { labels: [], buckets: [{ le: 0.1, count: 1 }, { le: 1, count: 2 }, { le: Infinity, count: 3 }], sum: 3.55, count: 3 });

    const req = histogramSeries(family(read(`09-histogram-labeled.${ext}`), 'req_seconds'));
    assert.deepEqual(req, [
      { labels: [['method', 'GET']], buckets: [{ le: 0.1, count: 1 }, { le: 1, count: 2 }, { le: Infinity, count: 3 }], sum: 3.55, count: 3 },
      { labels: [['method', 'POST']], buckets: [{ le: 0.1, count: 1 }, { le: 1, count: 1 }, { le: Infinity, count: 1 }], sum: 0.1, count: 1 },
    ]);

    const multibyte = family(read(`14-multibyte.${ext}`), 'text_value');
    assert.equal(multibyte.help, 'Grüße 😀.');
    assert.deepEqual(multibyte.samples.map((s) => s.labels[0]?.[1]), ['x\uFFFDy', '😀 ü'], 'a lone surrogate was written as U+FFFD');

    assert.deepEqual(family(read(`16-no-collision.${ext}`), 'pairs' + (ext === 'om' ? '' : '_total')).samples.map((s) => s.labels), [
      [['a', 'x'], ['b', '|']],
      [['a', 'x|'], ['b', '']],
    ]);

    assert.equal(family(read(`17-untyped.${ext}`), 'temp_celsius').type, ext === 'om' ? 'unknown' : 'untyped');
    assert.deepEqual(family(read(`21-empty-label-value.${ext}`), 'blank_value').samples[0]?.labels, [['a', ''], ['b', 'x']]);

    const mixed = read(`25-mixed.${ext}`);
    assert.deepEqual(mixed.families.map((f) => [f.name, f.type]), [[ext === 'om' ? 'app_errors' : 'app_errors_total', 'counter'], ['app_inflight_value', 'gauge'], ['app_wait_seconds', 'histogram']]);
    assert.equal(mixed.families[0]?.samples[0]?.name, 'app_errors_total');

    assert.deepEqual(read(`11-empty-registry.${ext}`).families, []);
    assert.equal(family(read(`27-counter-help.${ext}`), ext === 'om' ? 'quoted' : 'quoted_total').help, 'The "quoted" one \\ done.');
  }
});

const HOSTILE = ['', ' ', '"', '\\', '\\n', '\n', '\t', '\r', '}', '{', '},{a="b"}', 'a"b\\c\nd', '😀', 'ü', 'é\u0301', '日本語', 'x|', '|', ',', '=', '\u0000', '\uD800', 'x\uDC00y', 'GET', '/api/users?id=1', 'line1\nline2\\', '\\"', ' # {a="b"} 1', 'NaN', '+Inf'];
const NUMBERS = [0, -0, 1, -1, 0.1 + 0.2, 1e21, 1e-7, 2 ** 53 + 2, 123456789.125, -5.5e-300, 5e-324, Number.MAX_VALUE, NaN, Infinity, -Infinity, 42];

interface Recorded {
  name: string;
  type: 'counter' | 'gauge' | 'histogram';
  help: string;
  series: { labels: Record<string, string>; value?: number; buckets?: number[]; bounds?: number[]; sum?: number; count?: number }[];
}

/** A random registry, and what was recorded in it, worked out without reading the registry back. */
function randomRegistry(seed: number): { registry: Registry; recorded: Recorded[] } {
  const rnd = prng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rnd() * xs.length)] as T;
  const registry = new Registry();
  const recorded: Recorded[] = [];
  const count = 1 + Math.floor(rnd() * 6);
  for (let m = 0; m < count; m++) {
    const base = `rnd_${seed}_${m}`;
    const labelNames = Array.from({ length: Math.floor(rnd() * 4) }, (_, i) => `${pick(['path', 'code', 'zone', 'le_x', 'quantile_y', 'a'])}_${i}`);
    const help = rnd() < 0.5 ? `Help ${base}.` : `Tricky: ${pick(HOSTILE)} "q" \\ ${pick(HOSTILE)} end`;
    const tuples = new Map<string, string[]>();
    for (let i = labelNames.length === 0 ? 1 : Math.floor(rnd() * 6); i > 0; i--) {
      const t = labelNames.map(() => (rnd() < 0.7 ? pick(HOSTILE) : `v${Math.floor(rnd() * 100)}`));
      // Registry identity: two tuples equal after U+FFFD replacement are one series to a scraper.
      tuples.set(JSON.stringify(t.map((v) => v.toWellFormed())), t);
    }
    const labelsOf = (t: string[]): Record<string, string> => Object.fromEntries(labelNames.map((n, i) => [n, (t[i] as string).toWellFormed()]));
    const kind = pick(['counter', 'gauge', 'histogram'] as const);
    if (kind === 'counter') {
      const c = registry.counter({ name: `${base}_total`, help, labelNames });
      const series = [...tuples.values()].map((t) => {
        c.labels(...t);
        let value = 0;
        for (let k = Math.floor(rnd() * 4); k > 0; k--) {
          const n = pick([1, 2.5, 1e-7, 1e21, 7, 0.1]);
          c.labels(...t).inc(n);
          value += n;
        }
        return { labels: labelsOf(t), value };
      });
      recorded.push({ name: `${base}_total`, type: 'counter', help, series });
    } else if (kind === 'gauge') {
      const g = registry.gauge({ name: `${base}_value`, help, labelNames });
      const series = [...tuples.values()].map((t) => {
        const v = pick(NUMBERS);
        g.labels(...t).set(v);
        return { labels: labelsOf(t), value: v === 0 ? 0 : v };
      });
      recorded.push({ name: `${base}_value`, type: 'gauge', help, series });
    } else {
      const bounds: number[] = [];
      let b = rnd() < 0.3 ? 0 : rnd() * 1e-3;
      for (let i = Math.floor(rnd() * 10); i > 0; i--) {
        bounds.push(b);
        b = b * (1 + rnd() * 20) + rnd() * 5 + 1e-9;
      }
      const h = registry.histogram({ name: `${base}_seconds`, help, labelNames, buckets: bounds });
      const series = [...tuples.values()].map((t) => {
        const observations = Array.from({ length: Math.floor(rnd() * 20) }, () => rnd() * (b + 1) * 1.2);
        const child = h.labels(...t);
        observations.forEach((v) => child.observe(v));
        return {
          labels: labelsOf(t),
          bounds: [...bounds, Infinity],
          buckets: [...bounds, Infinity].map((bound) => observations.filter((v) => v <= bound).length),
          sum: observations.reduce((s, v) => s + v, 0),
          count: observations.length,
        };
      });
      recorded.push({ name: `${base}_seconds`, type: 'histogram', help, series });
    }
  }
  return { registry, recorded: recorded.sort((a, b) => (a.name < b.name ? -1 : 1)) };
}

/** What a parse gives back, in the shape of {@link Recorded}. */
function readBack(e: Exposition): Recorded[] {
  return e.families.map((f) => {
    const help = f.help ?? '';
    if (f.type === 'histogram') {
      return {
        name: f.name,
        type: 'histogram',
        help,
        series: histogramSeries(f).map((s) => ({
          labels: Object.fromEntries(s.labels),
          bounds: s.buckets.map((x) => x.le),
          buckets: s.buckets.map((x) => x.count),
          sum: s.sum,
          count: s.count,
        })),
      };
    }
    const name = f.samples[0]?.name ?? f.name;
    return { name, type: f.type as Recorded['type'], help, series: f.samples.map((s) => ({ labels: Object.fromEntries(s.labels), value: s.value })) };
  });
}

/** Series compared without their order: the registry sorts by escaped label text. */
const labelOrder = (labels: Record<string, string>): string => JSON.stringify(Object.entries(labels).sort((a, b) => (a[0] < b[0] ? -1 : 1)));
const bySeries = (r: Recorded[]): unknown =>
  r.map((f) => ({ ...f, series: [...f.series].sort((a, b) => (labelOrder(a.labels) < labelOrder(b.labels) ? -1 : 1)) }));

test('400 random registries with hostile labels and help read back exactly, in both formats', () => {
  for (let seed = 1; seed <= 400; seed++) {
    const { registry, recorded } = randomRegistry(seed);
    const snapshot = registry.collect();
    // A family with no series is not written at all.
    const expected = bySeries(recorded.map((f) => ({ ...f, help: f.help.toWellFormed() })).filter((f) => f.series.length > 0));
    const text = renderText(snapshot);
    assert.deepEqual(bySeries(readBack(parseExposition(text, 'text'))), expected, `seed ${seed}, text 0.0.4:\n${text}`);
    const om = renderOpenMetrics(snapshot);
    assert.deepEqual(bySeries(readBack(parseExposition(om, 'openmetrics'))), expected, `seed ${seed}, OpenMetrics:\n${om}`);
  }
});

test('a large registry (about 10,000 series) parses whole, and quickly', () => {
  const registry = new Registry();
  const c = registry.counter({ name: 'big_requests_total', help: 'Requests.', labelNames: ['method', 'route', 'status'] });
  const h = registry.histogram({ name: 'big_duration_seconds', help: 'Durations.', labelNames: ['route'] });
  for (let i = 0; i < 7000; i++) c.labels(['GET', 'POST'][i % 2] as string, `/r${i % 300}/"q"\\${i}`, String(200 + (i % 5))).inc(i);
  for (let i = 0; i < 200; i++) h.labels(`/r${i}`).observe(i / 100);
  const text = renderText(registry.collect());
  const started = performance.now();
  const parsed = parseExposition(text, 'text');
  const ms = performance.now() - started;
  const samples = parsed.families.reduce((n, f) => n + f.samples.length, 0);
  assert.equal(samples, 7000 + 200 * 14);
  assert.ok(ms < 1000, `parsed ${samples} samples in ${ms.toFixed(0)} ms`);
});

test('text 0.0.4 leniencies the Prometheus server has: blanks, comments, trailing comma, timestamps, no final LF', () => {
  const e = parseExposition('# a comment\n\n  # HELP x  Some help.\n# TYPE x gauge\nx { a = "1" , b="2", } \t 3   1395066363000 \nx{a="2"} 4\n# random comment\ny 5', 'text');
  assert.deepEqual(e.families.map((f) => [f.name, f.type, f.help, f.samples.map((s) => [s.labels, s.value, s.timestampMs])]), [
    ['x', 'gauge', 'Some help.', [[[['a', '1'], ['b', '2']], 3, 1395066363000], [[['a', '2']], 4, undefined]]],
    ['y', 'untyped', undefined, [[[], 5, undefined]]],
  ]);
  assert.equal(e.families[0]?.samples[0]?.text, 'x { a = "1" , b="2", }', 'the series as written, for the scraper\'s fast lookup');
  // An unknown escape is kept as it is, as the Prometheus server keeps it.
  assert.equal(parseExposition('x{a="b\\tc"} 1\n', 'text').families[0]?.samples[0]?.labels[0]?.[1], 'b\\tc');
  // HELP in text 0.0.4 keeps \" as written.
  assert.equal(parseExposition('# HELP x say \\"hi\\" \\\\ \\n.\nx 1\n', 'text').families[0]?.help, 'say \\"hi\\" \\ \n.');
  assert.deepEqual(parseExposition('', 'text').families, []);
  for (const [token, value] of [['+Inf', Infinity], ['-inf', -Infinity], ['Infinity', Infinity], ['nan', NaN], ['1e3', 1000], ['-.5', -0.5], ['5.', 5], ['+1', 1]] as const) {
    assert.ok(Object.is(parseNumber(token), value), token);
  }
  for (const token of ['0x10', '1_000', '', '+NaN', 'Inf1', '1e', '--1', ' 1']) assert.equal(parseNumber(token), undefined, token);
});

test('OpenMetrics: UNIT, exemplars, float timestamps, counters under their family name', () => {
  const e = parseExposition(
    '# TYPE req_seconds counter\n# UNIT req_seconds seconds\n# HELP req_seconds Time \\"spent\\".\nreq_seconds_total{a="b"} 17.0 1520879607.789 # {trace_id="abc"} 0.67 1520879607.5\nreq_seconds_created 1520430000.123\n# TYPE build info\nbuild_info{version="1.2"} 1\n# EOF\n',
    'openmetrics',
  );
  const [req, build] = e.families as [Family, Family];
  assert.deepEqual([req.name, req.type, req.unit, req.help], ['req_seconds', 'counter', 'seconds', 'Time "spent".']);
  assert.deepEqual(req.samples[0], { name: 'req_seconds_total', labels: [['a', 'b']], text: 'req_seconds_total{a="b"}', value: 17, timestampMs: 1520879607789, exemplar: { labels: [['trace_id', 'abc']], value: 0.67, timestampMs: 1520879607500 } });
  assert.equal(req.samples[1]?.name, 'req_seconds_created');
  assert.deepEqual([build.name, build.type, build.samples[0]?.name], ['build', 'info', 'build_info']);
  assert.deepEqual(parseExposition('# EOF', 'openmetrics').families, [], 'the final LF after # EOF is a SHOULD');
  assert.equal(formatOf('application/openmetrics-text; version=1.0.0; charset=utf-8'), 'openmetrics');
  assert.equal(formatOf('text/plain; version=0.0.4; charset=utf-8'), 'text');
  assert.equal(formatOf(undefined), 'text');
});

test('malformed bodies fail with the line and the reason', () => {
  const cases: [string, 'text' | 'openmetrics', RegExp][] = [
    ['a 1\n', 'openmetrics', /line 1: the body does not end with # EOF/],
    ['a 1\n# EOF\nb 2\n', 'openmetrics', /line 3: text after # EOF/],
    ['a 1\n\n# EOF\n', 'openmetrics', /line 2: blank line/],
    ['a  1\n# EOF\n', 'openmetrics', /exactly one space/],
    ['a 1 \n# EOF\n', 'openmetrics', /exactly one space/],
    ['a{b="1",} 1\n# EOF\n', 'openmetrics', /trailing comma/],
    ['# comment\n# EOF\n', 'openmetrics', /unexpected comment/],
    ["# TYPE a gauge\na 1\n# TYPE b gauge\nb 1\na 2\n# EOF\n", "openmetrics", /line 5: .*interleaved/],
    ['# TYPE a histogram\na_bucket{le="+Inf"} 1\n# TYPE a_count gauge\n# EOF\n', 'openmetrics', /line 3: the sample name a_count of .* is also family a's/],
    ['# TYPE a histogram\na 1\n# EOF\n', 'openmetrics', /line 2: sample a does not belong to histogram a/],
    ['# TYPE a_seconds gauge\n# UNIT a_seconds bytes\n# EOF\n', 'openmetrics', /not a suffix/],
    ['a 1.5.5\n', 'text', /line 1: invalid value/],
    ['a 0x10\n', 'text', /invalid value/],
    ['a{b="1",b="2"} 1\n', 'text', /duplicate label name b/],
    ['a{b="1} 1\n', 'text', /unterminated value of label b/],
    ['a{1b="1"} 1\n', 'text', /invalid label name/],
    ['a{b=1} 1\n', 'text', /quoted value/],
    ['a{b="1" c="2"} 1\n', 'text', /expected , or }/],
    ['a 1\n# TYPE a gauge\n', 'text', /line 2: # TYPE for a after its samples/],
    ['# TYPE a gauge\n# TYPE a counter\n', 'text', /second TYPE line/],
    ['# TYPE a histogramm\n', 'text', /invalid metric type "histogramm"/],
    ['a 1 12.5\n', 'text', /integer milliseconds/],
    ['a 1 2 3\n', 'text', /after the timestamp/],
    ['a\n', 'text', /expected a space and a value after a/],
    ['1a 1\n', 'text', /expected a metric name/],
  ];
  for (const [body, format, pattern] of cases) {
    assert.throws(() => parseExposition(body, format), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'ERR_EXPOSITION_PARSE', `${JSON.stringify(body)}: ${err.message}`);
      assert.match(err.message, pattern, JSON.stringify(body));
      return true;
    });
  }
});
