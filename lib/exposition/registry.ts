/**
 * The registry: the set of metrics one endpoint exports. There is no global registry; the
 * caller creates one, registers metrics in it and collects it for each scrape.
 */
import { MetricError } from '../errors.js';
import { Counter, type CounterOptions } from './counter.js';
import { Gauge, type GaugeOptions } from './gauge.js';
import { Histogram, type HistogramOptions } from './histogram.js';
import { familyNames, type FamilySnapshot, type Snapshot } from './snapshot.js';

/** Any metric a registry holds. */
export type AnyMetric = Counter<readonly string[]> | Gauge<readonly string[]> | Histogram<readonly string[]>;

/** A set of metrics with distinct names, collected together. */
export class Registry {
  readonly #metrics = new Map<string, AnyMetric>();
  /** Every name written by a registered metric in either format, mapped to its owner. */
  readonly #written = new Map<string, string>();
  #ordered: AnyMetric[] = [];

  /** Creates a counter and registers it. */
  counter<const L extends readonly string[] = readonly []>(options: CounterOptions<L>): Counter<L> {
    return this.register(new Counter<L>(options));
  }

  /** Creates a gauge and registers it. */
  gauge<const L extends readonly string[] = readonly []>(options: GaugeOptions<L>): Gauge<L> {
    return this.register(new Gauge<L>(options));
  }

  /** Creates a histogram and registers it. */
  histogram<const L extends readonly string[] = readonly []>(options: HistogramOptions<L>): Histogram<L> {
    return this.register(new Histogram<L>(options));
  }

  /**
   * Registers a metric made elsewhere. Throws ERR_METRIC_DUPLICATE when its name, or a name its
   * samples are written under (`x_bucket`, `x_count`, the OpenMetrics family of a counter...),
   * is already taken by a registered metric.
   */
  register<M extends Counter<any> | Gauge<any> | Histogram<any>>(metric: M): M {
    const names = familyNames(metric.type, metric.name);
    for (const n of names) {
      const owner = this.#written.get(n);
      if (owner !== undefined) {
        const what = owner === metric.name ? 'is already registered' : `clashes with metric ${owner}, which also writes ${n}`;
        throw new MetricError('ERR_METRIC_DUPLICATE', `metric ${metric.name} ${what}`);
      }
    }
    for (const n of names) this.#written.set(n, metric.name);
    this.#metrics.set(metric.name, metric as AnyMetric);
    // Inserted in order: re-sorting on each of tqserver's ~45 registrations ran the comparator
    // often enough to have V8 optimize it at start-up (docs/performance.md, "Idle memory").
    this.#ordered.splice(insertionPoint(this.#ordered, metric.name), 0, metric as AnyMetric);
    return metric;
  }

  /** Removes the metric named `name`; true if it was registered. */
  unregister(name: string): boolean {
    const metric = this.#metrics.get(name);
    if (metric === undefined) return false;
    for (const n of familyNames(metric.type, metric.name)) this.#written.delete(n);
    this.#metrics.delete(name);
    this.#ordered = this.#ordered.filter((m) => m !== metric);
    return true;
  }

  /** The metric registered as `name`, if any. */
  get(name: string): AnyMetric | undefined {
    return this.#metrics.get(name);
  }

  /**
   * Runs every collect hook and returns the snapshot: families sorted by name, each family's
   * series sorted by label values. A hook that throws aborts the collection with its error.
   */
  collect(): Snapshot {
    const families: FamilySnapshot[] = new Array(this.#ordered.length);
    for (let i = 0; i < this.#ordered.length; i++) families[i] = (this.#ordered[i] as AnyMetric).collect();
    return { families };
  }
}

/** Where `name` goes in `ordered` (sorted by name, by UTF-16 code units, names distinct). */
function insertionPoint(ordered: readonly AnyMetric[], name: string): number {
  let lo = 0;
  let hi = ordered.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if ((ordered[mid] as AnyMetric).name < name) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
