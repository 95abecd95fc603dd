// The dev loop, measured from outside: a dev-mode server with a two-instance node worker (default
// 50 ms debounce). Each round saves a new version of the worker file and polls until the first
// response from the new code; a steady load loop counts failed requests meanwhile. Prints the
// save-to-first-new-response times (p50, p90, max) and the failures.
// Usage: npm run bench:reload [-- path/to/other/dist/main.js]   Bounded: loopback, ROUNDS saves.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROUNDS = Number(process.env.ROUNDS ?? 12);
const mains = [['this build', fileURLToPath(new URL('../dist/main.js', import.meta.url))]];
if (process.argv[2] !== undefined) mains.push(['other build', resolve(process.argv[2])]);

const worker = (version) => `import { createServer } from 'node:http';
createServer((req, res) => res.writeHead(200, { 'Content-Type': 'text/plain' }).end('${version}')).listen(Number(process.env.WORKER_PORT), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`;

function get(port, agent) {
  return new Promise((resolvePromise) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => resolvePromise({ status: res.statusCode, body }));
    });
    req.on('error', (err) => resolvePromise({ status: 0, body: err.message }));
    req.setTimeout(5000, () => req.destroy(new Error('timeout')));
    req.end();
  });
}

async function measure(name, main, port) {
  const dir = mkdtempSync(join(tmpdir(), 'tq-reload-bench-'));
  mkdirSync(join(dir, 'config'), { recursive: true });
  mkdirSync(join(dir, 'workers/w/config'), { recursive: true });
  writeFileSync(join(dir, 'config/server.yaml'), `server:\n  host: 127.0.0.1\n  port: ${port}\n  log_file: ~\nworkers:\n  port_range_start: ${port + 1}\n  port_range_end: ${port + 60}\n`);
  writeFileSync(join(dir, 'workers/w/config/worker.yaml'), 'path: /\nnode:\n  entrypoint: index.mjs\nscaling:\n  min_workers: 2\n  max_workers: 2\nlogging:\n  log_file: ~\n');
  writeFileSync(join(dir, 'workers/w/index.mjs'), worker('v0'));
  const server = spawn(process.execPath, [main, '--mode', 'dev', '--quiet'], { cwd: dir, stdio: ['ignore', 'pipe', 'ignore'] });
  await new Promise((r) => server.stdout.on('data', (d) => (/ready on/.test(String(d)) ? r() : undefined)));
  const agent = new Agent({ keepAlive: true, maxSockets: 4 });
  while ((await get(port, agent)).body !== 'v0') await new Promise((r) => setTimeout(r, 20));
  let loading = true;
  let sent = 0;
  let failed = 0;
  const load = (async () => {
    while (loading) {
      const r = await get(port, agent);
      sent++;
      if (r.status !== 200) failed++;
    }
  })();
  const times = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const version = `v${round}`;
    const saved = performance.now();
    writeFileSync(join(dir, 'workers/w/index.mjs'), worker(version));
    for (;;) {
      if ((await get(port, agent)).body === version) break;
      if (performance.now() - saved > 10_000) throw new Error(`${name}: ${version} never served`);
    }
    times.push(performance.now() - saved);
    await new Promise((r) => setTimeout(r, 300));
  }
  loading = false;
  await load;
  agent.destroy();
  server.kill('SIGTERM');
  await new Promise((r) => server.on('exit', r));
  rmSync(dir, { recursive: true, force: true });
  const sorted = [...times].sort((a, b) => a - b);
  const at = (q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
  return { name, p50: at(0.5), p90: at(0.9), max: sorted.at(-1), sent, failed };
}

const rows = [];
let port = 18900;
for (const [name, main] of mains) {
  rows.push(await measure(name, main, port));
  port += 100;
}
console.log(`dev reload, save to first response from the new code: ${ROUNDS} saves, a worker with 2 instances, debounce 50 ms, a load loop running\n`);
console.log('| build | p50 ms | p90 ms | max ms | requests during | failed |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
for (const r of rows) console.log(`| ${r.name} | ${r.p50.toFixed(0)} | ${r.p90.toFixed(0)} | ${r.max.toFixed(0)} | ${r.sent} | ${r.failed} |`);
console.log(`\ngoal: p50 <= 150 ms with no failed request: ${rows.map((r) => `${r.name} ${r.p50 <= 150 && r.failed === 0 ? 'met' : 'MISSED'}`).join(', ')}`);
