// The monitoring worker: scrapes tqserver's own /metrics (TQSERVER_METRICS_URL, with
// TQSERVER_METRICS_AUTHORIZATION when metrics.auth is set) and any other nodes in
// MONITORING_NODES, keeps 15 minutes at scrape resolution and 24 hours at one-minute resolution
// in fixed-size ring buffers, and serves a live page and a JSON API at its route (/monitoring).
// Plain ESM with no dependencies, so the folder works wherever workers/ is copied.
// The worker contract: listen on 127.0.0.1:$WORKER_PORT, answer GET /health with 200, exit on SIGTERM.
import { createServer } from 'node:http';
import { loadAssets } from './src/assets.mjs';
import { resolveConfig } from './src/config.mjs';
import { createHandler } from './src/http-app.mjs';
import { Scraper } from './src/scraper.mjs';
import { Store } from './src/store.mjs';

let config;
try {
  config = resolveConfig(process.env);
} catch (err) {
  console.error(`monitoring: ${/** @type {Error} */ (err).message}`);
  process.exit(1);
}

const store = new Store({
  fineSlots: config.fineSlots,
  coarseSlots: config.coarseSlots,
  staleAfterMs: config.staleAfterMs,
  maxSeries: config.maxSeries,
});
const scraper = new Scraper(config, store);
const assets = loadAssets(new URL('./ui/', import.meta.url), config.basePath);
const server = createServer(createHandler({ config, store, scraper, assets }));

server.listen(config.port, '127.0.0.1', () => {
  const targets = config.nodes.map((n) => `${n.name}=${n.url.href}${n.authorization ? ' (with credential)' : ''}`).join(', ');
  const { port } = /** @type {import('node:net').AddressInfo} */ (server.address());
  console.log(`monitoring: listening on 127.0.0.1:${port}, page at ${config.basePath}/, scraping every ${config.intervalMs} ms: ${targets || 'nothing (TQSERVER_METRICS_URL is not set: metrics are disabled?)'}`);
  scraper.start();
});

function stop() {
  scraper.stop();
  server.close(() => process.exit(0));
  server.closeIdleConnections();
  // Connections kept alive by tqserver close with it; do not wait for them past a moment.
  setTimeout(() => process.exit(0), 1000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
