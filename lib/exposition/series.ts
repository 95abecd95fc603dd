/** The base of every metric child: one series, which is its own label set. */
import { labelText, type LabelSet, type ScalarFamily, type ScalarSeries } from './snapshot.js';

/** What all series of one metric share; one object per metric, pointed to by every child. */
export interface SeriesSchema {
  /** Metric name, for error messages. */
  readonly metric: string;
  readonly names: readonly string[];
}

/**
 * One series: its label values, their escaped text, and the schema of its metric. A child is
 * its own {@link LabelSet}, which saves an object per series (heap per series is a goal).
 */
export abstract class Series<S extends SeriesSchema = SeriesSchema> implements LabelSet {
  readonly values: readonly string[];
  readonly text: string;
  /** @internal */
  protected readonly schema: S;

  /** @internal Checks and escapes `values` (throws ERR_METRIC_LABELS). */
  constructor(schema: S, values: readonly string[]) {
    this.text = values.length === 0 ? '' : labelText(`metric ${schema.metric}`, schema.names, values);
    this.schema = schema;
    this.values = values;
  }

  /** The label names, the same for every series of the metric. */
  get names(): readonly string[] {
    return this.schema.names;
  }

  /** This series' label set. */
  get labels(): LabelSet {
    return this;
  }
}

/** The family snapshot of counter or gauge children, already in export order. */
export function scalarFamily(type: 'counter' | 'gauge', name: string, help: string, children: readonly (Series & { readonly value: number })[]): ScalarFamily {
  const series: ScalarSeries[] = new Array(children.length);
  for (let i = 0; i < children.length; i++) {
    const child = children[i] as Series & { readonly value: number };
    series[i] = { labels: child, value: child.value };
  }
  return { type, name, help, series };
}
