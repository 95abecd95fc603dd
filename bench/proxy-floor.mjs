// What a proxied request costs in Node, layer by layer, next to HAProxy: CPU time per 10,000
// requests (user and system, from /proc/<pid>/stat) of four proxies in front of the same tiny
// worker, runs alternating, medians printed:
// - HAProxy, one thread;
// - raw Node sockets: a proxy on node:net with a naive parser on both sides and no checks at all,
//   the floor of what Node can do here (not a usable proxy);
// - node:http's server whose handler calls tqserver's upstream client (dist/proxy/upstream.js)
//   and nothing else;
// - tqserver in prod mode.
// Usage: npm run bench:proxy-floor (needs wrk and haproxy, Debian packages). Bounded: loopback
// only, ROUNDS x 4 runs of SECONDS each; every process it starts is stopped.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROUNDS = Number(process.env.ROUNDS ?? 5);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 3);
const main = fileURLToPath(new URL('../dist/main.js', import.meta.url));
const upstreamModule = new URL('../dist/proxy/upstream.js', import.meta.url).href;
for (const tool of ['wrk', 'haproxy']) {
  if (spawnSync(tool, ['-v']).error) {
    console.error(`!!! bench:proxy-floor needs ${tool} (Debian package ${tool}); skipped !!!`);
    process.exit(0);
  }
}

const PORTS = { worker: 18741, haproxy: 18740, raw: 18742, http: 18743, tqserver: 18744, tqWorker: 18746 };
const dir = mkdtempSync(join(tmpdir(), 'tq-proxy-floor-'));
const WORKER = `import { createServer } from 'node:http';
createServer((req, res) => { res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': 3 }); res.end('ok\\n'); })
  .listen(Number(process.env.WORKER_PORT), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`;
const RAW = `import { connect, createServer } from 'node:net';
const idle = [];
createServer((client) => {
  let buffered = '';
  client.on('data', (d) => {
    buffered += d.toString('latin1');
    let end;
    while ((end = buffered.indexOf('\\r\\n\\r\\n')) >= 0) {
      const line = buffered.slice(0, buffered.indexOf('\\r\\n'));
      buffered = buffered.slice(end + 4);
      let up = idle.pop();
      if (up === undefined) {
        up = connect({ port: ${PORTS.worker}, host: '127.0.0.1', noDelay: true });
        const s = up;
        s.on('data', (x) => s.onData(x));
      }
      const s = up;
      let got = '';
      s.onData = (x) => {
        got += x.toString('latin1');
        const e = got.indexOf('\\r\\n\\r\\n');
        if (e < 0) return;
        const length = Number(/content-length: (\\d+)/i.exec(got.slice(0, e))?.[1] ?? 0);
        if (got.length < e + 4 + length) return;
        client.write(got.slice(0, e + 4 + length), 'latin1');
        idle.push(s);
      };
      s.write(line + '\\r\\nHost: x\\r\\n\\r\\n', 'latin1');
    }
  });
  client.on('error', () => {});
}).listen(${PORTS.raw}, '127.0.0.1', () => console.log('ready'));
`;
const HTTP = `import { createServer } from 'node:http';
const { exchange, UpstreamPool } = await import(${JSON.stringify(upstreamModule)});
const pool = new UpstreamPool();
createServer((req, res) => {
  exchange(req, res, { path: req.url, headerTimeoutMs: 0, requestHeaders: ['Host', req.headers.host ?? 'x'], body: 0 }, ${PORTS.worker}, [], pool, () => {});
}).listen(${PORTS.http}, '127.0.0.1', () => console.log('ready'));
`;

/** Starts `argv` and resolves once it printed `ready`. */
function start(argv, options = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'inherit'], ...options });
    child.stdout.on('data', (d) => (/ready/.test(String(d)) ? resolve(child) : undefined));
    child.on('exit', (code) => reject(new Error(`${argv.join(' ')} exited ${code}`)));
  });
}

