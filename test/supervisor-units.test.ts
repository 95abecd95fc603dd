/** The supervisor's decisions and queue, tested without processes and without sleeping. */
import assert from 'node:assert/strict';
import { sep } from 'node:path';
import { describe, test } from 'node:test';
import { ServeError } from '../lib/errors.js';
import { CrashLoop } from '../lib/supervisor/crash-loop.js';
import { DispatchQueue } from '../lib/supervisor/dispatch-queue.js';
import { Dispatcher } from '../lib/supervisor/dispatcher.js';
import type { Instance } from '../lib/supervisor/instance.js';
import { decideScale, restartDelayMs, type ScaleState } from '../lib/supervisor/index.js';
import { isRelevant, isWorkerConfigEntry } from '../lib/supervisor/watch.js';

describe('crash-loop backoff', () => {
  test('first replacement at once, then 100 ms doubling, capped at 15 s', () => {
    assert.deepEqual([1, 2, 3, 4, 5, 6].map(restartDelayMs), [0, 100, 200, 400, 800, 1600]);
    assert.equal(restartDelayMs(9), 12_800);
    assert.equal(restartDelayMs(10), 15_000);
    assert.equal(restartDelayMs(50), 15_000);
    assert.equal(restartDelayMs(0), 0);
  });
});

describe('crash-loop accounting', () => {
  test('failures in a row set the next start; the second with nothing alive is a loop', () => {
    const loop = new CrashLoop();
    assert.equal(loop.looping, false);
    assert.equal(loop.failed(0, 500), 0, 'the first replacement is at once');
    assert.equal(loop.canStart(500), true);
    assert.equal(loop.looping, false);
    assert.equal(loop.failed(600, 900), 100);
    assert.equal(loop.looping, true);
    assert.equal(loop.canStart(950), false);
    assert.equal(loop.waitMs(950), 50);
    assert.equal(loop.canStart(1000), true);
    assert.equal(loop.failed(1000, 1100), 200);
    assert.equal(loop.failures, 3);
  });
  test('an instance that ran 30 s starts a new count', () => {
    const loop = new CrashLoop();
    loop.failed(0, 10);
    loop.failed(10, 20);
    assert.equal(loop.failed(100, 30_100), 0);
    assert.equal(loop.failures, 1);
    assert.equal(loop.looping, false);
  });
  test('new code may start at once, and the count stays', () => {
    const loop = new CrashLoop();
    loop.failed(0, 10);
    loop.failed(10, 20);
    loop.failed(20, 30);
    assert.equal(loop.canStart(31), false);
    loop.allowStart();
    assert.equal(loop.canStart(31), true);
    assert.equal(loop.failures, 3);
  });
});

describe('dispatch', () => {
  /** A stand-in with what dispatch reads of an instance. */
  class Fake {
    inflight = 0;
    served = 0;
    constructor(readonly name: string, public healthy = true, public refusedUntil = 0) {}
    canTake(maxConcurrency: number, budget: number, nowMs: number): boolean {
      return this.healthy && this.inflight < maxConcurrency && this.served + this.inflight < budget && this.refusedUntil <= nowMs;
    }
    begin(): void {
      this.inflight++;
    }
  }
  const make = (fakes: Fake[], maxConcurrency = 10, maxRequests = 0): Dispatcher => new Dispatcher('w', fakes as unknown as Instance[], () => ({ maxConcurrency, maxRequests }));
  const pick = (d: Dispatcher): string | undefined => (d.tryPick() as unknown as Fake | undefined)?.name;

  test('the fewest requests in flight wins; ties go round robin', () => {
    const fakes = [new Fake('a'), new Fake('b'), new Fake('c')];
    const d = make(fakes);
    assert.deepEqual([pick(d), pick(d), pick(d)], ['a', 'b', 'c']);
    (fakes[1] as Fake).inflight = 0;
    assert.equal(pick(d), 'b');
  });
  test('unhealthy, full, refusing and spent instances are passed over', () => {
    const now = Date.now();
    const fakes = [new Fake('sick', false), new Fake('refusing', true, now + 10_000), new Fake('spent'), new Fake('ok')];
    (fakes[2] as Fake).served = 5;
    const d = make(fakes, 10, 5);
    assert.equal(pick(d), 'ok');
    const full = make([new Fake('x')], 1);
    assert.equal(pick(full), 'x');
    assert.equal(pick(full), undefined, 'max_concurrency 1: the second request waits');
  });
  test('a new request never passes one already waiting', async () => {
    const only = new Fake('only');
    const d = make([only], 1);
    assert.equal(pick(d), 'only');
    const waiting = d.wait(1000, undefined);
    only.inflight = 0;
    assert.equal(d.tryPick(), undefined, 'the queue is served first');
    d.serveQueue();
    assert.equal(((await waiting) as unknown as Fake).name, 'only');
  });
});

