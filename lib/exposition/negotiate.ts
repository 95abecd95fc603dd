/**
 * Content negotiation for a metrics endpoint: `Accept` picks text 0.0.4 or OpenMetrics 1.0,
 * `Accept-Encoding` says whether gzip may be used. Pure functions of header strings.
 */
import { OPENMETRICS_CONTENT_TYPE, renderOpenMetrics } from './render-openmetrics.js';
import { TEXT_CONTENT_TYPE, renderText } from './render-text.js';
import type { Snapshot } from './snapshot.js';

/** The two formats this core writes. */
export type ExpositionFormat = 'text' | 'openmetrics';

interface Clause {
  readonly type: string;
  readonly version: string | undefined;
  readonly q: number;
  readonly wildcard: boolean;
  readonly index: number;
}

/** Splits a header list on `,` and each element on `;`, reading `q` (default 1, clamped to 0..1). */
function parseClauses(header: string): Clause[] {
  const clauses: Clause[] = [];
  header.split(',').forEach((element, index) => {
    const [type = '', ...params] = element.split(';');
    let q = 1;
    let version: string | undefined;
    for (const param of params) {
      const eq = param.indexOf('=');
      if (eq < 0) continue;
      const key = param.slice(0, eq).trim().toLowerCase();
      const value = param.slice(eq + 1).trim().replace(/^"(.*)"$/, '$1');
      if (key === 'q') {
        const n = Number(value);
        q = value === '' || Number.isNaN(n) ? 0 : Math.min(Math.max(n, 0), 1);
      } else if (key === 'version') {
        version = value;
      }
    }
    const t = type.trim().toLowerCase();
    if (t !== '') clauses.push({ type: t, version, q, wildcard: t.includes('*'), index });
  });
  return clauses;
}

/**
 * The format to answer an `Accept` header with. Clauses are ranked by `q` (highest first),
 * concrete types before wildcards, then by position; the first one we can serve wins:
 * `application/openmetrics-text` with version 1.0.0, 0.0.1 or none gives OpenMetrics,
 * `text/plain` with version 0.0.4 or none gives text. Anything else, including no header or
 * only `*∕*`, gives text 0.0.4, the format every Prometheus reads.
 *
 * Prometheus 2.42 sends `application/openmetrics-text;version=1.0.0,...;q=0.75,text/plain;version=0.0.4;q=0.5,*∕*;q=0.1`
 * and so gets OpenMetrics.
 */
export function negotiateFormat(accept: string | undefined): ExpositionFormat {
  if (accept === undefined || accept === '') return 'text';
  const ranked = parseClauses(accept)
    .filter((c) => c.q > 0)
    .sort((a, b) => b.q - a.q || Number(a.wildcard) - Number(b.wildcard) || a.index - b.index);
  for (const clause of ranked) {
    if (clause.type === 'application/openmetrics-text') {
      if (clause.version === undefined || clause.version === '1.0.0' || clause.version === '0.0.1') return 'openmetrics';
    } else if (clause.type === 'text/plain') {
      if (clause.version === undefined || clause.version === '0.0.4') return 'text';
    }
  }
  return 'text';
}

/** Whether an `Accept-Encoding` header lists `gzip` (or `x-gzip`) with q > 0. */
export function acceptsGzip(acceptEncoding: string | undefined): boolean {
  if (acceptEncoding === undefined || acceptEncoding === '') return false;
  return parseClauses(acceptEncoding).some((c) => (c.type === 'gzip' || c.type === 'x-gzip') && c.q > 0);
}

/** The exact Content-Type of a format. */
export function contentType(format: ExpositionFormat): string {
  return format === 'openmetrics' ? OPENMETRICS_CONTENT_TYPE : TEXT_CONTENT_TYPE;
}

/** Writes `snapshot` in `format`. */
export function render(snapshot: Snapshot, format: ExpositionFormat): string {
  return format === 'openmetrics' ? renderOpenMetrics(snapshot) : renderText(snapshot);
}
