/**
 * The scrape loop: every interval, every node is fetched at once (each with its deadline), its
 * body parsed and stored. A failure of any kind (network, status, timeout, size, parse) is
 * recorded as a gap row and in the node's status, never thrown out of the loop.
 */
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { MonitoringError } from './errors.mjs';
import { fetchExposition } from './fetch-exposition.mjs';
import { parseExposition } from './parse.mjs';
import { formatOf } from './tokens.mjs';

/** @typedef {import('./config.mjs').Config} Config */
/** @typedef {import('./config.mjs').NodeTarget} NodeTarget */
/** @typedef {import('./store.mjs').Store} Store */
/** @typedef {'pending' | 'up' | 'down'} NodeState */
/**
 * What the page shows about a node.
 * @typedef {object} NodeStatus
 * @property {string} name
 * @property {string} url without credentials (none are ever in it)
 * @property {boolean} local
 * @property {NodeState} state `pending` until the first scrape ends
 * @property {number | null} lastAttemptAt ms
 * @property {number | null} lastSuccessAt
 * @property {number | null} lastErrorAt
 * @property {string | null} lastError
 * @property {string | null} lastErrorCode
 * @property {number} consecutiveFailures
 * @property {number | null} lastDurationMs
 * @property {string | null} format `text` or `openmetrics`, of the last success
 * @property {number | null} samples in the last success
 * @property {number | null} wireBytes of the last success
 */

export class Scraper {
  #config;
  #store;
  #now;
  /** @type {Map<string, NodeStatus>} */
  #status = new Map();
  /** @type {Map<string, HttpAgent>} */
  #agents = new Map();
  /** @type {Set<string>} */
  #inFlight = new Set();
  /** @type {NodeJS.Timeout | undefined} */
  #timer;
  #stopped = false;

  /**
   * @param {Pick<Config, 'nodes' | 'intervalMs' | 'timeoutMs' | 'maxScrapeBytes'>} config
   * @param {Store} store
   * @param {{now?: () => number}} [clock] injectable for tests
   */
  constructor(config, store, clock = {}) {
    this.#config = config;
    this.#store = store;
    this.#now = clock.now ?? Date.now;
    for (const node of config.nodes) {
      this.#status.set(node.name, {
        name: node.name,
        url: node.url.href,
        local: node.local,
        state: 'pending',
        lastAttemptAt: null,
        lastSuccessAt: null,
        lastErrorAt: null,
        lastError: null,
        lastErrorCode: null,
        consecutiveFailures: 0,
        lastDurationMs: null,
        format: null,
        samples: null,
        wireBytes: null,
      });
      // One kept-alive connection per node: a scrape a second should not open a socket a second.
      const agent = node.url.protocol === 'https:' ? new HttpsAgent({ keepAlive: true, maxSockets: 1 }) : new HttpAgent({ keepAlive: true, maxSockets: 1 });
      this.#agents.set(node.name, agent);
      store.node(node.name);
    }
  }

  /** Scrapes now, then on every multiple of the interval (no drift), until {@link stop}. */
  start() {
    const interval = this.#config.intervalMs;
    const loop = () => {
      if (this.#stopped) return;
      void this.scrapeAll();
      const now = this.#now();
      this.#timer = setTimeout(loop, interval - (now % interval));
    };
    loop();
  }

  /** Stops the loop and closes the kept-alive connections. */
  stop() {
    this.#stopped = true;
    clearTimeout(this.#timer);
    for (const agent of this.#agents.values()) agent.destroy();
  }

  /** One round: every node not still busy with the previous one. */
  async scrapeAll() {
    await Promise.all(this.#config.nodes.map((node) => this.scrapeNode(node)));
  }

  /** @param {NodeTarget} node */
  async scrapeNode(node) {
    if (this.#inFlight.has(node.name)) return;
    this.#inFlight.add(node.name);
    const status = /** @type {NodeStatus} */ (this.#status.get(node.name));
    const history = this.#store.node(node.name);
    const started = this.#now();
    status.lastAttemptAt = started;
    try {
      const fetched = await fetchExposition(node.url, {
        authorization: node.authorization,
        timeoutMs: this.#config.timeoutMs,
        maxBytes: this.#config.maxScrapeBytes,
        agent: this.#agents.get(node.name),
      });
      const format = formatOf(fetched.contentType);
      let exposition;
      try {
        exposition = parseExposition(fetched.body, format);
      } catch (err) {
        throw new MonitoringError('ERR_EXPOSITION_PARSE', `unreadable ${format} exposition: ${/** @type {Error} */ (err).message}`);
      }
      if (this.#stopped) return;
      history.ingest(started, exposition.families);
      status.state = 'up';
      status.lastSuccessAt = started;
      status.consecutiveFailures = 0;
      status.format = format;
      status.samples = exposition.families.reduce((n, f) => n + f.samples.length, 0);
      status.wireBytes = fetched.wireBytes;
    } catch (err) {
      if (this.#stopped) return;
      history.fail(started);
      status.state = 'down';
      status.lastErrorAt = started;
      status.lastError = /** @type {Error} */ (err).message;
      status.lastErrorCode = /** @type {{code?: string}} */ (err).code ?? 'ERR_SCRAPE';
      status.consecutiveFailures++;
    } finally {
      status.lastDurationMs = this.#now() - started;
      this.#inFlight.delete(node.name);
    }
  }

  /** The status of every node, in configuration order (copies). @returns {NodeStatus[]} */
  status() {
    return [...this.#status.values()].map((s) => ({ ...s }));
  }
}
