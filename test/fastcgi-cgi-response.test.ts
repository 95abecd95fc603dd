/**
 * The CGI response read from FCGI_STDOUT (RFC 3875 6), fed whole, split at every byte boundary,
 * and, as php-fpm sends it, inside records split at every byte boundary.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CgiResponseParser, encodeStream, endOfStream, endRequest, FastCgiProtocolError, MAX_CGI_HEAD_BYTES, RecordParser, RecordType } from '../lib/fastcgi/index.js';

interface Result {
  status?: number;
  reason?: string;
  headers?: string[];
  body: string;
}

function parse(wire: string, cuts: number[] = []): Result {
  const r: Result = { body: '' };
  const parser = new CgiResponseParser({
    head: (status, reason, headers) => Object.assign(r, { status, reason, headers }),
    body: (chunk) => (r.body += chunk.toString('latin1')),
  });
  const bytes = Buffer.from(wire, 'latin1');
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    parser.feed(bytes.subarray(from, cut));
    from = cut;
  }
  parser.end();
  return r;
}

const cases: [string, string, Partial<Result>][] = [
  ['no Status: 200 OK', 'Content-type: text/html; charset=UTF-8\r\n\r\n<p>hi</p>', { status: 200, reason: 'OK', headers: ['Content-type', 'text/html; charset=UTF-8'], body: '<p>hi</p>' }],
  ['Status with a reason', 'Status: 404 Not Found\r\nContent-type: text/plain\r\n\r\nmissing', { status: 404, reason: 'Not Found', headers: ['Content-type', 'text/plain'], body: 'missing' }],
  ['Status without a reason takes the standard one', 'Status: 503\r\n\r\n', { status: 503, reason: 'Service Unavailable', headers: [], body: '' }],
  ['a status of our own with its reason', 'Status: 299 Fine Thanks\r\n\r\n', { status: 299, reason: 'Fine Thanks' }],
  ['Location without Status is a 302', 'Location: /elsewhere\r\n\r\n', { status: 302, reason: 'Found', headers: ['Location', '/elsewhere'] }],
  ['Location with Status keeps the status', 'Status: 301 Moved Permanently\r\nLocation: /x\r\n\r\n', { status: 301, headers: ['Location', '/x'] }],
  ['repeated headers stay repeated, in order', 'Set-Cookie: a=1\r\nX-A: 1\r\nSet-Cookie: b=2; Path=/\r\n\r\n', { headers: ['Set-Cookie', 'a=1', 'X-A', '1', 'Set-Cookie', 'b=2; Path=/'] }],
  ['bare LF line ends (RFC 3875 6)', 'Status: 201 Created\nX-A: b\n\nbody\r\n\r\nmore', { status: 201, headers: ['X-A', 'b'], body: 'body\r\n\r\nmore' }],
  ['spaces around values are trimmed; the body is bytes', 'X-A:   spaced   \r\n\r\n\x00\xff\r\n', { headers: ['X-A', 'spaced'], body: '\x00\xff\r\n' }],
  ['latin1 header values keep their bytes', 'X-N: caf\xe9\r\n\r\n', { headers: ['X-N', 'caf\xe9'] }],
  ['a head and no body', 'Content-Length: 0\r\n\r\n', { headers: ['Content-Length', '0'], body: '' }],
];

describe('CGI response', () => {
  for (const [name, wire, expected] of cases) {
    test(`${name}: whole, and split at every byte`, () => {
      const whole = parse(wire);
      for (const [k, v] of Object.entries(expected)) assert.deepEqual(whole[k as keyof Result], v, `${name}: ${k}`);
      for (let cut = 1; cut < wire.length; cut++) assert.deepEqual(parse(wire, [cut]), whole, `${name}: cut at ${cut}`);
      for (let a = 1; a < wire.length; a += 2) for (let b = a + 1; b < wire.length; b += 3) assert.deepEqual(parse(wire, [a, b]), whole, `${name}: cuts at ${a}, ${b}`);
    });
  }

  const bad: [string, string, RegExp][] = [
    ['a header line without a colon', 'Content-type text/html\r\n\r\n', /malformed response header line/],
    ['a space before the colon', 'X-A : b\r\n\r\n', /malformed response header line/],
    ['a bare CR inside a value', 'Set-Cookie: a=1\rInjected: yes\r\n\r\n', /forbidden character/],
    ['a NUL inside a value', 'X-A: a\x00b\r\n\r\n', /forbidden character/],
    ['a Status that is not a number', 'Status: OK\r\n\r\n', /malformed Status/],
    ['an interim 1xx Status', 'Status: 101 Switching Protocols\r\n\r\n', /malformed Status/],
    ['a 2-digit Status', 'Status: 99\r\n\r\n', /malformed Status/],
    ['two Status headers', 'Status: 200\r\nStatus: 500\r\n\r\n', /more than one Status/],
    ['no blank line: the response ended inside its head', 'Content-type: text/html\r\n', /ended inside its head/],
    ['nothing at all', '', /sent no response/],
  ];
  for (const [name, wire, why] of bad) {
    test(`refused: ${name} (whole and split at every byte)`, () => {
      assert.throws(() => parse(wire), (err: Error) => err instanceof FastCgiProtocolError && why.test(err.message));
      for (let cut = 1; cut < wire.length; cut++) assert.throws(() => parse(wire, [cut]), (err: Error) => err instanceof FastCgiProtocolError && why.test(err.message), `cut at ${cut}`);
    });
  }

  test(`a head over ${MAX_CGI_HEAD_BYTES} bytes is refused however it is cut; one just under is read`, () => {
    const over = `X-Big: ${'a'.repeat(MAX_CGI_HEAD_BYTES)}\r\n\r\nbody`;
    for (const cuts of [[], [100], [MAX_CGI_HEAD_BYTES - 1], [MAX_CGI_HEAD_BYTES + 5]]) assert.throws(() => parse(over, cuts), /over 65536 bytes/);
    const under = `X-Big: ${'a'.repeat(MAX_CGI_HEAD_BYTES - 20)}\r\n\r\nbody`;
    assert.equal(parse(under, [30000]).body, 'body');
  });
});

describe('STDOUT records carrying a CGI response, as php-fpm sends them', () => {
  /** Reads the records of `bytes` cut at `cuts` into the CGI parser; STDERR kept apart. */
  function readStream(bytes: Buffer, cuts: number[]): { result: Result; stderr: string; ended: boolean } {
    const result: Result = { body: '' };
    let stderr = '';
    let ended = false;
    const cgi = new CgiResponseParser({
      head: (status, reason, headers) => Object.assign(result, { status, reason, headers }),
      body: (chunk) => (result.body += chunk.toString('latin1')),
    });
    const records = new RecordParser((type, _id, content) => {
      if (type === RecordType.STDOUT) cgi.feed(content);
      else if (type === RecordType.STDERR) stderr += content.toString('latin1');
      else if (type === RecordType.END_REQUEST) {
        cgi.end();
        ended = true;
      }
    });
    let from = 0;
    for (const cut of [...cuts, bytes.length]) {
      records.feed(bytes.subarray(from, cut));
      from = cut;
    }
    return { result, stderr, ended };
  }

  test('a head cut across records, STDERR between them, split at every byte', () => {
    const bytes = Buffer.concat([
      encodeStream(RecordType.STDOUT, 1, Buffer.from('Status: 418 I\'m a teapot\r\nSet-Cook')),
      encodeStream(RecordType.STDERR, 1, Buffer.from('PHP message: PHP Warning:  x')),
      encodeStream(RecordType.STDOUT, 1, Buffer.from('ie: a=1\r\nSet-Cookie: b=2\r')),
      encodeStream(RecordType.STDOUT, 1, Buffer.from('\n\r\nshort and stout')),
      endOfStream(RecordType.STDOUT, 1),
      endRequest(1, 0, 0),
    ]);
    const whole = readStream(bytes, []);
    assert.deepEqual(whole.result, { status: 418, reason: "I'm a teapot", headers: ['Set-Cookie', 'a=1', 'Set-Cookie', 'b=2'], body: 'short and stout' });
    assert.equal(whole.stderr, 'PHP message: PHP Warning:  x');
    assert.equal(whole.ended, true);
    for (let cut = 1; cut < bytes.length; cut++) assert.deepEqual(readStream(bytes, [cut]), whole, `cut at ${cut}`);
    for (let a = 1; a < bytes.length; a += 5) for (let b = a + 1; b < bytes.length; b += 7) assert.deepEqual(readStream(bytes, [a, b]), whole, `cuts at ${a}, ${b}`);
  });

  test('a body over many records arrives whole', () => {
    const body = Buffer.alloc(200_000, 'b');
    const bytes = Buffer.concat([encodeStream(RecordType.STDOUT, 1, Buffer.concat([Buffer.from('Content-Length: 200000\r\n\r\n'), body])), endRequest(1, 0, 0)]);
    for (const cuts of [[], [1], [65542], [65543, 65544, 131000]]) assert.equal(readStream(bytes, cuts).result.body.length, 200_000);
  });
});
