/**
 * A reader of the two Prometheus exposition formats, text 0.0.4 and OpenMetrics 1.0: every
 * line is checked, every family gets its TYPE, HELP and UNIT, every sample its unescaped labels,
 * value and timestamp. Rules (see the format brief in docs and the OpenMetrics 1.0 ABNF):
 *
 * - text 0.0.4: blank lines and `#` comments are skipped; tokens are separated by any run of
 *   spaces or tabs; a trailing comma in a label set is allowed; timestamps are integer
 *   milliseconds; HELP unescapes only `\\` and `\n` (a `\"` stays as written, as the Prometheus
 *   server reads it).
 * - OpenMetrics 1.0: exactly one space between tokens, no blank lines, no other `#` lines than
 *   TYPE, UNIT, HELP and a final `# EOF` with nothing after it (a body cut short is an error, not
 *   fewer samples); timestamps are seconds (fractions allowed); HELP is escaped like a label
 *   value; exemplars (` # {labels} value [timestamp]`) are read.
 * - Both: label values unescape `\\`, `\"` and `\n`; any other backslash pair is kept as it is,
 *   as the Prometheus server does. Values are Go ParseFloat numbers without hex or `_`, plus
 *   `+Inf`, `-Inf`, `NaN` (any case, as Go accepts them).
 *
 * Samples attach to the family whose metadata came last when their name is that family's name
 * plus a suffix its type allows (`_bucket`, `_sum`, `_count` for a histogram...); any other
 * sample starts an untyped (`unknown` in OpenMetrics) family of its own name.
 */
import { ParseError } from './errors.mjs';
import { DECIMAL, parseNumber, unescapeHelpText, unescapeLabelValue } from './tokens.mjs';

/** @typedef {'text' | 'openmetrics'} ExpositionFormat */
/** @typedef {[name: string, value: string]} Label */
/**
 * @typedef {object} Exemplar
 * @property {Label[]} labels
 * @property {number} value
 * @property {number | undefined} timestampMs
 */
/**
 * @typedef {object} Sample
 * @property {string} name the sample name (`x_bucket`, `x_total`...)
 * @property {Label[]} labels in the order written, values unescaped
 * @property {string} text the name and label set exactly as written (`x{a="1"}`): a target
 *   writes a series the same way every time, so a scraper can find it again by this string
 *   without rebuilding a canonical key per sample and scrape
 * @property {number} value
 * @property {number | undefined} timestampMs
 * @property {Exemplar | undefined} [exemplar]
 */
/**
 * @typedef {object} Family
 * @property {string} name the name its metadata uses (OpenMetrics counters: without `_total`)
 * @property {string} type as written (`counter`, `gauge`, `histogram`, `summary`, `untyped`,
 *   or OpenMetrics' `unknown`, `gaugehistogram`, `info`, `stateset`)
 * @property {string | undefined} help unescaped
 * @property {string | undefined} unit
 * @property {Sample[]} samples
 */
/**
 * @typedef {object} Exposition
 * @property {ExpositionFormat} format
 * @property {Family[]} families in the order they appeared
 */

/** The sample-name suffixes each family type allows, per format. */
const SUFFIXES = {
  text: {
    counter: [''],
    gauge: [''],
    untyped: [''],
    histogram: ['_bucket', '_sum', '_count'],
    summary: ['', '_sum', '_count'],
  },
  openmetrics: {
    counter: ['_total', '_created'],
    gauge: [''],
    unknown: [''],
    histogram: ['_bucket', '_sum', '_count', '_created'],
    gaugehistogram: ['_bucket', '_gsum', '_gcount'],
    summary: ['', '_sum', '_count', '_created'],
    info: ['_info'],
    stateset: [''],
  },
};

const DEFAULT_TYPE = { text: 'untyped', openmetrics: 'unknown' };

