// Idle resident memory of `node dist/main.js --mode prod`, run on a copy of this repository's
// config/ and workers/ (the hello and api workers; the monitoring worker is dev-only), next to a
// bare Node http server in the same run (the anchor), each started once the one before is ready.
// Only the tqserver process counts, not its workers. Reads VmRSS, RssAnon and RssFile from
// /proc/<pid>/status of each process:
// - idle: IDLE_MS after "ready on";
// - scraped: IDLE_MS after the first request (to tqserver, a /metrics scrape sent as Prometheus
//   sends it, gzip and all; to the anchor, a GET /);
// - after LATER_MS: that long after the first request, with one every 15 s meanwhile (LATER_MS=0
//   leaves this phase out).
// Prints the median of ROUNDS starts of each.
// Usage: npm run bench:idle-memory [-- path/to/other/dist/main.js]   (a second build side by side;
// its dist/ must sit in a package whose package.json says "type": "module", or hold one, as this
// build's does, else it pays for Node's module syntax detection). Bounded: loopback only, ports
// from the OS, ROUNDS x (2 x IDLE_MS + LATER_MS + start-up); every process it starts is stopped.
import { spawn } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROUNDS = Number(process.env.ROUNDS ?? 5);
const IDLE_MS = Number(process.env.IDLE_MS ?? 3000);
const LATER_MS = Number(process.env.LATER_MS ?? 30_000);
const SCRAPE_INTERVAL_MS = 15_000;
/** The goal, 50 MB, read as MiB (52.4 decimal MB), the unit ps, top and free print. */
const GOAL_MIB = 50;
const repo = fileURLToPath(new URL('..', import.meta.url));
const builds = [['tqserver', join(repo, 'dist/main.js')]];
if (process.argv[2] !== undefined) builds.push(['other build', resolve(process.argv[2])]);

const ANCHOR = `import { createServer } from 'node:http';
const server = createServer((req, res) => res.end('ok\\n'));
server.listen(0, '127.0.0.1', () => console.log('ready on http://127.0.0.1:' + server.address().port));
process.on('SIGTERM', () => process.exit(0));
`;
/** What Prometheus 2.x sends with each scrape. */
const SCRAPE_HEADERS = {
  Accept: 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1',
  'Accept-Encoding': 'gzip',
  'User-Agent': 'Prometheus/2.42.0',
  'X-Prometheus-Scrape-Timeout-Seconds': '10',
};

const dir = mkdtempSync(join(tmpdir(), 'tq-idle-bench-'));
/** Every process started and not yet exited. */
const children = new Set();
const anchorFile = join(dir, 'anchor.mjs');
writeFileSync(anchorFile, ANCHOR);

/**
 * Instance port ranges of 100, one per project, below Linux's ephemeral ports (32768 and up), so
 * that no outgoing connection takes one between tqserver's test bind and the worker's listen.
 */
let nextRange = 10_000 + Math.floor(Math.random() * 100) * 100;

/**
 * A copy of the repository's config/ and workers/, changed only where a bench must: loopback, a
 * port from the OS, and an instance port range of its own (busy ports in it are skipped).
 */
function project(name) {
  const root = join(dir, name);
  cpSync(join(repo, 'config'), join(root, 'config'), { recursive: true });
  cpSync(join(repo, 'workers'), join(root, 'workers'), { recursive: true, filter: (src) => !src.includes('node_modules') });
  const file = join(root, 'config/server.yaml');
  const range = nextRange;
  nextRange = nextRange >= 32_000 ? 10_000 : nextRange + 100;
  const text = readFileSync(file, 'utf8')
    .replace(/^(\s+host:)\s*\S+/m, '$1 127.0.0.1')
    .replace(/^(\s+port:)\s*\d+/m, '$1 0')
    .replace(/^(\s+port_range_start:)\s*\d+/m, `$1 ${range}`)
    .replace(/^(\s+port_range_end:)\s*\d+/m, `$1 ${range + 99}`);
  writeFileSync(file, text);
  return root;
}

/** Starts `args` in `cwd`; resolves with the child and its port once it prints "ready on". */
function start(args, cwd) {
  return new Promise((resolvePromise, reject) => {
    // A process group of its own: Ctrl-C reaches only the bench, which stops it with one SIGTERM
    // (a second signal makes tqserver exit at once, without stopping its workers).
    const child = spawn(process.execPath, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'], detached: true });
    children.add(child);
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
      const m = /ready on http:\/\/[^:]+:(\d+)/.exec(out);
      if (m !== null) resolvePromise({ child, port: Number(m[1]) });
    });
    child.on('exit', (code) => {
      children.delete(child);
      reject(new Error(`${args.join(' ')} exited ${code} before it was ready`));
    });
  });
}

/** SIGTERM (tqserver then stops its workers); resolves once the process has exited. */
function stop(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((r) => {
    child.on('exit', r);
    child.kill('SIGTERM');
  });
}

