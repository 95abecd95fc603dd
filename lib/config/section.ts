/**
 * Typed reading of one mapping of a configuration file: each getter checks the type and range
 * of one key and throws a ConfigError pointing at the value; keys nobody asked for become
 * warnings with file:line and the closest known key.
 */
import { ConfigError, type SourcePosition } from '../errors.js';
import type { YamlMap, YamlNode } from './yaml.js';

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

/** One mapping of a config file, read key by key. */
export class Section {
  readonly file: string;
  /** Dotted path of this mapping (`server`, `metrics.auth`), for messages. */
  readonly path: string;
  readonly #entries = new Map<string, { node: YamlNode; keyPos: SourcePosition }>();
  readonly #pos: SourcePosition;

  /**
   * `node` is the mapping (absent or null means empty); `known` are the keys it may hold.
   * Unknown keys are reported to `warnings` at once.
   */
  constructor(file: string, path: string, node: YamlNode | undefined, known: readonly string[], warnings: string[]) {
    this.file = file;
    this.path = path;
    this.#pos = node?.pos ?? { line: 1, col: 1 };
    if (node === undefined || (node.kind === 'scalar' && node.value === null)) return;
    if (node.kind !== 'map') {
      throw new ConfigError(file, node.pos, `${path || 'the file'} must be a mapping of keys, got ${describe(node)}`);
    }
    for (const entry of (node as YamlMap).entries) {
      this.#entries.set(entry.key, { node: entry.value, keyPos: entry.keyPos });
      if (!known.includes(entry.key)) {
        const guess = closest(entry.key, known);
        const where = path === '' ? 'at the top level' : `in ${path}`;
        warnings.push(`${file}:${entry.keyPos.line}:${entry.keyPos.col}: warning: unknown key "${entry.key}" ${where}${guess === undefined ? ', ignored' : ` (did you mean "${guess}"?)`}`);
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

  /** An error about the value of `key` (or this mapping, if absent). */
  error(key: string, reason: string): ConfigError {
    const at = this.#entries.get(key)?.node.pos ?? this.#pos;
    return new ConfigError(this.file, at, `${this.#name(key)}: ${reason}`);
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
      throw this.error(key, `must be an integer, got ${describe(node)}`);
    }
    if (node.value < min || node.value > max) {
      throw this.error(key, `must be between ${min} and ${max}, got ${node.value}`);
    }
    return node.value;
  }

  /** A finite number in [min, max]. */
  number(key: string, fallback: number, min: number, max = Number.MAX_VALUE): number {
    const node = this.#present(key);
    if (node === undefined) return fallback;
    if (node.kind !== 'scalar' || typeof node.value !== 'number' || !Number.isFinite(node.value) || node.quoted) {
      throw this.error(key, `must be a number, got ${describe(node)}`);
    }
    if (node.value < min || node.value > max) throw this.error(key, `must be between ${min} and ${max}, got ${node.value}`);
    return node.value;
  }

  /** A boolean. */
  bool(key: string, fallback: boolean): boolean {
    const node = this.#present(key);
    if (node === undefined) return fallback;
    if (node.kind !== 'scalar' || typeof node.value !== 'boolean') throw this.error(key, `must be true or false, got ${describe(node)}`);
    return node.value;
  }

  /** A string (numbers and booleans written plain are taken as their text); absent gives `fallback`. */
  string(key: string, fallback: string): string;
  string(key: string, fallback: undefined): string | undefined;
  string(key: string, fallback: string | undefined): string | undefined {
    const node = this.#present(key);
    if (node === undefined) return fallback;
    if (node.kind !== 'scalar') throw this.error(key, `must be a string, got ${describe(node)}`);
    return String(node.value);
  }

  /**
   * A string that may be switched off: absent gives `fallback`; `~`, `null` or `""` give null.
   */
  optionalString(key: string, fallback: string): string | null {
    if (!this.has(key)) return fallback;
    const node = this.#present(key);
    if (node === undefined) return null;
    if (node.kind !== 'scalar') throw this.error(key, `must be a string or null, got ${describe(node)}`);
    const s = String(node.value);
    return s === '' ? null : s;
  }

  /** A list of strings (argv). */
  stringList(key: string): string[] | undefined {
    const node = this.#present(key);
    if (node === undefined) return undefined;
    if (node.kind !== 'seq') throw this.error(key, `must be a list of strings, got ${describe(node)}`);
    return node.items.map((item, i) => {
      if (item.kind !== 'scalar' || item.value === null) {
        throw new ConfigError(this.file, item.pos, `${this.#name(key)}[${i}]: must be a string, got ${describe(item)}`);
      }
      return String(item.value);
    });
  }

  /** A list of finite numbers. */
  numberList(key: string): number[] | undefined {
    const node = this.#present(key);
    if (node === undefined) return undefined;
    if (node.kind !== 'seq') throw this.error(key, `must be a list of numbers, got ${describe(node)}`);
    return node.items.map((item, i) => {
      if (item.kind !== 'scalar' || typeof item.value !== 'number' || item.quoted || Number.isNaN(item.value)) {
        throw new ConfigError(this.file, item.pos, `${this.#name(key)}[${i}]: must be a number, got ${describe(item)}`);
      }
      return item.value;
    });
  }

  /** A mapping of names to strings (environment variables). */
  stringMap(key: string): Record<string, string> {
    const node = this.#present(key);
    if (node === undefined) return {};
    if (node.kind !== 'map') throw this.error(key, `must be a mapping of names to strings, got ${describe(node)}`);
    const out: Record<string, string> = {};
    for (const entry of node.entries) {
      if (entry.value.kind !== 'scalar') {
        throw new ConfigError(this.file, entry.value.pos, `${this.#name(key)}.${entry.key}: must be a string, got ${describe(entry.value)}`);
      }
      out[entry.key] = entry.value.value === null ? '' : String(entry.value.value);
    }
    return out;
  }

  /** A nested mapping. */
  section(key: string, known: readonly string[], warnings: string[]): Section {
    return new Section(this.file, this.#name(key), this.node(key), known, warnings);
  }
}
