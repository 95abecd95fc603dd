/** The upstream response parser, fed whole and split at every byte boundary. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { UpstreamResponseError } from '../lib/errors.js';
import { MAX_HEAD_BYTES, ResponseParser } from '../lib/proxy/response-parser.js';

interface Result {
  status?: number;
  reason?: string;
  headers?: string[];
  body: string;
  ended?: boolean;
  reusable?: boolean;
  leftover: string;
}

/** Feeds `wire` in pieces cut at `cuts`, then (if `close`) the end of the connection. */
function parse(wire: string, cuts: number[] = [], options: { head?: boolean; close?: boolean } = {}): Result {
  const r: Result = { body: '', leftover: '' };
  const parser = new ResponseParser(
    {
      head: (status, reason, headers) => Object.assign(r, { status, reason, headers }),
      body: (chunk) => (r.body += chunk.toString('latin1')),
      end: (reusable) => Object.assign(r, { ended: true, reusable }),
    },
    options.head ?? false,
  );
  const bytes = Buffer.from(wire, 'latin1');
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    const rest = parser.feed(bytes.subarray(from, cut));
    if (rest !== undefined) r.leftover += rest.toString('latin1');
    from = cut;
  }
  if (options.close) parser.close();
  return r;
}

const cases: [string, string, Partial<Result>, { head?: boolean; close?: boolean }?][] = [
  ['content-length', 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\nhello', { status: 200, reason: 'OK', headers: ['Content-Length', '5', 'X-A', 'b'], body: 'hello', ended: true, reusable: true }],
  ['zero length', 'HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n', { body: '', ended: true, reusable: true }],
  ['chunked with extensions and trailers', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n1A\r\n' + 'x'.repeat(26) + '\r\n0\r\nX-Trailer: t\r\n\r\n', { body: 'hello' + 'x'.repeat(26), ended: true, reusable: true }],
  ['chunked wins over content-length', 'HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n', { body: 'ok', ended: true }],
  ['1xx interim responses are skipped', 'HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok', { status: 201, body: 'ok', ended: true }],
  ['204 has no body', 'HTTP/1.1 204 No Content\r\n\r\n', { status: 204, body: '', ended: true, reusable: true }],
  ['a 204 loses a Content-Length it should not have had', 'HTTP/1.1 204 No Content\r\nContent-Length: 5\r\nX-A: b\r\n\r\n', { status: 204, headers: ['X-A', 'b'], body: '', ended: true }],
  ['304 has no body whatever it says', 'HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n', { body: '', ended: true }],
  ['HEAD has no body whatever it says', 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n', { body: '', ended: true, reusable: true }, { head: true }],
  ['Connection: close is not reusable', 'HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\nx', { ended: true, reusable: false }],
  ['HTTP/1.0 without keep-alive is not reusable', 'HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx', { ended: true, reusable: false }],
  ['HTTP/1.0 with keep-alive is reusable', 'HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\nx', { ended: true, reusable: true }],
  ['a body until close', 'HTTP/1.1 200 OK\r\n\r\nall of it', { body: 'all of it', ended: true, reusable: false }, { close: true }],
  ['a status without a reason', 'HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n', { status: 200, reason: '', ended: true }],
  // Whether the connection is reusable depends on where the reads fell (see the test below).
  ['bytes past the response are handed back', 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA', { body: 'ok', leftover: 'EXTRA' }],
  ['latin1 header values keep their bytes', 'HTTP/1.1 200 OK\r\nX-N: caf\xe9\r\nContent-Length: 0\r\n\r\n', { headers: ['X-N', 'caf\xe9', 'Content-Length', '0'] }],
];

describe('response parser', () => {
  for (const [name, wire, expected, options] of cases) {
    test(`${name}: whole, and split at every byte`, () => {
      const whole = parse(wire, [], options);
      for (const [k, v] of Object.entries(expected)) assert.deepEqual(whole[k as keyof Result], v, `${name}: ${k}`);
      const same = (r: Result): Result => (whole.leftover === '' ? r : { ...r, reusable: whole.reusable });
      for (let cut = 1; cut < wire.length; cut++) assert.deepEqual(same(parse(wire, [cut], options)), whole, `${name}: cut at ${cut}`);
      if (wire.length < 400) for (let a = 1; a < wire.length; a += 3) for (let b = a + 1; b < wire.length; b += 5) assert.deepEqual(same(parse(wire, [a, b], options)), whole, `${name}: cuts at ${a}, ${b}`);
    });
  }

  const bad: [string, string, { close?: boolean }?][] = [
    ['garbage status line', 'HTP/1.1 200 OK\r\n\r\n'],
    ['HTTP/2 status line', 'HTTP/2 200\r\n\r\n'],
    ['header without colon', 'HTTP/1.1 200 OK\r\nbroken\r\n\r\n'],
    ['space before colon', 'HTTP/1.1 200 OK\r\nX-A : b\r\n\r\n'],
    ['non-numeric content-length', 'HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n'],
    ['conflicting content-lengths', 'HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n'],
    ['bad chunk size', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n'],
    ['missing CRLF after a chunk', 'HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nokXX'],
    ['closed mid-body', 'HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort', { close: true }],
    ['closed mid-head', 'HTTP/1.1 200 OK\r\nContent-', { close: true }],
    ['a 101 to a request that did not ask to upgrade', 'HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n'],
    ['a status below 100', 'HTTP/1.1 099 Odd\r\nContent-Length: 0\r\n\r\n'],
    ['a bare CR inside a header value', 'HTTP/1.1 200 OK\r\nSet-Cookie: a=1\rInjected: yes\r\nContent-Length: 0\r\n\r\n'],
    ['a bare LF inside a header value', 'HTTP/1.1 200 OK\r\nSet-Cookie: a=1\nInjected: yes\r\nContent-Length: 0\r\n\r\n'],
    ['a NUL inside a header value', 'HTTP/1.1 200 OK\r\nX-A: a\0b\r\nContent-Length: 0\r\n\r\n'],
    ['another control character inside a header value', 'HTTP/1.1 200 OK\r\nX-A: a\x01b\r\nContent-Length: 0\r\n\r\n'],
    ['a DEL inside a header value', 'HTTP/1.1 200 OK\r\nX-A: a\x7fb\r\nContent-Length: 0\r\n\r\n'],
    ['a bare CR ending a header value', 'HTTP/1.1 200 OK\r\nX-A: ab\r\r\nContent-Length: 0\r\n\r\n'],
    ['a status line with a bare CR in the reason', 'HTTP/1.1 200 O\rK\r\nContent-Length: 0\r\n\r\n'],
    ['a status code of two digits', 'HTTP/1.1 20 OK\r\nContent-Length: 0\r\n\r\n'],
    ['a status code of four digits', 'HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n'],
    ['an obs-folded header line', 'HTTP/1.1 200 OK\r\nX-A: a\r\n b\r\nContent-Length: 0\r\n\r\n'],
    ['a header name that is not a token', 'HTTP/1.1 200 OK\r\nX(A): b\r\nContent-Length: 0\r\n\r\n'],
    ['a negative content-length', 'HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n'],
  ];
  for (const [name, wire, options] of bad) {
    test(`refused: ${name}`, () => assert.throws(() => parse(wire, [], options ?? {}), UpstreamResponseError));
  }

  test('a value loses the spaces and tabs around it, and keeps those inside', () => {
    assert.deepEqual(parse('HTTP/1.1 200 OK\r\nX-A: \t a \t b\t \r\nX-B:\r\nContent-Length: 0\r\n\r\n').headers, ['X-A', 'a \t b', 'X-B', '', 'Content-Length', '0']);
  });

  test('the head tells the length of a body framed by Content-Length, and -1 for any other framing', () => {
    const lengthOf = (wire: string, head = false): number | undefined => {
      let seen: number | undefined;
      new ResponseParser({ head: (_s, _r, _h, length) => (seen = length), body: () => {}, end: () => {} }, head).feed(Buffer.from(wire, 'latin1'));
      return seen;
    };
    assert.equal(lengthOf('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello'), 5);
    assert.equal(lengthOf('HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n'), 0);
    assert.equal(lengthOf('HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n', true), -1);
    assert.equal(lengthOf('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'), -1);
    assert.equal(lengthOf('HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n'), -1);
    assert.equal(lengthOf('HTTP/1.1 204 No Content\r\nContent-Length: 3\r\n\r\n'), -1);
    assert.equal(lengthOf('HTTP/1.1 304 Not Modified\r\nContent-Length: 3\r\n\r\n'), -1);
    assert.equal(lengthOf('HTTP/1.1 200 OK\r\n\r\n'), -1);
  });

  test('a head larger than the limit is refused', () => {
    assert.throws(() => parse(`HTTP/1.1 200 OK\r\nX-Big: ${'x'.repeat(MAX_HEAD_BYTES)}`), /too large/);
  });

  test('a head larger than the limit is refused however it arrives: whole in one piece too', () => {
    assert.throws(() => parse(`HTTP/1.1 200 OK\r\nX-Big: ${'x'.repeat(MAX_HEAD_BYTES)}\r\nContent-Length: 0\r\n\r\n`), /too large/);
  });

  test('with Transfer-Encoding, a Content-Length is not passed on (it would contradict the framing)', () => {
    const r = parse('HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\nX-A: b\r\n\r\n5\r\nhello\r\n0\r\n\r\n');
    assert.deepEqual(r.headers, ['X-A', 'b']);
    assert.equal(r.body, 'hello');
  });

  test('the head comes without hop-by-hop headers, nor those Connection names (but Content-Length)', () => {
    const r = parse(
      'HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Secret, content-length\r\nKeep-Alive: timeout=5\r\nX-Secret: s\r\nx-secret: t\r\nProxy-Connection: x\r\n' +
        'TE: trailers\r\nTrailer: X-T\r\nUpgrade: h2c\r\nConnection: X-Other\r\nX-Other: o\r\nX-Kept: k\r\nContent-Length: 2\r\n\r\nok',
    );
    assert.deepEqual(r.headers, ['X-Kept', 'k', 'Content-Length', '2']);
    assert.equal(r.body, 'ok');
    assert.equal(r.reusable, true);
    // Connection: close names no header, and the connection is not reused.
    const closing = parse('HTTP/1.1 200 OK\r\nConnection: close\r\nX-A: b\r\nContent-Length: 0\r\n\r\n');
    assert.deepEqual(closing.headers, ['X-A', 'b', 'Content-Length', '0']);
    assert.equal(closing.reusable, false);
  });

  test('a connection is reusable only if nothing followed the response in what was read', () => {
    const wire = 'HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok';
    assert.equal(parse(`${wire}EXTRA`).reusable, false);
    // Read just up to its end, the response leaves the connection reusable; bytes read later
    // are handed back (its user then finds the connection out of step).
    const split = parse(`${wire}EXTRA`, [wire.length]);
    assert.equal(split.reusable, true);
    assert.equal(split.leftover, 'EXTRA');
  });

  test('a 1 MB body arrives intact in small pieces', () => {
    const body = Buffer.alloc(1 << 20, 'ab').toString('latin1');
    const wire = `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
    const cuts = Array.from({ length: 300 }, (_, i) => 20 + i * 3500);
    const r = parse(wire, cuts);
    assert.equal(r.body.length, body.length);
    assert.equal(r.body, body);
  });
});
