/**
 * The worker's options, read once from the environment (tqserver's worker contract plus the
 * MONITORING_* variables of config/worker.yaml), checked, defaulted next to their meaning, and
 * frozen. A bad value throws a ConfigError naming the variable.
 */
import { ConfigError } from './errors.mjs';

const MINUTE = 60_000;

/** The fine tier keeps this much at scrape resolution. */
export const FINE_HISTORY_MS = 15 * MINUTE;
/** The coarse tier: 24 hours of one-minute rows. */
export const COARSE_SLOTS = 24 * 60;

/**
 * @typedef {object} NodeTarget
 * @property {string} name
 * @property {URL} url
 * @property {string | undefined} authorization the Authorization header value to send
 * @property {boolean} local the tqserver this worker runs under (TQSERVER_METRICS_URL)
 */
/**
 * @typedef {object} Config
 * @property {number} port WORKER_PORT
 * @property {string} basePath where the page is reached, without a trailing slash ('' for /)
 * @property {number} intervalMs
 * @property {number} timeoutMs
 * @property {number} staleAfterMs
 * @property {number} maxSeries
 * @property {number} maxScrapeBytes
 * @property {number} fineSlots
 * @property {number} coarseSlots
 * @property {string | undefined} accessAuthorization what a request for the page or API must send, if set
 * @property {readonly NodeTarget[]} nodes
 */

/**
 * An integer variable within [min, max], or `fallback` when unset or empty.
 * @param {NodeJS.ProcessEnv} env
 * @param {string} name
 * @param {number} fallback
 * @param {number} min
 * @param {number} max
 */
function integer(env, name, fallback, min, max) {
  const raw = env[name];
  if (raw === undefined || raw.trim() === '') return fallback;
  if (!/^\s*\d+\s*$/.test(raw)) throw new ConfigError(name, `expected a whole number, got ${JSON.stringify(raw)}`);
  const n = Number(raw);
  if (n < min || n > max) throw new ConfigError(name, `must be between ${min} and ${max}, got ${n}`);
  return n;
}

/**
 * The environment variable holding node `name`'s Authorization value:
 * MONITORING_NODE_<NAME>_AUTHORIZATION, the name upper-cased and `-`/`.` written `_`.
 * @param {string} name
 */
export function nodeAuthorizationVariable(name) {
  return `MONITORING_NODE_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}_AUTHORIZATION`;
}

/**
 * @param {string} variable
 * @param {string} text
 */
function metricsUrl(variable, text) {
  let url;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(variable, `${JSON.stringify(text)} is not a URL`);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new ConfigError(variable, `${text}: only http: and https: can be scraped`);
  if (url.username !== '' || url.password !== '') {
    throw new ConfigError(variable, `${url.host}: no credentials in the URL; put the Authorization value in the node's MONITORING_NODE_<NAME>_AUTHORIZATION variable`);
  }
  return url;
}

/**
 * Reads the configuration from `env`.
 * @param {NodeJS.ProcessEnv} env
 * @returns {Readonly<Config>}
 */
export function resolveConfig(env) {
  const port = integer(env, 'WORKER_PORT', NaN, 0, 65535);
  if (Number.isNaN(port)) throw new ConfigError('WORKER_PORT', 'not set: run this worker under tqserver, which sets it');
  // One scrape a second: the page is live, and a /metrics render of a few hundred series costs
  // tqserver well under a millisecond.
  const intervalMs = integer(env, 'MONITORING_SCRAPE_INTERVAL_MS', 1000, 100, MINUTE);
  // A scrape must end before the next one is due, so scrapes of one node never overlap.
  const timeoutMs = integer(env, 'MONITORING_SCRAPE_TIMEOUT_MS', Math.floor(intervalMs * 0.9), 10, intervalMs);
  const staleAfterMs = integer(env, 'MONITORING_STALE_AFTER_MS', 10 * MINUTE, intervalMs, 24 * 60 * MINUTE);
  // About 19 KB per series at a 1 s interval (README, "Memory"): 5,000 series is under 100 MB.
  const maxSeries = integer(env, 'MONITORING_MAX_SERIES', 5000, 1, 1_000_000);
  const maxScrapeBytes = integer(env, 'MONITORING_MAX_SCRAPE_BYTES', 16 * 1024 * 1024, 1024, 1024 * 1024 * 1024);

  const rawBase = (env.MONITORING_BASE_PATH ?? env.WORKER_PATH ?? '/monitoring').trim();
  if (!/^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$/.test(rawBase) || rawBase.includes('//')) {
    throw new ConfigError(env.MONITORING_BASE_PATH === undefined ? 'WORKER_PATH' : 'MONITORING_BASE_PATH', `${JSON.stringify(rawBase)} is not a URL path`);
  }
  const basePath = rawBase.replace(/\/+$/, '');

  /** @type {NodeTarget[]} */
  const nodes = [];
  const localUrl = env.TQSERVER_METRICS_URL?.trim();
  if (localUrl) {
    const name = (env.MONITORING_LOCAL_NAME ?? 'local').trim();
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) throw new ConfigError('MONITORING_LOCAL_NAME', `${JSON.stringify(name)}: use letters, digits, _ . - (at most 64)`);
    const authorization = env.TQSERVER_METRICS_AUTHORIZATION?.trim() || undefined;
    nodes.push({ name, url: metricsUrl('TQSERVER_METRICS_URL', localUrl), authorization, local: true });
  }
  for (const entry of (env.MONITORING_NODES ?? '').split(',')) {
    if (entry.trim() === '') continue;
    const eq = entry.indexOf('=');
    const name = eq < 0 ? '' : entry.slice(0, eq).trim();
    if (!/^[A-Za-z0-9_.-]{1,64}$/.test(name)) {
      throw new ConfigError('MONITORING_NODES', `${JSON.stringify(entry.trim())}: expected name=url, the name made of letters, digits, _ . - (at most 64)`);
    }
    if (nodes.some((n) => n.name === name)) throw new ConfigError('MONITORING_NODES', `node name ${name} is used twice`);
    const authorization = env[nodeAuthorizationVariable(name)]?.trim() || undefined;
    nodes.push({ name, url: metricsUrl('MONITORING_NODES', entry.slice(eq + 1).trim()), authorization, local: false });
  }

  return Object.freeze({
    port,
    basePath,
    intervalMs,
    timeoutMs,
    staleAfterMs,
    maxSeries,
    maxScrapeBytes,
    fineSlots: Math.ceil(FINE_HISTORY_MS / intervalMs),
    coarseSlots: COARSE_SLOTS,
    accessAuthorization: env.MONITORING_AUTHORIZATION?.trim() || undefined,
    nodes: Object.freeze(nodes),
  });
}
