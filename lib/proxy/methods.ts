/** The `method` label: a standard method, or OTHER, so that clients cannot grow the series. */

const STANDARD = new Set(['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']);

/** `method` if it is one of the standard HTTP methods (RFC 9110 and PATCH), else `OTHER`. */
export function methodLabel(method: string | undefined): string {
  return method !== undefined && STANDARD.has(method) ? method : 'OTHER';
}
