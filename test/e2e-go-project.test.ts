/**
 * End to end: a project shaped like a Go TQServer one runs under tqserver unchanged: the Go
 * server's config/server.yaml (its socks5: section included, which warns), and a Go, a Bun (with
 * express from its package.json) and a PHP worker (with the Go server's php keys), started with
 * the Go command-line spellings, in prod and in dev mode, serving every route.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { findPhpFpm } from '../lib/config/index.js';
import { http, Project, portRange, REPO, startServer } from './helpers/project.js';

const FIXTURES = join(REPO, 'fixtures');
const PHP_FPM = findPhpFpm();
const BUN = join(REPO, 'node_modules', '.bin', 'bun');
const GO = spawnSync('go', ['version']).status === 0;

/** What this machine lacks for the test; in CI nothing may be missing. */
const missing = [...(GO ? [] : ['go (golang-go)']), ...(PHP_FPM === undefined ? ['php-fpm (php8.2-fpm)'] : []), ...(existsSync(BUN) ? [] : ['bun (npm ci)'])];
if (missing.length > 0 && process.env.CI === 'true') throw new Error(`missing ${missing.join(', ')}, and CI must run the Go-project test`);

/** The Go TQServer's shipped server.yaml, bound to loopback and a free port for the test. */
function goServerYaml(): string {
  const [start, end] = portRange();
  return readFileSync(join(FIXTURES, 'config', 'yaml-corpus', 'tqserver-go-server.yaml'), 'utf8')
    .replace('server:\n  port: 8080\n', 'server:\n  host: 127.0.0.1\n  port: 0\n')
    .replace('log_file: "logs/tqserver_{date}.log"', 'log_file: ""')
    .replace('port_range_start: 9000', `port_range_start: ${start}`)
    .replace('port_range_end: 9999', `port_range_end: ${end}`);
}

const home = mkdtempSync(join(tmpdir(), 'tq-go-project-home-'));
after(() => rmSync(home, { recursive: true, force: true }));

test('a Go TQServer project (go, bun and php workers, socks5 in server.yaml) serves every route in prod and dev', { skip: missing.length > 0 ? `missing ${missing.join(', ')}` : false, timeout: 240_000 }, async () => {
  const project = new Project('tq-go-project-');
  try {
    project.write('config/server.yaml', goServerYaml());
    cpSync(join(FIXTURES, 'workers', 'go-hello'), join(project.dir, 'workers/goapp'), { recursive: true });
    project.write('workers/goapp/config/worker.yaml', 'path: /go\ntype: go\n');
    cpSync(join(FIXTURES, 'workers', 'bun-express'), join(project.dir, 'workers/bunapp'), { recursive: true });
    project.write('workers/bunapp/config/worker.yaml', 'path: /bun\ntype: bun\nbun:\n  entrypoint: index.ts\n');
    project
      .write(
        'workers/phpapp/config/worker.yaml',
        [
          'path: /php',
          'type: php',
          'document_root: public',
          'php:',
          `  binary: ${PHP_FPM}`,
          '  settings:',
          '    memory_limit: 64M',
          '  pool:',
          '    manager: dynamic',
          '    min_workers: 1',
          '    max_workers: 3',
          '    start_workers: 1',
          '    max_requests: 100',
          '',
        ].join('\n'),
      )
      .write('workers/phpapp/public/index.php', "<?php header('Content-Type: text/plain'); echo 'hello from php at ', $_SERVER['REQUEST_URI'];\n")
      .write('workers/phpapp/public/style.css', 'body{}\n');
    const env = { GOCACHE: join(home, 'gocache'), GOFLAGS: '-mod=mod', HOME: home, BUN_INSTALL_CACHE_DIR: join(home, 'bun-cache') };
    for (const mode of ['prod', 'dev']) {
      // The Go command line, as a Go project's start script has it.
      const s = await startServer(project, ['-config=config/server.yaml', `-mode=${mode}`], env);
      try {
        assert.match(s.stderr(), /"socks5" is a Go TQServer setting .* that tqserver ignores/);
        const go = await http(s.base, '/go/x/y');
        assert.equal(go.status, 200, `${mode} /go: ${go.text()}`);
        assert.equal(go.text(), 'hello from go, worker goapp, path /x/y');
        const bun = await http(s.base, '/bun/hello');
        assert.equal(bun.status, 200, `${mode} /bun: ${bun.text()}`);
        assert.equal(bun.headers['x-powered-by'], 'Express');
        assert.equal(bun.json().greeting, 'hello from bun');
        assert.equal(bun.json().mode, mode);
        const php = await http(s.base, '/php/some/page?q=1');
        assert.equal(php.status, 200, `${mode} /php: ${php.text()}`);
        assert.equal(php.text(), 'hello from php at /php/some/page?q=1');
        const css = await http(s.base, '/php/style.css');
        assert.equal(css.status, 200);
        assert.equal(css.text(), 'body{}\n');
      } finally {
        assert.equal(await s.stop(), 0, `${mode}: a clean stop`);
      }
    }
  } finally {
    project.remove();
  }
});
