/**
 * Header handling for forwarding, as pure functions over raw header arrays
 * (`[name, value, name, value, ...]`, the form of `message.rawHeaders`), which keep the case and
 * repetition the client sent.
 */

/** Hop-by-hop headers (RFC 9110 7.6.1, plus the non-standard Keep-Alive and Proxy-Connection). */
export const HOP_BY_HOP: ReadonlySet<string> = new Set(['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']);

/** The lengths of those names: a name of any other length is told apart without lower-casing it. */
const HOP_BY_HOP_LENGTHS: ReadonlySet<number> = new Set([...HOP_BY_HOP].map((name) => name.length));

/** `name` lower-cased if it is a hop-by-hop header, else undefined. */
export function hopByHop(name: string): string | undefined {
  if (!HOP_BY_HOP_LENGTHS.has(name.length)) return undefined;
  const lower = name.toLowerCase();
  return HOP_BY_HOP.has(lower) ? lower : undefined;
}

/** Whether `value` is a Content-Length (RFC 9110 8.6): 1 to 15 digits, no sign, no spaces, nothing else. */
export function isLength(value: string): boolean {
  if (value.length === 0 || value.length > 15) return false;
  for (let i = 0; i < value.length; i++) {
    const d = value.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return false;
  }
  return true;
}

/**
 * Headers that a Connection header can never remove: the ones that frame the message and name
 * its target (RFC 9112 6.3, 3.2). A client listing them there would otherwise strip the framing
 * of what tqserver forwards, which is how a request is smuggled.
 */
const NOT_NAMEABLE = new Set(['content-length', 'host']);

/**
 * The names that `connection` lists beyond the hop-by-hop ones and those it may not name,
 * lower-cased; undefined if none. `connection` is the values of a message's Connection headers,
 * each followed by a comma (as the response parser collects them, lower-cased or not).
 */
export function connectionNamed(connection: string): Set<string> | undefined {
  // What nearly every message says, if anything: nothing to split.
  if (connection === '' || connection === 'keep-alive,') return undefined;
  let named: Set<string> | undefined;
  for (const t of connection.split(',')) {
    const token = t.trim().toLowerCase();
    if (token !== '' && !HOP_BY_HOP.has(token) && !NOT_NAMEABLE.has(token)) (named ??= new Set()).add(token);
  }
  return named;
}

/**
 * `raw` without hop-by-hop headers, without the headers Connection names (except Content-Length
 * and Host), and without any name in `drop` (lower-case). Never modifies `raw`.
 */
export function endToEnd(raw: readonly string[], drop?: ReadonlySet<string>): string[] {
  let connection = '';
  for (let i = 0; i < raw.length; i += 2) {
    if ((raw[i] as string).length === 10 && (raw[i] as string).toLowerCase() === 'connection') connection += `${raw[i + 1] as string},`;
  }
  const named = connectionNamed(connection);
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) {
    const name = raw[i] as string;
    const lower = name.toLowerCase();
    if (HOP_BY_HOP.has(lower) || named?.has(lower) || drop?.has(lower)) continue;
    out.push(name, raw[i + 1] as string);
  }
  return out;
}

/** A correlation id as a client may send it: 1 to 128 visible ASCII characters, no quotes. */
const CORRELATION_ID = /^[\x21\x23-\x7e]{1,128}$/;

/** The client's X-Correlation-ID if it is one sane value, else undefined. */
export function validCorrelationId(value: string | string[] | undefined): string | undefined {
  return typeof value === 'string' && CORRELATION_ID.test(value) ? value : undefined;
}

/**
 * Request headers a client's copy of never reaches a worker: the ones tqserver sets itself
 * (X-Forwarded-*, X-Correlation-ID, and Content-Length, since tqserver frames the body it
 * forwards), and the other conventions for naming the client (`Forwarded`, RFC 7239, and
 * `X-Real-IP`), which a worker might otherwise trust although anyone can send them.
 */
export const REPLACED_REQUEST_HEADERS: ReadonlySet<string> = new Set([
  'x-forwarded-for', 'x-forwarded-proto', 'x-forwarded-host', 'x-correlation-id', 'content-length', 'forwarded', 'x-real-ip',
]);

/** How many times `raw` carries the header `lower` (a lower-case name). */
export function headerCount(raw: readonly string[], lower: string): number {
  let n = 0;
  for (let i = 0; i < raw.length; i += 2) if ((raw[i] as string).length === lower.length && (raw[i] as string).toLowerCase() === lower) n++;
  return n;
}

/** RFC 9110 5.6.2: the characters of a token, such as a header name, by character code. */
const TOKEN_CHARS = new Uint8Array(128);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") TOKEN_CHARS[c.charCodeAt(0)] = 1;

/** Whether `text` from `start` to `end` (not empty) is a token (RFC 9110 5.6.2). */
export function isToken(text: string, start = 0, end = text.length): boolean {
  if (end <= start) return false;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c > 127 || TOKEN_CHARS[c] === 0) return false;
  }
  return true;
}

/**
 * Whether `text` from `start` to `end` may be a field value or a reason phrase: visible
 * characters, spaces, tabs and obs-text (RFC 9110 5.5), the set Node's writeHead accepts; no
 * other control character (CR, LF and NUL among them), no DEL, nothing beyond latin1.
 */
export function isFieldValue(text: string, start = 0, end = text.length): boolean {
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if ((c < 32 && c !== 9) || c === 127 || c > 255) return false;
  }
  return true;
}
