/**
 * The worker's HTTP side: `/health`, the page and its files, and the JSON API
 * (`/api/status`, `/api/dashboard`, `/api/series`; README.md documents them). GET and HEAD only.
 * Every answer carries a strict Content-Security-Policy: the page loads nothing, and connects
 * nowhere, but its own origin.
 */
import { timingSafeEqual } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { buildDashboard, nodeRequestRate } from './dashboard.mjs';
import { gridFor, isRangeName, RANGE_NAMES } from './ranges.mjs';

/** @typedef {import('node:http').IncomingMessage} IncomingMessage */
/** @typedef {import('node:http').ServerResponse} ServerResponse */
/** @typedef {import('./assets.mjs').Asset} Asset */
/** @typedef {import('./config.mjs').Config} Config */
/** @typedef {import('./store.mjs').Store} Store */
/** @typedef {import('./scraper.mjs').Scraper} Scraper */

/** No inline script or style, nothing from another origin, no framing, no plugins. */
export const CONTENT_SECURITY_POLICY = "default-src 'self'; base-uri 'self'; form-action 'none'; frame-ancestors 'none'; object-src 'none'";

const SECURITY_HEADERS = {
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
};

/** Bodies below this go out as they are: gzip would save nothing worth its header. */
const GZIP_MIN_BYTES = 1024;
/** `/api/series` answers at most this many series. */
const MAX_SERIES_ANSWERED = 500;

/**
 * @typedef {object} AppParts
 * @property {Readonly<Config>} config
 * @property {Store} store
 * @property {Scraper} scraper
 * @property {Map<string, Asset>} assets
 * @property {() => number} [now]
 */

/**
 * The request handler.
 * @param {AppParts} parts
 * @returns {(req: IncomingMessage, res: ServerResponse) => void}
 */
