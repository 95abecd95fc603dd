/** The Prometheus text exposition format, version 0.0.4. */
import { renderWhole } from './render-pieces.js';
import type { Snapshot } from './snapshot.js';

/** The Content-Type of {@link renderText}'s output. */
export const TEXT_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * Writes `snapshot` in text format 0.0.4: per family `# HELP`, then `# TYPE` (both with the
 * sample name, so a counter's carry `_total`), then its samples; no blank lines, no comments,
 * LF after every line. A family with no series is left out entirely, as client_golang does
 * (expfmt would drop a bare HELP/TYPE anyway). An empty snapshot is an empty string.
 */
export function renderText(snapshot: Snapshot): string {
  return renderWhole(snapshot, 'text');
}
