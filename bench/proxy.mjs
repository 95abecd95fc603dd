// The proxy in front of one worker, side by side in one run: the worker alone, HAProxy, and
// tqserver with metrics on and off, all forwarding to the same worker process. Rounds alternate
// so that machine noise spreads evenly; medians and ratios are printed.
// Usage: npm run bench:proxy [-- path/to/other/dist/main.js] (needs wrk and haproxy, Debian
// packages). With another build's main.js, that build runs too (metrics on), in the same rounds.
// Bounded: loopback only, ROUNDS x 4 (or 5) runs of SECONDS each.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROUNDS = Number(process.env.ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const other = process.argv[2] === undefined ? undefined : resolve(process.argv[2]);
for (const tool of ['wrk', 'haproxy']) {
  if (spawnSync(tool, ['-v']).error) {
    console.error(`!!! bench:proxy needs ${tool} (Debian package ${tool}); skipped !!!`);
    process.exit(0);
  }
}

const dir = mkdtempSync(join(tmpdir(), 'tq-proxy-bench-'));
const WORKER = `import { createServer } from 'node:http';
createServer((req, res) => { res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 3 }); res.end('ok\\n'); })
  .listen(Number(process.env.WORKER_PORT), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`;

/** A tqserver project whose one worker is the tiny server above, on a fixed port. */
function project(name, port, workerPort, metrics) {
  const root = join(dir, name);
  mkdirSync(join(root, 'config'), { recursive: true });
  mkdirSync(join(root, 'workers/w/config'), { recursive: true });
  writeFileSync(join(root, 'workers/w/index.js'), WORKER);
  writeFileSync(join(root, 'workers/w/config/worker.yaml'), 'path: /\nscaling:\n  min_workers: 1\n  max_workers: 1\n  max_concurrency: 10000\nlogging:\n  log_file: ~\n');
  writeFileSync(join(root, 'config/server.yaml'), `server:\n  host: 127.0.0.1\n  port: ${port}\n  log_file: ~\nworkers:\n  port_range_start: ${workerPort}\n  port_range_end: ${workerPort + 1}\nmetrics:\n  enabled: ${metrics}\n`);
  return root;
}

function start(root, build = main) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [build, '--mode', 'prod', '--quiet'], { cwd: root, stdio: ['ignore', 'pipe', 'inherit'] });
    child.stdout.on('data', (d) => (/ready on/.test(String(d)) ? resolve(child) : undefined));
    child.on('exit', (code) => reject(new Error(`tqserver exited ${code}`)));
  });
}

/** CPU time (user + system) `pid` has used so far, in ms (from /proc; clock ticks are 1/100 s on Linux). */
function cpuMs(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

/** One wrk run against `port`; `pid` is the process whose CPU time per 10,000 requests is measured. */
function wrk(port, pid) {
  const before = cpuMs(pid);
  const out = spawnSync('wrk', ['-t2', '-c32', `-d${SECONDS}s`, '--latency', `http://127.0.0.1:${port}/`], { encoding: 'utf8' }).stdout;
  const cpu = cpuMs(pid) - before;
  const requests = Number(/(\d+) requests in/.exec(out)?.[1]);
  const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]);
  const m = /99%\s+([\d.]+)(us|ms|s)/.exec(out);
  const p99 = m ? Number(m[1]) * (m[2] === 'us' ? 0.001 : m[2] === 's' ? 1000 : 1) : NaN;
  if (/Non-2xx|Socket errors/.test(out)) throw new Error(`errors under load on port ${port}:\n${out}`);
  return { rps, p99, cpuPer10k: (cpu / requests) * 10_000 };
}

const on = await start(project('on', 18580, 18581, true));
const off = await start(project('off', 18590, 18592, false));
const otherBuild = other === undefined ? undefined : await start(project('other', 18560, 18561, true), other);
// HAProxy forwards to the very worker process that tqserver (metrics on) supervises.
writeFileSync(join(dir, 'haproxy.cfg'), `global\n  maxconn 4096\n  nbthread 1\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n  option http-keep-alive\nfrontend fe\n  bind 127.0.0.1:18570\n  default_backend be\nbackend be\n  server s1 127.0.0.1:18581\n`);
const haproxy = spawn('haproxy', ['-f', join(dir, 'haproxy.cfg')], { stdio: 'ignore' });
await new Promise((r) => setTimeout(r, 800));

/** The worker process tqserver (metrics on) started: its only child. */
const workerPid = Number(readFileSync(`/proc/${on.pid}/task/${on.pid}/children`, 'utf8').trim().split(' ')[0]);
const targets = { 'worker alone': [18581, workerPid], haproxy: [18570, haproxy.pid], 'tqserver, metrics on': [18580, on.pid], 'tqserver, metrics off': [18590, off.pid] };
if (otherBuild !== undefined) targets['other build, metrics on'] = [18560, otherBuild.pid];
const children = [haproxy, on, off, ...(otherBuild === undefined ? [] : [otherBuild])];
const results = Object.fromEntries(Object.keys(targets).map((k) => [k, []]));
try {
  for (let round = 0; round < ROUNDS; round++) for (const [name, [port, pid]] of Object.entries(targets)) results[name].push(wrk(port, pid));
} catch (err) {
  // Nothing this bench started may outlive it.
  for (const child of children) child.kill('SIGTERM');
  throw err;
}
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const row = (name) => ({ rps: median(results[name].map((r) => r.rps)), p99: median(results[name].map((r) => r.p99)), cpu: median(results[name].map((r) => r.cpuPer10k)) });
const hap = row('haproxy');
console.log(`proxy in front of one tiny worker: wrk -t2 -c32, ${ROUNDS} rounds x ${SECONDS} s, medians, node ${process.version}\n`);
console.log('| target | req/s | p99 ms | CPU ms per 10,000 requests | throughput vs HAProxy | p99 vs HAProxy | CPU vs HAProxy |');
console.log('| --- | ---: | ---: | ---: | ---: | ---: | ---: |');
for (const name of Object.keys(targets)) {
  const r = row(name);
  console.log(`| ${name} | ${r.rps.toFixed(0)} | ${r.p99.toFixed(2)} | ${r.cpu.toFixed(0)} | ${(r.rps / hap.rps).toFixed(2)}x | ${(r.p99 / hap.p99).toFixed(2)}x | ${(r.cpu / hap.cpu).toFixed(2)}x |`);
}
const ratio = row('tqserver, metrics on').rps / row('tqserver, metrics off').rps;
const tq = row('tqserver, metrics on');
console.log(`\nmetrics on / off: ${ratio.toFixed(3)}x (goal >= 0.97x); tqserver vs HAProxy: throughput ${(tq.rps / hap.rps).toFixed(2)}x (goal >= 0.6x), p99 ${(tq.p99 / hap.p99).toFixed(2)}x (goal <= 2x), CPU per request ${(tq.cpu / hap.cpu).toFixed(2)}x (goal <= 2x)`);
console.log('(CPU counts one process per row: the worker alone in its row, the proxy process only in the others)');
const rss = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]) / 1024;
console.log(`resident memory after the runs: tqserver (metrics on) ${rss(on.pid).toFixed(1)} MiB, (metrics off) ${rss(off.pid).toFixed(1)} MiB`);
for (const child of children) child.kill('SIGTERM');
await Promise.all(children.filter((c) => c !== haproxy).map((c) => new Promise((r) => c.on('exit', r))));
rmSync(dir, { recursive: true, force: true });
