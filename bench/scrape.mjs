// Scrape cost under load: tqserver runs in this process with ~10,000 extra series registered
// (SERIES=50000 for more),
// wrk drives requests through it to a worker, and a separate process scrapes /metrics every
// 250 ms. Reported: render time (as the endpoint measured it), event-loop delay in this process
// (1 ms resolution), and wrk's throughput and latency, with and without scraping.
// Usage: npm run bench:scrape (needs wrk, Debian package wrk). Bounded: three 8 s phases on loopback.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { startApp } from '../dist/app.js';

const PHASE_SECONDS = Number(process.env.PHASE_SECONDS ?? 8);
const echo = fileURLToPath(new URL('../fixtures/workers/echo.mjs', import.meta.url));

if (spawnSync('wrk', ['--version']).error) {
  console.error('!!! bench:scrape needs wrk (Debian package wrk); skipped !!!');
  process.exit(0);
}

const root = mkdtempSync(join(tmpdir(), 'tq-bench-'));
mkdirSync(join(root, 'config'));
mkdirSync(join(root, 'workers/api/config'), { recursive: true });
writeFileSync(join(root, 'config/server.yaml'), 'server:\n  host: 127.0.0.1\n  port: 0\n  log_file: ~\nworkers:\n  port_range_start: 41000\n  port_range_end: 41099\n');
writeFileSync(join(root, 'workers/api/config/worker.yaml'), `path: /api\nnode:\n  entrypoint: ${JSON.stringify(echo)}\nlogging:\n  log_file: ~\nscaling:\n  min_workers: 1\n  max_workers: 1\n`);

const app = await startApp({ root, configPath: undefined, mode: 'prod', quiet: true, write: () => {} });
const synthetic = app.registry.counter({ name: 'bench_synthetic_requests_total', help: 'Synthetic series for the scrape benchmark.', labelNames: ['route', 'code'] });
const SERIES = Number(process.env.SERIES ?? 10_000);
for (let i = 0; i < SERIES; i++) synthetic.labels(`/route/${Math.floor(i / 100)}`, String(200 + (i % 100))).inc(Math.floor(i / 100) * (i % 100) + 1);
const base = `http://127.0.0.1:${app.address.port}`;
const first = await (await fetch(`${base}/metrics`)).text();
const seriesLines = first.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;

function wrk(seconds) {
  return new Promise((resolve) => {
    const child = spawn('wrk', ['-t2', '-c32', `-d${seconds}s`, '--latency', `${base}/api/echo`]);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', () => {
      const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
      const unit = (v, u) => (u === 'us' ? v / 1000 : u === 's' ? v * 1000 : v);
      const p = (q) => {
        const m = new RegExp(`${q}%\\s+([\\d.]+)(us|ms|s)`).exec(out);
        return m ? unit(Number(m[1]), m[2]) : NaN;
      };
      resolve({ rps, p50: p(50), p99: p(99), errors: /Non-2xx|Socket errors/.test(out) ? out.split('\n').filter((l) => /Non-2xx|Socket errors/.test(l)).join('; ') : '' });
    });
  });
}

// The scraper is its own process, so that its work does not count against the server's loop.
const SCRAPER = `
const base = process.argv[1], seconds = Number(process.argv[2]);
const renders = []; let bytes = 0, scrapes = 0;
const end = Date.now() + seconds * 1000;
(async () => {
  while (Date.now() < end) {
    const res = await fetch(base + '/metrics', { headers: { 'accept-encoding': process.argv[3] } });
    const body = await res.text(); bytes = body.length; scrapes++;
    const m = /^tqserver_metrics_render_duration_seconds (\\S+)$/m.exec(body);
    if (m) renders.push(Number(m[1]));
    await new Promise((r) => setTimeout(r, 250));
  }
  console.log(JSON.stringify({ renders, bytes, scrapes }));
})();`;

function scraper(seconds, encoding) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['-e', SCRAPER, base, String(seconds), encoding]);
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', () => resolve(JSON.parse(out)));
  });
}

async function phase(name, scrape) {
  const delay = monitorEventLoopDelay({ resolution: 1 });
  delay.enable();
  const [load, scrapes] = await Promise.all([wrk(PHASE_SECONDS), scrape ? scraper(PHASE_SECONDS - 0.5, scrape) : Promise.resolve(undefined)]);
  delay.disable();
  const ms = (ns) => ns / 1e6;
  const renders = scrapes?.renders.slice(1).sort((a, b) => a - b) ?? [];
  const pick = (q) => (renders.length ? (renders[Math.min(renders.length - 1, Math.floor(q * renders.length))] * 1000).toFixed(2) : '-');
  return {
    name,
    rps: load.rps.toFixed(0),
    p50: load.p50.toFixed(2),
    p99: load.p99.toFixed(2),
    loopMax: ms(delay.max).toFixed(1),
    loopP99: ms(delay.percentile(99)).toFixed(2),
    scrapes: scrapes?.scrapes ?? 0,
    render: renders.length ? `${pick(0.5)} / ${pick(1)}` : '-',
    errors: load.errors,
  };
}

console.log(`scrape under load: ${seriesLines} series lines per scrape, ${PHASE_SECONDS} s per phase, wrk -t2 -c32 through tqserver to one worker, node ${process.version}`);
const rows = [await phase('no scrapes', undefined), await phase('scrape every 250 ms', 'identity'), await phase('scrape every 250 ms, gzip', 'gzip')];
console.log('\n| phase | req/s | wrk p50 ms | wrk p99 ms | event-loop delay max ms | delay p99 ms | scrapes | render p50 / max ms |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const r of rows) console.log(`| ${r.name} | ${r.rps} | ${r.p50} | ${r.p99} | ${r.loopMax} | ${r.loopP99} | ${r.scrapes} | ${r.render} |${r.errors ? ` ${r.errors}` : ''}`);
const ratio = Number(rows[1].rps) / Number(rows[0].rps);
console.log(`\nthroughput while scraping: ${(ratio * 100).toFixed(1)}% of the run without scrapes`);
await app.stop();
rmSync(root, { recursive: true, force: true });
