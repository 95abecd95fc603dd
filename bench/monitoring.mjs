// npm run bench:monitoring: what the monitoring worker's history costs. For 1,000 and 10,000
// series (each measured in a fresh process, so one does not inherit the other's heap), it
// simulates 16 minutes of scrapes at 1 s (the fine ring wraps) and prints:
// - resident memory (RSS), heap and ArrayBuffer growth over the empty process, per 1,000 series,
//   next to the ring buffers' own exact size (store.stats().ringBytes);
// - the time one scrape takes to store, and one dashboard to compute;
// - the time to parse a scrape of that size, in both formats.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const SIZES = [1000, 10_000];

if (process.argv[2] !== '--child') {
  console.log('monitoring store: 15 min at 1 s (900 rows) + 24 h at 1 min (1,440 rows) per series, Float64Array\n');
  const rows = [];
  for (const n of SIZES) {
    const out = execFileSync(process.execPath, ['--expose-gc', fileURLToPath(import.meta.url), '--child', String(n)], { encoding: 'utf8' });
    rows.push(JSON.parse(out));
  }
  const mb = (b) => (b / 1024 / 1024).toFixed(1) + ' MiB';
  const pad = (s, w) => String(s).padStart(w);
  console.log(`${'series'.padStart(8)} ${'rings (exact)'.padStart(14)} ${'RSS growth'.padStart(11)} ${'heap+buffers'.padStart(13)} ${'RSS/1k series'.padStart(14)} ${'store 1 scrape'.padStart(15)} ${'dashboard 5m'.padStart(13)} ${'parse text'.padStart(11)} ${'parse OM'.padStart(9)}`);
  for (const r of rows) {
    console.log(
      `${pad(r.series.toLocaleString('en'), 8)} ${pad(mb(r.ringBytes), 14)} ${pad(mb(r.rss), 11)} ${pad(mb(r.heapAndBuffers), 13)} ${pad(mb((r.rss / r.series) * 1000), 14)} ${pad(r.ingestMs.toFixed(2) + ' ms', 15)} ${pad(r.dashboardMs.toFixed(1) + ' ms', 13)} ${pad(r.parseTextMs.toFixed(1) + ' ms', 11)} ${pad(r.parseOmMs.toFixed(1) + ' ms', 9)}`,
    );
  }
  console.log('\nRSS growth: resident memory after 960 simulated scrapes minus before the store existed (gc run before each reading).');
  process.exit(0);
}

const n = Number(process.argv[3]);
const { Store } = await import('../workers/monitoring/src/store.mjs');
const { buildDashboard } = await import('../workers/monitoring/src/dashboard.mjs');
const { parseExposition } = await import('../workers/monitoring/src/parse.mjs');
const { Registry, renderText, renderOpenMetrics } = await import('../dist/exposition/index.js');

function measure() {
  globalThis.gc();
  globalThis.gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heapAndBuffers: m.heapUsed + m.arrayBuffers };
}

// The exposition a tqserver with this many series would serve: request counters by route and
// status, duration histograms by route, and gauges, in the proportions of a real one.
const registry = new Registry();
const requests = registry.counter({ name: 'tqserver_requests_total', help: 'Requests.', labelNames: ['method', 'path', 'status'] });
const duration = registry.histogram({ name: 'tqserver_request_duration_seconds', help: 'Duration.', labelNames: ['method', 'path'] });
const memory = registry.gauge({ name: 'tqserver_worker_memory_bytes', help: 'Memory.', labelNames: ['worker', 'instance'] });
const histograms = Math.floor((n * 0.5) / 14);
for (let i = 0; i < histograms; i++) duration.labels(i % 2 ? 'GET' : 'POST', `/r${i}`).observe((i % 100) / 100);
const counters = Math.floor(n * 0.35);
for (let i = 0; i < counters; i++) requests.labels('GET', `/r${Math.floor(i / 500)}`, String(100 + (i % 500))).inc(i);
const gauges = n - histograms * 14 - counters;
for (let i = 0; i < gauges; i++) memory.labels(`w${i % 40}`, String(i)).set(i * 1e6);
const snapshot = registry.collect();
const text = renderText(snapshot);
const om = renderOpenMetrics(snapshot);
const timeParse = (body, format) => {
  parseExposition(body, format);
  const t0 = performance.now();
  for (let i = 0; i < 5; i++) parseExposition(body, format);
  return (performance.now() - t0) / 5;
};
const parseTextMs = timeParse(text, 'text');
const parseOmMs = timeParse(om, 'openmetrics');
const families = parseExposition(text, 'text').families;
const samples = families.flatMap((f) => f.samples);
if (samples.length !== n) throw new Error(`built ${samples.length} series, wanted ${n}`);

const before = measure();
const store = new Store({ fineSlots: 900, coarseSlots: 1440, staleAfterMs: 600_000, maxSeries: n });
const node = store.node('local');
const start = Date.now() - 960_000;
let ingestTotal = 0;
for (let k = 0; k < 960; k++) {
  for (const s of samples) s.value += 1;
  const t0 = performance.now();
  node.ingest(start + k * 1000, families);
  if (k >= 60) ingestTotal += performance.now() - t0;
}
const after = measure();
if (store.stats().series !== n) throw new Error(`stored ${store.stats().series} series`);
buildDashboard({ nodes: [node], multiNode: false, range: '5m', now: Date.now(), intervalMs: 1000 });
const d0 = performance.now();
for (let i = 0; i < 5; i++) buildDashboard({ nodes: [node], multiNode: false, range: '5m', now: Date.now(), intervalMs: 1000 });
const dashboardMs = (performance.now() - d0) / 5;

process.stdout.write(
  JSON.stringify({
    series: n,
    ringBytes: store.stats().ringBytes,
    rss: after.rss - before.rss,
    heapAndBuffers: after.heapAndBuffers - before.heapAndBuffers,
    ingestMs: ingestTotal / 900,
    dashboardMs,
    parseTextMs,
    parseOmMs,
  }),
);
