/**
 * A rendering in pieces, for a writer that gives its event loop back between them: a scrape of
 * tens of thousands of series takes tens of milliseconds to render and encode, and a server
 * that does it in one go answers nothing else for that long.
 */
import type { ExpositionFormat } from './negotiate.js';
import { formatCanonicalFloat, formatGoFloat } from './numbers.js';
import { openMetricsMetadata } from './render-openmetrics.js';
import { textMetadata } from './render-text.js';
import { writeSamples } from './samples.js';
import type { Snapshot } from './snapshot.js';

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