describe('scaling decisions', () => {
  const base: ScaleState = {
    queueDepth: 0, live: 1, starting: 0, minWorkers: 1, maxWorkers: 3, queueThreshold: 2,
    scaleDownDelayMs: 60_000, idle: [], nowMs: 1_000_000, canStart: true,
  };
  const cases: [string, Partial<ScaleState>, ReturnType<typeof decideScale>][] = [
    ['steady', {}, { kind: 'none' }],
    ['heal to min_workers', { live: 0, minWorkers: 2 }, { kind: 'start', count: 2 }],
    ['no heal while crash-looping', { live: 0, canStart: false }, { kind: 'none' }],
    ['scale from zero on the first request', { live: 0, minWorkers: 0, queueDepth: 1 }, { kind: 'start', count: 1 }],
    ['queue at the threshold: wait', { queueDepth: 2 }, { kind: 'none' }],
    ['queue past the threshold: one more', { queueDepth: 3 }, { kind: 'start', count: 1 }],
    ['one start at a time', { queueDepth: 9, live: 2, starting: 1 }, { kind: 'none' }],
    ['never past max_workers', { queueDepth: 9, live: 3 }, { kind: 'none' }],
    ['idle long enough above min: stop the longest idle', { live: 3, idle: [{ id: 1, idleSinceMs: 900_000 }, { id: 2, idleSinceMs: 930_000 }] }, { kind: 'stop', id: 1 }],
    ['idle, but not long enough', { live: 3, idle: [{ id: 1, idleSinceMs: 990_000 }] }, { kind: 'none' }],
    ['never below min_workers', { live: 1, idle: [{ id: 0, idleSinceMs: 0 }] }, { kind: 'none' }],
    ['no scale-down while requests wait', { live: 3, queueDepth: 1, idle: [{ id: 1, idleSinceMs: 0 }] }, { kind: 'none' }],
    ['starting instances do not count as spare', { live: 2, starting: 1, idle: [{ id: 1, idleSinceMs: 0 }] }, { kind: 'none' }],
  ];
  for (const [name, state, expected] of cases) test(name, () => assert.deepEqual(decideScale({ ...base, ...state }), expected));
});

describe('dispatch queue', () => {
  test('first in, first served; served requests leave the queue', async () => {
    const q = new DispatchQueue<string>('w');
    const a = q.wait(10_000, undefined);
    const b = q.wait(10_000, undefined);
    assert.equal(q.length, 2);
    const values = ['one'];
    q.serve(() => values.shift());
    assert.equal(await a, 'one');
    assert.equal(q.length, 1);
    q.serve(() => 'two');
    assert.equal(await b, 'two');
    assert.equal(q.length, 0);
  });

  test('a deadline rejects with ERR_QUEUE_TIMEOUT and removes the request', async () => {
    const q = new DispatchQueue<string>('w');
    await assert.rejects(q.wait(5, undefined), (err: ServeError) => err.code === 'ERR_QUEUE_TIMEOUT' && err.status === 504);
    assert.equal(q.length, 0);
  });

  test('a client that leaves leaves the queue', async () => {
    const q = new DispatchQueue<string>('w');
    const abort = new AbortController();
    const waiting = q.wait(10_000, abort.signal);
    abort.abort();
    await assert.rejects(waiting, (err: ServeError) => err.code === 'ERR_BAD_REQUEST');
    assert.equal(q.length, 0);
  });

  test('rejectAll empties the queue', async () => {
    const q = new DispatchQueue<string>('w');
    const waiting = [q.wait(10_000, undefined), q.wait(10_000, undefined)];
    q.rejectAll(new ServeError('ERR_SHUTTING_DOWN', 'stopping'));
    for (const w of waiting) await assert.rejects(w, (err: ServeError) => err.status === 503);
    assert.equal(q.length, 0);
  });
});

