/**
 * The children of one metric, keyed by label values. Values are looked up one map level per
 * label, so no joined key exists that two different label sets could share (prom-client joins
 * values with "|" and so merges {a:"x|",b:""} with {a:"x",b:"|"}).
 */
import { MetricError } from '../errors.js';

/** What the map needs of a child: its label values. */
export interface Child {
  readonly values: readonly string[];
}

type Node = Map<string, unknown>;

function compareValues(a: Child, b: Child): number {
  const x = a.values;
  const y = b.values;
  for (let i = 0; i < x.length; i++) {
    const p = x[i] as string;
    const q = y[i] as string;
    if (p !== q) return p < q ? -1 : 1;
  }
  return 0;
}

/** The series store of one metric; see the module comment. */
export class SeriesMap<C extends Child> {
  readonly #metric: string;
  readonly #names: readonly string[];
  readonly #create: (values: readonly string[]) => C;
  #root: Node = new Map();
  #only: C | undefined;
  #list: C[] = [];
  #sorted = true;

  /** `create` makes a child for new label values; an unlabeled metric gets its one child now. */
  constructor(metric: string, names: readonly string[], create: (values: readonly string[]) => C) {
    this.#metric = metric;
    this.#names = names;
    this.#create = create;
    if (names.length === 0) this.#resetOnly();
  }

  #resetOnly(): void {
    this.#only = this.#create([]);
    this.#list = [this.#only];
  }

  #arityError(values: readonly unknown[]): MetricError {
    return new MetricError(
      'ERR_METRIC_LABELS',
      `metric ${this.#metric}: expected ${this.#names.length} label values (${this.#names.join(', ')}), ` +
        `got ${values.length}: ${JSON.stringify(values)}`,
    );
  }

  /**
   * The child for `values`, created on first use. Throws on a wrong count or a non-string value.
   *
   * The tree is path-compressed: an entry at depth i is either a Map keyed by the value of
   * label i+1, or the one child below that prefix, whose remaining values are then compared
   * directly. So a label set with unique leading values costs one map entry, not one Map.
   */
  get(values: readonly string[]): C {
    const n = this.#names.length;
    if (values.length !== n) throw this.#arityError(values);
    if (n === 0) return this.#only as C;
    let node = this.#root;
    for (let i = 0; i < n; i++) {
      const entry = node.get(values[i] as string);
      if (entry === undefined) break;
      if (entry instanceof Map) {
        node = entry as Node;
        continue;
      }
      const child = entry as C;
      const own = child.values;
      for (let j = i + 1; j < n; j++) if (own[j] !== values[j]) return this.#add(values);
      return child;
    }
    return this.#add(values);
  }

  #add(values: readonly string[]): C {
    // The rest-argument array of labels() is ours alone, so the child may keep it.
    const child = this.#create(values);
    let node = this.#root;
    for (let i = 0; i < values.length; i++) {
      const key = values[i] as string;
      const entry = node.get(key);
      if (entry === undefined) {
        node.set(key, child);
        break;
      }
      if (entry instanceof Map) {
        node = entry as Node;
        continue;
      }
      // Another series shares the prefix up to label i: push it one level down and go on.
      const sub: Node = new Map();
      sub.set((entry as C).values[i + 1] as string, entry);
      node.set(key, sub);
      node = sub;
    }
    this.#list.push(child);
    this.#sorted = false;
    return child;
  }

  /**
   * Removes the series with `values`; true if it existed. An unlabeled metric's one series is
   * reset to zero instead. A removed child keeps working but is no longer exported.
   */
  delete(values: readonly string[]): boolean {
    const n = this.#names.length;
    if (values.length !== n) throw this.#arityError(values);
    if (n === 0) {
      this.#resetOnly();
      return true;
    }
    const path: Node[] = [];
    let node = this.#root;
    let child: C | undefined;
    let depth = 0;
    for (; depth < n; depth++) {
      const entry = node.get(values[depth] as string);
      if (entry === undefined) return false;
      if (entry instanceof Map) {
        path.push(node);
        node = entry as Node;
        continue;
      }
      const own = (entry as C).values;
      for (let j = depth + 1; j < n; j++) if (own[j] !== values[j]) return false;
      child = entry as C;
      break;
    }
    if (child === undefined) return false;
    node.delete(values[depth] as string);
    // Undo what splits did: drop empty maps, and lift a map's last child back into its parent.
    for (let i = path.length - 1; i >= 0; i--) {
      const parent = path[i] as Node;
      const key = values[i] as string;
      if (node.size === 0) parent.delete(key);
      else if (node.size === 1) {
        const only = node.values().next().value;
        if (only instanceof Map) break;
        parent.set(key, only);
      } else break;
      node = parent;
    }
    this.#list.splice(this.#list.indexOf(child), 1);
    return true;
  }

  /** Removes every series (an unlabeled metric's is reset to zero). */
  clear(): void {
    if (this.#names.length === 0) {
      this.#resetOnly();
      return;
    }
    this.#root = new Map();
    this.#list = [];
    this.#sorted = true;
  }

  /** Number of series. */
  get size(): number {
    return this.#list.length;
  }

  /**
   * The children ordered by label values (compared left to right, by UTF-16 code units). Sorted
   * only when a series was added since the last call, so a steady scrape does not sort.
   */
  sorted(): readonly C[] {
    if (!this.#sorted) {
      this.#list.sort(compareValues);
      this.#sorted = true;
    }
    return this.#list;
  }
}
