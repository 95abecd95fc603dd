// Benchmarks the tqserver metrics core against prom-client on the same workloads, in one run,
// and prints ratios. Usage: npm run bench (builds first). Options: --quick (fewer rounds).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import client from 'prom-client';
import { Registry, renderPieces, renderText } from '../dist/exposition/index.js';

const quick = process.argv.includes('--quick');
const ROUNDS = quick ? 3 : 7;

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

/** Runs `fn` (which does `ops` operations) ROUNDS times after a warm-up; median ns per op. */
async function time(fn, ops) {
  await fn();
  const samples = [];
  for (let r = 0; r < ROUNDS; r++) {
    // Each round starts from a collected heap, so that a round does not pay for the garbage of
    // the one before (large encoded bodies made some rounds of either side pay for a full GC).
    global.gc();
    const t0 = process.hrtime.bigint();
    await fn();
    samples.push(Number(process.hrtime.bigint() - t0) / ops);
  }
  return median(samples);
}

function labelTuples(n, arity, seed) {
  const out = [];
  for (let i = 0; i < n; i++) {
    const t = [];
    for (let j = 0; j < arity; j++) t.push(`${seed}${j}_${(i * (j + 7)) % (n + j)}_v${i}`);
    out.push(t);
  }
  return out;
}

async function benchInc() {
  const tuples = labelTuples(500, 3, 'c');
  const OPS = 1_000_000;
  const ours = new Registry().counter({ name: 'bench_inc_total', help: 'h', labelNames: ['a', 'b', 'c'] });
  const theirs = new client.Counter({ name: 'bench_inc_total', help: 'h', labelNames: ['a', 'b', 'c'], registers: [] });
  const run = (m) => () => {
    for (let i = 0; i < OPS; i++) {
      const t = tuples[i % 500];
      m.labels(t[0], t[1], t[2]).inc();
    }
  };
  return { name: 'labeled counter inc (3 labels, 500 series)', unit: 'ns/op', ours: await time(run(ours), OPS), theirs: await time(run(theirs), OPS) };
}

async function benchObserve() {
  const tuples = labelTuples(100, 2, 'h');
  const OPS = 1_000_000;
  const buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
  const ours = new Registry().histogram({ name: 'bench_obs_seconds', help: 'h', labelNames: ['a', 'b'], buckets });
  const theirs = new client.Histogram({ name: 'bench_obs_seconds', help: 'h', labelNames: ['a', 'b'], buckets, registers: [] });
  const values = Array.from({ length: 1024 }, (_, i) => ((i * 7919) % 1000) / 100);
  const run = (m) => () => {
    for (let i = 0; i < OPS; i++) {
      const t = tuples[i % 100];
      m.labels(t[0], t[1]).observe(values[i & 1023]);
    }
  };
  return { name: 'histogram observe (2 labels, 100 series, 11 buckets)', unit: 'ns/op', ours: await time(run(ours), OPS), theirs: await time(run(theirs), OPS) };
}

/** About 8,000 series lines: 3,000 counter + 2,000 gauge series + 200 histograms x 14 lines. */
function fillRender(make) {
  const c = make.counter('bench_render_requests_total', ['method', 'path', 'status']);
  labelTuples(3000, 3, 'r').forEach((t, i) => c(t, i + 1));
  const g = make.gauge('bench_render_memory_bytes', ['worker', 'instance']);
  labelTuples(2000, 2, 'g').forEach((t, i) => g(t, i * 1024.5));
  const h = make.histogram('bench_render_duration_seconds', ['method', 'path']);
  labelTuples(200, 2, 'h').forEach((t, i) => { for (let k = 0; k < 5; k++) h(t, (i % 13) * 0.37 + k); });
}

