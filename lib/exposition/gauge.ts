/** Gauges: values that go up and down. */
import { MetricError } from '../errors.js';
import { Metric, type MetricOptions } from './metric.js';
import { checkNotOtherTypeSuffix } from './names.js';
import { scalarFamily, Series } from './series.js';
import type { ScalarFamily } from './snapshot.js';

/** One series of a gauge. */
export class GaugeChild extends Series {
  #value = 0;

  #check(op: string, n: number): void {
    if (!Number.isFinite(n)) {
      throw new MetricError('ERR_METRIC_VALUE', `gauge ${this.schema.metric}: cannot ${op} ${n}; use set() for NaN or infinities`);
    }
  }

  /** Adds `n` (default 1); throws ERR_METRIC_VALUE unless `n` is finite. */
  inc(n = 1): void {
    this.#check('add', n);
    this.#value += n;
  }

  /** Subtracts `n` (default 1); throws ERR_METRIC_VALUE unless `n` is finite. */
  dec(n = 1): void {
    this.#check('subtract', n);
    this.#value -= n;
  }

  /** Sets the value; any number, NaN and infinities included, is a valid gauge value. */
  set(v: number): void {
    if (typeof v !== 'number') {
      throw new MetricError('ERR_METRIC_VALUE', `gauge ${this.schema.metric}: cannot set ${typeof v} ${String(v)}; values are numbers`);
    }
    this.#value = v;
  }

  /** The current value. */
  get value(): number {
    return this.#value;
  }
}

/** Options of a gauge. */
export type GaugeOptions<L extends readonly string[]> = MetricOptions<L, Gauge<L>>;

/** A gauge. */
export class Gauge<L extends readonly string[] = readonly []> extends Metric<L, GaugeChild> {
  readonly type = 'gauge' as const;

  constructor(options: GaugeOptions<L>) {
    super(options as MetricOptions<L, never>, GaugeChild, {});
    checkNotOtherTypeSuffix('gauge', this.name);
  }

  /** Adds `n` to an unlabeled gauge. */
  inc(n = 1): void {
    this.unlabeled.inc(n);
  }

  /** Subtracts `n` from an unlabeled gauge. */
  dec(n = 1): void {
    this.unlabeled.dec(n);
  }

  /** Sets an unlabeled gauge. */
  set(v: number): void {
    this.unlabeled.set(v);
  }

  protected snapshot(children: readonly GaugeChild[]): ScalarFamily {
    return scalarFamily('gauge', this.name, this.help, children);
  }
}
