/** The log's own token writers: its line timestamps are what Date#toISOString writes. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { timestamp } from '../lib/log.js';
import { prng } from './helpers/prng.js';

test('timestamp writes what Date#toISOString writes, for years 0-9999', () => {
  const first = new Date(0).setUTCFullYear(0, 0, 1);
  const last = Date.UTC(9999, 11, 31, 23, 59, 59, 999);
  const edges = [first, last, 0, 1, 999, -1, Date.UTC(1999, 11, 31, 23, 59, 59, 999), Date.UTC(2024, 1, 29, 12, 0, 0, 5)];
  for (const ms of edges) assert.equal(timestamp(ms), new Date(ms).toISOString());
  const seed = 20261127;
  const random = prng(seed);
  for (let i = 0; i < 10_000; i++) {
    const ms = Math.floor(first + random() * (last - first));
    assert.equal(timestamp(ms), new Date(ms).toISOString(), `seed ${seed}, ms ${ms}`);
  }
});
