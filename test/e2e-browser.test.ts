/**
 * A real browser (Debian's Chromium, driven by playwright-core): a page that includes
 * /dev-reload.js reloads by itself when its worker's code changes, and shows the new instance.
 */
import assert from 'node:assert/strict';
import { cpSync, existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { chromium } from 'playwright-core';
import { Project, REPO, startServer } from './helpers/project.js';

const CHROMIUM = '/usr/bin/chromium';

test('dev mode: an open page reloads itself after its worker is rebuilt', { timeout: 60_000 }, async (t) => {
  if (!existsSync(CHROMIUM)) {
    if (process.env.CI === 'true') throw new Error('chromium is not installed, and CI must run this test (.ci/run installs Debian package chromium)');
    console.error('!!! SKIPPED: chromium not found; install Debian package chromium to run this test !!!');
    t.skip('chromium not installed');
    return;
  }
  const project = new Project();
  project.server('file_watcher:\n  debounce_ms: 30\n');
  cpSync(join(REPO, 'workers/hello'), join(project.dir, 'workers/hello'), { recursive: true });
  const server = await startServer(project, ['--mode', 'dev']);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  try {
    const page = await browser.newPage();
    await page.goto(`${server.base}/`);
    const before = await page.locator('main p').first().innerText();
    assert.match(before, /hello.*pid \d+/);
    // The script connects to /ws/reload; wait until the server has seen it.
    await page.waitForFunction(() => performance.getEntriesByType('resource').some((e) => e.name.endsWith('/dev-reload.js')));
    await new Promise((r) => setTimeout(r, 300));
    const reloaded = page.waitForEvent('load', { timeout: 15_000 });
    writeFileSync(join(project.dir, 'workers/hello/changed.txt'), String(Date.now()));
    await reloaded;
    const after = await page.locator('main p').first().innerText();
    assert.match(after, /pid \d+/);
    assert.notEqual(after, before, 'the page shows the new instance');
  } finally {
    await browser.close();
    assert.equal(await server.stop(), 0);
    project.remove();
  }
});
