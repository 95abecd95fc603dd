/** Token writers (numbers, escaping) and content negotiation. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  acceptsGzip,
  contentType,
  escapeHelpOpenMetrics,
  escapeHelpText,
  escapeLabelValue,
  formatCanonicalFloat,
  formatGoFloat,
  formatValue,
  negotiateFormat,
  NO_LABELS,
  render,
  OPENMETRICS_CONTENT_TYPE,
  TEXT_CONTENT_TYPE,
} from '../lib/exposition/index.js';

describe('numbers', () => {
  test('Go %g for le in text 0.0.4 (client_golang writeFloat / FormatFloat(v, g, -1, 64))', () => {
    const table: [number, string][] = [
      [0, '0'], [-0, '0'], [1, '1'], [-1, '-1'], [2.5, '2.5'], [0.1, '0.1'], [1e-5, '1e-05'], [0.0001, '0.0001'],
      [0.00012, '0.00012'], [1.2e-5, '1.2e-05'], [100000, '100000'], [1e6, '1e+06'], [1234567, '1.234567e+06'],
      [17560473, '1.7560473e+07'], [1e21, '1e+21'], [1e100, '1e+100'], [1e-100, '1e-100'], [-1e-7, '-1e-07'],
      [5e-324, '5e-324'], [Infinity, '+Inf'], [-Infinity, '-Inf'], [NaN, 'NaN'], [999999, '999999'], [0.30000000000000004, '0.30000000000000004'],
    ];
    for (const [v, s] of table) assert.equal(formatGoFloat(v), s, String(v));
  });

  test('OpenMetrics canonical le and quantile values', () => {
    const table: [number, string][] = [
      [0, '0.0'], [0.001, '0.001'], [0.01, '0.01'], [0.1, '0.1'], [0.95, '0.95'], [0.999, '0.999'], [1, '1.0'], [1.7, '1.7'],
      [10, '10.0'], [1e-10, '1e-10'], [1e-9, '1e-09'], [1e-5, '1e-05'], [0.0001, '0.0001'], [100000, '100000.0'], [1e6, '1e+06'],
      [1e10, '1e+10'], [1e23, '1e+23'], [1.1e23, '1.1e+23'], [Infinity, '+Inf'], [NaN, 'NaN'],
    ];
    for (const [v, s] of table) assert.equal(formatCanonicalFloat(v), s, String(v));
  });

  test('sample values: shortest round trip, exact special spellings, and every one parses back', () => {
    assert.equal(formatValue(NaN), 'NaN');
    assert.equal(formatValue(Infinity), '+Inf');
    assert.equal(formatValue(-Infinity), '-Inf');
    assert.equal(formatValue(-0), '0');
    for (const v of [0.1 + 0.2, 1e21, 1e-7, 2 ** 53 + 2, -123.456, Number.MAX_VALUE, Number.MIN_VALUE]) {
      assert.equal(Number(formatValue(v)), v);
      assert.match(formatValue(v), /^-?\d+(\.\d+)?(e[+-]\d+)?$/);
    }
  });
});

describe('escaping', () => {
  test('label values escape \\ " and LF only, backslash first', () => {
    assert.equal(escapeLabelValue('plain'), 'plain');
    assert.equal(escapeLabelValue('a\\b"c\nd'), 'a\\\\b\\"c\\nd');
    assert.equal(escapeLabelValue('\\n'), '\\\\n');
    assert.equal(escapeLabelValue('\t\r\u0000'), '\t\r\u0000');
    assert.equal(escapeLabelValue('\uDC00'), '\uFFFD');
  });

  test('HELP: text keeps quotes, OpenMetrics escapes them', () => {
    assert.equal(escapeHelpText('say "x" \\ \n'), 'say "x" \\\\ \\n');
    assert.equal(escapeHelpOpenMetrics('say "x" \\ \n'), 'say \\"x\\" \\\\ \\n');
    assert.equal(escapeHelpText('bad \uD800'), 'bad \uFFFD');
  });
});

describe('negotiation', () => {
  const v242 = 'application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
  const v242native = 'application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,application/openmetrics-text;version=1.0.0;q=0.8,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
  const v3 = 'application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2';
  const old = 'application/openmetrics-text; version=0.0.1,text/plain;version=0.0.4;q=0.5,*/*;q=0.1';
  const cases: [string | undefined, 'text' | 'openmetrics'][] = [
    [undefined, 'text'], ['', 'text'], ['*/*', 'text'], ['text/html', 'text'], [v242, 'openmetrics'], [v242native, 'openmetrics'],
    [v3, 'openmetrics'], [old, 'openmetrics'], ['text/plain;version=0.0.4', 'text'], ['text/plain', 'text'],
    ['text/plain;version=1.0.0', 'text'], ['application/openmetrics-text', 'openmetrics'],
    ['application/openmetrics-text;version=2.0.0', 'text'], ['application/openmetrics-text;q=0', 'text'],
    ['text/plain;q=0.9,application/openmetrics-text;q=0.8', 'text'], ['text/plain;q=0.3,application/openmetrics-text;q=0.8', 'openmetrics'],
    ['*/*;q=1,application/openmetrics-text;q=1', 'openmetrics'], ['APPLICATION/OpenMetrics-Text; Version="1.0.0"', 'openmetrics'],
    ['application/openmetrics-text;q=abc,text/plain;q=0.1', 'text'], [',,;;', 'text'],
  ];
  for (const [accept, format] of cases) {
    test(`Accept ${JSON.stringify(accept)} -> ${format}`, () => assert.equal(negotiateFormat(accept), format));
  }

  test('gzip only when listed with q > 0', () => {
    assert.equal(acceptsGzip('gzip'), true);
    assert.equal(acceptsGzip('deflate, gzip;q=0.5'), true);
    assert.equal(acceptsGzip('x-gzip'), true);
    assert.equal(acceptsGzip('gzip;q=0'), false);
    assert.equal(acceptsGzip('identity'), false);
    assert.equal(acceptsGzip(''), false);
    assert.equal(acceptsGzip(undefined), false);
  });

  test('exact content types, and render follows the format', () => {
    assert.equal(contentType('text'), 'text/plain; version=0.0.4; charset=utf-8');
    assert.equal(contentType('openmetrics'), 'application/openmetrics-text; version=1.0.0; charset=utf-8');
    assert.equal(TEXT_CONTENT_TYPE, contentType('text'));
    assert.equal(OPENMETRICS_CONTENT_TYPE, contentType('openmetrics'));
    const snap = { families: [{ type: 'gauge' as const, name: 'g', help: 'h', series: [{ labels: NO_LABELS, value: 1 }] }] };
    assert.equal(render(snap, 'text'), '# HELP g h\n# TYPE g gauge\ng 1\n');
    assert.equal(render(snap, 'openmetrics'), '# TYPE g gauge\n# HELP g h\ng 1\n# EOF\n');
  });
});
