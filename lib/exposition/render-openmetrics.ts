/** The OpenMetrics 1.0 text format. */
import { renderWhole } from './render-pieces.js';
import type { Snapshot } from './snapshot.js';

/** The Content-Type of {@link renderOpenMetrics}'s output. */
export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

/**
 * Writes `snapshot` in OpenMetrics 1.0: per family `# TYPE` then `# HELP` (the SHOULD order),
 * `untyped` as `unknown`, HELP escaped like a label value, `le` in canonical form (`1.0`,
 * `1e-05`), and `# EOF` as the last line. Families with no series are left out, so an empty
 * snapshot is just `# EOF`.
 */
export function renderOpenMetrics(snapshot: Snapshot): string {
  return renderWhole(snapshot, 'openmetrics');
}
