/** Counters: values that only go up. */
import { MetricError } from '../errors.js';
import { Metric, type MetricOptions } from './metric.js';
import { scalarFamily, Series } from './series.js';
import type { ScalarFamily } from './snapshot.js';

/** One series of a counter. */
export class CounterChild extends Series {
  #value = 0;

  /** Adds `n` (default 1). Throws ERR_METRIC_VALUE unless `n` is finite and not negative. */
  inc(n = 1): void {
    if (!(n >= 0 && n < Infinity)) {
      throw new MetricError('ERR_METRIC_VALUE', `counter ${this.schema.metric}: cannot add ${n}; increments are finite and >= 0`);
    }
    this.#value += n;
  }

  /** The current value. */
  get value(): number {
    return this.#value;
  }
}

/** Options of a counter. */
export type CounterOptions<L extends readonly string[]> = MetricOptions<L, Counter<L>>;

/**
 * A counter. Its name must end in `_total`: OpenMetrics requires that suffix on counter samples
 * and promtool flags a counter without it, so one name serves both formats.
 */
export class Counter<L extends readonly string[] = readonly []> extends Metric<L, CounterChild> {
  readonly type = 'counter' as const;

  constructor(options: CounterOptions<L>) {
    super(options as MetricOptions<L, never>, CounterChild, {});
    if (!this.name.endsWith('_total') || this.name === '_total') {
      throw new MetricError('ERR_METRIC_NAME', `counter ${this.name}: a counter name must end in _total (for example ${this.name}_total)`);
    }
  }

  /** Adds `n` to an unlabeled counter. */
  inc(n = 1): void {
    this.unlabeled.inc(n);
  }

  protected snapshot(children: readonly CounterChild[]): ScalarFamily {
    return scalarFamily('counter', this.name, this.help, children);
  }
}