writeFileSync(join(dir, 'worker.mjs'), WORKER);
writeFileSync(join(dir, 'raw.mjs'), RAW);
writeFileSync(join(dir, 'http.mjs'), HTTP);
writeFileSync(join(dir, 'ready-worker.mjs'), `${WORKER}console.log('ready');\n`);
mkdirSync(join(dir, 'tq/config'), { recursive: true });
mkdirSync(join(dir, 'tq/workers/w/config'), { recursive: true });
writeFileSync(join(dir, 'tq/workers/w/index.js'), WORKER);
writeFileSync(join(dir, 'tq/workers/w/config/worker.yaml'), 'path: /\nscaling:\n  min_workers: 1\n  max_workers: 1\n  max_concurrency: 10000\nlogging:\n  log_file: ~\n');
writeFileSync(join(dir, 'tq/config/server.yaml'), `server:\n  host: 127.0.0.1\n  port: ${PORTS.tqserver}\n  log_file: ~\nworkers:\n  port_range_start: ${PORTS.tqWorker}\n  port_range_end: ${PORTS.tqWorker + 1}\n`);
writeFileSync(join(dir, 'haproxy.cfg'), `global\n  maxconn 4096\n  nbthread 1\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n  option http-keep-alive\nfrontend fe\n  bind 127.0.0.1:${PORTS.haproxy}\n  default_backend be\nbackend be\n  server s1 127.0.0.1:${PORTS.worker}\n`);

const children = [];
const stopAll = () => {
  for (const child of children) child.kill('SIGTERM');
};
process.on('SIGINT', () => {
  stopAll();
  process.exit(130);
});

/** CPU time `pid` has used so far, user and system, in ms (clock ticks are 1/100 s on Linux). */
function cpu(pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return { user: Number(fields[11]) * 10, system: Number(fields[12]) * 10 };
}

try {
  children.push(await start([process.execPath, join(dir, 'ready-worker.mjs')], { env: { ...process.env, WORKER_PORT: String(PORTS.worker) } }));
  const haproxy = spawn('haproxy', ['-f', join(dir, 'haproxy.cfg')], { stdio: 'ignore' });
  children.push(haproxy);
  children.push(await start([process.execPath, join(dir, 'raw.mjs')]));
  children.push(await start([process.execPath, join(dir, 'http.mjs')]));
  const tq = await start([process.execPath, main, '--mode', 'prod', '--quiet'], { cwd: join(dir, 'tq') });
  children.push(tq);
  await new Promise((r) => setTimeout(r, 800));
  const targets = [
    ['HAProxy, one thread', PORTS.haproxy, haproxy.pid],
    ['raw Node sockets', PORTS.raw, children[2].pid],
    ['node:http server + tqserver\'s upstream client', PORTS.http, children[3].pid],
    ['tqserver, prod mode', PORTS.tqserver, tq.pid],
  ];
  const runs = new Map(targets.map(([name]) => [name, []]));
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, port, pid] of targets) {
      const before = cpu(pid);
      const out = spawnSync('wrk', ['-t2', '-c32', `-d${SECONDS}s`, `http://127.0.0.1:${port}/`], { encoding: 'utf8' }).stdout;
      const after = cpu(pid);
      if (/Non-2xx|Socket errors/.test(out)) throw new Error(`errors under load on ${name}:\n${out}`);
      const requests = Number(/(\d+) requests in/.exec(out)?.[1]);
      const per10k = (ms) => (ms / requests) * 10_000;
      runs.get(name).push({ user: per10k(after.user - before.user), system: per10k(after.system - before.system), rps: requests / SECONDS });
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  console.log(`a proxied request's CPU time, layer by layer: wrk -t2 -c32, ${ROUNDS} rounds x ${SECONDS} s, medians, node ${process.version}\n`);
  console.log('| proxy | CPU ms per 10,000 requests | user | system | req/s | CPU vs HAProxy |');
  console.log('| --- | ---: | ---: | ---: | ---: | ---: |');
  const total = (name) => median(runs.get(name).map((r) => r.user + r.system));
  for (const [name] of targets) {
    const r = runs.get(name);
    console.log(`| ${name} | ${total(name).toFixed(0)} | ${median(r.map((x) => x.user)).toFixed(0)} | ${median(r.map((x) => x.system)).toFixed(0)} | ${median(r.map((x) => x.rps)).toFixed(0)} | ${(total(name) / total(targets[0][0])).toFixed(2)}x |`);
  }
} finally {
  stopAll();
  rmSync(dir, { recursive: true, force: true });
}
