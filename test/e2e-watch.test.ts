/**
 * Dev-mode watching, end to end: every way a file can change is seen, again and again, by one
 * running server; worker folders come and go without SIGHUP; installs and builds do not restart.
 * Plus the watch itself in-process: what it attaches inotify watches to, and that stopping the
 * supervisor stops the workers-directory watch.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { loadConfig } from '../lib/config/index.js';
import { Supervisor } from '../lib/supervisor/index.js';
import { watchTree } from '../lib/supervisor/watch.js';
import { alive, ECHO, eventually, http, Project, REPO, startServer } from './helpers/project.js';

const PROBE = join(REPO, 'fixtures', 'workers', 'watch-probe.mjs');
const DEBOUNCE_MS = 30;
/** The part of the echo fixture's answer these tests read. */
type Echo = { pid: number; env: { WORKER_NAME: string } };
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The probe's source with its CODE constant set to `code`. */
function probeSource(code: string): string {
  return readFileSync(PROBE, 'utf8').replace("const CODE = 'v1';", `const CODE = '${code}';`);
}

test('dev mode sees every save, however it is made, on one running server', async (t) => {
  const project = new Project('tq-watch-');
  project.server(`file_watcher:\n  debounce_ms: ${DEBOUNCE_MS}\n`).write('workers/app/config/worker.yaml', 'path: /app\nnode:\n  entrypoint: main.mjs\nscaling:\n  min_workers: 1\n  max_workers: 1\n');
  for (let i = 0; i < 19; i++) project.write(`workers/app/lib/f${i}.mjs`, `export const n = ${i};\n`);
  const app = join(project.dir, 'workers', 'app');
  const main = join(app, 'main.mjs');
  copyFileSync(PROBE, main);
  const s = await startServer(project, ['--mode', 'dev']);
  const pids = new Set<number>();
  type Answer = { code: string; pid: number; part: string | null; deep: string | null };
  const ask = async (): Promise<Answer> => {
    const answer = (await http(s.base, '/app/')).json<Answer>();
    pids.add(answer.pid);
    return answer;
  };
  const serving = (what: string, check: (a: Answer) => boolean): Promise<Answer> =>
    eventually(async () => {
      const a = await ask();
      return check(a) ? a : undefined;
    }, 10_000, what);
  /** What each "changed; rebuilding" line of worker app said changed, in order. */
  const rebuilds = (): string[] => [...s.stderr().matchAll(/worker app: (.*) changed; rebuilding/g)].map((m) => m[1] as string);
  /** The "instance ... is healthy" lines of worker app. */
  const healthy = (): string[] => [...s.stderr().matchAll(/worker app: instance (.*) is healthy/g)].map((m) => m[1] as string);
  /** Waits until the server has logged nothing for 500 ms: the restarts of earlier steps are over. */
  const quiet = async (): Promise<void> => {
    let seen = -1;
    await eventually(async () => {
      const now = s.stderr().length;
      if (now === seen) return true;
      seen = now;
      await sleep(500);
      return undefined;
    }, 10_000, 'the server to settle');
  };
  /** Makes a change and waits until `code` serves; returns the rebuild lines it caused. */
  const change = async (code: string, make: () => void): Promise<string[]> => {
    const before = rebuilds().length;
    make();
    await serving(`code ${code} to serve`, (a) => a.code === code);
    return rebuilds().slice(before);
  };
  try {
    assert.equal((await ask()).code, 'v1');

    await t.test('a write in place', async () => {
      assert.deepEqual(await change('v2', () => writeFileSync(main, probeSource('v2'))), ['main.mjs']);
    });

    await t.test('sed -i (a new file renamed over the old one); its temporary file is not reported', async () => {
      const lines = await change('v3', () => execFileSync('sed', ['-i', "s/const CODE = 'v2';/const CODE = 'v3';/", main]));
      assert.deepEqual(lines, ['main.mjs']);
    });

    await t.test("an editor's safe-write: a temporary file renamed over the original", async () => {
      const lines = await change('v4', () => {
        writeFileSync(`${main}.tq-save`, probeSource('v4'));
        renameSync(`${main}.tq-save`, main);
      });
      assert.deepEqual(lines, ['main.mjs']);
    });

    await t.test('a write in place after the file was replaced (the regression: Node 20 recursive fs.watch went deaf here)', async () => {
      await change('v5', () => writeFileSync(main, probeSource('v5')));
      await change('v6', () => writeFileSync(main, probeSource('v6')));
    });

    await t.test('delete and recreate', async () => {
      const lines = await change('v7', () => {
        rmSync(main);
        writeFileSync(main, probeSource('v7'));
      });
      assert.deepEqual(lines, ['main.mjs']);
    });

    await t.test('a burst of 20 files replaced at once, like git checkout, is one rebuild', async () => {
      const before = rebuilds().length;
      await change('v8', () => {
        const files = [...Array.from({ length: 19 }, (_, i) => [join(app, 'lib', `f${i}.mjs`), `export const n = ${i + 100};\n`]), [main, probeSource('v8')]] as const;
        for (const [file, text] of files) {
          writeFileSync(`${file}.checkout`, text);
          renameSync(`${file}.checkout`, file);
        }
      });
      await sleep(500);
      assert.deepEqual(rebuilds().slice(before), ['20 files']);
    });

    await t.test('a new subfolder, and files made in it later; a new nested subfolder with a file', async () => {
      const before = rebuilds().length;
      mkdirSync(join(app, 'extra'));
      await sleep(DEBOUNCE_MS * 10);
      assert.equal(rebuilds().length, before, 'an empty folder is no change');
      writeFileSync(join(app, 'extra', 'part.txt'), 'p1');
      assert.equal((await serving('extra/part.txt to be read', (a) => a.part === 'p1')).code, 'v8');
      mkdirSync(join(app, 'extra', 'a', 'b'), { recursive: true });
      writeFileSync(join(app, 'extra', 'a', 'b', 'deep.txt'), 'd1');
      await serving('extra/a/b/deep.txt to be read', (a) => a.deep === 'd1');
      writeFileSync(join(app, 'extra', 'part.txt'), 'p2');
      await serving('extra/part.txt to be read again', (a) => a.part === 'p2');
      assert.deepEqual(rebuilds().slice(before), [join('extra', 'part.txt'), join('extra', 'a', 'b', 'deep.txt'), join('extra', 'part.txt')]);
    });

    await t.test('what installs and builds write never restarts; the watch still works after', async () => {
      await quiet();
      const { pid } = await ask();
      const before = rebuilds().length;
      const started = healthy().length;
      const written: [string, string][] = [
        ['node_modules/x.js', 'x'],
        ['node_modules/pkg/deep/index.js', 'x'],
        ['package-lock.json', '{}'],
        ['yarn.lock', ''],
        ['pnpm-lock.yaml', ''],
        ['bun.lock', ''],
        ['dist/main.js', 'x'],
        ['build/out.js', 'x'],
        ['bin/app', 'x'],
        ['logs/today.log', 'x'],
        ['debug.log', 'x'],
        ['.cache/x', 'x'],
        ['main.mjs~', 'x'],
      ];
      for (const [file, text] of written) {
        mkdirSync(join(app, file, '..'), { recursive: true });
        writeFileSync(join(app, file), text);
      }
      writeFileSync(join(app, 'node_modules', 'x.js'), 'again, inside a folder that existed already');
      await sleep(1000);
      assert.deepEqual(rebuilds().slice(before), []);
      assert.deepEqual(healthy().slice(started), [], 'no instance of app started');
      assert.equal((await ask()).pid, pid);
      await change('v9', () => writeFileSync(main, probeSource('v9')));
    });

    await t.test('a new worker folder is served without SIGHUP, and goes away when removed', async () => {
      assert.equal((await http(s.base, '/fresh/echo')).status, 404);
      project.write('workers/fresh/config/worker.yaml', `path: /fresh\nnode:\n  entrypoint: ${JSON.stringify(ECHO)}\n`);
      const fresh = await eventually<Echo>(async () => {
        const r = await http(s.base, '/fresh/echo');
        return r.status === 200 ? r.json() : undefined;
      }, 10_000, 'the new worker to serve');
      assert.equal(fresh.env.WORKER_NAME, 'fresh');
      pids.add(fresh.pid);
      assert.match(s.stderr(), /workers directory: worker folder fresh added; reloading the configuration/);
      rmSync(join(project.dir, 'workers', 'fresh'), { recursive: true });
      await eventually(async () => ((await http(s.base, '/fresh/echo')).status === 404 ? true : undefined), 10_000, 'the removed worker to 404');
      await eventually(() => (alive(fresh.pid) ? undefined : true), 5000, 'the removed worker to stop');
    });

    await t.test('a worker.yaml written into a folder that had none starts that worker, also once a broken one is fixed', async () => {
      mkdirSync(join(project.dir, 'workers', 'late', 'config'), { recursive: true });
      await sleep(DEBOUNCE_MS * 10);
      assert.equal((await http(s.base, '/late/echo')).status, 404);
      const yaml = join(project.dir, 'workers', 'late', 'config', 'worker.yaml');
      writeFileSync(yaml, `path: late\nnode:\n  entrypoint: ${JSON.stringify(ECHO)}\n`);
      await s.waitFor(/reload refused.*must be a URL path/);
      assert.equal((await http(s.base, '/late/echo')).status, 404);
      writeFileSync(yaml, `path: /late\nnode:\n  entrypoint: ${JSON.stringify(ECHO)}\n`);
      const late = await eventually<Echo>(async () => {
        const r = await http(s.base, '/late/echo');
        return r.status === 200 ? r.json() : undefined;
      }, 10_000, 'the late worker to serve');
      pids.add(late.pid);
      assert.equal(late.env.WORKER_NAME, 'late');
      assert.match(s.stderr(), /worker folder late changed; reloading the configuration/);
    });
  } finally {
    for (const m of s.stderr().matchAll(/pid (\d+)/g)) pids.add(Number(m[1]));
    const code = await s.stop();
    project.remove();
    assert.equal(code, 0, `server exit code\n${s.stderr()}`);
    for (const pid of pids) assert.equal(alive(pid), false, `worker pid ${pid} outlived the server`);
  }
});

