/**
 * History in fixed memory. Per scraped node, two tiers of rows:
 * - `fine`: one row per scrape attempt, for the last 15 minutes (at 1 s, 900 rows);
 * - `coarse`: one row per minute, for the last 24 hours (1,440 rows). The row of the current
 *   minute is updated by every scrape, so the 1 h and 24 h views are live too.
 * Each series owns one Float64Array, allocated once when the series first appears (or taken
 * from a pool of arrays freed by expired series) and never grown: `fineSlots` values, then
 * `coarseSlots` values, then two accumulators for the running minute mean of a gauge. The
 * row times are kept per node, shared by its series.
 *
 * A gap is NaN: a failed scrape writes a NaN row for every series of its node, and a series
 * missing from a successful scrape gets NaN in that row (Prometheus' staleness: a gap, never the
 * last value carried forward, never a zero). A real NaN sample value reads as a gap too.
 *
 * Coarse rows keep, per minute, the last value of counter-like series (counters, histogram
 * buckets, `_sum`, `_count`), so rate() works on them as on raw samples, and the mean of the
 * minute's values for gauges.
 *
 * Series identity is Prometheus': the sample name plus its labels, where an empty label value
 * means the label is absent, and `le`/`quantile` are compared as numbers (`1` = `1.0`).
 */
import { labelsKey } from './histograms.mjs';
import { canonicalLabels, detached, isCounterSample, MAX_ALIASES, Series } from './series.mjs';
import { Tier } from './tier.mjs';

/** @typedef {import('./parse.mjs').Family} Family */
/** @typedef {import('./parse.mjs').Label} Label */
/** @typedef {import('./tier.mjs').TierName} TierName */

/** Minutes are the coarse tier's resolution. */
export const COARSE_STEP_MS = 60_000;

/**
 * @typedef {object} StoreOptions
 * @property {number} fineSlots rows of the fine tier (15 min / scrape interval)
 * @property {number} coarseSlots rows of the coarse tier (1,440: 24 h of minutes)
 * @property {number} staleAfterMs a series absent from every successful scrape for longer is dropped
 * @property {number} maxSeries series held at most, all nodes together; more are not recorded
 */

/** Every node's history, and the budget they share. */
export class Store {
  /** @type {Map<string, NodeHistory>} */
  #nodes = new Map();
  /** @type {Float64Array[]} */
  #pool = [];
  #series = 0;
  #refused = 0;

  /** @param {StoreOptions} options */
  constructor(options) {
    /** @readonly */
    this.options = Object.freeze({ ...options });
    /** @readonly per series: fine rows, coarse rows, 2 accumulators */
    this.rowLength = options.fineSlots + options.coarseSlots + 2;
    /** Bumped by every ingest or failure, so callers can cache what they derive. */
    this.generation = 0;
  }

  /** The history of node `name`, created on first use. @param {string} name */
  node(name) {
    let node = this.#nodes.get(name);
    if (node === undefined) {
      node = new NodeHistory(name, this);
      this.#nodes.set(name, node);
    }
    return node;
  }

