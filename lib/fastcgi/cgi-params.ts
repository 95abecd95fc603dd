/**
 * The CGI variables (RFC 3875 4.1) a FastCGI responder is given in PARAMS, built from one HTTP
 * request as tqserver forwards it.
 */

/** One request, as far as the CGI variables describe it. */
export interface CgiRequest {
  readonly method: string;
  /** The request target as the client sent it, path and query (REQUEST_URI). */
  readonly requestUri: string;
  /** The query, without `?` (QUERY_STRING). */
  readonly queryString: string;
  /** The script's URL path, as the client sees it (SCRIPT_NAME). */
  readonly scriptName: string;
  /** The script's absolute file name (SCRIPT_FILENAME). */
  readonly scriptFilename: string;
  /** The part of the URL path after the script's (PATH_INFO), or ''. */
  readonly pathInfo: string;
  readonly documentRoot: string;
  /** The body length (CONTENT_LENGTH), or undefined when the request has none. */
  readonly contentLength: number | undefined;
  /** `1.1` or `1.0` (SERVER_PROTOCOL is `HTTP/` and this). */
  readonly httpVersion: string;
  readonly serverSoftware: string;
  /** SERVER_NAME: the host the client asked for, without its port. */
  readonly serverName: string;
  readonly serverAddr: string;
  readonly serverPort: number;
  readonly remoteAddr: string;
  readonly remotePort: number;
  /**
   * Request headers as raw pairs (`[name, value, ...]`), as they go to any worker: end-to-end
   * headers of the client, plus tqserver's X-Forwarded-* and X-Correlation-ID.
   */
  readonly headers: readonly string[];
}

/**
 * Headers that never become an `HTTP_*` variable: Content-Type and Content-Length have variables
 * of their own (RFC 3875 4.1.18), the framing is tqserver's, and `Proxy` would become
 * HTTP_PROXY, which many HTTP clients take as their proxy setting ("httpoxy", CVE-2016-5385).
 */
const NOT_PASSED = new Set(['content-type', 'content-length', 'transfer-encoding', 'proxy']);

/**
 * Whether the CGI variable `name` holds bytes as the client sent them (request headers, the
 * request target, its query): Node hands those over as latin1 strings.
 */
export function isWireParam(name: string): boolean {
  return name.startsWith('HTTP_') || name === 'CONTENT_TYPE' || name === 'REQUEST_URI' || name === 'QUERY_STRING';
}

/**
 * The `HTTP_*` name of a header: upper case, `-` as `_` (RFC 3875 4.1.18). A name that already
 * holds `_` is not passed: `X_Forwarded_For` would become the same variable as tqserver's
 * X-Forwarded-For (nginx drops such headers by default for this reason).
 */
export function cgiHeaderName(name: string): string | undefined {
  if (name.includes('_')) return undefined;
  const lower = name.toLowerCase();
  if (NOT_PASSED.has(lower)) return undefined;
  return 'HTTP_' + lower.toUpperCase().replaceAll('-', '_');
}

/**
 * The PARAMS of `request`, as `[name, value, ...]`: the CGI variables, then one `HTTP_*` per
 * header name (repeated headers joined with `, `, cookies with `; `: RFC 9110 5.3, RFC 6265 5.4).
 * HTTPS is not set: tqserver does not terminate TLS, and applications that test
 * `isset($_SERVER['HTTPS'])` would take any value for "on".
 */
export function cgiParams(request: CgiRequest): string[] {
  const out: string[] = [
    'GATEWAY_INTERFACE', 'CGI/1.1',
    'SERVER_SOFTWARE', request.serverSoftware,
    'SERVER_PROTOCOL', `HTTP/${request.httpVersion}`,
    'SERVER_NAME', request.serverName,
    'SERVER_ADDR', request.serverAddr,
    'SERVER_PORT', String(request.serverPort),
    'REMOTE_ADDR', request.remoteAddr,
    'REMOTE_PORT', String(request.remotePort),
    'REQUEST_SCHEME', 'http',
    'REQUEST_METHOD', request.method,
    'REQUEST_URI', request.requestUri,
    'QUERY_STRING', request.queryString,
    'DOCUMENT_ROOT', request.documentRoot,
    'SCRIPT_NAME', request.scriptName,
    'SCRIPT_FILENAME', request.scriptFilename,
    'PATH_INFO', request.pathInfo,
  ];
  if (request.contentLength !== undefined) out.push('CONTENT_LENGTH', String(request.contentLength));
  const headers = new Map<string, string>();
  let contentType = false;
  const h = request.headers;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i] as string;
    const value = h[i + 1] as string;
    if (name.length === 12 && name.toLowerCase() === 'content-type') {
      // A second Content-Type is not a list (RFC 9110 5.3): the first one stands.
      if (!contentType) out.push('CONTENT_TYPE', value);
      contentType = true;
      continue;
    }
    const cgi = cgiHeaderName(name);
    if (cgi === undefined) continue;
    const before = headers.get(cgi);
    headers.set(cgi, before === undefined ? value : `${before}${cgi === 'HTTP_COOKIE' ? '; ' : ', '}${value}`);
  }
  for (const [name, value] of headers) out.push(name, value);
  return out;
}

/** The host part of a Host header value (`example.com:8080` is `example.com`, `[::1]:80` is `::1`). */
export function hostName(host: string): string {
  if (host.startsWith('[')) {
    const end = host.indexOf(']');
    return end < 0 ? host : host.slice(1, end);
  }
  const colon = host.indexOf(':');
  return colon < 0 ? host : host.slice(0, colon);
}
