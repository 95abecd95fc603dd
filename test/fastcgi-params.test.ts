/** The CGI variables of a request (RFC 3875 4.1), as PARAMS carries them to php-fpm. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { cgiHeaderName, cgiParams, decodeNameValuePairs, encodeNameValuePairs, hostName, isWireParam, type CgiRequest } from '../lib/fastcgi/index.js';

const base: CgiRequest = {
  method: 'POST',
  requestUri: '/app/users/42?sort=name',
  queryString: 'sort=name',
  scriptName: '/app/index.php',
  scriptFilename: '/srv/site/public/index.php',
  pathInfo: '/users/42',
  documentRoot: '/srv/site/public',
  contentLength: 11,
  httpVersion: '1.1',
  serverSoftware: 'tqserver/1.2.3',
  serverName: 'example.com',
  serverAddr: '127.0.0.1',
  serverPort: 8080,
  remoteAddr: '10.0.0.9',
  remotePort: 51000,
  headers: [],
};

function asMap(pairs: string[]): Map<string, string[]> {
  const m = new Map<string, string[]>();
  for (let i = 0; i < pairs.length; i += 2) m.set(pairs[i] as string, [...(m.get(pairs[i] as string) ?? []), pairs[i + 1] as string]);
  return m;
}

describe('CGI variables', () => {
  test('the request line, script and server variables', () => {
    const p = asMap(cgiParams(base));
    const want: Record<string, string> = {
      GATEWAY_INTERFACE: 'CGI/1.1', SERVER_SOFTWARE: 'tqserver/1.2.3', SERVER_PROTOCOL: 'HTTP/1.1', SERVER_NAME: 'example.com', SERVER_ADDR: '127.0.0.1',
      SERVER_PORT: '8080', REMOTE_ADDR: '10.0.0.9', REMOTE_PORT: '51000', REQUEST_SCHEME: 'http', REQUEST_METHOD: 'POST',
      REQUEST_URI: '/app/users/42?sort=name', QUERY_STRING: 'sort=name', DOCUMENT_ROOT: '/srv/site/public', SCRIPT_NAME: '/app/index.php',
      SCRIPT_FILENAME: '/srv/site/public/index.php', PATH_INFO: '/users/42', CONTENT_LENGTH: '11',
    };
    for (const [k, v] of Object.entries(want)) assert.deepEqual(p.get(k), [v], k);
    assert.equal(p.has('HTTPS'), false, 'no TLS here: HTTPS is not set at all');
    assert.equal(p.has('CONTENT_TYPE'), false);
  });

  test('no body: no CONTENT_LENGTH', () => {
    assert.equal(asMap(cgiParams({ ...base, method: 'GET', contentLength: undefined })).has('CONTENT_LENGTH'), false);
    assert.deepEqual(asMap(cgiParams({ ...base, contentLength: 0 })).get('CONTENT_LENGTH'), ['0']);
  });

  test('headers become HTTP_*; Content-Type gets CONTENT_TYPE; repeats are joined; the input is not modified', () => {
    const headers = Object.freeze([
      'Host', 'example.com:8080',
      'Content-Type', 'application/x-www-form-urlencoded',
      'Content-Type', 'text/evil',
      'Content-Length', '11',
      'Accept', 'text/html',
      'accept', 'application/json',
      'Cookie', 'a=1',
      'Cookie', 'b=2',
      'X-Forwarded-For', '10.0.0.9',
      'X-Correlation-ID', 'abc',
      'User-Agent', 'test',
    ]);
    const copy = [...headers];
    const p = asMap(cgiParams({ ...base, headers }));
    assert.deepEqual(headers, copy);
    assert.deepEqual(p.get('CONTENT_TYPE'), ['application/x-www-form-urlencoded']);
    assert.equal(p.has('HTTP_CONTENT_TYPE'), false);
    assert.equal(p.has('HTTP_CONTENT_LENGTH'), false);
    assert.deepEqual(p.get('HTTP_HOST'), ['example.com:8080']);
    assert.deepEqual(p.get('HTTP_ACCEPT'), ['text/html, application/json'], 'RFC 9110 5.3: a list joined with commas');
    assert.deepEqual(p.get('HTTP_COOKIE'), ['a=1; b=2'], 'RFC 6265 5.4: cookies joined with semicolons');
    assert.deepEqual(p.get('HTTP_X_FORWARDED_FOR'), ['10.0.0.9']);
    assert.deepEqual(p.get('HTTP_X_CORRELATION_ID'), ['abc']);
    assert.deepEqual(p.get('HTTP_USER_AGENT'), ['test']);
  });

  test('httpoxy: a Proxy header never becomes HTTP_PROXY', () => {
    const p = asMap(cgiParams({ ...base, headers: ['Proxy', 'http://evil:1', 'proxy', 'x'] }));
    assert.equal(p.has('HTTP_PROXY'), false);
  });

  test('a header name with an underscore cannot pose as another (X_Forwarded_For vs X-Forwarded-For)', () => {
    const p = asMap(cgiParams({ ...base, headers: ['X_Forwarded_For', '6.6.6.6', 'X-Forwarded-For', '10.0.0.9'] }));
    assert.deepEqual(p.get('HTTP_X_FORWARDED_FOR'), ['10.0.0.9']);
  });

  test('header name table', () => {
    const table: [string, string | undefined][] = [
      ['Accept-Language', 'HTTP_ACCEPT_LANGUAGE'], ['x-a', 'HTTP_X_A'], ['X_A', undefined], ['Proxy', undefined],
      ['Content-Type', undefined], ['content-length', undefined], ['Transfer-Encoding', undefined], ['Host', 'HTTP_HOST'],
    ];
    for (const [name, want] of table) assert.equal(cgiHeaderName(name), want, name);
  });

  test('SERVER_NAME is the Host without its port', () => {
    assert.equal(hostName('example.com:8080'), 'example.com');
    assert.equal(hostName('example.com'), 'example.com');
    assert.equal(hostName('[::1]:8080'), '::1');
    assert.equal(hostName('[::1]'), '::1');
  });
});

describe('bytes of the request reach the application as they were sent', () => {
  test('a header, the target and the query go byte for byte; paths tqserver decoded go as UTF-8', () => {
    // Node gives a header sent as UTF-8 "é" (C3 A9) as the latin1 string "\u00c3\u00a9".
    const wire = Buffer.from('é', 'utf8').toString('latin1');
    const encoded = encodeNameValuePairs(['HTTP_X_NAME', wire, 'REQUEST_URI', `/a?q=${wire}`, 'SCRIPT_NAME', '/é.php'], isWireParam);
    const twice = Buffer.from(Buffer.from('é', 'utf8').toString('latin1'), 'utf8');
    assert.equal(encoded.includes(twice), false, 'nothing is encoded twice');
    assert.ok(encoded.includes(Buffer.concat([Buffer.from('HTTP_X_NAME'), Buffer.from('é', 'utf8')])), 'the header value is its own two bytes');
    assert.ok(encoded.includes(Buffer.from('/a?q=é', 'utf8')), 'the target too');
    assert.ok(encoded.includes(Buffer.from('/é.php', 'utf8')), 'a path tqserver decoded is UTF-8');
    assert.equal(decodeNameValuePairs(encoded).length, 6);
  });
  test('which variables count as bytes off the wire', () => {
    for (const name of ['HTTP_COOKIE', 'CONTENT_TYPE', 'REQUEST_URI', 'QUERY_STRING']) assert.equal(isWireParam(name), true, name);
    for (const name of ['SCRIPT_NAME', 'SCRIPT_FILENAME', 'PATH_INFO', 'DOCUMENT_ROOT', 'SERVER_NAME']) assert.equal(isWireParam(name), false, name);
  });
});
