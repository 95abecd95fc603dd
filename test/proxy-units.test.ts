/** The proxy's pure parts: routing, header filtering, static path containment, labels, frames. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { normaliseRoute } from '../lib/config/index.js';
import { acceptKey, endToEnd, methodLabel, resolvePublicPath, Router, validCorrelationId, escapeHtml } from '../lib/proxy/index.js';
import { connectionCap, descriptorsNeeded } from '../lib/proxy/fd-limit.js';
import { frame } from '../lib/proxy/live-reload.js';
import { authorized, createMetricsHandler, requestedFormat, sameSecret } from '../lib/proxy/metrics-endpoint.js';
import { createServer, request, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';
import { LINES_PER_PIECE, Registry, renderOpenMetrics, renderText } from '../lib/exposition/index.js';
import { createLogger } from '../lib/log.js';

describe('router', () => {
  const router = new Router(['/', '/api', '/api/v2', '/apidocs'].map((prefix) => ({ prefix, target: prefix })));
  const cases: [string, string, string][] = [
    ['/', '/', '/'], ['/x', '/', '/x'], ['/api', '/api', '/'], ['/api/', '/api', '/'], ['/api/users', '/api', '/users'],
    ['/apiary', '/', '/apiary'], ['/apidocs/x', '/apidocs', '/x'], ['/api/v2', '/api/v2', '/'], ['/api/v2x', '/api', '/v2x'],
    ['/api/v2/a/b', '/api/v2', '/a/b'], ['/API', '/', '/API'],
  ];
  for (const [path, prefix, rest] of cases) {
    test(`${path} -> ${prefix} ${rest}`, () => {
      const m = router.match(path);
      assert.equal(m?.prefix, prefix);
      assert.equal(m?.rest, rest);
    });
  }
  test('no fallback: unmatched paths give undefined', () => {
    assert.equal(new Router([{ prefix: '/a', target: 1 }]).match('/b'), undefined);
  });
  test('route prefixes are normalised when configured', () => {
    assert.equal(normaliseRoute('/api/'), '/api');
    assert.equal(normaliseRoute('//a///b'), '/a/b');
    for (const bad of ['api', '/a/../b', '/a b', '/a%2e', '/a\\b']) assert.equal(normaliseRoute(bad), undefined, bad);
  });
});

describe('hop-by-hop headers', () => {
  const cases: [string, string[], string[]][] = [
    ['plain headers pass, case and order kept', ['Host', 'x', 'X-A', '1', 'x-a', '2'], ['Host', 'x', 'X-A', '1', 'x-a', '2']],
    ['the standard hop-by-hop set goes', ['Connection', 'keep-alive', 'Keep-Alive', 'timeout=5', 'Proxy-Connection', 'x', 'TE', 'trailers', 'Trailer', 'X', 'Transfer-Encoding', 'chunked', 'Upgrade', 'h2c', 'Accept', '*/*'], ['Accept', '*/*']],
    ['headers named by Connection go', ['Connection', 'close, X-Secret ,x-other', 'X-Secret', '1', 'X-Other', '2', 'X-Kept', '3'], ['X-Kept', '3']],
    ['several Connection headers', ['connection', 'a', 'CONNECTION', 'b', 'A', '1', 'B', '2', 'C', '3'], ['C', '3']],
  ];
  for (const [name, input, output] of cases) {
    test(name, () => {
      const copy = [...input];
      assert.deepEqual(endToEnd(input), output);
      assert.deepEqual(input, copy, 'the input is not modified');
    });
  }
  test('a drop set removes more', () => {
    assert.deepEqual(endToEnd(['X-Forwarded-For', '1.2.3.4', 'A', 'b'], new Set(['x-forwarded-for'])), ['A', 'b']);
  });
  test('correlation ids: visible ASCII, 1 to 128 characters, no quotes', () => {
    assert.equal(validCorrelationId('abc-123_X.y'), 'abc-123_X.y');
    for (const bad of [undefined, '', 'has space', 'q"uote', 'x'.repeat(129), 'ü']) assert.equal(validCorrelationId(bad), undefined, String(bad));
  });
});

describe('static paths stay inside public/', () => {
  const root = '/srv/w/public';
  test('ordinary paths resolve inside', () => {
    assert.equal(resolvePublicPath(root, '/app.css'), '/srv/w/public/app.css');
    assert.equal(resolvePublicPath(root, '/a/./b%20c.txt'), '/srv/w/public/a/b c.txt');
  });
  for (const bad of ['/', '/..', '/../x', '/%2e%2e/x', '/a/%2E%2E/%2e%2e/x', '/..%2fx', '/a\\..\\x', '/%5c..', '/x%00.txt', '/%E0%A4%A', '/%c0%ae%c0%ae/x']) {
    test(`refused: ${bad}`, () => {
      const r = resolvePublicPath(root, bad);
      assert.ok(r === undefined || r.startsWith(`${root}/`), `${bad} -> ${r}`);
      if (r !== undefined) assert.ok(!r.includes('..'), `${bad} -> ${r}`);
    });
  }
});

test('method label: standard methods, else OTHER', () => {
  for (const m of ['GET', 'HEAD', 'POST', 'PUT', 'DELETE', 'CONNECT', 'OPTIONS', 'TRACE', 'PATCH']) assert.equal(methodLabel(m), m);
  for (const m of ['get', 'PROPFIND', 'PURGE', 'X', '', undefined]) assert.equal(methodLabel(m), 'OTHER');
});

test('WebSocket accept key and frames (RFC 6455)', () => {
  assert.equal(acceptKey('dGhlIHNhbXBsZSBub25jZQ=='), 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
  assert.deepEqual([...frame(0x1, Buffer.from('reload'))], [0x81, 6, ...Buffer.from('reload')]);
  const long = frame(0x1, Buffer.alloc(300));
  assert.deepEqual([...long.subarray(0, 4)], [0x81, 126, 1, 44]);
});

test('escapeHtml', () => assert.equal(escapeHtml(`<a href="x">'&'</a>`), '&#60;a href=&#34;x&#34;&#62;&#39;&#38;&#39;&#60;/a&#62;'));

describe('metrics endpoint helpers', () => {
  test('secrets compare equal only when equal', () => {
    assert.equal(sameSecret('abc', 'abc'), true);
    assert.equal(sameSecret('abc', 'abd'), false);
    assert.equal(sameSecret('', 'a'), false);
  });
  test('bearer and basic authorization', () => {
    const bearer = { kind: 'bearer' as const, token: 't0k' };
    assert.equal(authorized(bearer, 'Bearer t0k'), true);
    assert.equal(authorized(bearer, 'bearer   t0k  '), true);
    for (const h of [undefined, '', 'Bearer', 'Bearer t0', 'Bearer t0k extra', 'Basic dDBr', 't0k']) assert.equal(authorized(bearer, h), false, String(h));
    const basic = { kind: 'basic' as const, username: 'u', password: 'p:w' };
    const b64 = (s: string): string => `Basic ${Buffer.from(s).toString('base64')}`;
    assert.equal(authorized(basic, b64('u:p:w')), true);
    for (const h of [b64('u:p'), b64('x:p:w'), b64('up:w'), b64('u'), 'Basic !!!', 'Bearer p:w']) assert.equal(authorized(basic, h), false, h);
  });
  test('?format overrides Accept', () => {
    assert.equal(requestedFormat('/metrics', undefined), 'text');
    assert.equal(requestedFormat('/metrics?format=openmetrics', undefined), 'openmetrics');
    assert.equal(requestedFormat('/metrics?format=text', 'application/openmetrics-text'), 'text');
    assert.equal(requestedFormat('/metrics?format=bogus', 'application/openmetrics-text'), 'openmetrics');
  });
});

describe('metrics endpoint bytes', () => {
  /** GET or HEAD of `path` on a server at `port`: status, headers and the raw body. */
  function get(port: number, method: string, headers: Record<string, string>): Promise<{ headers: IncomingHttpHeaders; body: Buffer }> {
    return new Promise((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, path: '/metrics', method, headers, agent: false }, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ headers: res.headers, body: Buffer.concat(chunks) }));
      });
      req.on('error', reject);
      req.end();
    });
  }

  test('a body with non-ASCII label values: Content-Length counts UTF-8 bytes, plain, gzip and HEAD alike; each scrape is timed', async () => {
    const registry = new Registry();
    const c = registry.counter({ name: 'units_total', help: 'Größe of things, 日本.', labelNames: ['name'] as const });
    c.labels('wörd').inc(3);
    c.labels('日本語').inc(1);
    c.labels('plain').inc(2);
    const timed: [string, number][] = [];
    const handler = createMetricsHandler({ registry, auth: () => undefined, log: createLogger({ quiet: true, file: null, write: () => {} }), scraped: (format, seconds) => timed.push([format, seconds]) });
    const server = createServer(handler).listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      const expected = Buffer.from(renderText(registry.collect()), 'utf8');
      assert.ok(expected.length > renderText(registry.collect()).length, 'the body has multi-byte characters');
      const plain = await get(port, 'GET', {});
      assert.equal(Number(plain.headers['content-length']), expected.length);
      assert.deepEqual(plain.body, expected);
      const gz = await get(port, 'GET', { 'Accept-Encoding': 'gzip' });
      assert.equal(Number(gz.headers['content-length']), gz.body.length);
      assert.deepEqual(gunzipSync(gz.body), expected);
      const head = await get(port, 'HEAD', {});
      assert.equal(Number(head.headers['content-length']), expected.length);
      assert.equal(head.body.length, 0);
      const om = await get(port, 'GET', { Accept: 'application/openmetrics-text; version=1.0.0' });
      assert.deepEqual(om.body, Buffer.from(renderOpenMetrics(registry.collect()), 'utf8'));
      assert.deepEqual(timed.map(([format]) => format), ['text', 'text', 'text', 'openmetrics']);
      for (const [, seconds] of timed) assert.ok(seconds > 0 && seconds < 10, String(seconds));
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

describe('metrics endpoint slices', () => {
  test('a large scrape is rendered in slices with the event loop free between them, and answers the whole of one snapshot', async () => {
    const registry = new Registry();
    const c = registry.counter({ name: 'slices_total', help: 'Many series.', labelNames: ['route', 'code'] as const });
    for (let r = 0; r < 100; r++) for (let k = 0; k < 100; k++) c.labels(`/route/${r}`, String(200 + k)).inc(r * k + 1);
    const expected = Buffer.from(renderText(registry.collect()), 'utf8');
    assert.equal(LINES_PER_PIECE, 1000);
    // Turns of the event loop, counted by a chain of setImmediate callbacks.
    let turns = 0;
    let counting = true;
    const count = (): void => {
      turns++;
      if (counting) setImmediate(count);
    };
    setImmediate(count);
    const serve = async (sliceMs: number): Promise<{ body: Buffer; turns: number }> => {
      let during = -1;
      const handler = createMetricsHandler({ registry, auth: () => undefined, log: createLogger({ quiet: true, file: null, write: () => {} }), sliceMs });
      const server = createServer((req, res) => {
        const at = turns;
        const writeHead = res.writeHead.bind(res) as (...args: unknown[]) => typeof res;
        res.writeHead = ((...args: unknown[]) => {
          during = turns - at;
          return writeHead(...args);
        }) as typeof res.writeHead;
        handler(req, res);
        // A series of the last piece moves once the scrape has begun: a scrape answers the
        // moment it began (its snapshot), however many slices it takes.
        c.labels('/route/99', '299').inc(1000);
      }).listen(0, '127.0.0.1');
      await new Promise((resolve) => server.once('listening', resolve));
      try {
        const port = (server.address() as AddressInfo).port;
        const body = await new Promise<Buffer>((resolve, reject) => {
          request({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => {
            const chunks: Buffer[] = [];
            res.on('data', (x: Buffer) => chunks.push(x));
            res.on('end', () => resolve(Buffer.concat(chunks)));
          }).on('error', reject).end();
        });
        return { body, turns: during };
      } finally {
        await new Promise((resolve) => server.close(resolve));
      }
    };
    try {
      const whole = await serve(1e9);
      assert.deepEqual(whole.body, expected);
      assert.equal(whole.turns, 0, 'rendered in one go when the slice is long enough');
      const before = Buffer.from(renderText(registry.collect()), 'utf8');
      assert.notDeepEqual(before, expected, 'the series moved after the first scrape');
      const sliced = await serve(0);
      // Ten pieces of 1,000 lines, one slice each: the loop turned between every two.
      assert.ok(sliced.turns >= 9, `the event loop turned ${sliced.turns} times during the scrape`);
      assert.deepEqual(sliced.body, before);
    } finally {
      counting = false;
    }
  });
});

describe('the connection cap', () => {
  const cases: [string, number | undefined, number | undefined, number][] = [
    ['a configured cap is kept, whatever the limit', 50, 120, 50],
    ['unset, unknown limit: 10,000', undefined, undefined, 10_000],
    ['unset: what the limit leaves after the reserve, two descriptors each', undefined, 2256, 1000],
    ['unset: never more than 10,000', undefined, 1_048_576, 10_000],
    ['unset: at least 1 under a tiny limit', undefined, 100, 1],
  ];
  for (const [name, configured, limit, cap] of cases) test(name, () => assert.equal(connectionCap(configured, limit), cap));
  test('the default cap fits the limit it was derived from', () => assert.ok(descriptorsNeeded(connectionCap(undefined, 20_000)) <= 20_000));
});
