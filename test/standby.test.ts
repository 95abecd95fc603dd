/**
 * Warm standbys, end to end (dev mode, `type: node` workers): a save is served by new code from
 * a process started ahead of time, which then looks to the worker exactly like `node <entry>`;
 * a broken save fails the normal way; standbys die with the server however it dies, and with
 * their configuration; none exist when turned off or in prod mode, and none are instances.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { pathToFileURL } from 'node:url';
import { alive, eventually, http, Project, startServer, type Running } from './helpers/project.js';

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** What the test workers answer. */
interface Answer {
  version: string;
  pid: number;
  argv: string[];
  execArgv: string[];
  url?: string;
  main?: boolean;
  filename?: string;
  extra: string | null;
}

/** An ES-module worker reporting what `node <entry>` shows it; `body` runs first (a throw, say). */
function esmWorker(version: string, body = ''): string {
  return `import { createServer } from 'node:http';
${body}
createServer((req, res) => {
  if (req.url === '/health') return res.end('ok');
  res.setHeader('Content-Type', 'application/json');
  res.end(JSON.stringify({ version: '${version}', pid: process.pid, argv: process.argv, execArgv: process.execArgv, url: import.meta.url, extra: process.env.EXTRA ?? null }));
}).listen(Number(process.env.WORKER_PORT), '127.0.0.1');
`;
}

/** The same as CommonJS, reporting require.main and __filename. */
function cjsWorker(version: string): string {
  return `const { createServer } = require('node:http');
createServer((req, res) => {
  if (req.url === '/health') return res.end('ok');
  res.setHeader('Content-Type', 'application/json');
  res.end(JSON.stringify({ version: '${version}', pid: process.pid, argv: process.argv, execArgv: process.execArgv, main: require.main === module, filename: __filename, extra: process.env.EXTRA ?? null }));
}).listen(Number(process.env.WORKER_PORT), '127.0.0.1');
`;
}

/** Adds worker `name` at `path` running `file` (written with `source`), with `instances` instances. */
function addWorker(project: Project, name: string, path: string, file: string, source: string, instances: number, extra = ''): void {
  project
    .write(`workers/${name}/config/worker.yaml`, `path: ${path}\nnode:\n  entrypoint: ${file}\nscaling:\n  min_workers: ${instances}\n  max_workers: ${instances}\nlogging:\n  log_file: logs/{name}_{port}.log\n${extra}`)
    .write(`workers/${name}/${file}`, source);
}

/** A process of the machine: its pid and command line. */
interface Proc {
  readonly pid: number;
  readonly args: string;
}

/** The live children of `parent` (from /proc). */
function childrenOf(parent: number): Proc[] {
  const found: Proc[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      // Fields after the command name, which is in parentheses and may hold spaces: state, ppid, ...
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[1]) !== parent || fields[0] === 'Z') continue;
      found.push({ pid: Number(entry), args: readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').join(' ').trim() });
    } catch {
      // Gone meanwhile.
    }
  }
  return found;
}

/**
 * The children of the server that are warm standbys: started with the hook, and not (yet) an
 * instance, whose pid the log names (an instance taken from a standby keeps the hook in its
 * command line, though not in its process.execArgv).
 */
