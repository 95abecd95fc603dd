/**
 * Typed reading of one mapping of a configuration file: each getter checks the type and range
 * of one key and reports a ConfigError pointing at the value; keys nobody asked for become
 * warnings with file:line:col and the closest known key.
 */
import { ConfigError, type SourcePosition } from '../errors.js';
import type { Report } from './report.js';
import type { YamlNode, YamlScalarNode } from './yaml-node.js';

/** Levenshtein distance, for "did you mean". */
function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    let diagonal = row[0] as number;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const above = row[j] as number;
      row[j] = Math.min(above + 1, (row[j - 1] as number) + 1, diagonal + (a[i - 1] === b[j - 1] ? 0 : 1));
      diagonal = above;
    }
  }
  return row[b.length] as number;
}

/** The known key closest to `key`, if close enough to be a likely typo. */
export function closest(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = distance(key.toLowerCase(), k);
    if (d < bestDistance) {
      best = k;
      bestDistance = d;
    }
  }
  return bestDistance <= Math.max(2, Math.floor(key.length / 3)) ? best : undefined;
}

function describe(node: YamlNode): string {
  if (node.kind === 'map') return 'a mapping';
  if (node.kind === 'seq') return 'a list';
  return node.value === null ? 'null' : `${typeof node.value} ${JSON.stringify(node.value)}`;
}

/**
 * One mapping of a config file, read key by key. A getter that finds a problem records it in the
 * report and returns the fallback, so that one pass finds every problem of a file; `ok(key)`
 * tells a cross-key check whether the value it is about to compare is real.
 */
export class Section {
  readonly file: string;
  /** Dotted path of this mapping (`server`, `metrics.auth`), for messages. */
  readonly path: string;
  readonly #report: Report;
  readonly #entries = new Map<string, { node: YamlNode; keyPos: SourcePosition }>();
  readonly #pos: SourcePosition;
  readonly #failed = new Set<string>();
  /** False when the node was something other than a mapping (reported once, read as empty). */
  readonly isMapping: boolean = true;

  /**
   * `node` is the mapping (absent or null means empty; anything else is reported and read as
   * empty); `known` are the keys it may hold. Unknown keys are reported as warnings at once.
   */
  constructor(report: Report, path: string, node: YamlNode | undefined, known: readonly string[]) {
    this.file = report.file;
    this.path = path;
    this.#report = report;
    this.#pos = node?.pos ?? { line: 1, col: 1 };
    if (node === undefined || (node.kind === 'scalar' && node.value === null)) return;
    if (node.kind !== 'map') {
      report.errors.push(new ConfigError(this.file, node.pos, `${path || 'the file'} must be a mapping of keys, got ${describe(node)}`));
      this.isMapping = false;
      return;
    }
    for (const entry of node.entries) {
      this.#entries.set(entry.key, { node: entry.value, keyPos: entry.keyPos });
      if (!known.includes(entry.key)) {
        const guess = closest(entry.key, known);
        const where = path === '' ? 'at the top level' : `in ${path}`;
        report.warnings.push(`${this.file}:${entry.keyPos.line}:${entry.keyPos.col}: warning: unknown key "${entry.key}" ${where}${guess === undefined ? ', ignored' : ` (did you mean "${guess}"?)`}`);
      }
    }
  }