async function benchRender() {
  const ours = new Registry();
  fillRender({
    counter: (name, labelNames) => { const m = ours.counter({ name, help: 'h', labelNames }); return (t, v) => m.labels(...t).inc(v); },
    gauge: (name, labelNames) => { const m = ours.gauge({ name, help: 'h', labelNames }); return (t, v) => m.labels(...t).set(v); },
    histogram: (name, labelNames) => { const m = ours.histogram({ name, help: 'h', labelNames }); return (t, v) => m.labels(...t).observe(v); },
  });
  const theirs = new client.Registry();
  fillRender({
    counter: (name, labelNames) => { const m = new client.Counter({ name, help: 'h', labelNames, registers: [theirs] }); return (t, v) => m.labels(...t).inc(v); },
    gauge: (name, labelNames) => { const m = new client.Gauge({ name, help: 'h', labelNames, registers: [theirs] }); return (t, v) => m.labels(...t).set(v); },
    histogram: (name, labelNames) => { const m = new client.Histogram({ name, help: 'h', labelNames, registers: [theirs] }); return (t, v) => m.labels(...t).observe(v); },
  });
  const lines = renderText(ours.collect()).split('\n').filter((l) => l && !l.startsWith('#')).length;
  const REPS = 20;
  // What a scrape sends is bytes. Our text is a rope of small strings until something joins it,
  // which costs about as much as rendering it; prom-client's is joined already. So the row with
  // the target times both up to a Buffer, ours as tqserver's endpoint makes it (renderPieces,
  // each piece encoded, then joined); the string row shows how much of ours is the joining.
  const toBytes = (snapshot) => {
    const chunks = [];
    for (const piece of renderPieces(snapshot, 'text')) chunks.push(Buffer.from(piece, 'utf8'));
    return Buffer.concat(chunks);
  };
  if (!toBytes(ours.collect()).equals(Buffer.from(renderText(ours.collect()), 'utf8'))) throw new Error('renderPieces differs from renderText');
  const oursNs = await time(() => { for (let i = 0; i < REPS; i++) toBytes(ours.collect()); }, REPS);
  const theirsNs = await time(async () => { for (let i = 0; i < REPS; i++) Buffer.from(await theirs.metrics(), 'utf8'); }, REPS);
  const oursStringNs = await time(() => { for (let i = 0; i < REPS; i++) renderText(ours.collect()); }, REPS);
  const theirsStringNs = await time(async () => { for (let i = 0; i < REPS; i++) await theirs.metrics(); }, REPS);
  return [
    { name: `render text 0.0.4 to bytes, as the endpoint does (${lines} series lines)`, unit: 'ms/render', ours: oursNs / 1e6, theirs: theirsNs / 1e6 },
    { name: 'the same to a string only (ours not yet joined: no target)', unit: 'ms/string', ours: oursStringNs / 1e6, theirs: theirsStringNs / 1e6 },
  ];
}

/** Heap per series, measured in a fresh process per implementation (see heap child below). */
function benchHeap() {
  const self = fileURLToPath(import.meta.url);
  const measure = (impl) => {
    const r = spawnSync(process.execPath, ['--expose-gc', self, '--heap-child', impl], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`heap child ${impl} failed: ${r.stderr}`);
    return Number(r.stdout.trim());
  };
  return { name: 'heap per series (100,000 series, 2 labels)', unit: 'bytes', ours: measure('ours'), theirs: measure('prom-client') };
}

async function heapChild(impl) {
  const N = 100_000;
  const tuples = labelTuples(N, 2, 'm');
  let metric;
  if (impl === 'ours') metric = new Registry().counter({ name: 'bench_heap_total', help: 'h', labelNames: ['a', 'b'] });
  else metric = new client.Counter({ name: 'bench_heap_total', help: 'h', labelNames: ['a', 'b'], registers: [] });
  global.gc(); global.gc();
  const before = process.memoryUsage().heapUsed;
  for (const t of tuples) metric.labels(t[0], t[1]).inc();
  global.gc(); global.gc();
  const after = process.memoryUsage().heapUsed;
  process.stdout.write(String(Math.round((after - before) / N)));
  if (metric === undefined) console.log(tuples.length);
}

const TARGETS = {
  'ns/op': 10, // ours at least 10x faster (DESIGN.md, issue 9)
  'ms/render': 20, // rendering ~8,000 series at least 20x faster (DESIGN.md)
  bytes: 1, // no more than prom-client's
};

if (process.argv[2] === '--heap-child') {
  await heapChild(process.argv[3]);
} else {
  if (typeof global.gc !== 'function') throw new Error('run with node --expose-gc (npm run bench does)');
  console.log(`tqserver metrics core vs prom-client ${JSON.parse((await import('node:fs')).readFileSync(new URL('../node_modules/prom-client/package.json', import.meta.url))).version}, node ${process.version}, median of ${ROUNDS} rounds`);
  const rows = [await benchInc(), await benchObserve(), ...(await benchRender()), benchHeap()];
  let failed = 0;
  console.log('\n| workload | unit | tqserver | prom-client | ratio (prom-client / tqserver) | target |');
  console.log('| --- | --- | ---: | ---: | ---: | ---: |');
  for (const r of rows) {
    const ratio = r.theirs / r.ours;
    const target = TARGETS[r.unit];
    const ok = target === undefined || ratio >= target;
    if (!ok) failed++;
    const fmt = (v) => (v >= 100 ? v.toFixed(0) : v >= 1 ? v.toFixed(2) : v.toFixed(3));
    const verdict = target === undefined ? '-' : `>= ${target}x ${ok ? 'met' : 'MISSED'}`;
    console.log(`| ${r.name} | ${r.unit === 'ms/string' ? 'ms/render' : r.unit} | ${fmt(r.ours)} | ${fmt(r.theirs)} | ${ratio.toFixed(1)}x | ${verdict} |`);
  }
  console.log(failed === 0 ? '\nall targets met' : `\n${failed} target(s) missed`);
}
