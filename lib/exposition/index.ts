/**
 * The tqserver metrics core: counters, gauges and histograms in an explicit registry, a plain
 * snapshot of it, and writers for Prometheus text 0.0.4 and OpenMetrics 1.0. It knows nothing of
 * HTTP servers or processes and can be used on its own.
 */
export { MetricError, TqError, type MetricErrorCode } from '../errors.js';
export { Counter, CounterChild, type CounterOptions } from './counter.js';
export { Gauge, GaugeChild, type GaugeOptions } from './gauge.js';
export { DEFAULT_BUCKETS, Histogram, HistogramChild, type HistogramOptions } from './histogram.js';
export type { LabelValues, MetricOptions } from './metric.js';
export { Registry, type AnyMetric } from './registry.js';
export {
  NO_LABELS,
  checkSnapshot,
  labelSet,
  type FamilySnapshot,
  type HistogramFamily,
  type HistogramSeries,
  type LabelSet,
  type MetricType,
  type ScalarFamily,
  type ScalarSeries,
  type Snapshot,
} from './snapshot.js';
export { renderText, TEXT_CONTENT_TYPE } from './render-text.js';
export { renderOpenMetrics, OPENMETRICS_CONTENT_TYPE } from './render-openmetrics.js';
export { acceptsGzip, contentType, negotiateFormat, render, type ExpositionFormat } from './negotiate.js';
export { LINES_PER_PIECE, renderPieces } from './render-pieces.js';
export { escapeHelpOpenMetrics, escapeHelpText, escapeLabelValue } from './escape.js';
export { formatCanonicalFloat, formatGoFloat, formatValue } from './numbers.js';
