/**
 * Validation of metric and label names, done once when a metric is created or a snapshot is
 * checked, never on the hot path.
 */
import { MetricError } from '../errors.js';

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/**
 * Label names this core never accepts from a caller: `le` is written by histograms and
 * `quantile` by summaries, and promtool flags either on any other type.
 */
const RESERVED_LABELS: ReadonlySet<string> = new Set(['le', 'quantile']);

/** Throws unless `name` is a valid metric name in text 0.0.4 and OpenMetrics 1.0. */
export function checkMetricName(name: unknown): asserts name is string {
  if (typeof name !== 'string' || !METRIC_NAME.test(name)) {
    throw new MetricError(
      'ERR_METRIC_NAME',
      `invalid metric name ${JSON.stringify(name)}: a name must match [a-zA-Z_:][a-zA-Z0-9_:]*`,
    );
  }
}

/**
 * Throws unless `labelNames` are valid, distinct, not reserved by Prometheus (`__` prefix) and
 * not written by the core itself (`le`, `quantile`). `metric` names the metric in the message.
 */
export function checkLabelNames(metric: string, labelNames: unknown): asserts labelNames is readonly string[] {
  if (!Array.isArray(labelNames)) {
    throw new MetricError('ERR_METRIC_LABELS', `metric ${metric}: labelNames must be an array of strings`);
  }
  const seen = new Set<string>();
  for (const label of labelNames) {
    if (typeof label !== 'string' || !LABEL_NAME.test(label)) {
      throw new MetricError(
        'ERR_METRIC_LABELS',
        `metric ${metric}: invalid label name ${JSON.stringify(label)}: a label name must match [a-zA-Z_][a-zA-Z0-9_]*`,
      );
    }
    if (label.startsWith('__')) {
      throw new MetricError(
        'ERR_METRIC_LABELS',
        `metric ${metric}: label name "${label}" starts with "__", which Prometheus reserves for itself`,
      );
    }
    if (RESERVED_LABELS.has(label)) {
      throw new MetricError(
        'ERR_METRIC_LABELS',
        `metric ${metric}: label name "${label}" is reserved (histograms write "le", summaries "quantile")`,
      );
    }
    if (seen.has(label)) {
      throw new MetricError('ERR_METRIC_LABELS', `metric ${metric}: label name "${label}" is declared twice`);
    }
    seen.add(label);
  }
}

/** Throws unless `help` is a non-empty string: promtool reports an empty HELP as "no help text". */
export function checkHelp(metric: string, help: unknown): asserts help is string {
  if (typeof help !== 'string' || help.length === 0) {
    throw new MetricError('ERR_METRIC_HELP', `metric ${metric}: help must be a non-empty string`);
  }
}

/**
 * Suffixes only a counter or histogram writes: `_total`, `_count`, `_sum` and `_bucket` mean
 * another type to promtool's linter, and `_created` clashes with OpenMetrics' generated names.
 */
const OTHER_TYPE_SUFFIXES: readonly string[] = ['_total', '_count', '_sum', '_bucket', '_created'];

/** Throws ERR_METRIC_NAME when a gauge or histogram `name` ends in a suffix that means another type. */
export function checkNotOtherTypeSuffix(kind: 'gauge' | 'histogram', name: string): void {
  const suffix = OTHER_TYPE_SUFFIXES.find((s) => name.endsWith(s));
  if (suffix !== undefined) {
    throw new MetricError('ERR_METRIC_NAME', `${kind} ${name}: a ${kind} name may not end in ${suffix}, which names another metric type`);
  }
}