export function createHandler(parts) {
  const { config, store, scraper, assets } = parts;
  const now = parts.now ?? Date.now;
  /** The last dashboard per (range, node), reused until the store changes or the grid moves. */
  /** @type {Map<string, {key: string, body: Buffer, gzipped: Buffer | undefined}>} */
  const cache = new Map();
  const expectedAuth = config.accessAuthorization === undefined ? undefined : Buffer.from(config.accessAuthorization);

  /** @param {IncomingMessage} req */
  const authorized = (req) => {
    if (expectedAuth === undefined) return true;
    const given = Buffer.from(req.headers.authorization ?? '');
    return given.length === expectedAuth.length && timingSafeEqual(given, expectedAuth);
  };

  /**
   * @param {IncomingMessage} req
   * @param {ServerResponse} res
   * @param {number} status
   * @param {unknown} value
   */
  const sendJson = (req, res, status, value) => {
    send(req, res, status, 'application/json; charset=utf-8', Buffer.from(JSON.stringify(value)), { 'Cache-Control': 'no-store' });
  };

  /** @param {string | null} name */
  const selectedNodes = (name) => {
    const all = store.nodes();
    if (name === null || name === '' || name === 'all') return all;
    const one = all.find((n) => n.name === name);
    return one === undefined ? undefined : [one];
  };

  return (req, res) => {
    let url;
    try {
      // A target such as `//[x` is not a URL: it is refused, never thrown (that would end the worker).
      url = new URL(req.url ?? '/', 'http://worker.invalid');
    } catch {
      res.writeHead(400, { ...SECURITY_HEADERS, 'Content-Type': 'text/plain; charset=utf-8' }).end('Bad request target.\n');
      return;
    }
    const path = url.pathname;
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { ...SECURITY_HEADERS, Allow: 'GET, HEAD', 'Content-Type': 'text/plain; charset=utf-8' }).end('Only GET and HEAD.\n');
      return;
    }
    if (path === '/health') {
      res.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'Cache-Control': 'no-store' }).end('ok\n');
      return;
    }
    if (!authorized(req)) {
      res.writeHead(401, { ...SECURITY_HEADERS, 'WWW-Authenticate': 'Basic realm="tqserver monitoring", charset="UTF-8"', 'Content-Type': 'text/plain; charset=utf-8' });
      res.end('This page needs the credential set in MONITORING_AUTHORIZATION.\n');
      return;
    }
    const asset = assets.get(path);
    if (asset !== undefined) {
      if (req.headers['if-none-match'] === asset.etag) {
        res.writeHead(304, { ...SECURITY_HEADERS, ETag: asset.etag, 'Cache-Control': 'no-cache' }).end();
        return;
      }
      send(req, res, 200, asset.contentType, asset.body, { ETag: asset.etag, 'Cache-Control': 'no-cache' }, asset.gzipped);
      return;
    }
    if (path === '/api/status') {
      sendJson(req, res, 200, {
        now: now(),
        intervalMs: config.intervalMs,
        timeoutMs: config.timeoutMs,
        nodes: nodeList(),
        store: store.stats(),
        memory: process.memoryUsage(),
      });
      return;
    }
    if (path === '/api/dashboard') {
      const range = url.searchParams.get('range') ?? '5m';
      if (!isRangeName(range)) return sendJson(req, res, 400, { error: `range must be one of ${RANGE_NAMES.join(', ')}` });
      const nodeName = url.searchParams.get('node') ?? 'all';
      const nodes = selectedNodes(nodeName);
      if (nodes === undefined) return sendJson(req, res, 404, { error: `no node named ${nodeName}` });
      const t = now();
      const key = `${store.generation}|${Math.floor(t / 1000)}`;
      const cacheKey = `${range}|${nodeName}`;
      let cached = cache.get(cacheKey);
      if (cached === undefined || cached.key !== key) {
        const dashboard = buildDashboard({ nodes, multiNode: store.nodes().length > 1, range, now: t, intervalMs: config.intervalMs });
        const body = Buffer.from(JSON.stringify({ now: t, node: nodeName, intervalMs: config.intervalMs, nodes: nodeList(), ...dashboard }));
        cached = { key, body, gzipped: body.length >= GZIP_MIN_BYTES ? gzipSync(body, { level: 4 }) : undefined };
        cache.set(cacheKey, cached);
      }
      send(req, res, 200, 'application/json; charset=utf-8', cached.body, { 'Cache-Control': 'no-store' }, cached.gzipped);
      return;
    }
    if (path === '/api/series') {
      const name = url.searchParams.get('name') ?? '';
      const range = url.searchParams.get('range') ?? '5m';
      if (name === '') return sendJson(req, res, 400, { error: 'name (a sample name such as tqserver_requests_total) is required' });
      if (!isRangeName(range)) return sendJson(req, res, 400, { error: `range must be one of ${RANGE_NAMES.join(', ')}` });
      const nodes = selectedNodes(url.searchParams.get('node'));
      if (nodes === undefined) return sendJson(req, res, 404, { error: `no node named ${url.searchParams.get('node')}` });
      sendJson(req, res, 200, rawSeries(nodes, name, range, now()));
      return;
    }
    sendJson(req, res, 404, { error: `nothing at ${path}` });
  };

  /** Node statuses with their series count and current request rate. */
  function nodeList() {
    const t = now();
    return scraper.status().map((s) => {
      const history = store.node(s.name);
      return { ...s, series: history.seriesCount, requestsPerSecond: nodeRequestRate(history, t, config.intervalMs) };
    });
  }

  /**
   * The stored samples of `name` within the range: the fine tier for 5m and 15m, the coarse one
   * (a row a minute) for 1h and 24h. Gaps are null.
   * @param {import('./store.mjs').NodeHistory[]} nodes
   * @param {string} name
   * @param {import('./ranges.mjs').RangeName} range
   * @param {number} t
   */
  function rawSeries(nodes, name, range, t) {
    const { tier: tierName, rangeMs } = gridFor(range, t, config.intervalMs);
    const series = [];
    let truncated = false;
    for (const node of nodes) {
      const tier = node.tier(tierName);
      const offset = node.offset(tierName);
      for (const s of node.byName(name)) {
        if (series.length === MAX_SERIES_ANSWERED) {
          truncated = true;
          break;
        }
        const points = [];
        for (let i = tier.firstAfter(t - rangeMs); i < tier.count; i++) {
          const p = tier.physical(i);
          const v = /** @type {number} */ (s.values[offset + p]);
          points.push([tier.times[p], Number.isFinite(v) ? v : null]);
        }
        series.push({ node: node.name, labels: Object.fromEntries(s.labels), counter: s.counter, points });
      }
    }
    return { name, range, tier: tierName, truncated, series };
  }
}

/**
 * Sends `body` (gzipped when the client takes gzip and a gzipped copy exists), with the
 * security headers. HEAD gets the headers only.
 * @param {IncomingMessage} req
 * @param {ServerResponse} res
 * @param {number} status
 * @param {string} contentType
 * @param {Buffer} body
 * @param {Record<string, string>} headers
 * @param {Buffer} [gzipped]
 */
function send(req, res, status, contentType, body, headers, gzipped) {
  const useGzip = gzipped !== undefined && /\bgzip\b/i.test(String(req.headers['accept-encoding'] ?? ''));
  const payload = useGzip ? gzipped : body;
  /** @type {Record<string, string | number>} */
  const all = { ...SECURITY_HEADERS, ...headers, 'Content-Type': contentType, 'Content-Length': payload.length };
  if (gzipped !== undefined) all.Vary = 'Accept-Encoding';
  if (useGzip) all['Content-Encoding'] = 'gzip';
  res.writeHead(status, all);
  res.end(req.method === 'HEAD' ? undefined : payload);
}
