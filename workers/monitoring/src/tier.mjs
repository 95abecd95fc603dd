/** The row times of one tier of one node's history: a ring of timestamps (see store.mjs). */

/** @typedef {'fine' | 'coarse'} TierName */

/**
 * The row times of one tier of one node: a ring of `slots` times, strictly increasing from the
 * oldest row to `head`.
 */
export class Tier {
  /** @param {number} slots */
  constructor(slots) {
    /** @readonly */
    this.slots = slots;
    /** @readonly */
    this.times = new Float64Array(slots);
    /** Physical index of the newest row; -1 while empty. */
    this.head = -1;
    /** Rows held (at most `slots`). */
    this.count = 0;
  }

  /** Appends a row at time `t` and returns its physical index. @param {number} t */
  push(t) {
    this.head = (this.head + 1) % this.slots;
    this.times[this.head] = t;
    if (this.count < this.slots) this.count++;
    return this.head;
  }

  /** The physical index of logical row `i` (0 = oldest). @param {number} i */
  physical(i) {
    return (this.head - this.count + 1 + i + this.slots) % this.slots;
  }

  /** Time of logical row `i`. @param {number} i */
  timeAt(i) {
    return /** @type {number} */ (this.times[this.physical(i)]);
  }

  /** Time of the newest row, or -Infinity. */
  lastTime() {
    return this.count === 0 ? -Infinity : /** @type {number} */ (this.times[this.head]);
  }

  /** The first logical row with a time > `t` (`count` if none). @param {number} t */
  firstAfter(t) {
    let lo = 0;
    let hi = this.count;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.timeAt(mid) > t) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}
