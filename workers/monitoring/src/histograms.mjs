/**
 * Histogram families as series: the `_bucket` samples of one label set (without `le`) gathered
 * into ascending buckets, with their `_sum` and `_count`.
 */

/** @typedef {import('./parse.mjs').Family} Family */
/** @typedef {import('./parse.mjs').Label} Label */
/**
 * @typedef {object} HistogramSeries
 * @property {Label[]} labels the series' labels, `le` removed, in written order
 * @property {{le: number, count: number}[]} buckets ascending by `le`; the last is `+Inf` when it was written
 * @property {number | undefined} sum
 * @property {number | undefined} count
 */

/**
 * A canonical key for a label set: sorted by name, values JSON-quoted, so no two different sets
 * share a key (`{a:"x|",b:""}` and `{a:"x",b:"|"}` stay apart).
 * @param {readonly Label[]} labels
 */
export function labelsKey(labels) {
  if (labels.length === 0) return '';
  const sorted = labels.length === 1 ? labels : [...labels].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0));
  let key = '';
  for (const [name, value] of sorted) key += name + '=' + JSON.stringify(value) + ',';
  return key;
}

/**
 * The series of a `histogram` or `gaugehistogram` family. `le` values are read as numbers
 * (`"1"`, `"1.0"` and `"1e+00"` are one bound); a bucket whose `le` is not a number is skipped.
 * @param {Family} family
 * @returns {HistogramSeries[]}
 */
export function histogramSeries(family) {
  const gauge = family.type === 'gaugehistogram';
  const sumName = family.name + (gauge ? '_gsum' : '_sum');
  const countName = family.name + (gauge ? '_gcount' : '_count');
  const bucketName = family.name + '_bucket';
  /** @type {Map<string, HistogramSeries>} */
  const byKey = new Map();
  /** @param {Label[]} labels */
  const seriesOf = (labels) => {
    const key = labelsKey(labels);
    let series = byKey.get(key);
    if (series === undefined) {
      series = { labels, buckets: [], sum: undefined, count: undefined };
      byKey.set(key, series);
    }
    return series;
  };
  for (const sample of family.samples) {
    if (sample.name === bucketName) {
      const le = sample.labels.find((l) => l[0] === 'le');
      const bound = le === undefined ? NaN : le[1] === '+Inf' ? Infinity : Number(le[1]);
      if (Number.isNaN(bound) || le?.[1] === '') continue;
      seriesOf(sample.labels.filter((l) => l[0] !== 'le')).buckets.push({ le: bound, count: sample.value });
    } else if (sample.name === sumName) {
      seriesOf(sample.labels).sum = sample.value;
    } else if (sample.name === countName) {
      seriesOf(sample.labels).count = sample.value;
    }
  }
  for (const series of byKey.values()) series.buckets.sort((a, b) => a.le - b.le);
  return [...byKey.values()];
}