/** The number of inotify watches this process holds (Linux), or undefined where it cannot tell. */
function inotifyWatches(): number | undefined {
  try {
    let count = 0;
    for (const fd of readdirSync('/proc/self/fd')) {
      let target: string;
      try {
        target = readlinkSync(`/proc/self/fd/${fd}`);
      } catch {
        continue;
      }
      if (target !== 'anon_inode:inotify') continue;
      count += readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8').split('\n').filter((l) => l.startsWith('inotify wd:')).length;
    }
    return count;
  } catch {
    return undefined;
  }
}

test('ignored folders get no watch at all, even when made while watching', { skip: inotifyWatches() === undefined && 'needs /proc inotify fdinfo' }, async () => {
  const project = new Project('tq-watch-');
  for (const f of ['src/a.js', 'node_modules/p/lib/x.js', 'node_modules/q/index.js', 'dist/a.js', '.git/HEAD', 'bin/app', 'logs/a.log']) project.write(`w/${f}`, 'x');
  const base = inotifyWatches() as number;
  const calls: string[][] = [];
  const stop = watchTree(join(project.dir, 'w'), DEBOUNCE_MS, (paths) => calls.push(paths));
  try {
    assert.equal(inotifyWatches(), base + 2, 'the root and src/, nothing else');
    mkdirSync(join(project.dir, 'w/node_modules/r/s/t'), { recursive: true });
    writeFileSync(join(project.dir, 'w/node_modules/r/s/t/u.js'), 'x');
    mkdirSync(join(project.dir, 'w/src/new'));
    await sleep(DEBOUNCE_MS * 10);
    assert.equal(inotifyWatches(), base + 3, 'src/new is watched, node_modules/r is not');
    assert.deepEqual(calls, []);
    writeFileSync(join(project.dir, 'w/src/new/b.js'), 'x');
    await eventually(() => (calls.length === 1 ? true : undefined), 2000, 'the new file to be reported');
    assert.deepEqual(calls, [[join('src', 'new', 'b.js')]]);
  } finally {
    stop();
    project.remove();
  }
  assert.equal(inotifyWatches(), base, 'every watch is closed');
});

