/**
 * What a URL path leads to inside a php worker's document root: static files, scripts, folder
 * index.php, the front controller; and nothing outside the root, however the path is spelled.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { resolvePhpTarget, type PhpTarget } from '../lib/proxy/php-route.js';

let dir: string;
let root: string;
let bare: string;

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'tq-php-route-'));
  root = join(dir, 'public');
  const files: Record<string, string> = {
    'public/index.php': '<?php',
    'public/info.php': '<?php',
    'public/style.css': 'body{}',
    'public/admin/index.php': '<?php',
    'public/admin/list.php': '<?php',
    'public/docs/readme.txt': 'hi',
    'public/dir.php/inner.txt': 'a folder named like a script',
    'public/UPPER.PHP': '<?php',
    'public/old.phtml': '<?php',
    'public/.env': 'SECRET=1',
    'public/.well-known/security.txt': 'x',
    'public/%2e%2e/odd.txt': 'a folder literally named %2e%2e',
    'secret.php': '<?php // outside the root',
    'secret.txt': 'outside',
    'bare/readme.txt': 'a root without index.php',
  };
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(join(dir, rel, '..'), { recursive: true });
    writeFileSync(join(dir, rel), text);
  }
  symlinkSync(join(dir, 'secret.php'), join(root, 'linked.php'));
  symlinkSync(join(dir, 'secret.txt'), join(root, 'linked.txt'));
  symlinkSync(dir, join(root, 'up'));
  symlinkSync(join(root, 'style.css'), join(root, 'alias.css'));
  bare = join(dir, 'bare');
});

after(() => rmSync(dir, { recursive: true, force: true }));

const script = (scriptPath: string, pathInfo = ''): PhpTarget => ({ kind: 'script', scriptPath, filename: join(root, ...scriptPath.split('/').filter(Boolean)), pathInfo });

describe('php routing', () => {
  test('scripts, PATH_INFO, folders, static files and the front controller', async () => {
    const table: [string, PhpTarget][] = [
      ['/', script('/index.php')],
      ['/index.php', script('/index.php')],
      ['/info.php', script('/info.php')],
      ['/info.php/a/b', script('/info.php', '/a/b')],
      ['/info.php/a/', script('/info.php', '/a/')],
      ['/admin', script('/admin/index.php')],
      ['/admin/', script('/admin/index.php')],
      ['/admin/list.php', script('/admin/list.php')],
      ['/style.css', { kind: 'static' }],
      ['/alias.css', { kind: 'static' }],
      ['/docs/readme.txt', { kind: 'static' }],
      ['/docs', script('/index.php', '/docs')],
      ['/users/42', script('/index.php', '/users/42')],
      ['/users/42/', script('/index.php', '/users/42/')],
      ['/missing.php', script('/index.php', '/missing.php')],
      ['/caf%C3%A9', script('/index.php', '/café')],
      ['/dir.php/inner.txt', { kind: 'static' }],
      ['/.well-known/security.txt', { kind: 'static' }],
      ['/%2e%2e/odd.txt', { kind: 'not_found' }],
      ['/%252e%252e/odd.txt', { kind: 'static' }],
    ];
    for (const [path, want] of table) assert.deepEqual(await resolvePhpTarget(root, path), want, path);
  });

  test('never sent as source: other spellings and extensions of PHP, dot-files', async () => {
    for (const path of ['/UPPER.PHP', '/old.phtml', '/.env', '/.%65nv', '/docs/../.env']) assert.deepEqual(await resolvePhpTarget(root, path), { kind: 'not_found' }, path);
  });

  test('nothing outside the document root runs or is served, however the path is spelled', async () => {
    const attempts = [
      '/../secret.php', '/../secret.txt', '/admin/../../secret.php', '/..', '/../',
      '/%2e%2e/secret.php', '/%2E%2E/secret.php', '/.%2e/secret.php', '/%2e%2e%2fsecret.php', '/admin/%2e%2e/%2e%2e/secret.php',
      '/%252e%252e/secret.php', '/%252e%252e%252fsecret.php',
      '/..\\secret.php', '/admin\\..\\..\\secret.php', '/%5c..%5csecret.php', '/..%5csecret.php',
      '/secret.php%00.css', '/index.php%00', '/%00', '/style.css%00.php',
      '/linked.php', '/linked.php/x', '/linked.txt', '/up/secret.php', '/up/secret.txt', '/up/public/info.php/../../secret.php',
      '/%', '/%zz', '/%C0%AE%C0%AE/secret.php',
    ];
    for (const path of attempts) {
      const got = await resolvePhpTarget(root, path);
      const escapes = got.kind === 'script' && !got.filename.startsWith(root + '/');
      assert.ok(!escapes, `${path} escaped: ${JSON.stringify(got)}`);
      assert.ok(got.kind !== 'script' || got.filename !== join(dir, 'secret.php'), path);
      if (got.kind === 'script') assert.equal(got.scriptPath, '/index.php', `${path}: only the front controller may answer`);
      assert.notEqual(got.kind, 'static', `${path} would be served`);
    }
  });

  test('a root without index.php: unknown paths are not found', async () => {
    assert.deepEqual(await resolvePhpTarget(bare, '/anything'), { kind: 'not_found' });
    assert.deepEqual(await resolvePhpTarget(bare, '/readme.txt'), { kind: 'static' });
    assert.deepEqual(await resolvePhpTarget(join(dir, 'missing'), '/x'), { kind: 'not_found' });
  });
});