/** @param {number} c */
const isNameStart = (c) => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c === 58;
/** @param {number} c */
const isNameChar = (c) => isNameStart(c) || (c >= 48 && c <= 57);
/** @param {number} c */
const isLabelStart = (c) => (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95;
/** @param {number} c */
const isLabelChar = (c) => isLabelStart(c) || (c >= 48 && c <= 57);
/** @param {number} c */
const isBlank = (c) => c === 32 || c === 9;

/**
 * Reads one exposition body.
 * @param {string} body
 * @param {ExpositionFormat} format
 * @returns {Exposition}
 * @throws {ParseError} naming the line and what is wrong with it
 */
export function parseExposition(body, format) {
  if (format !== 'text' && format !== 'openmetrics') throw new TypeError(`unknown exposition format ${String(format)}`);
  return new Reader(format).read(body);
}

class Reader {
  /** @type {ExpositionFormat} */
  #format;
  /** @type {boolean} */
  #om;
  /** @type {Family[]} */
  #families = [];
  /** Which family each sample name belongs to. @type {Map<string, Family>} */
  #owners = new Map();
  /** Families by metadata name. @type {Map<string, Family>} */
  #byName = new Map();
  /** Families that had a TYPE line. @type {WeakSet<Family>} */
  #typed = new WeakSet();
  /** @type {Family | undefined} */
  #current;
  #line = 0;

  /** @param {ExpositionFormat} format */
  constructor(format) {
    this.#format = format;
    this.#om = format === 'openmetrics';
  }

  /** @param {string} body */
  read(body) {
    const lines = body.split('\n');
    // A final LF leaves one empty string behind; a body without one keeps its last line (the
    // Prometheus server appends the missing LF itself).
    if (lines[lines.length - 1] === '') lines.pop();
    let eof = false;
    for (let i = 0; i < lines.length; i++) {
      this.#line = i + 1;
      const line = /** @type {string} */ (lines[i]);
      if (eof) this.#fail('text after # EOF');
      if (this.#om) {
        if (line === '# EOF') {
          eof = true;
          continue;
        }
        if (line === '') this.#fail('blank line (OpenMetrics allows none)');
      }
      this.#readLine(line);
    }
    if (this.#om && !eof) {
      this.#line = lines.length;
      this.#fail('the body does not end with # EOF (cut short?)');
    }
    return { format: this.#format, families: this.#families };
  }

  /** @param {string} reason @returns {never} */
  #fail(reason) {
    throw new ParseError(this.#line, reason);
  }

  /** @param {string} line */
  #readLine(line) {
    let i = 0;
    if (!this.#om) {
      while (i < line.length && isBlank(line.charCodeAt(i))) i++;
      if (i === line.length) return;
    }
    if (line.charCodeAt(i) === 35 /* # */) this.#readComment(line, i + 1);
    else this.#readSample(line, i);
  }

  /**
   * `# HELP name text`, `# TYPE name type`, `# UNIT name unit` (OpenMetrics); any other `#`
   * line is a comment in text 0.0.4 and an error in OpenMetrics.
   * @param {string} line
   * @param {number} start just after the `#`
   */
  #readComment(line, start) {
    let i = start;
    if (this.#om) {
      if (line.charCodeAt(i) !== 32) this.#fail(`unexpected comment ${JSON.stringify(line)}`);
      i++;
    } else {
      while (i < line.length && isBlank(line.charCodeAt(i))) i++;
    }
    const kindEnd = this.#tokenEnd(line, i);
    const kind = line.slice(i, kindEnd);
    const known = kind === 'HELP' || kind === 'TYPE' || (this.#om && kind === 'UNIT');
    if (!known) {
      if (this.#om) this.#fail(`unexpected comment ${JSON.stringify(line)} (OpenMetrics allows only TYPE, UNIT, HELP and EOF)`);
      return;
    }
    i = kindEnd;
    if (!this.#skipSeparator(line, i)) {
      if (this.#om) this.#fail(`expected a metric name after # ${kind}`);
      return; // `# HELP` alone: a comment in text 0.0.4.
    }
    i = this.#separatorEnd(line, i);
    const nameEnd = this.#nameEnd(line, i);
    if (nameEnd === i) {
      if (this.#om) this.#fail(`expected a metric name after # ${kind}`);
      return;
    }
    const name = line.slice(i, nameEnd);
    i = nameEnd;
    let rest;
    if (i === line.length) {
      if (this.#om || kind === 'TYPE') this.#fail(`expected text after # ${kind} ${name}`);
      rest = '';
    } else {
      if (!isBlank(line.charCodeAt(i)) || (this.#om && line.charCodeAt(i) !== 32)) this.#fail(`invalid metric name in # ${kind} line`);
      // The text is everything after one separator, spaces in it included.
      rest = this.#om ? line.slice(i + 1) : line.slice(this.#separatorEnd(line, i));
    }
    const family = this.#metadataFamily(name, kind);
    if (kind === 'HELP') {
      if (family.help !== undefined) this.#fail(`second HELP line for ${name}`);
      family.help = this.#om ? unescapeLabelValue(rest) : unescapeHelpText(rest);
    } else if (kind === 'UNIT') {
      if (family.unit !== undefined) this.#fail(`second UNIT line for ${name}`);
      if (rest !== '' && !name.endsWith('_' + rest)) this.#fail(`unit ${JSON.stringify(rest)} is not a suffix of ${name}`);
      family.unit = rest;
    } else {
      const type = this.#om ? rest : rest.replace(/[ \t]+$/, '');
      if (!Object.hasOwn(SUFFIXES[this.#format], type)) this.#fail(`invalid metric type ${JSON.stringify(type)}`);
      if (this.#typed.has(family)) this.#fail(`second TYPE line for ${name}`);
      this.#typed.add(family);
      family.type = type;
      this.#own(family);
    }
  }

  /**
   * The family metadata for `name` goes to: the current one while it has no samples, else a new
   * one. Metadata for a family whose samples were already read is an error, as in both parsers.
   * @param {string} name
   * @param {string} kind
   */
  #metadataFamily(name, kind) {
    const current = this.#current;
    if (current !== undefined && current.name === name && current.samples.length === 0) return current;
    if (this.#byName.has(name)) this.#fail(`# ${kind} for ${name} after its samples or in a second block`);
    return this.#newFamily(name);
  }

  /** @param {string} name */
  #newFamily(name) {
    /** @type {Family} */
    const family = { name, type: DEFAULT_TYPE[this.#format], help: undefined, unit: undefined, samples: [] };
    this.#families.push(family);
    this.#byName.set(name, family);
    this.#current = family;
    this.#own(family);
    return family;
  }

  /**
   * Records which sample names `family` owns under its (new) type.
   * @param {Family} family
   */
  #own(family) {
    for (const suffix of /** @type {Record<string, string[]>} */ (SUFFIXES[this.#format])[family.type] ?? ['']) {
      const sampleName = family.name + suffix;
      const owner = this.#owners.get(sampleName);
      if (owner !== undefined && owner !== family) this.#fail(`the sample name ${sampleName} of ${family.type} ${family.name} is also family ${owner.name}'s`);
      this.#owners.set(sampleName, family);
    }
  }

  /**
   * The family a sample called `name` belongs to, making an untyped one if none owns it.
   * @param {string} name
   */
  #familyOf(name) {
    const owner = this.#owners.get(name);
    if (owner === undefined) return this.#newFamily(name);
    const suffixes = /** @type {Record<string, string[]>} */ (SUFFIXES[this.#format])[owner.type] ?? [''];
    if (!suffixes.some((s) => owner.name + s === name)) this.#fail(`sample ${name} does not belong to ${owner.type} ${owner.name}`);
    if (owner !== this.#current) {
      // OpenMetrics: "families MUST NOT be interleaved"; text 0.0.4 has no such rule.
      if (this.#om) this.#fail(`sample ${name} of family ${owner.name} comes after another family's (interleaved)`);
      this.#current = owner;
    }
    return owner;
  }

  /**
   * `name[{labels}] value[ timestamp][ # exemplar]`.
   * @param {string} line
   * @param {number} start
   */
  #readSample(line, start) {
    let i = start;
    const nameEnd = this.#nameEnd(line, i);
    if (nameEnd === i) this.#fail(`expected a metric name, got ${JSON.stringify(line.slice(i, i + 20))}`);
    const name = line.slice(i, nameEnd);
    i = nameEnd;
    if (!this.#om) {
      let j = i;
      while (j < line.length && isBlank(line.charCodeAt(j))) j++;
      if (line.charCodeAt(j) === 123 /* { */) i = j; // text 0.0.4 allows blanks before the label set
    }
    /** @type {Label[]} */
    let labels = [];
    if (line.charCodeAt(i) === 123 /* { */) [labels, i] = this.#readLabels(line, i);
    const text = line.slice(start, i);
    if (!this.#skipSeparator(line, i)) this.#fail(`expected a space and a value after ${name}`);
    i = this.#separatorEnd(line, i);
    const valueEnd = this.#tokenEnd(line, i);
    const value = parseNumber(line.slice(i, valueEnd));
    if (value === undefined) this.#fail(`invalid value ${JSON.stringify(line.slice(i, valueEnd))} for ${name}`);
    i = valueEnd;
    let timestampMs;
    /** @type {Exemplar | undefined} */
    let exemplar;
    if (i < line.length) {
      if (!this.#skipSeparator(line, i)) this.#fail(`unexpected ${JSON.stringify(line.slice(i, i + 20))} after the value of ${name}`);
      const j = this.#separatorEnd(line, i);
      if (j < line.length && !(this.#om && line.charCodeAt(j) === 35)) {
        const tsEnd = this.#tokenEnd(line, j);
        timestampMs = this.#timestamp(line.slice(j, tsEnd));
        i = tsEnd;
      } else if (!this.#om) {
        i = j; // trailing blanks: the Prometheus server accepts them
      }
      if (i < line.length) {
        if (!this.#om) {
          const k = this.#separatorEnd(line, i);
          if (k < line.length) this.#fail(`unexpected ${JSON.stringify(line.slice(k, k + 20))} after the timestamp of ${name}`);
        } else {
          exemplar = this.#readExemplar(line, i);
        }
      }
    }
    const family = this.#familyOf(name);
    /** @type {Sample} */
    const sample = { name, labels, text, value, timestampMs };
    if (exemplar !== undefined) sample.exemplar = exemplar;
    family.samples.push(sample);
  }

  /**
   * ` # {labels} value[ timestamp]` (OpenMetrics).
   * @param {string} line
   * @param {number} start at the space before `#`
   * @returns {Exemplar}
   */
  #readExemplar(line, start) {
    if (!line.startsWith(' # {', start)) this.#fail(`unexpected ${JSON.stringify(line.slice(start, start + 20))} after a sample (expected an exemplar)`);
    const [labels, afterLabels] = this.#readLabels(line, start + 3);
    if (line.charCodeAt(afterLabels) !== 32) this.#fail('expected a space and a value in the exemplar');
    const valueEnd = this.#tokenEnd(line, afterLabels + 1);
    const value = parseNumber(line.slice(afterLabels + 1, valueEnd));
    if (value === undefined) this.#fail(`invalid exemplar value ${JSON.stringify(line.slice(afterLabels + 1, valueEnd))}`);
    let timestampMs;
    if (valueEnd < line.length) {
      if (line.charCodeAt(valueEnd) !== 32) this.#fail('unexpected text after the exemplar value');
      const tsEnd = this.#tokenEnd(line, valueEnd + 1);
      timestampMs = this.#timestamp(line.slice(valueEnd + 1, tsEnd));
      if (tsEnd !== line.length) this.#fail('unexpected text after the exemplar timestamp');
    }
    return { labels, value, timestampMs };
  }

  /**
   * A timestamp token in milliseconds: integer ms in text 0.0.4, (fractional) seconds in
   * OpenMetrics, where NaN and infinities are refused.
   * @param {string} token
   */
  #timestamp(token) {
    if (this.#om) {
      if (!DECIMAL.test(token)) this.#fail(`invalid timestamp ${JSON.stringify(token)}`);
      return Number(token) * 1000;
    }
    if (!/^-?\d+$/.test(token)) this.#fail(`invalid timestamp ${JSON.stringify(token)} (integer milliseconds expected)`);
    return Number(token);
  }

  /**
   * `{name="value",...}` from the `{` at `start`; returns the labels and the index after `}`.
   * @param {string} line
   * @param {number} start
   * @returns {[Label[], number]}
   */
  #readLabels(line, start) {
    /** @type {Label[]} */
    const labels = [];
    /** @type {Set<string>} */
    const seen = new Set();
    let i = start + 1;
    const blanks = () => {
      if (!this.#om) while (i < line.length && isBlank(line.charCodeAt(i))) i++;
    };
    blanks();
    while (line.charCodeAt(i) !== 125 /* } */) {
      if (i >= line.length) this.#fail('unterminated label set');
      const nameStart = i;
      if (!isLabelStart(line.charCodeAt(i))) this.#fail(`invalid label name at ${JSON.stringify(line.slice(i, i + 20))}`);
      while (i < line.length && isLabelChar(line.charCodeAt(i))) i++;
      const labelName = line.slice(nameStart, i);
      blanks();
      if (line.charCodeAt(i) !== 61 /* = */) this.#fail(`expected = after label name ${labelName}`);
      i++;
      blanks();
      if (line.charCodeAt(i) !== 34 /* " */) this.#fail(`expected a quoted value for label ${labelName}`);
      i++;
      const valueStart = i;
      for (;;) {
        if (i >= line.length) this.#fail(`unterminated value of label ${labelName}`);
        const c = line.charCodeAt(i);
        if (c === 92 /* \ */) i += 2;
        else if (c === 34) break;
        else i++;
      }
      if (seen.has(labelName)) this.#fail(`duplicate label name ${labelName}`);
      seen.add(labelName);
      labels.push([labelName, unescapeLabelValue(line.slice(valueStart, i))]);
      i++;
      blanks();
      if (line.charCodeAt(i) === 44 /* , */) {
        i++;
        blanks();
        if (this.#om && line.charCodeAt(i) === 125) this.#fail('trailing comma in a label set (OpenMetrics allows none)');
      } else if (line.charCodeAt(i) !== 125) {
        this.#fail(`expected , or } after the value of label ${labelName}`);
      }
    }
    return [labels, i + 1];
  }

  /** @param {string} line @param {number} i */
  #nameEnd(line, i) {
    if (i >= line.length || !isNameStart(line.charCodeAt(i))) return i;
    let j = i + 1;
    while (j < line.length && isNameChar(line.charCodeAt(j))) j++;
    return j;
  }

  /** The end of a token: the next blank (text) or space (OpenMetrics), or the line's end. @param {string} line @param {number} i */
  #tokenEnd(line, i) {
    let j = i;
    while (j < line.length && !(this.#om ? line.charCodeAt(j) === 32 : isBlank(line.charCodeAt(j)))) j++;
    return j;
  }

  /** Whether a separator starts at `i`: one space (OpenMetrics) or blanks (text). @param {string} line @param {number} i */
  #skipSeparator(line, i) {
    return this.#om ? line.charCodeAt(i) === 32 : isBlank(line.charCodeAt(i));
  }

  /** The index after the separator at `i`; OpenMetrics refuses a second space. @param {string} line @param {number} i */
  #separatorEnd(line, i) {
    if (this.#om) {
      if (line.charCodeAt(i + 1) === 32 || i + 1 === line.length) this.#fail('expected exactly one space between tokens, and none at the end of a line');
      return i + 1;
    }
    let j = i;
    while (j < line.length && isBlank(line.charCodeAt(j))) j++;
    return j;
  }
}