test('a folder deleted and made again at once is still watched, the watched folder itself included', async () => {
  const project = new Project('tq-watch-');
  project.write('w/src/a.js', '1');
  const w = join(project.dir, 'w');
  const calls: string[][] = [];
  /** Makes a change and resolves with the paths of the one call it caused. */
  const change = async (make: () => void): Promise<string[]> => {
    const before = calls.length;
    make();
    await eventually(() => (calls.length > before ? true : undefined), 2000, 'the change to be reported');
    await sleep(DEBOUNCE_MS * 5);
    assert.equal(calls.length, before + 1, JSON.stringify(calls.slice(before)));
    return calls[before] as string[];
  };
  const stop = watchTree(w, DEBOUNCE_MS, (paths) => calls.push(paths));
  try {
    const a = join('src', 'a.js');
    assert.deepEqual(
      await change(() => {
        rmSync(join(w, 'src'), { recursive: true });
        mkdirSync(join(w, 'src'));
        writeFileSync(join(w, 'src/a.js'), '2');
      }),
      [a],
    );
    assert.deepEqual(await change(() => writeFileSync(join(w, 'src/a.js'), '3')), [a]);
    assert.deepEqual(
      await change(() => {
        rmSync(w, { recursive: true });
        mkdirSync(w);
        writeFileSync(join(w, 'b.js'), '1');
      }),
      ['b.js', a],
    );
    assert.deepEqual(await change(() => writeFileSync(join(w, 'b.js'), '2')), ['b.js']);
    assert.deepEqual(await change(() => rmSync(w, { recursive: true })), ['b.js']);
    assert.deepEqual(
      await change(() => {
        mkdirSync(w);
        writeFileSync(join(w, 'c.js'), '1');
      }),
      ['c.js'],
    );
    assert.deepEqual(await change(() => writeFileSync(join(w, 'c.js'), '2')), ['c.js']);
  } finally {
    stop();
    project.remove();
  }
});

test('Supervisor.stop() stops the watch of the workers directory', async () => {
  const project = new Project('tq-watch-');
  project.server(`file_watcher:\n  debounce_ms: ${DEBOUNCE_MS}\n`);
  mkdirSync(join(project.dir, 'workers'));
  const loaded = loadConfig({ root: project.dir, mode: 'dev' });
  let reloads = 0;
  const quiet = { info: () => {}, warn: () => {}, error: () => {}, close: () => {} };
  const supervisor = new Supervisor({ server: loaded.server, mode: 'dev', observer: {}, log: quiet });
  supervisor.on('configChange', () => reloads++);
  try {
    await supervisor.startAll();
    project.write('workers/one/config/worker.yaml', 'path: /one\n');
    await eventually(() => (reloads === 1 ? true : undefined), 2000, 'a reload for the new worker folder');
    await supervisor.stop();
    project.write('workers/two/config/worker.yaml', 'path: /two\n');
    rmSync(join(project.dir, 'workers', 'one'), { recursive: true });
    await sleep(DEBOUNCE_MS * 10);
    assert.equal(reloads, 1);
    assert.equal(existsSync(join(project.dir, 'workers', 'two')), true);
  } finally {
    await supervisor.stop();
    project.remove();
  }
});
