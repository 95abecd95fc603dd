/** Histograms: observations counted into cumulative buckets. */
import { MetricError } from '../errors.js';
import { Metric, type MetricOptions } from './metric.js';
import { checkMetricName, checkNotOtherTypeSuffix } from './names.js';
import { Series, type SeriesSchema } from './series.js';
import type { HistogramFamily, HistogramSeries } from './snapshot.js';

/** The schema of a histogram's series: the label names plus the bucket bounds. */
export interface HistogramSchema extends SeriesSchema {
  /** Finite bounds, ascending. Not frozen: V8 reads frozen arrays several times slower. */
  readonly bounds: readonly number[];
}

/** Prometheus' default buckets (client_golang `DefBuckets`), in seconds. */
export const DEFAULT_BUCKETS: readonly number[] = Object.freeze([0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10]);

/** One series of a histogram. */
export class HistogramChild extends Series<HistogramSchema> {
  /** Per-bucket (not cumulative) counts; the last slot counts observations above every bound. */
  readonly #counts: number[];
  #sum = 0;
  #count = 0;

  /** @internal Made by Histogram; use `histogram.labels(...)`. */
  constructor(schema: HistogramSchema, values: readonly string[]) {
    super(schema, values);
    this.#counts = [];
    for (let i = 0; i <= schema.bounds.length; i++) this.#counts.push(0);
  }

  /**
   * Records one observation. Throws ERR_METRIC_VALUE unless `v` is finite and not negative:
   * OpenMetrics forbids a NaN or negative `_sum`, and a NaN would poison it for good.
   */
  observe(v: number): void {
    if (!(v >= 0 && v < Infinity)) {
      throw new MetricError('ERR_METRIC_VALUE', `histogram ${this.schema.metric}: cannot observe ${v}; observations are finite and >= 0`);
    }
    const bounds = this.schema.bounds;
    let i = 0;
    while (i < bounds.length && v > (bounds[i] as number)) i++;
    (this.#counts[i] as number)++;
    this.#sum += v;
    this.#count++;
  }

  /** Sum of all observations. */
  get sum(): number {
    return this.#sum;
  }

  /** Number of observations. */
  get count(): number {
    return this.#count;
  }

  /** @internal The series' snapshot, buckets made cumulative. */
  snapshot(): HistogramSeries {
    const n = this.schema.bounds.length;
    const buckets = new Array<number>(n);
    let running = 0;
    for (let i = 0; i < n; i++) {
      running += this.#counts[i] as number;
      buckets[i] = running;
    }
    return { labels: this, buckets, sum: this.#sum, count: this.#count };
  }
}

/** Options of a histogram. */
export interface HistogramOptions<L extends readonly string[]> extends MetricOptions<L, Histogram<L>> {
  /**
   * Finite upper bounds, strictly ascending and >= 0; a trailing `+Inf` may be given and is
   * implied anyway. Default {@link DEFAULT_BUCKETS}.
   */
  readonly buckets?: readonly number[];
}

function checkBuckets(metric: string, buckets: unknown): number[] {
  if (!Array.isArray(buckets)) throw new MetricError('ERR_METRIC_BUCKETS', `histogram ${metric}: buckets must be an array of numbers`);
  const bounds = buckets.at(-1) === Infinity ? buckets.slice(0, -1) : buckets.slice();
  bounds.forEach((b: unknown, i) => {
    if (typeof b !== 'number' || !Number.isFinite(b) || b < 0) {
      throw new MetricError('ERR_METRIC_BUCKETS', `histogram ${metric}: bucket ${i} is ${String(b)}; bounds are finite numbers >= 0`);
    }
    const previous = bounds[i - 1] as number | undefined;
    if (previous !== undefined && !(b > previous)) {
      throw new MetricError(
        'ERR_METRIC_BUCKETS',
        `histogram ${metric}: buckets must be strictly ascending, but ${b} follows ${previous} (${JSON.stringify(buckets)})`,
      );
    }
  });
  return bounds as number[];
}

/** A histogram with fixed buckets. */
export class Histogram<L extends readonly string[] = readonly []> extends Metric<L, HistogramChild, HistogramSchema> {
  readonly type = 'histogram' as const;
  /** The finite upper bounds; `+Inf` is implied. */
  readonly bounds: readonly number[];

  constructor(options: HistogramOptions<L>) {
    checkMetricName(options?.name);
    const bounds = checkBuckets(options?.name, options?.buckets ?? DEFAULT_BUCKETS);
    super(options as MetricOptions<L, never>, HistogramChild, { bounds });
    checkNotOtherTypeSuffix('histogram', this.name);
    this.bounds = Object.freeze(bounds.slice());
  }

  /** Records one observation on an unlabeled histogram. */
  observe(v: number): void {
    this.unlabeled.observe(v);
  }

  protected snapshot(children: readonly HistogramChild[]): HistogramFamily {
    const series: HistogramSeries[] = new Array(children.length);
    for (let i = 0; i < children.length; i++) series[i] = (children[i] as HistogramChild).snapshot();
    return { type: 'histogram', name: this.name, help: this.help, bounds: this.bounds, series };
  }
}