function standbysOf(server: Running): Proc[] {
  const instances = new Set([...server.stderr().matchAll(/\(pid (\d+)/g)].map((m) => Number(m[1])));
  return childrenOf(server.child.pid as number).filter((p) => p.args.includes('standby-hook.js') && !instances.has(p.pid));
}

/** Waits until the server holds exactly `count` standbys, none of them in `not`; returns their pids. */
function standbysReady(server: Running, count: number, not: readonly number[] = []): Promise<number[]> {
  return eventually(() => {
    const pids = standbysOf(server).map((p) => p.pid);
    return pids.length === count && pids.every((p) => !not.includes(p)) ? pids : undefined;
  }, 10_000, `${count} new warm standbys`);
}

/** Asks `path` until the answer has `version`. */
function serving(server: Running, path: string, version: string): Promise<Answer> {
  return eventually(async () => {
    const reply = await http(server.base, path);
    const answer = reply.status === 200 ? reply.json<Answer>() : undefined;
    return answer?.version === version ? answer : undefined;
  }, 10_000, `${path} to serve ${version}`);
}

/** Runs `body` against a dev (or `args`) server of `project`; stops it and checks nothing it started is left. */
async function withServer(project: Project, body: (s: Running) => Promise<void>, args = ['--mode', 'dev']): Promise<void> {
  const server = await startServer(project, args);
  const seen = new Set<number>();
  const watch = setInterval(() => childrenOf(server.child.pid as number).forEach((p) => seen.add(p.pid)), 50);
  try {
    await body(server);
  } finally {
    clearInterval(watch);
    childrenOf(server.child.pid as number).forEach((p) => seen.add(p.pid));
    assert.equal(await server.stop(), 0, server.stderr());
    for (const pid of seen) assert.equal(alive(pid), false, `process ${pid} outlived the server`);
    project.remove();
  }
}

const DEV = 'file_watcher:\n  debounce_ms: 30\n';

test('a save is served by the new code through the warm standbys, which then look like `node <entry>`', async () => {
  const project = new Project('tq-standby-');
  project.server(DEV);
  addWorker(project, 'esm', '/', 'index.mjs', esmWorker('v1'), 2);
  addWorker(project, 'cjs', '/cjs', 'main.cjs', cjsWorker('v1'), 1);
  await withServer(project, async (s) => {
    const before = await standbysReady(s, 3);
    const instances = childrenOf(s.child.pid as number).filter((p) => !before.includes(p.pid));
    assert.equal(instances.length, 3, 'three instances besides the standbys');
    // Standbys are no instances: the metrics count the instances only.
    const metrics = (await http(s.base, '/metrics')).text();
    assert.match(metrics, /^tqserver_worker_instances\{worker="esm"\} 2$/m);
    assert.match(metrics, /^tqserver_worker_instances\{worker="cjs"\} 1$/m);

    writeFileSync(join(project.dir, 'workers/esm/index.mjs'), esmWorker('v2'));
    writeFileSync(join(project.dir, 'workers/cjs/main.cjs'), cjsWorker('v2'));
    const esm = await serving(s, '/', 'v2');
    const cjs = await serving(s, '/cjs/', 'v2');
    assert.ok(before.includes(esm.pid), `the new esm instance (pid ${esm.pid}) is one of the standbys ${before.join(', ')}`);
    assert.ok(before.includes(cjs.pid), `the new cjs instance (pid ${cjs.pid}) is one of the standbys ${before.join(', ')}`);
    await s.waitFor(/worker esm: restarted \(change\)/);
    await s.waitFor(/worker cjs: restarted \(change\)/);
    assert.equal(s.stderr().match(/is healthy \(from a warm standby\)/g)?.length, 3);

    // What the worker sees is what `node <entry>` shows it: no trace of the hook.
    const entry = join(project.dir, 'workers/esm/index.mjs');
    assert.deepEqual(esm.execArgv, []);
    assert.deepEqual(esm.argv, [process.execPath, entry]);
    assert.equal(esm.url, pathToFileURL(entry).href);
    assert.equal(cjs.main, true);
    assert.deepEqual(cjs.execArgv, []);
    assert.equal(cjs.filename, join(project.dir, 'workers/cjs/main.cjs'));
    assert.deepEqual(cjs.argv, [process.execPath, cjs.filename]);

    // Taken standbys are replaced by new ones once the rollouts are over.
    await standbysReady(s, 3, before);
  });
});

test('an entrypoint that throws on load, started from a standby, takes the normal start-failure path', async () => {
  const project = new Project('tq-standby-');
  project.server(DEV);
  addWorker(project, 'app', '/', 'index.mjs', esmWorker('v1'), 1);
  await withServer(project, async (s) => {
    const [standby] = await standbysReady(s, 1);
    writeFileSync(join(project.dir, 'workers/app/index.mjs'), esmWorker('v2', "throw new Error('broken on load');"));
    await s.waitFor(/worker app: restart \(change\) failed/);
    const log = s.stderr();
    assert.match(log, new RegExp(`instance app#\\d+ \\(pid ${standby}, port \\d+\\) exited during start-up \\(code 1\\); its stderr ended with:`));
    assert.match(log, /Error: broken on load/);
    // The old instance keeps serving the old code.
    assert.equal((await http(s.base, '/')).json<Answer>().version, 'v1');
    // A fix is served, from a standby started after the failed restart.
    const [next] = await standbysReady(s, 1, [standby as number]);
    writeFileSync(join(project.dir, 'workers/app/index.mjs'), esmWorker('v3'));
    assert.equal((await serving(s, '/', 'v3')).pid, next);
  });
});

test('a killed tqserver leaves no standby running: the hook exits when its control pipe closes', async () => {
  const project = new Project('tq-standby-');
  project.server(DEV);
  addWorker(project, 'app', '/', 'index.mjs', esmWorker('v1'), 2);
  const s = await startServer(project, ['--mode', 'dev']);
  let instances: number[] = [];
  try {
    const standbys = await standbysReady(s, 2);
    instances = childrenOf(s.child.pid as number).map((p) => p.pid).filter((p) => !standbys.includes(p));
    s.child.kill('SIGKILL');
    await s.exited;
    await eventually(() => (standbys.some(alive) ? undefined : true), 5000, 'the standbys to exit');
  } finally {
    // Instances outlive a SIGKILLed server (their own process groups): this test cleans them up.
    for (const pid of instances) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // Gone.
      }
    }
    await s.stop();
    project.remove();
  }
});

