/** The Prometheus text exposition format, version 0.0.4. */
import { escapeHelpText } from './escape.js';
import { formatGoFloat } from './numbers.js';
import { writeSamples } from './samples.js';
import type { FamilySnapshot, Snapshot } from './snapshot.js';

/** The Content-Type of {@link renderText}'s output. */
export const TEXT_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';

/**
 * Writes `snapshot` in text format 0.0.4: per family `# HELP`, then `# TYPE` (both with the
 * sample name, so a counter's carry `_total`), then its samples; no blank lines, no comments,
 * LF after every line. A family with no series is left out entirely, as client_golang does
 * (expfmt would drop a bare HELP/TYPE anyway). An empty snapshot is an empty string.
 */
export function renderText(snapshot: Snapshot): string {
  let out = '';
  for (const family of snapshot.families) {
    if (family.series.length === 0) continue;
    out += textMetadata(family);
    out += writeSamples(family, formatGoFloat);
  }
  return out;
}

/** The `# HELP` and `# TYPE` lines of a family in text 0.0.4. */
export function textMetadata(family: FamilySnapshot): string {
  return '# HELP ' + family.name + ' ' + escapeHelpText(family.help) + '\n# TYPE ' + family.name + ' ' + family.type + '\n';
}