/** The resident set of `pid` from /proc/<pid>/status, in kB. */
function rss(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (key) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1]);
  return { total: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile') };
}

/** One GET; resolves with the status and the body's length once read. */
function get(port, path, headers) {
  return new Promise((resolvePromise, reject) => {
    const req = request({ host: '127.0.0.1', port, path, headers, agent: false }, (res) => {
      let bytes = 0;
      res.on('data', (d) => (bytes += d.length));
      res.on('end', () => resolvePromise({ status: res.statusCode, bytes }));
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error(`GET ${path} timed out`)));
    req.end();
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const ANCHOR_NAME = 'bare node http server';
const PHASES = ['idle', 'scraped', ...(LATER_MS > 0 ? [`after ${LATER_MS / 1000} s`] : [])];

/** name -> phase -> readings */
const readings = new Map();
const record = (name, phase, reading) => {
  if (!readings.has(name)) readings.set(name, Object.fromEntries(PHASES.map((p) => [p, []])));
  readings.get(name)[phase].push(reading);
};

/** One scrape of each tqserver, the way Prometheus sends it, and one GET / of the anchor. */
async function scrapeAll(started) {
  for (const s of started) {
    const isAnchor = s.name === ANCHOR_NAME;
    const res = await get(s.port, isAnchor ? '/' : '/metrics', isAnchor ? {} : SCRAPE_HEADERS);
    if (res.status !== 200) throw new Error(`${s.name}: status ${res.status}`);
  }
}

/** Stops every process started so far, removes the temporary folder. */
async function cleanUp() {
  await Promise.all([...children].map(stop));
  rmSync(dir, { recursive: true, force: true });
}
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    console.error(`${signal}: stopping what the bench started`);
    void cleanUp().then(() => process.exit(1));
  });
}

try {
  for (let round = 0; round < ROUNDS; round++) {
    // One after the other, each once the previous is ready, so that no build's start-up slows
    // another's: started together, a build was seen to cross V8's threshold for its first
    // optimized function before the reading, a step of about 4 MB (docs/performance.md).
    const started = [{ ...(await start([anchorFile], dir)), name: ANCHOR_NAME }];
    for (const [i, [name, main]] of builds.entries()) started.push({ ...(await start([main, '--mode', 'prod', '--quiet'], project(`${round}-${i}`))), name });
    await sleep(IDLE_MS);
    for (const s of started) record(s.name, 'idle', rss(s.child.pid));
    const scraped = performance.now();
    await scrapeAll(started);
    await sleep(IDLE_MS);
    for (const s of started) record(s.name, 'scraped', rss(s.child.pid));
    if (LATER_MS > 0) {
      for (let next = SCRAPE_INTERVAL_MS; next < LATER_MS; next += SCRAPE_INTERVAL_MS) {
        await sleep(scraped + next - performance.now());
        await scrapeAll(started);
      }
      await sleep(scraped + LATER_MS - performance.now());
      for (const s of started) record(s.name, PHASES[2], rss(s.child.pid));
    }
    await Promise.all([...children].map(stop));
  }
} catch (err) {
  console.error(err);
  process.exitCode = 1;
} finally {
  await cleanUp();
}

if (process.exitCode === 1) process.exit();
// In MiB: /proc's kB are KiB.
const mib = (kb) => (kb / 1024).toFixed(1);
const anchor = readings.get(ANCHOR_NAME);
console.log(`idle resident memory (/proc/<pid>/status), ${process.version}, median of ${ROUNDS} starts`);
console.log(`  idle: ${IDLE_MS} ms after "ready on"; scraped: ${IDLE_MS} ms after the first request (to tqserver: a /metrics scrape as Prometheus sends it, gzip)`);
if (LATER_MS > 0) console.log(`  ${PHASES[2]}: ${LATER_MS / 1000} s after the first request, one every ${SCRAPE_INTERVAL_MS / 1000} s meanwhile`);
console.log('\n| process | phase | VmRSS MiB | RssAnon MiB | RssFile MiB | VmRSS vs bare node |');
console.log('| --- | --- | ---: | ---: | ---: | ---: |');
for (const [name, phases] of readings) {
  for (const phase of PHASES) {
    const xs = phases[phase];
    if (xs.length === 0) continue;
    const total = median(xs.map((r) => r.total));
    const ratio = (total / median(anchor[phase].map((r) => r.total))).toFixed(2);
    console.log(`| ${name} | ${phase} | ${mib(total)} | ${mib(median(xs.map((r) => r.anon)))} | ${mib(median(xs.map((r) => r.file)))} | ${ratio}x |`);
  }
}
const ours = readings.get('tqserver');
const verdicts = PHASES.filter((phase) => ours[phase].length > 0).map((phase) => {
  const total = median(ours[phase].map((r) => r.total)) / 1024;
  return `${phase} ${total < GOAL_MIB ? 'met' : 'MISSED'}`;
});
console.log(`\ngoal: tqserver VmRSS < ${GOAL_MIB} MiB once idle: ${verdicts.join(', ')}`);
