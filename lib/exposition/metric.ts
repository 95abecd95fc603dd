/**
 * What counters, gauges and histograms share: options checked once at construction, the series
 * store, label handles, removal and the scrape-time collect hook.
 */
import { MetricError } from '../errors.js';
import { checkHelp, checkLabelNames, checkMetricName } from './names.js';
import { SeriesMap } from './series-map.js';
import type { Series, SeriesSchema } from './series.js';
import type { FamilySnapshot } from './snapshot.js';

/** One string per declared label name, in declaration order: `labels('GET', '/api')`. */
export type LabelValues<L extends readonly string[]> = { [K in keyof L]: string };

/** Options every metric takes. */
export interface MetricOptions<L extends readonly string[], M> {
  /** Metric name; a counter's must end in `_total`. */
  readonly name: string;
  /** Non-empty help text. */
  readonly help: string;
  /** Label names, in the order `labels()` takes values. Give them `as const` for typed arity. */
  readonly labelNames?: L;
  /**
   * Called by `Registry.collect()` right before this metric is read, to set gauges that describe
   * current state. Must be synchronous and quick: it runs on every scrape.
   */
  readonly collect?: (metric: M) => void;
}

const NO_VALUES: readonly string[] = Object.freeze([]);

/** Base class of Counter, Gauge and Histogram. */
export abstract class Metric<L extends readonly string[], C extends Series<S>, S extends SeriesSchema = SeriesSchema> {
  /** Name as written on samples. */
  readonly name: string;
  readonly help: string;
  readonly labelNames: L;
  /** The family type this metric writes. */
  abstract readonly type: 'counter' | 'gauge' | 'histogram';
  readonly #series: SeriesMap<C>;
  readonly #hook: ((metric: never) => void) | undefined;

  /**
   * Checks `options`, then makes the schema shared by all children (`extra` adds to it, e.g. a
   * histogram's bounds) and the series store, whose children are `new Child(schema, values)`.
   */
  protected constructor(
    options: MetricOptions<L, never>,
    Child: new (schema: S, values: readonly string[]) => C,
    extra: Omit<S, keyof SeriesSchema>,
  ) {
    if (options === null || typeof options !== 'object') {
      throw new MetricError('ERR_METRIC_NAME', 'metric options must be an object with name and help');
    }
    checkMetricName(options.name);
    checkHelp(options.name, options.help);
    const labelNames = (options.labelNames ?? []) as L;
    checkLabelNames(options.name, labelNames);
    if (options.collect !== undefined && typeof options.collect !== 'function') {
      throw new MetricError('ERR_METRIC_NAME', `metric ${options.name}: collect must be a function`);
    }
    this.name = options.name;
    this.help = options.help;
    this.labelNames = Object.freeze([...labelNames]) as unknown as L;
    this.#hook = options.collect;
    const schema = { ...extra, metric: this.name, names: this.labelNames } as unknown as S;
    this.#series = new SeriesMap(this.name, this.labelNames, (values) => new Child(schema, values));
  }

  /**
   * The child for these label values, created on first use and the same object afterwards:
   * keep it to update a series without a lookup. Throws ERR_METRIC_LABELS on a wrong count.
   */
  labels(...values: LabelValues<L>): C {
    return this.#series.get(values);
  }

  /** The child of an unlabeled metric; throws ERR_METRIC_LABELS on a labeled one. */
  protected get unlabeled(): C {
    return this.#series.get(NO_VALUES);
  }

  /**
   * Stops exporting the series with these label values (an unlabeled metric is reset to zero).
   * Returns whether it existed. A handle kept from `labels()` is detached: updating it no
   * longer shows, and `labels()` with the same values starts a new series at zero.
   */
  remove(...values: LabelValues<L>): boolean {
    return this.#series.delete(values);
  }

  /** Removes every series (an unlabeled metric is reset to zero). */
  clear(): void {
    this.#series.clear();
  }

  /** Number of series this metric exports now. */
  get seriesCount(): number {
    return this.#series.size;
  }

  /** Runs the collect hook, then returns this metric's family as a snapshot. */
  collect(): FamilySnapshot {
    if (this.#hook !== undefined) (this.#hook as (metric: this) => void)(this);
    return this.snapshot(this.#series.sorted());
  }

  /** The family snapshot of `children`, already in export order. */
  protected abstract snapshot(children: readonly C[]): FamilySnapshot;
}
