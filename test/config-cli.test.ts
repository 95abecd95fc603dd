/**
 * The command prints every configuration problem, one `tqserver: file:line:col: reason` line each,
 * and exits 1 before anything is spawned or bound. Runs dist/main.js: build first.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { Project, runToExit } from './helpers/project.js';

test('three files with six problems: all printed in order, exit 1, nothing started', async () => {
  const p = new Project();
  try {
    p.write('config/server.yaml', 'server:\n  port: eighty\n  host: [a]\nmetrics: {auth: {basic: {username: prom}}}\n');
    p.write('workers/a/config/worker.yaml', 'path: /a\nscaling: {min_workers: 4, max_workers: 2}\n');
    p.write('workers/b/config/worker.yaml', 'type: exec\nexec:\n  command: [sh, {}]\n');
    p.write('workers/spy/config/worker.yaml', 'path: /spy\ntype: exec\nexec:\n  command: [sh, -c, "touch started.marker; sleep 30"]\n');
    const run = await runToExit(p, ['--mode', 'prod']);
    assert.equal(run.code, 1, run.stderr);
    assert.equal(run.stdout, '');
    assert.equal(run.stderr, [
      'tqserver: config/server.yaml:2:9: server.port: must be an integer, got string "eighty"',
      'tqserver: config/server.yaml:3:9: server.host: must be a string, got a list',
      'tqserver: config/server.yaml:4:25: metrics.auth.basic.password: must be a non-empty string',
      'tqserver: workers/a/config/worker.yaml:2:24: scaling.min_workers: (4) must not exceed max_workers (2)',
      'tqserver: workers/b/config/worker.yaml:1:1: path: is required (the route prefix, e.g. / or /api)',
      'tqserver: workers/b/config/worker.yaml:3:17: exec.command[1]: must be a string, got a mapping',
      '',
    ].join('\n'));
    assert.equal(existsSync(join(p.dir, 'workers/spy/started.marker')), false, 'no worker was spawned');
  } finally {
    p.remove();
  }
});

test('a missing --config file is named without a position', async () => {
  const p = new Project();
  try {
    const run = await runToExit(p, ['--mode', 'prod', '--config', 'nope.yaml']);
    assert.equal(run.code, 1);
    assert.equal(run.stderr, 'tqserver: nope.yaml: config file not found\n');
  } finally {
    p.remove();
  }
});