test('standbys turned off by dev.warm_standby: false: no process beyond the instances', async () => {
  const project = new Project('tq-standby-');
  project.server(`${DEV}dev:\n  warm_standby: false\n`);
  addWorker(project, 'app', '/', 'index.mjs', esmWorker('v1'), 2);
  await withServer(project, async (s) => {
    await serving(s, '/', 'v1');
    await sleep(1000);
    assert.deepEqual(standbysOf(s), []);
    assert.equal(childrenOf(s.child.pid as number).length, 2);
    writeFileSync(join(project.dir, 'workers/app/index.mjs'), esmWorker('v2'));
    await serving(s, '/', 'v2');
    await s.waitFor(/worker app: restarted \(change\)/);
    await sleep(1000);
    assert.deepEqual(standbysOf(s), []);
    assert.doesNotMatch(s.stderr(), /warm standby/);
  });
});

test('only plain node workers get standbys: not an exec worker running node, nor one preloading in NODE_OPTIONS', async () => {
  const project = new Project('tq-standby-');
  project.server(DEV);
  addWorker(project, 'plain', '/', 'index.mjs', esmWorker('v1'), 1);
  addWorker(project, 'pre', '/pre', 'index.mjs', esmWorker('v1'), 1, 'env:\n  NODE_OPTIONS: --require ./pre.cjs\n');
  project.write('workers/pre/pre.cjs', 'globalThis.preloaded = true;\n');
  project
    .write('workers/ex/config/worker.yaml', `path: /ex\ntype: exec\nexec:\n  command: [${JSON.stringify(process.execPath)}, index.mjs]\n`)
    .write('workers/ex/index.mjs', esmWorker('v1'));
  await withServer(project, async (s) => {
    const [standby] = await standbysReady(s, 1);
    const child = childrenOf(s.child.pid as number).find((p) => p.pid === standby);
    assert.match(child?.args ?? '', /standby-hook\.js index\.mjs$/);
    assert.equal(readFileSync(`/proc/${standby}/cwd/config/worker.yaml`, 'utf8').split('\n')[0], 'path: /');
    await sleep(1000);
    assert.equal(standbysOf(s).length, 1);
  });
});

test('prod mode starts no standby, at start-up or in a SIGHUP restart', async () => {
  const project = new Project('tq-standby-');
  project.server();
  addWorker(project, 'app', '/', 'index.mjs', esmWorker('v1'), 2);
  await withServer(
    project,
    async (s) => {
      await serving(s, '/', 'v1');
      await sleep(1000);
      assert.deepEqual(standbysOf(s), []);
      writeFileSync(join(project.dir, 'workers/app/index.mjs'), esmWorker('v2'));
      s.child.kill('SIGHUP');
      await serving(s, '/', 'v2');
      await s.waitFor(/configuration reloaded/);
      await sleep(1000);
      assert.deepEqual(standbysOf(s), []);
      assert.equal(childrenOf(s.child.pid as number).length, 2);
    },
    ['--mode', 'prod'],
  );
});

