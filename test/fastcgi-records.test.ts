/**
 * The FastCGI record layer and name-value pairs: encoding checked byte by byte against the
 * specification, and the reader fed whole and split at every byte boundary.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  beginRequest, decodeNameValuePairs, encodeNameValuePairs, encodeStream, endOfStream, endRequest, FastCgiProtocolError,
  MAX_CONTENT_LENGTH, paddingFor, parseEndRequest, recordHeader, RecordParser, RecordType,
} from '../lib/fastcgi/index.js';

interface Rec {
  type: number;
  id: number;
  content: string;
}

/** Feeds `bytes` cut at `cuts` and returns the records read (content as latin1). */
function read(bytes: Buffer, cuts: number[] = []): Rec[] {
  const out: Rec[] = [];
  const parser = new RecordParser((type, id, content) => out.push({ type, id, content: content.toString('latin1') }));
  let from = 0;
  for (const cut of [...cuts, bytes.length]) {
    parser.feed(bytes.subarray(from, cut));
    from = cut;
  }
  assert.equal(parser.partial, false, 'nothing left over');
  return out;
}

describe('records', () => {
  test('a header is version 1, type, request id and content length big-endian, padding, reserved 0', () => {
    assert.deepEqual([...recordHeader(RecordType.STDOUT, 0x0102, 0x0304, 5)], [1, 6, 1, 2, 3, 4, 5, 0]);
    assert.deepEqual([...recordHeader(RecordType.PARAMS, 65535, 65535, 0)], [1, 4, 255, 255, 255, 255, 0, 0]);
  });

  test('padding rounds the content up to 8 bytes (spec 3.3)', () => {
    assert.deepEqual([0, 1, 7, 8, 9, 65535].map(paddingFor), [0, 7, 1, 0, 7, 1]);
  });

  test('BEGIN_REQUEST: role RESPONDER, flags KEEP_CONN or 0, 5 reserved bytes', () => {
    assert.deepEqual([...beginRequest(1, true)], [1, 1, 0, 1, 0, 8, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0]);
    assert.deepEqual([...beginRequest(1, false)], [1, 1, 0, 1, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0]);
  });

  test('END_REQUEST: appStatus (4 bytes) and protocolStatus, read back', () => {
    const r = endRequest(1, 0xfffffffe, 2);
    assert.deepEqual([...r.subarray(0, 8)], [1, 3, 0, 1, 0, 8, 0, 0]);
    assert.deepEqual(parseEndRequest(r.subarray(8)), { appStatus: 0xfffffffe, protocolStatus: 2 });
    assert.equal(parseEndRequest(Buffer.alloc(7)), undefined);
  });

  test('a stream over 65535 bytes is split into records of at most 65535, each padded', () => {
    const content = Buffer.alloc(MAX_CONTENT_LENGTH * 2 + 10, 'x');
    const bytes = encodeStream(RecordType.STDIN, 1, content);
    const records = read(bytes);
    assert.deepEqual(records.map((r) => r.content.length), [65535, 65535, 10]);
    assert.equal(records.map((r) => r.content).join(''), content.toString('latin1'));
    assert.equal(bytes.length, 3 * 8 + 65535 + 1 + 65535 + 1 + 10 + 6, 'headers, contents and padding');
    assert.equal(encodeStream(RecordType.STDIN, 1, Buffer.alloc(0)).length, 0, 'no record for no content');
    assert.deepEqual([...endOfStream(RecordType.PARAMS, 1)], [1, 4, 0, 1, 0, 0, 0, 0]);
  });

  test('a record stream split at every byte boundary reads the same records', () => {
    const bytes = Buffer.concat([
      encodeStream(RecordType.STDOUT, 1, Buffer.from('Status: 200\r\n\r\nhello')),
      encodeStream(RecordType.STDERR, 1, Buffer.from('warn')),
      endOfStream(RecordType.STDOUT, 1),
      // An unpadded record, as some applications send.
      recordHeader(RecordType.STDOUT, 1, 3, 0), Buffer.from('abc'),
      // A record with more padding than needed (up to 255 is allowed).
      recordHeader(RecordType.STDERR, 1, 2, 14), Buffer.from('zz'), Buffer.alloc(14),
      endRequest(1, 0, 0),
    ]);
    const whole = read(bytes);
    assert.deepEqual(whole.map((r) => r.type), [6, 7, 6, 6, 7, 3]);
    assert.deepEqual(whole.slice(0, 5).map((r) => r.content), ['Status: 200\r\n\r\nhello', 'warn', '', 'abc', 'zz']);
    for (let cut = 1; cut < bytes.length; cut++) assert.deepEqual(read(bytes, [cut]), whole, `cut at ${cut}`);
    for (let a = 1; a < bytes.length; a += 3) for (let b = a + 1; b < bytes.length; b += 4) assert.deepEqual(read(bytes, [a, b]), whole, `cuts at ${a}, ${b}`);
    const oneByOne = Array.from({ length: bytes.length - 1 }, (_, i) => i + 1);
    assert.deepEqual(read(bytes, oneByOne), whole, 'one byte at a time');
  });

  test('a record whose version is not 1 is refused', () => {
    const bad = recordHeader(RecordType.STDOUT, 1, 0, 0);
    bad[0] = 2;
    assert.throws(() => read(bad), FastCgiProtocolError);
    assert.throws(() => read(Buffer.from('HTTP/1.1 200 OK\r\n\r\n')), /record version 72/);
  });

  test('an incomplete record is held, not reported', () => {
    const parser = new RecordParser(() => assert.fail('no record yet'));
    parser.feed(encodeStream(RecordType.STDOUT, 1, Buffer.from('abc')).subarray(0, 10));
    assert.equal(parser.partial, true);
  });
});

