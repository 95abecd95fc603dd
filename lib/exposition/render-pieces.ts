/**
 * The one writer of both formats, in pieces: `renderText` and `renderOpenMetrics` take it whole,
 * and an endpoint can take it piece by piece, giving its event loop back between them (a scrape
 * of tens of thousands of series takes tens of milliseconds to render and encode, and a server
 * that does it in one go answers nothing else for that long).
 */
import { escapeHelpOpenMetrics, escapeHelpText } from './escape.js';
import type { ExpositionFormat } from './negotiate.js';
import { formatCanonicalFloat, formatGoFloat } from './numbers.js';
import { writeSamples } from './samples.js';
import type { FamilySnapshot, Snapshot } from './snapshot.js';

/** Sample lines in a piece unless told otherwise: about 70 KB of text, well under a millisecond to render. */
export const LINES_PER_PIECE = 1000;

/**
 * `snapshot` in `format`, in pieces of about `linesPerPiece` sample lines each (a histogram
 * series is never split; small families share a piece). Joined, the pieces are exactly what
 * `renderText` or `renderOpenMetrics` writes; an empty text rendering has no pieces at all.
 * Each piece is rendered when asked for, from the snapshot, which does not change meanwhile.
 */
export function* renderPieces(snapshot: Snapshot, format: ExpositionFormat, linesPerPiece = LINES_PER_PIECE): Generator<string, void, undefined> {
  const openMetrics = format === 'openmetrics';
  const formatBound = openMetrics ? formatCanonicalFloat : formatGoFloat;
  let out = '';
  let lines = 0;
  for (const family of snapshot.families) {
    const n = family.series.length;
    if (n === 0) continue;
    out += openMetrics ? openMetricsMetadata(family) : textMetadata(family);
    const linesPerSeries = family.type === 'histogram' ? family.bounds.length + 3 : 1;
    for (let from = 0; from < n; ) {
      const to = Math.min(n, from + Math.max(1, Math.ceil((linesPerPiece - lines) / linesPerSeries)));
      out += writeSamples(family, formatBound, from, to);
      lines += (to - from) * linesPerSeries;
      from = to;
      if (lines >= linesPerPiece) {
        yield out;
        out = '';
        lines = 0;
      }
    }
  }
  if (openMetrics) out += '# EOF\n';
  if (out !== '') yield out;
}

/** `snapshot` in `format` as one string: one piece of unbounded length. */
export function renderWhole(snapshot: Snapshot, format: ExpositionFormat): string {
  let out = '';
  for (const piece of renderPieces(snapshot, format, Infinity)) out += piece;
  return out;
}

/** The `# HELP` and `# TYPE` lines of a family in text 0.0.4 (a counter's name carries `_total`). */
function textMetadata(family: FamilySnapshot): string {
  return '# HELP ' + family.name + ' ' + escapeHelpText(family.help) + '\n# TYPE ' + family.name + ' ' + family.type + '\n';
}

/**
 * The `# TYPE` and `# HELP` lines of a family in OpenMetrics 1.0: the family named without a
 * counter's `_total` (its samples keep it), `untyped` as `unknown`.
 */
function openMetricsMetadata(family: FamilySnapshot): string {
  const name = family.type === 'counter' && family.name.endsWith('_total') ? family.name.slice(0, -'_total'.length) : family.name;
  const type = family.type === 'untyped' ? 'unknown' : family.type;
  return '# TYPE ' + name + ' ' + type + '\n# HELP ' + name + ' ' + escapeHelpOpenMetrics(family.help) + '\n';
}
