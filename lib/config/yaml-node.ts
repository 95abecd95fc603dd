/** The tree the YAML-subset reader produces: every node and key keeps its position. */
import type { SourcePosition } from '../errors.js';

/** A scalar value as the core schema resolves it. */
export type YamlScalar = string | number | boolean | null;

/** A parsed node with its position. */
export type YamlNode = YamlMap | YamlSeq | YamlScalarNode;

/** A block (`k: v` lines) or flow (`{k: v}`) mapping; keys are unique. */
export interface YamlMap {
  readonly kind: 'map';
  readonly pos: SourcePosition;
  readonly entries: readonly YamlEntry[];
}

/** One `key: value` of a mapping; a plain key is kept as written (`1` is the key "1"). */
export interface YamlEntry {
  readonly key: string;
  readonly keyPos: SourcePosition;
  readonly value: YamlNode;
}

/** A block (`- x` lines) or flow (`[x, y]`) sequence. */
export interface YamlSeq {
  readonly kind: 'seq';
  readonly pos: SourcePosition;
  readonly items: readonly YamlNode[];
}

export interface YamlScalarNode {
  readonly kind: 'scalar';
  readonly pos: SourcePosition;
  readonly value: YamlScalar;
  /** True for quoted scalars, which are always strings. */
  readonly quoted: boolean;
}

/** The plain JavaScript value of a node: objects, arrays and scalars. */
export function toPlain(node: YamlNode): unknown {
  switch (node.kind) {
    case 'scalar':
      return node.value;
    case 'seq':
      return node.items.map(toPlain);
    case 'map':
      return Object.fromEntries(node.entries.map((e) => [e.key, toPlain(e.value)]));
  }
}

/** The message for a key given twice in one mapping (YAML 1.2 §3.2.1.1: keys are unique). */
export function duplicateKey(key: string, first: SourcePosition): string {
  return `duplicate key "${key}" (first defined on line ${first.line})`;
}
