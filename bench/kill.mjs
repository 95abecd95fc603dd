// Requests under fire: a worker with two instances, one of them SIGKILLed every KILL_MS, while
// wrk sends POSTs with a 4 KB body (or GETs) through tqserver. Prints requests per second, the
// statuses that were not 200, and wrk's socket errors (requests left without an answer), next to
// the same run without kills. A second tqserver build can run side by side for a before/after:
//   node bench/kill.mjs [path/to/other/dist/main.js]
// Needs wrk (Debian package). Bounded: loopback only, SECONDS per run, four or eight runs.
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 6);
const KILL_MS = Number(process.env.KILL_MS ?? 700);
if (spawnSync('wrk', ['-v']).error) {
  console.error('!!! bench:kill needs wrk (Debian package wrk); skipped !!!');
  process.exit(0);
}
const builds = [['this build', fileURLToPath(new URL('../dist/main.js', import.meta.url))]];
if (process.argv[2] !== undefined) builds.push(['other build', resolve(process.argv[2])]);

const dir = mkdtempSync(join(tmpdir(), 'tq-kill-bench-'));
const WORKER = `import { createServer } from 'node:http';
createServer((req, res) => {
  let n = 0;
  req.on('data', (c) => (n += c.length));
  req.on('end', () => res.writeHead(200, { 'Content-Type': 'text/plain', 'X-Worker-Pid': String(process.pid) }).end(String(n)));
}).listen(Number(process.env.WORKER_PORT), '127.0.0.1');
process.on('SIGTERM', () => process.exit(0));
`;
writeFileSync(join(dir, 'post.lua'), `wrk.method = "POST"\nwrk.body = string.rep("x", 4096)\nwrk.headers["Content-Type"] = "text/plain"\n`);

function project(name, port, range) {
  const root = join(dir, name);
  mkdirSync(join(root, 'config'), { recursive: true });
  mkdirSync(join(root, 'workers/w/config'), { recursive: true });
  writeFileSync(join(root, 'workers/w/index.mjs'), WORKER);
  writeFileSync(join(root, 'workers/w/config/worker.yaml'), 'path: /\nnode:\n  entrypoint: index.mjs\nscaling:\n  min_workers: 2\n  max_workers: 2\nlogging:\n  log_file: ~\n');
  writeFileSync(join(root, 'config/server.yaml'), `server:\n  host: 127.0.0.1\n  port: ${port}\n  log_file: ~\nworkers:\n  port_range_start: ${range}\n  port_range_end: ${range + 50}\n  startup_delay_ms: 0\n  health_check_interval_ms: 1000\n`);
  return root;
}

function start(main, root) {
  return new Promise((resolvePromise, reject) => {
    const child = spawn(process.execPath, [main, '--mode', 'prod', '--quiet'], { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] });
    child.stdout.on('data', (d) => (/ready on/.test(String(d)) ? resolvePromise(child) : undefined));
    child.on('exit', (code) => reject(new Error(`tqserver exited ${code}`)));
  });
}

/** The pid of whichever instance answers. */
function instancePid(port) {
  return new Promise((resolvePromise) => {
    const req = request({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
      res.resume();
      resolvePromise(Number(res.headers['x-worker-pid']));
    });
    req.on('error', () => resolvePromise(NaN));
    req.setTimeout(1000, () => req.destroy());
    req.end();
  });
}

function wrk(port, post) {
  return new Promise((resolvePromise) => {
    const args = ['-t2', '-c16', `-d${SECONDS}s`, '--timeout', '5s', ...(post ? ['-s', join(dir, 'post.lua')] : []), `http://127.0.0.1:${port}/`];
    const child = spawn('wrk', args, { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.on('exit', () => {
      const socket = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
      resolvePromise({
        rps: Number(/Requests\/sec:\s+([\d.]+)/.exec(out)?.[1]),
        non2xx: Number(/Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? 0),
        socketErrors: socket ? socket.slice(1).reduce((a, b) => a + Number(b), 0) : 0,
        timeouts: socket ? Number(socket[4]) : 0,
      });
    });
  });
}

const rows = [];
let port = 18700;
for (const [name, main] of builds) {
  for (const post of [true, false]) {
    for (const kills of [false, true]) {
      const serverPort = port;
      port += 100;
      const root = project(`${name.replace(' ', '-')}-${post}-${kills}`, serverPort, serverPort + 10);
      const server = await start(main, root);
      await new Promise((r) => setTimeout(r, 500));
      let killed = 0;
      const timer = kills
        ? setInterval(async () => {
            const pid = await instancePid(serverPort);
            if (Number.isInteger(pid)) {
              try {
                process.kill(pid, 'SIGKILL');
                killed++;
              } catch {
                // Already gone.
              }
            }
          }, KILL_MS)
        : undefined;
      const result = await wrk(serverPort, post);
      clearInterval(timer);
      server.kill('SIGTERM');
      await new Promise((r) => server.on('exit', r));
      rows.push({ build: name, load: post ? 'POST 4 KB' : 'GET', kills: kills ? killed : 0, ...result });
    }
  }
}
rmSync(dir, { recursive: true, force: true });
console.log(`\n${SECONDS} s per run, wrk -t2 -c16, a worker with 2 instances; one SIGKILLed every ${KILL_MS} ms in the runs with kills`);
console.log('build        load       kills     req/s   not 200   socket errors (timeouts)');
for (const r of rows) console.log(`${r.build.padEnd(12)} ${r.load.padEnd(10)} ${String(r.kills).padStart(5)} ${r.rps.toFixed(0).padStart(9)} ${String(r.non2xx).padStart(9)} ${String(r.socketErrors).padStart(9)} (${r.timeouts})`);
