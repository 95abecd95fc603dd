/**
 * The snapshot: a plain, read-only picture of a registry at one moment. Metrics write it in
 * `collect()`; the text and OpenMetrics writers are pure functions of it and know nothing of
 * metric classes, so a snapshot may just as well be built by hand (tests, custom collectors).
 */
import { MetricError } from '../errors.js';
import { escapeLabelValue } from './escape.js';
import { checkHelp, checkLabelNames, checkMetricName } from './names.js';

/** Family types the writers know. `untyped` is written as `unknown` in OpenMetrics. */
export type MetricType = 'counter' | 'gauge' | 'histogram' | 'untyped';

/**
 * The labels of one series. `text` is the escaped `a="x",b="y"` form (no braces), made once
 * when the series is created so that a scrape only concatenates.
 */
export interface LabelSet {
  readonly names: readonly string[];
  readonly values: readonly string[];
  readonly text: string;
}

/** One series of a counter, gauge or untyped family. */
export interface ScalarSeries {
  readonly labels: LabelSet;
  readonly value: number;
}

/**
 * One series of a histogram. `buckets[i]` is the cumulative count of observations `<= bounds[i]`
 * of its family; the `+Inf` bucket is `count`.
 */
export interface HistogramSeries {
  readonly labels: LabelSet;
  readonly buckets: readonly number[];
  readonly sum: number;
  readonly count: number;
}

interface FamilyBase {
  /** The name samples are written under: a counter's includes `_total`. */
  readonly name: string;
  readonly help: string;
}

/** A counter, gauge or untyped family. */
export interface ScalarFamily extends FamilyBase {
  readonly type: 'counter' | 'gauge' | 'untyped';
  readonly series: readonly ScalarSeries[];
}

/** A histogram family. `bounds` are the finite upper bounds, ascending; `+Inf` is implied. */
export interface HistogramFamily extends FamilyBase {
  readonly type: 'histogram';
  readonly bounds: readonly number[];
  readonly series: readonly HistogramSeries[];
}

/** One metric family. */
export type FamilySnapshot = ScalarFamily | HistogramFamily;

/**
 * A whole registry. Writers emit families and series in the order given; `Registry.collect()`
 * sorts families by name and series by their label text. A family with no series is skipped.
 */
export interface Snapshot {
  readonly families: readonly FamilySnapshot[];
}

/** The label set of a series without labels. */
export const NO_LABELS: LabelSet = Object.freeze({
  names: Object.freeze([] as string[]),
  values: Object.freeze([] as string[]),
  text: '',
});

/**
 * Builds a {@link LabelSet} for a snapshot made by hand, escaping the values once. `names` are
 * taken as valid; the counts must match and values must be strings.
 */
export function labelSet(names: readonly string[], values: readonly string[]): LabelSet {
  if (names.length === 0 && values.length === 0) return NO_LABELS;
  return { names, values: values.slice(), text: labelText('label set', names, values) };
}

/**
 * The escaped `a="x",b="y"` text of a label set, labels ordered by name. Throws ERR_METRIC_LABELS, naming `metric`, on a
 * wrong count or a value that is not a string.
 */
export function labelText(metric: string, names: readonly string[], values: readonly string[]): string {
  if (names.length !== values.length) {
    throw new MetricError(
      'ERR_METRIC_LABELS',
      `${metric}: expected ${names.length} label values (${names.join(', ')}), got ${values.length}: ${JSON.stringify(values)}`,
    );
  }
  // Written in label-name order, as client_golang does, whatever the declaration order.
  const order = [...names.keys()].sort((i, j) => ((names[i] as string) < (names[j] as string) ? -1 : 1));
  // Joined rather than concatenated: `+=` would keep a rope of small strings per series, twice
  // the memory of one flat string, for as long as the series lives.
  const parts: string[] = [];
  for (const i of order) {
    const value = values[i];
    if (typeof value !== 'string') {
      throw new MetricError(
        'ERR_METRIC_LABELS',
        `${metric}: label ${names[i]} must be a string, got ${typeof value} ${String(value)}`,
      );
    }
    parts.push(names[i] + '="' + escapeLabelValue(value) + '"');
  }
  return parts.join(',');
}

