/**
 * Sample lines, the part text 0.0.4 and OpenMetrics 1.0 write alike. Only the spelling of `le`
 * differs between them, so the writer takes it as a function.
 */
import { formatValue } from './numbers.js';
import type { FamilySnapshot, HistogramSeries, ScalarSeries } from './snapshot.js';

/**
 * The sample lines of `family`: `name{labels} value` per series (`name value` without labels,
 * never `name{}`); for a histogram the `_bucket` lines with `le` last and `+Inf` = count, then
 * `_sum`, then `_count`. One space between tokens, LF after every line. Only the series from
 * index `from` up to (not including) `to`, when given.
 */
export function writeSamples(family: FamilySnapshot, formatBound: (bound: number) => string, from = 0, to = family.series.length): string {
  let out = '';
  const { name } = family;
  if (family.type !== 'histogram') {
    const open = name + '{';
    const all = family.series;
    for (let i = from; i < to; i++) {
      const series = all[i] as ScalarSeries;
      const text = series.labels.text;
      out += (text === '' ? name + ' ' : open + text + '} ') + formatValue(series.value) + '\n';
    }
    return out;
  }
  const bucketOpen = name + '_bucket{';
  const les = family.bounds.map((bound) => 'le="' + formatBound(bound) + '"} ');
  const sumName = name + '_sum';
  const countName = name + '_count';
  const all = family.series;
  for (let k = from; k < to; k++) {
    const series = all[k] as HistogramSeries;
    const text = series.labels.text;
    const prefix = text === '' ? bucketOpen : bucketOpen + text + ',';
    const { buckets, count } = series;
    for (let i = 0; i < les.length; i++) out += prefix + les[i] + buckets[i] + '\n';
    out += prefix + 'le="+Inf"} ' + count + '\n';
    const braces = text === '' ? ' ' : '{' + text + '} ';
    out += sumName + braces + formatValue(series.sum) + '\n' + countName + braces + count + '\n';
  }
  return out;
}