test('a burst of saves is still one rebuild and one rolling restart, from the standbys', async () => {
  const project = new Project('tq-standby-');
  project.server(DEV);
  addWorker(project, 'app', '/', 'index.mjs', esmWorker('v0'), 2);
  await withServer(project, async (s) => {
    const standbys = await standbysReady(s, 2);
    for (let i = 1; i <= 10; i++) writeFileSync(join(project.dir, 'workers/app/index.mjs'), esmWorker(`v${i}`));
    const answer = await serving(s, '/', 'v10');
    await sleep(500);
    const log = s.stderr();
    assert.equal(log.match(/worker app: .* changed; rebuilding/g)?.length, 1, log);
    assert.equal(log.match(/worker app: restarted \(change\)/g)?.length, 1, log);
    assert.equal(log.match(/is healthy \(from a warm standby\)/g)?.length, 2, log);
    assert.ok(standbys.includes(answer.pid));
  });
});

test('standbys are killed when their configuration changes, and when their worker goes', async () => {
  const project = new Project('tq-standby-');
  project.server(DEV);
  addWorker(project, 'app', '/', 'index.mjs', esmWorker('v1'), 1);
  addWorker(project, 'other', '/other', 'index.mjs', esmWorker('v1'), 1);
  await withServer(project, async (s) => {
    const before = await standbysReady(s, 2);
    // A changed environment: the standby started with the old one must not serve.
    project.write('workers/app/config/worker.yaml', project.read('workers/app/config/worker.yaml') + 'env:\n  EXTRA: changed\n');
    const answer = await eventually(async () => {
      const a = (await http(s.base, '/')).json<Answer>();
      return a.extra === 'changed' ? a : undefined;
    }, 10_000, 'the new environment to serve');
    assert.ok(!before.includes(answer.pid), 'the instance with the new environment is no stale standby');
    await eventually(() => (before.filter(alive).length === 1 ? true : undefined), 5000, "app's old standby to be killed");
    // The other worker's standby is untouched; removing the worker kills it.
    const [otherStandby] = before.filter(alive);
    rmSync(join(project.dir, 'workers/other'), { recursive: true, force: true });
    await s.waitFor(/worker other: removed from the configuration/);
    await eventually(() => (alive(otherStandby as number) ? undefined : true), 5000, "the removed worker's standby to exit");
    await eventually(() => (standbysOf(s).length === 1 ? true : undefined), 5000, 'one standby, for app');
  });
});

test('a crashed instance is replaced from a standby; a standby killed from outside is logged, and a normal start stands in', async () => {
  const project = new Project('tq-standby-');
  project.server(DEV).echoWorker('api', '/api', 'scaling:\n  min_workers: 2\n  max_workers: 2\n');
  await withServer(project, async (s) => {
    const [first, second] = await standbysReady(s, 2);
    await http(s.base, '/api/crash');
    await s.waitFor(/worker api: instance .* exited unexpectedly \(code 3\)/);
    await s.waitFor(new RegExp(`instance api#\\d+ \\(pid (${first}|${second}), port \\d+\\) is healthy \\(from a warm standby\\)`));
    // Refilled to two, then one of them is killed by someone else.
    const [gone, kept] = await standbysReady(s, 2, [first as number, second as number].filter((p) => !alive(p) || s.stderr().includes(`pid ${p},`)));
    process.kill(gone as number, 'SIGKILL');
    await s.waitFor(new RegExp(`worker api: warm standby \\(pid ${gone}, port \\d+\\) exited before use \\(signal SIGKILL\\)`));
    // A rolling restart takes the one left, and starts the other instance as usual.
    s.child.kill('SIGHUP');
    await s.waitFor(/worker api: restarted \(reload\)/);
    const healthy = [...s.stderr().matchAll(/instance api#\d+ \(pid (\d+), port \d+\) is healthy( \(from a warm standby\))?/g)].slice(-2);
    assert.deepEqual(healthy.map((m) => m[2] !== undefined).sort(), [false, true], s.stderr());
    assert.ok(healthy.some((m) => Number(m[1]) === kept), `standby ${kept} served`);
  });
});