/** Every name a family's samples and metadata use, in either format. */
export function familyNames(type: MetricType, name: string): string[] {
  switch (type) {
    case 'counter': {
      // OpenMetrics calls the family `x` and may add `x_created`.
      const base = name.endsWith('_total') ? name.slice(0, -'_total'.length) : name;
      return [name, base, base + '_created'];
    }
    case 'histogram':
      return [name, name + '_bucket', name + '_sum', name + '_count', name + '_created'];
    default:
      return [name];
  }
}

function snapshotError(family: string, why: string): MetricError {
  return new MetricError('ERR_METRIC_SNAPSHOT', `family ${family}: ${why}`);
}

/**
 * Checks a snapshot built by hand against the rules the writers rely on, which
 * `Registry.collect()` guarantees by construction: valid names and non-empty help, no two
 * families sharing a written name, one set of label names per family, no two series with the
 * same labels (an empty value counts as absent, as Prometheus reads it), counters finite-or-+Inf
 * and non-negative, histogram buckets cumulative and consistent with `count`.
 * Throws a MetricError (`ERR_METRIC_SNAPSHOT` or a name/label code) naming the family.
 */
export function checkSnapshot(snapshot: Snapshot): void {
  const written = new Map<string, string>();
  for (const family of snapshot.families) {
    checkMetricName(family.name);
    checkHelp(family.name, family.help);
    if (family.type === 'counter' && !family.name.endsWith('_total')) {
      throw snapshotError(family.name, 'a counter name must end in _total');
    }
    for (const n of familyNames(family.type, family.name)) {
      const owner = written.get(n);
      if (owner !== undefined) throw snapshotError(family.name, `the name ${n} is also written by family ${owner}`);
      written.set(n, family.name);
    }
    const first = family.series[0];
    const names = first ? first.labels.names : [];
    checkLabelNames(family.name, names);
    const seen = new Set<string>();
    for (const series of family.series) {
      const { labels } = series;
      if (labels.names.length !== names.length || labels.names.some((n, i) => n !== names[i])) {
        throw snapshotError(family.name, `series {${labels.text}} has other label names than {${first?.labels.text}}`);
      }
      const expected = labelSet(labels.names, labels.values).text;
      if (labels.text !== expected) throw snapshotError(family.name, `label text ${labels.text} should be ${expected}`);
      const identity = labels.names.map((n, i) => (labels.values[i] === '' ? '' : `${n}=${JSON.stringify(labels.values[i])}`)).filter(Boolean).join(',');
      if (seen.has(identity)) throw snapshotError(family.name, `two series with the labels {${identity}}`);
      seen.add(identity);
      if (family.type === 'histogram') checkHistogramSeries(family, series as HistogramSeries);
      else if (family.type === 'counter') {
        const { value } = series as ScalarSeries;
        if (!(value >= 0)) throw snapshotError(family.name, `counter value ${value} is negative or NaN`);
      }
    }
    if (family.type === 'histogram') {
      family.bounds.forEach((b, i) => {
        if (!Number.isFinite(b) || (i > 0 && !(b > (family.bounds[i - 1] as number)))) {
          throw snapshotError(family.name, 'bounds must be finite and strictly ascending');
        }
      });
    }
  }
}

function checkHistogramSeries(family: HistogramFamily, series: HistogramSeries): void {
  if (series.buckets.length !== family.bounds.length) {
    throw snapshotError(family.name, `series {${series.labels.text}} has ${series.buckets.length} buckets for ${family.bounds.length} bounds`);
  }
  let previous = 0;
  for (const b of series.buckets) {
    if (!Number.isInteger(b) || b < previous) throw snapshotError(family.name, `series {${series.labels.text}} buckets are not cumulative counts`);
    previous = b;
  }
  if (!Number.isInteger(series.count) || series.count < previous) {
    throw snapshotError(family.name, `series {${series.labels.text}} count ${series.count} is below its last bucket`);
  }
  if (!Number.isFinite(series.sum)) throw snapshotError(family.name, `series {${series.labels.text}} sum ${series.sum} is not finite`);
}
