/** The bounded label values of the tqserver_* families, as a table. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RESTART_REASONS, statusGroupLabel, statusLabel } from '../lib/metrics.js';

test('status and status_group labels: 100-599 as sent, 0 kept for "nothing sent", anything else other', () => {
  const cases: [number, string, string][] = [
    // [status, status label, status_group label]
    [0, '0', 'other'],
    [1, 'other', 'other'],
    [99, 'other', 'other'],
    [100, '100', '1xx'],
    [101, '101', '1xx'],
    [204, '204', '2xx'],
    [308, '308', '3xx'],
    [404, '404', '4xx'],
    [599, '599', '5xx'],
    [600, 'other', 'other'],
    [799, 'other', 'other'],
    [999, 'other', 'other'],
    [1000, 'other', 'other'],
    [-1, 'other', 'other'],
  ];
  for (const [status, label, group] of cases) {
    assert.equal(statusLabel(status), label, `status ${status}`);
    assert.equal(statusGroupLabel(status), group, `status_group of ${status}`);
  }
  const labels = new Set(Array.from({ length: 1000 }, (_, i) => statusLabel(i)));
  assert.equal(labels.size, 502, 'at most 502 status values: 0, 100-599, other');
});

test('restart reasons: every reason the supervisor replaces an instance for, none that only stops one', () => {
  assert.deepEqual([...RESTART_REASONS].sort(), ['change', 'crash', 'health', 'max_requests', 'memory', 'reload', 'start_failed']);
});
