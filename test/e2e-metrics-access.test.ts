/**
 * End to end: how workers find the metrics endpoint. Every instance gets TQSERVER_METRICS_URL
 * while metrics are served; only a worker that asks (metrics_credentials: true) gets the
 * endpoint's credential, and with it can scrape.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { http, Project, startServer } from './helpers/project.js';

for (const listen of [false, true]) {
  test(`metrics ${listen ? 'on metrics.listen' : 'on the main port'}: every worker gets the URL, only the one that asks gets the credential`, async () => {
    const project = new Project();
    project
      .server(`metrics:\n  auth:\n    bearer_token: s3cret-token\n${listen ? '  listen: 127.0.0.1:0\n' : ''}`)
      .echoWorker('scraper', '/scraper', 'metrics_credentials: true\n')
      .echoWorker('plain', '/plain');
    const s = await startServer(project, ['--mode', 'prod'], { TQSERVER_METRICS_AUTHORIZATION: 'inherited-must-not-leak' });
    try {
      const scraper = (await http(s.base, '/scraper/echo')).json().env;
      const plain = (await http(s.base, '/plain/echo')).json().env;
      assert.match(scraper.TQSERVER_METRICS_URL, /^http:\/\/127\.0\.0\.1:\d+\/metrics$/);
      assert.equal(plain.TQSERVER_METRICS_URL, scraper.TQSERVER_METRICS_URL);
      assert.equal(scraper.TQSERVER_METRICS_AUTHORIZATION, 'Bearer s3cret-token');
      assert.equal(plain.TQSERVER_METRICS_AUTHORIZATION, undefined, 'no credential for a worker that did not ask, not even one inherited');
      const url = new URL(scraper.TQSERVER_METRICS_URL);
      assert.equal(url.port === String(s.port), !listen, 'the URL follows metrics.listen');
      const denied = await http(url.origin, url.pathname);
      assert.equal(denied.status, 401);
      const scraped = await http(url.origin, url.pathname, { headers: { authorization: scraper.TQSERVER_METRICS_AUTHORIZATION } });
      assert.equal(scraped.status, 200);
      assert.match(scraped.text(), /^# HELP tqserver_requests_total /m);
    } finally {
      assert.equal(await s.stop(), 0);
      project.remove();
    }
  });
}