describe('dev-mode watching: which paths of a worker folder can mean new code (isRelevant)', () => {
  const cases: [path: string, relevant: boolean, why: string][] = [
    ['index.js', true, 'source'],
    ['src/main.go', true, 'source in a subfolder'],
    ['public/app.css', true, 'static files (the supervisor reloads pages for them)'],
    ['config/worker.yaml', true, 'the worker configuration'],
    ['package.json', true, 'the manifest is not a lock file'],
    ['src/binary.go', true, 'a name that merely contains "bin"'],
    ['src/rebuild.js', true, 'a name that merely contains "build"'],
    ['catalog.ts', true, 'a name that merely contains "log"'],
    ['node_modules/x.js', false, 'dependencies'],
    ['node_modules/x/lib/index.js', false, 'dependencies, deep'],
    ['src/node_modules/x.js', false, 'nested dependencies'],
    ['bin/api', false, 'build output'],
    ['dist/x.js', false, 'build output'],
    ['build/out.js', false, 'build output'],
    ['logs/a.log', false, 'log folder'],
    ['debug.log', false, 'log file'],
    ['src/npm-debug.log', false, 'log file in a subfolder'],
    ['package-lock.json', false, 'npm lock file'],
    ['npm-shrinkwrap.json', false, 'npm lock file'],
    ['yarn.lock', false, 'Yarn lock file'],
    ['pnpm-lock.yaml', false, 'pnpm lock file'],
    ['bun.lockb', false, 'Bun lock file (binary)'],
    ['bun.lock', false, 'Bun lock file (text)'],
    ['composer.lock', false, 'Composer lock file'],
    ['go.sum', false, 'Go checksums, written by go build -mod=mod'],
    ['go.mod', true, 'the Go manifest is not a lock file'],
    ['.git/HEAD', false, 'dot-folder'],
    ['.cache/x', false, 'dot-folder'],
    ['.env', false, 'dot-file'],
    ['src/.eslintcache', false, 'dot-file in a subfolder'],
    ['a.js~', false, 'editor backup'],
    ['.a.js.swp', false, 'Vim swap file'],
    ['a.js.swo', false, 'Vim swap file'],
    ['a.js.swx', false, 'Vim swap file'],
    ['4913', false, 'Vim probe file'],
    ['#a.js#', false, 'Emacs auto-save'],
    ['a.js___jb_tmp___', false, 'JetBrains safe-write'],
    ['a.js___jb_old___', false, 'JetBrains safe-write'],
    ['x.tmp', false, 'temporary file'],
  ];
  for (const [path, relevant, why] of cases) {
    test(`${path}: ${relevant ? 'watched' : 'ignored'} (${why})`, () => assert.equal(isRelevant(path.split('/').join(sep)), relevant));
  }
});

describe('dev-mode watching: which paths of the workers directory decide the worker folders (isWorkerConfigEntry)', () => {
  const cases: [path: string, entry: boolean][] = [
    ['api', true],
    ['api/config', true],
    ['api/config/worker.yaml', true],
    ['api/config/other.yaml', false],
    ['api/index.js', false],
    ['api/src/config/worker.yaml', false],
    ['api/config/worker.yaml/x', false],
    ['.hidden', false],
    ['.hidden/config/worker.yaml', false],
  ];
  for (const [path, entry] of cases) {
    test(`${path}: ${entry ? 'watched' : 'not looked at'}`, () => assert.equal(isWorkerConfigEntry(path.split('/').join(sep)), entry));
  }
});
