/** The OpenMetrics 1.0 text format. */
import { escapeHelpOpenMetrics } from './escape.js';
import { formatCanonicalFloat } from './numbers.js';
import { writeSamples } from './samples.js';
import type { FamilySnapshot, Snapshot } from './snapshot.js';

/** The Content-Type of {@link renderOpenMetrics}'s output. */
export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

/** OpenMetrics names a counter family without `_total`; its samples keep it. */
function metadataName(family: FamilySnapshot): string {
  return family.type === 'counter' && family.name.endsWith('_total') ? family.name.slice(0, -'_total'.length) : family.name;
}

/**
 * Writes `snapshot` in OpenMetrics 1.0: per family `# TYPE` then `# HELP` (the SHOULD order),
 * `untyped` as `unknown`, HELP escaped like a label value, `le` in canonical form (`1.0`,
 * `1e-05`), and `# EOF` as the last line. Families with no series are left out, so an empty
 * snapshot is just `# EOF`.
 */
export function renderOpenMetrics(snapshot: Snapshot): string {
  let out = '';
  for (const family of snapshot.families) {
    if (family.series.length === 0) continue;
    out += openMetricsMetadata(family);
    out += writeSamples(family, formatCanonicalFloat);
  }
  return out + '# EOF\n';
}

/** The `# TYPE` and `# HELP` lines of a family in OpenMetrics 1.0. */
export function openMetricsMetadata(family: FamilySnapshot): string {
  const name = metadataName(family);
  const type = family.type === 'untyped' ? 'unknown' : family.type;
  return '# TYPE ' + name + ' ' + type + '\n# HELP ' + name + ' ' + escapeHelpOpenMetrics(family.help) + '\n';
}
