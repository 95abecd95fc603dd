/**
 * One scrape: a GET of a metrics endpoint with a deadline and a size limit, gzip undone,
 * Authorization sent when given. Every failure is a ScrapeError with a stable code and a
 * message an operator can act on.
 */
import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { createGunzip } from 'node:zlib';
import { ScrapeError } from './errors.mjs';

/** What Prometheus 2.x asks for: OpenMetrics first, text 0.0.4 as the fallback. */
export const ACCEPT = 'application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';

/**
 * @typedef {object} FetchOptions
 * @property {string | undefined} authorization the Authorization header value, if any
 * @property {number} timeoutMs the whole exchange, connect to last byte
 * @property {number} maxBytes the body (after gunzip) may not exceed this
 * @property {import('node:http').Agent | undefined} [agent]
 */
/**
 * @typedef {object} Fetched
 * @property {string} body
 * @property {string | undefined} contentType
 * @property {number} wireBytes bytes received (compressed, if it was)
 */

/**
 * Fetches `url`.
 * @param {URL} url
 * @param {FetchOptions} options
 * @returns {Promise<Fetched>}
 */
export function fetchExposition(url, options) {
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
  /** @type {Record<string, string>} */
  const headers = { Accept: ACCEPT, 'Accept-Encoding': 'gzip', 'User-Agent': 'tqserver-monitoring' };
  if (options.authorization !== undefined) headers.Authorization = options.authorization;
  return new Promise((resolve, reject) => {
    let settled = false;
    /** @param {Error} err */
    const fail = (err) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      reject(err);
    };
    const req = request(url, { method: 'GET', headers, agent: options.agent }, (res) => {
      if (res.statusCode !== 200) {
        res.resume();
        const hint = res.statusCode === 401 || res.statusCode === 403 ? ' (check the credential: TQSERVER_METRICS_AUTHORIZATION or MONITORING_NODE_<NAME>_AUTHORIZATION)' : '';
        fail(new ScrapeError('ERR_SCRAPE_STATUS', `HTTP ${res.statusCode}${hint}`));
        return;
      }
      let wireBytes = 0;
      let bodyBytes = 0;
      /** @type {Buffer[]} */
      const chunks = [];
      res.on('data', (/** @type {Buffer} */ c) => (wireBytes += c.length));
      const gzip = /\bgzip\b/i.test(String(res.headers['content-encoding'] ?? ''));
      const stream = gzip ? res.pipe(createGunzip()) : res;
      stream.on('data', (/** @type {Buffer} */ c) => {
        bodyBytes += c.length;
        if (bodyBytes > options.maxBytes) {
          fail(new ScrapeError('ERR_SCRAPE_TOO_LARGE', `the body exceeds ${options.maxBytes} bytes (MONITORING_MAX_SCRAPE_BYTES)`));
          stream.destroy();
          return;
        }
        chunks.push(c);
      });
      stream.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        resolve({ body: Buffer.concat(chunks).toString('utf8'), contentType: res.headers['content-type'], wireBytes });
      });
      stream.on('error', (err) => fail(new ScrapeError('ERR_SCRAPE_NETWORK', `reading the body: ${err.message}`)));
      res.on('error', (err) => fail(new ScrapeError('ERR_SCRAPE_NETWORK', `reading the body: ${err.message}`)));
      res.on('close', () => {
        if (!res.complete) fail(new ScrapeError('ERR_SCRAPE_NETWORK', 'the connection closed before the body ended'));
      });
    });
    const timer = setTimeout(() => fail(new ScrapeError('ERR_SCRAPE_TIMEOUT', `no complete answer within ${options.timeoutMs} ms`)), options.timeoutMs);
    req.on('error', (/** @type {NodeJS.ErrnoException} */ err) => {
      // Node's messages mostly name the code already ("connect ECONNREFUSED 127.0.0.1:9100").
      const message = err.code && !err.message.includes(err.code) ? `${err.code}: ${err.message}` : err.message;
      fail(new ScrapeError('ERR_SCRAPE_NETWORK', message));
    });
    req.end();
  });
}
