/**
 * One stored series and what makes its identity: canonical labels (Prometheus' rules), strings
 * detached from the scraped body, and whether the minute tier keeps its last value or its mean.
 */

/** @typedef {import('./parse.mjs').Family} Family */
/** @typedef {import('./parse.mjs').Label} Label */

/** Family types whose samples only go up (between resets), so the coarse tier keeps their last value. */
const COUNTER_SAMPLES = {
  counter: () => true,
  histogram: (/** @type {string} */ suffix) => suffix === '_bucket' || suffix === '_sum' || suffix === '_count',
  summary: (/** @type {string} */ suffix) => suffix === '_sum' || suffix === '_count',
};

/**
 * Whether a sample of `family` called `sampleName` is counter-like.
 * @param {Family} family
 * @param {string} sampleName
 */
export function isCounterSample(family, sampleName) {
  const test = /** @type {Record<string, (suffix: string) => boolean>} */ (COUNTER_SAMPLES)[family.type];
  return test !== undefined && test(sampleName.slice(family.name.length));
}

/**
 * A copy of `s` that shares no memory with the string it was cut from. The parser's strings are
 * slices of the scraped body, and V8 keeps a whole body alive for as long as one slice of it is
 * kept: a series stored for hours must not hold on to the scrape that created it.
 * @param {string} s
 */
export function detached(s) {
  return s.length < 13 ? s : Buffer.from(s, 'utf8').toString('utf8');
}

/**
 * Labels as stored: empty values removed (absent, as Prometheus reads them), `le` and
 * `quantile` rewritten in one spelling, strings detached from the body.
 * @param {readonly Label[]} labels
 * @returns {Label[]}
 */
export function canonicalLabels(labels) {
  /** @type {Label[]} */
  const out = [];
  for (const [name, value] of labels) {
    if (value === '') continue;
    if (name === 'le' || name === 'quantile') {
      const n = value === '+Inf' ? Infinity : Number(value);
      out.push([detached(name), Number.isNaN(n) ? detached(value) : n === Infinity ? '+Inf' : String(n)]);
    } else {
      out.push([detached(name), detached(value)]);
    }
  }
  return out;
}

/** How many spellings of one series (label order, `le="1"` or `"1.0"`) the fast lookup remembers. */
export const MAX_ALIASES = 4;

/** One stored series. */
export class Series {
  /**
   * @param {string} key
   * @param {string} name
   * @param {Label[]} labels
   * @param {boolean} counter
   * @param {Float64Array} values
   */
  constructor(key, name, labels, counter, values) {
    /** @readonly */
    this.key = key;
    /** @readonly the sample name */
    this.name = name;
    /** @readonly canonical, see {@link canonicalLabels} */
    this.labels = labels;
    /** @readonly */
    this.counter = counter;
    /** @readonly fine rows, then coarse rows, then the minute's gauge sum and count */
    this.values = values;
    const le = labels.find((l) => l[0] === 'le');
    /** @readonly the bucket bound of a `_bucket` series, else NaN */
    this.le = le === undefined ? NaN : le[1] === '+Inf' ? Infinity : Number(le[1]);
    /** Time of the last scrape that had it. */
    this.lastSeenMs = 0;
    /** Time of the first successful scrape that lacked it since it was last seen; NaN while present. */
    this.missingSinceMs = NaN;
    /** The scrape number that last had it. */
    this.seen = -1;
    /** The ways a target wrote it (`Sample.text`), each a key of its node's fast lookup. @type {string[]} */
    this.aliases = [];
  }

  /** The value of a label, or '' (absent). @param {string} name */
  label(name) {
    for (const l of this.labels) if (l[0] === name) return l[1];
    return '';
  }
}