  #name(key: string): string {
    return this.path === '' ? key : `${this.path}.${key}`;
  }

  /** The node of `key`, unless absent. */
  node(key: string): YamlNode | undefined {
    return this.#entries.get(key)?.node;
  }

  /** Whether `key` is present (even as null). */
  has(key: string): boolean {
    return this.#entries.has(key);
  }

  /** Whether no problem has been reported about `key`. */
  ok(key: string): boolean {
    return !this.#failed.has(key);
  }

  /** Reports a problem with the value of `key` (or with this mapping, if absent). */
  fail(key: string, reason: string): void {
    this.#failAt(key, this.#entries.get(key)?.node.pos ?? this.#pos, `${this.#name(key)}: ${reason}`);
  }

  #failAt(key: string, at: SourcePosition, message: string): void {
    this.#failed.add(key);
    this.#report.errors.push(new ConfigError(this.file, at, message));
  }

  #present(key: string): YamlNode | undefined {
    const node = this.node(key);
    return node === undefined || (node.kind === 'scalar' && node.value === null) ? undefined : node;
  }

  /** An integer in [min, max]. */
  int(key: string, fallback: number, min: number, max = Number.MAX_SAFE_INTEGER): number {
    const node = this.#present(key);
    if (node === undefined) return fallback;
    if (node.kind !== 'scalar' || typeof node.value !== 'number' || !Number.isInteger(node.value) || node.quoted) {
      this.fail(key, `must be an integer, got ${describe(node)}`);
      return fallback;
    }
    if (node.value < min || node.value > max) {
      this.fail(key, `must be between ${min} and ${max}, got ${node.value}`);
      return fallback;
    }
    return node.value;
  }

  /** A finite number in [min, max]. */
  number(key: string, fallback: number, min: number, max = Number.MAX_VALUE): number {
    const node = this.#present(key);
    if (node === undefined) return fallback;
    if (node.kind !== 'scalar' || typeof node.value !== 'number' || !Number.isFinite(node.value) || node.quoted) {
      this.fail(key, `must be a number, got ${describe(node)}`);
      return fallback;
    }
    if (node.value < min || node.value > max) {
      this.fail(key, `must be between ${min} and ${max}, got ${node.value}`);
      return fallback;
    }
    return node.value;
  }

  /** A boolean. */
  bool(key: string, fallback: boolean): boolean {
    const node = this.#present(key);
    if (node === undefined) return fallback;
    if (node.kind !== 'scalar' || typeof node.value !== 'boolean') {
      this.fail(key, `must be true or false, got ${describe(node)}`);
      return fallback;
    }
    return node.value;
  }

  /** A string (numbers and booleans written plain are taken as their text); absent gives `fallback`. */
  string(key: string, fallback: string): string;
  string(key: string, fallback: undefined): string | undefined;
  string(key: string, fallback: string | undefined): string | undefined {
    const node = this.#present(key);
    if (node === undefined) return fallback;
    if (node.kind !== 'scalar') {
      this.fail(key, `must be a string, got ${describe(node)}`);
      return fallback;
    }
    return String(node.value);
  }

  /**
   * A string that may be switched off: absent gives `fallback`; `~`, `null` or `""` give null.
   */
  optionalString(key: string, fallback: string): string | null {
    if (!this.has(key)) return fallback;
    const node = this.#present(key);
    if (node === undefined) return null;
    if (node.kind !== 'scalar') {
      this.fail(key, `must be a string or null, got ${describe(node)}`);
      return fallback;
    }
    const s = String(node.value);
    return s === '' ? null : s;
  }

  /** A list of strings (argv); undefined if absent or if any item is wrong (each one is reported). */
  stringList(key: string): string[] | undefined {
    const node = this.#present(key);
    if (node === undefined) return undefined;
    if (node.kind !== 'seq') {
      this.fail(key, `must be a list of strings, got ${describe(node)}`);
      return undefined;
    }
    node.items.forEach((item, i) => {
      if (item.kind !== 'scalar' || item.value === null) this.#failAt(key, item.pos, `${this.#name(key)}[${i}]: must be a string, got ${describe(item)}`);
    });
    return this.ok(key) ? node.items.map((item) => String((item as YamlScalarNode).value)) : undefined;
  }

  /** A list of finite numbers; undefined if absent or if any item is wrong (each one is reported). */
  numberList(key: string): number[] | undefined {
    const node = this.#present(key);
    if (node === undefined) return undefined;
    if (node.kind !== 'seq') {
      this.fail(key, `must be a list of numbers, got ${describe(node)}`);
      return undefined;
    }
    const numbers: number[] = [];
    node.items.forEach((item, i) => {
      if (item.kind !== 'scalar' || typeof item.value !== 'number' || item.quoted || Number.isNaN(item.value)) {
        this.#failAt(key, item.pos, `${this.#name(key)}[${i}]: must be a number, got ${describe(item)}`);
      } else {
        numbers.push(item.value);
      }
    });
    return this.ok(key) ? numbers : undefined;
  }

  /** A mapping of names to strings (environment variables); each wrong entry is reported and left out. */
  stringMap(key: string): Record<string, string> {
    const node = this.#present(key);
    if (node === undefined) return {};
    if (node.kind !== 'map') {
      this.fail(key, `must be a mapping of names to strings, got ${describe(node)}`);
      return {};
    }
    const out: Record<string, string> = {};
    for (const entry of node.entries) {
      if (entry.value.kind !== 'scalar') {
        this.#failAt(key, entry.value.pos, `${this.#name(key)}.${entry.key}: must be a string, got ${describe(entry.value)}`);
        continue;
      }
      out[entry.key] = entry.value.value === null ? '' : String(entry.value.value);
    }
    return out;
  }

  /** A nested mapping; if `key` holds something else, that is reported and the section is empty. */
  section(key: string, known: readonly string[]): Section {
    const inner = new Section(this.#report, this.#name(key), this.node(key), known);
    const node = this.#present(key);
    if (node !== undefined && node.kind !== 'map') this.#failed.add(key);
    return inner;
  }
}