describe('name-value pairs (spec 3.4)', () => {
  test('lengths under 128 take 1 byte; 128 and over take 4, top bit set', () => {
    assert.deepEqual([...encodeNameValuePairs(['A', 'bc'])], [1, 2, 65, 98, 99]);
    const n127 = encodeNameValuePairs(['N', 'v'.repeat(127)]);
    assert.deepEqual([...n127.subarray(0, 2)], [1, 127]);
    const n128 = encodeNameValuePairs(['N', 'v'.repeat(128)]);
    assert.deepEqual([...n128.subarray(0, 5)], [1, 0x80, 0, 0, 128]);
    const long = encodeNameValuePairs(['x'.repeat(70000), '']);
    assert.deepEqual([...long.subarray(0, 5)], [0x80, 0x01, 0x11, 0x70, 0]);
  });

  test('round trip, UTF-8 counted in bytes, empty values', () => {
    const pairs = ['SCRIPT_NAME', '/index.php', 'EMPTY', '', 'HTTP_X_NAME', 'café ☕', 'LONG', 'y'.repeat(300)];
    const bytes = encodeNameValuePairs(pairs);
    assert.deepEqual(decodeNameValuePairs(bytes), pairs);
    assert.equal(bytes[bytes.indexOf('HTTP_X_NAME') - 1], Buffer.byteLength('café ☕'));
  });

  test('a pair may span records: PARAMS cut anywhere read back whole', () => {
    const pairs = ['A', 'x'.repeat(200), 'B', 'y'.repeat(70000)];
    const records = read(encodeStream(RecordType.PARAMS, 1, encodeNameValuePairs(pairs)));
    assert.ok(records.length > 1);
    assert.deepEqual(decodeNameValuePairs(Buffer.from(records.map((r) => r.content).join(''), 'latin1')), pairs);
  });

  test('a stream that ends inside a pair is refused', () => {
    const bytes = encodeNameValuePairs(['NAME', 'value', 'LONG', 'z'.repeat(200)]);
    for (let end = 1; end < bytes.length; end++) {
      if (end === 11) continue; // exactly after the first pair
      assert.throws(() => decodeNameValuePairs(bytes.subarray(0, end)), FastCgiProtocolError, `cut at ${end}`);
    }
    assert.deepEqual(decodeNameValuePairs(bytes.subarray(0, 11)), ['NAME', 'value']);
  });
});