  /** @returns {NodeHistory[]} */
  nodes() {
    return [...this.#nodes.values()];
  }

  /** A fresh array for a new series (all NaN), or undefined once `maxSeries` are held. */
  allocate() {
    if (this.#series >= this.options.maxSeries) {
      this.#refused++;
      return undefined;
    }
    this.#series++;
    const values = this.#pool.pop() ?? new Float64Array(this.rowLength);
    values.fill(NaN);
    values[this.rowLength - 2] = 0;
    values[this.rowLength - 1] = 0;
    return values;
  }

  /** Takes back the array of a dropped series. @param {Float64Array} values */
  release(values) {
    this.#series--;
    // Kept for reuse up to a bound, so a churn of series does not churn the heap.
    if (this.#pool.length < 256) this.#pool.push(values);
  }

  /** Counts, and the bytes the ring buffers take (the figure the README explains). */
  stats() {
    const bytesPerSeries = this.rowLength * 8;
    const bytesPerNode = (this.options.fineSlots + this.options.coarseSlots) * 8;
    return {
      series: this.#series,
      maxSeries: this.options.maxSeries,
      refusedSamples: this.#refused,
      fineSlots: this.options.fineSlots,
      coarseSlots: this.options.coarseSlots,
      bytesPerSeries,
      ringBytes: this.#series * bytesPerSeries + this.#nodes.size * bytesPerNode + this.#pool.length * bytesPerSeries,
    };
  }
}

/** The rows of one node. */
export class NodeHistory {
  /** @type {Map<string, Series>} */
  #series = new Map();
  /** @type {Map<string, Set<Series>>} */
  #byName = new Map();
  /** Series by how the target writes them, so a scrape finds each without building its key. @type {Map<string, Series>} */
  #aliases = new Map();
  #store;
  #scrapes = 0;
  #minute = NaN;
  #fineSlots;

  /**
   * @param {string} name
   * @param {Store} store
   */
  constructor(name, store) {
    /** @readonly */
    this.name = name;
    this.#store = store;
    this.#fineSlots = store.options.fineSlots;
    /** @readonly */
    this.fine = new Tier(store.options.fineSlots);
    /** @readonly */
    this.coarse = new Tier(store.options.coarseSlots);
  }

  /** Where tier `tier`'s rows start in a series' values. @param {TierName} tier */
  offset(tier) {
    return tier === 'fine' ? 0 : this.#fineSlots;
  }

  /** @param {TierName} tier */
  tier(tier) {
    return tier === 'fine' ? this.fine : this.coarse;
  }

  /** The series with sample name `name`. @param {string} name @returns {Iterable<Series>} */
  byName(name) {
    return this.#byName.get(name) ?? [];
  }

  /** Every series. */
  allSeries() {
    return this.#series.values();
  }

  get seriesCount() {
    return this.#series.size;
  }

  /**
   * Starts the row of a scrape attempt at `t`: a fine row, and a coarse row when a new minute
   * begins (NaN for every series until a sample arrives). Returns the time used, which is kept
   * strictly increasing even if the wall clock steps back.
   * @param {number} t
   */
  #beginRow(t) {
    const time = Math.max(t, this.fine.lastTime() + 1);
    this.fine.push(time);
    const minute = Math.floor(time / COARSE_STEP_MS);
    const coarseOffset = this.#fineSlots;
    const sumIndex = this.#store.rowLength - 2;
    if (minute !== this.#minute) {
      this.#minute = minute;
      const row = coarseOffset + this.coarse.push(time);
      for (const s of this.#series.values()) {
        s.values[row] = NaN;
        s.values[sumIndex] = 0;
        s.values[sumIndex + 1] = 0;
      }
    } else {
      this.coarse.times[this.coarse.head] = time;
    }
    this.#store.generation++;
    return time;
  }

  /**
   * Records a successful scrape at `t` (ms): every sample of `families`, NaN for the series it
   * lacks, and drops series that successful scrapes have lacked for over `staleAfterMs`.
   * @param {number} t
   * @param {readonly Family[]} families
   */
  ingest(t, families) {
    const time = this.#beginRow(t);
    const scrape = ++this.#scrapes;
    const fineRow = this.fine.head;
    const coarseRow = this.#fineSlots + this.coarse.head;
    const sumIndex = this.#store.rowLength - 2;
    for (const family of families) {
      for (const sample of family.samples) {
        let series = sample.text === undefined ? undefined : this.#aliases.get(sample.text);
        if (series === undefined) {
          series = this.#find(family, sample);
          if (series === undefined) continue;
        }
        // The same series twice in one scrape: the first one counts, as in Prometheus.
        if (series.seen === scrape) continue;
        series.seen = scrape;
        series.lastSeenMs = time;
        series.missingSinceMs = NaN;
        const v = sample.value;
        const values = series.values;
        values[fineRow] = v;
        if (series.counter) {
          if (!Number.isNaN(v)) values[coarseRow] = v;
        } else if (!Number.isNaN(v)) {
          const sum = /** @type {number} */ (values[sumIndex]) + v;
          const n = /** @type {number} */ (values[sumIndex + 1]) + 1;
          values[sumIndex] = sum;
          values[sumIndex + 1] = n;
          values[coarseRow] = sum / n;
        }
      }
    }
    const staleAfter = this.#store.options.staleAfterMs;
    for (const series of this.#series.values()) {
      if (series.seen === scrape) continue;
      series.values[fineRow] = NaN;
      // Only successful scrapes count: the time a node could not be reached proves nothing.
      if (Number.isNaN(series.missingSinceMs)) series.missingSinceMs = time;
      else if (time - series.missingSinceMs > staleAfter) this.#drop(series);
    }
    return time;
  }

  /**
   * Records a failed scrape at `t`: a NaN row for every series. Nothing expires while a node
   * cannot be reached (its series have not disappeared; it has).
   * @param {number} t
   */
  fail(t) {
    const time = this.#beginRow(t);
    const fineRow = this.fine.head;
    for (const series of this.#series.values()) series.values[fineRow] = NaN;
    return time;
  }

  /**
   * The series of `sample` by its canonical key, made if new (and the budget allows), and
   * remembered under the way this target writes it.
   * @param {Family} family
   * @param {import('./parse.mjs').Sample} sample
   */
  #find(family, sample) {
    const labels = canonicalLabels(sample.labels);
    const key = sample.name + '{' + labelsKey(labels) + '}';
    let series = this.#series.get(key);
    if (series === undefined) {
      const values = this.#store.allocate();
      if (values === undefined) return undefined;
      series = new Series(key, detached(sample.name), labels, isCounterSample(family, sample.name), values);
      this.#series.set(key, series);
      let named = this.#byName.get(series.name);
      if (named === undefined) this.#byName.set(series.name, (named = new Set()));
      named.add(series);
    }
    if (sample.text !== undefined && series.aliases.length < MAX_ALIASES) {
      const alias = detached(sample.text);
      series.aliases.push(alias);
      this.#aliases.set(alias, series);
    }
    return series;
  }

  /** @param {Series} series */
  #drop(series) {
    for (const alias of series.aliases) this.#aliases.delete(alias);
    this.#series.delete(series.key);
    const named = this.#byName.get(series.name);
    named?.delete(series);
    if (named?.size === 0) this.#byName.delete(series.name);
    this.#store.release(series.values);
  }
}
