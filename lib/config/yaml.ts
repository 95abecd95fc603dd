/**
 * A reader for the YAML subset tqserver's configuration files use: block mappings and
 * sequences, flow sequences of scalars (`[a, "b", 3]`), empty flow collections (`[]`, `{}`),
 * plain, single- and double-quoted scalars, comments, and the YAML 1.2 core schema (`~`/`null`,
 * booleans, integers, floats). Everything else (tabs in indentation, anchors, aliases, tags,
 * block scalars, several documents, duplicate keys, unclosed quotes, bad indentation) is a
 * ConfigError that names file, line and column. Every node keeps its position, so a schema
 * error about a value can point at it too.
 */
import { ConfigError, type SourcePosition } from '../errors.js';

/** A scalar value as the core schema resolves it. */
export type YamlScalar = string | number | boolean | null;

/** A parsed node with its position. */
export type YamlNode = YamlMap | YamlSeq | YamlScalarNode;

export interface YamlMap {
  readonly kind: 'map';
  readonly pos: SourcePosition;
  readonly entries: readonly YamlEntry[];
}

export interface YamlEntry {
  readonly key: string;
  readonly keyPos: SourcePosition;
  readonly value: YamlNode;
}

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

interface Line {
  /** 1-based line number. */
  readonly no: number;
  /** Spaces before the content; the content starts at column indent + 1. */
  readonly indent: number;
  /** The content, comments not yet removed, trailing blanks trimmed. */
  readonly text: string;
}

const DOUBLE_ESCAPES: Record<string, string> = {
  '0': '\0', a: '\x07', b: '\b', t: '\t', '\t': '\t', n: '\n', v: '\v', f: '\f', r: '\r', e: '\x1b', ' ': ' ',
  '"': '"', '/': '/', '\\': '\\', N: '\x85', _: '\xa0', L: '\u2028', P: '\u2029',
};
const HEX_ESCAPES: Record<string, number> = { x: 2, u: 4, U: 8 };

/** Why each indicator cannot start a plain scalar in this subset. */
const UNSUPPORTED_INDICATORS: Record<string, string> = {
  '&': 'anchors (&) are not supported',
  '*': 'aliases (*) are not supported',
  '!': 'tags (!) are not supported',
  '|': 'block scalars (| and >) are not supported; use a quoted string with \\n',
  '>': 'block scalars (| and >) are not supported; use a quoted string with \\n',
  '%': 'directives (%) are not supported',
  '@': '"@" is reserved in YAML; quote the value',
  '`': '"`" is reserved in YAML; quote the value',
  '?': 'complex keys (?) are not supported',
};

/** Resolves a plain scalar with the YAML 1.2 core schema. */
export function resolvePlain(s: string): YamlScalar {
  if (s === '' || s === '~' || s === 'null' || s === 'Null' || s === 'NULL') return null;
  if (s === 'true' || s === 'True' || s === 'TRUE') return true;
  if (s === 'false' || s === 'False' || s === 'FALSE') return false;
  if (/^[-+]?[0-9]+$/.test(s)) return Number(s);
  if (/^0o[0-7]+$/.test(s)) return parseInt(s.slice(2), 8);
  if (/^0x[0-9a-fA-F]+$/.test(s)) return parseInt(s.slice(2), 16);
  if (/^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$/.test(s)) return Number(s);
  if (/^[-+]?\.(inf|Inf|INF)$/.test(s)) return s.startsWith('-') ? -Infinity : Infinity;
  if (/^\.(nan|NaN|NAN)$/.test(s)) return NaN;
  return s;
}

/** Parses `text` (the contents of `file`) into a node tree; an empty document is a null scalar. */
export function parseYaml(text: string, file: string): YamlNode {
  return new Parser(text, file).document();
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

class Parser {
  readonly #file: string;
  readonly #lines: Line[] = [];
  #i = 0;

  constructor(text: string, file: string) {
    this.#file = file;
    const raw = text.replace(/^\uFEFF/, '').split('\n');
    raw.forEach((rawLine, index) => {
      const line = rawLine.endsWith('\r') ? rawLine.slice(0, -1) : rawLine;
      let indent = 0;
      while (line[indent] === ' ') indent++;
      const rest = line.slice(indent);
      if (rest.trim() === '' || rest.trimStart().startsWith('#')) return;
      if (rest.startsWith('\t')) {
        throw this.#error({ line: index + 1, col: indent + 1 }, 'tab character in indentation; indent with spaces');
      }
      this.#lines.push({ no: index + 1, indent, text: rest.trimEnd() });
    });
  }

  #error(at: SourcePosition, reason: string): ConfigError {
    return new ConfigError(this.#file, at, reason);
  }

  document(): YamlNode {
    const first = this.#lines[0];
    if (first !== undefined && first.indent === 0 && /^---(\s|$)/.test(first.text)) {
      if (first.text.slice(3).trim() !== '' && !first.text.slice(3).trim().startsWith('#')) {
        throw this.#error({ line: first.no, col: 5 }, 'content after "---" is not supported; start it on the next line');
      }
      this.#i = 1;
    }
    for (const line of this.#lines.slice(this.#i)) {
      if (line.indent === 0 && (/^---(\s|$)/.test(line.text) || /^\.\.\.(\s|$)/.test(line.text))) {
        throw this.#error({ line: line.no, col: 1 }, 'several documents in one file are not supported');
      }
      if (line.indent === 0 && line.text.startsWith('%')) {
        throw this.#error({ line: line.no, col: 1 }, 'directives (%) are not supported');
      }
    }
    const start = this.#lines[this.#i];
    if (start === undefined) return { kind: 'scalar', pos: { line: 1, col: 1 }, value: null, quoted: false };
    const node = this.#block(start.indent);
    const extra = this.#lines[this.#i];
    if (extra !== undefined) throw this.#error({ line: extra.no, col: extra.indent + 1 }, 'bad indentation: this line is outside the block above it');
    return node;
  }

  #isSeqItem(line: Line): boolean {
    return line.text === '-' || line.text.startsWith('- ') || line.text.startsWith('-\t');
  }

  /** A node whose first line is the current one, at `indent`. */
  #block(indent: number): YamlNode {
    const line = this.#lines[this.#i] as Line;
    if (this.#isSeqItem(line)) return this.#sequence(indent);
    if (this.#splitKey(line) !== undefined) return this.#mapping(indent);
    this.#i++;
    const node = this.#inline(line, line.text, line.indent);
    const next = this.#lines[this.#i];
    if (next !== undefined && next.indent > indent) {
      throw this.#error({ line: next.no, col: next.indent + 1 }, 'multi-line plain scalars are not supported; quote the value on one line');
    }
    return node;
  }

  /**
   * Splits `key: rest` when the line holds a mapping key: a quoted key, or plain text up to the
   * first `:` followed by a blank or the end of the line (outside a comment).
   */
  #splitKey(line: Line): { key: string; keyCol: number; rest: string; restCol: number } | undefined {
    const text = line.text;
    const col = line.indent + 1;
    if (text.startsWith('"') || text.startsWith("'")) {
      const quoted = this.#quoted(line, text, 0);
      let j = quoted.end;
      while (text[j] === ' ' || text[j] === '\t') j++;
      if (text[j] !== ':' || !(j + 1 === text.length || text[j + 1] === ' ' || text[j + 1] === '\t')) return undefined;
      return { key: quoted.value, keyCol: col, rest: text.slice(j + 1), restCol: col + j + 1 };
    }
    for (let j = 0; j < text.length; j++) {
      const c = text[j];
      if (c === '#' && (j === 0 || text[j - 1] === ' ' || text[j - 1] === '\t')) return undefined;
      if (c === ':' && (j + 1 === text.length || text[j + 1] === ' ' || text[j + 1] === '\t')) {
        const key = text.slice(0, j).trimEnd();
        if (key === '') return undefined;
        return { key, keyCol: col, rest: text.slice(j + 1), restCol: col + j + 1 };
      }
    }
    return undefined;
  }

  #mapping(indent: number): YamlMap {
    const first = this.#lines[this.#i] as Line;
    const entries: YamlEntry[] = [];
    const seen = new Map<string, number>();
    while (this.#i < this.#lines.length) {
      const line = this.#lines[this.#i] as Line;
      if (line.indent < indent) break;
      if (line.indent > indent) {
        throw this.#error({ line: line.no, col: line.indent + 1 }, `bad indentation: expected ${indent} spaces, found ${line.indent}`);
      }
      if (this.#isSeqItem(line)) throw this.#error({ line: line.no, col: indent + 1 }, 'a sequence item where a mapping key was expected');
      const split = this.#splitKey(line);
      if (split === undefined) throw this.#error({ line: line.no, col: indent + 1 }, 'expected "key: value"');
      const keyPos = { line: line.no, col: split.keyCol };
      if (UNSUPPORTED_INDICATORS[split.key[0] as string] !== undefined && !line.text.startsWith('"') && !line.text.startsWith("'")) {
        throw this.#error(keyPos, UNSUPPORTED_INDICATORS[split.key[0] as string] as string);
      }
      const previous = seen.get(split.key);
      if (previous !== undefined) throw this.#error(keyPos, `duplicate key "${split.key}" (first defined on line ${previous})`);
      seen.set(split.key, line.no);
      this.#i++;
      const rest = stripComment(split.rest);
      let value: YamlNode;
      if (rest.trim() === '') {
        const next = this.#lines[this.#i];
        if (next !== undefined && next.indent > indent) value = this.#block(next.indent);
        else if (next !== undefined && next.indent === indent && this.#isSeqItem(next)) value = this.#sequence(indent);
        else value = { kind: 'scalar', pos: { line: line.no, col: split.restCol }, value: null, quoted: false };
      } else {
        const lead = split.rest.length - split.rest.trimStart().length;
        value = this.#inline(line, split.rest.trimStart(), split.restCol - 1 + lead);
        const next = this.#lines[this.#i];
        if (next !== undefined && next.indent > indent) {
          throw this.#error({ line: next.no, col: next.indent + 1 }, 'bad indentation: a value continued on the next line is not supported; put it on one line (quoted if need be)');
        }
      }
      entries.push({ key: split.key, keyPos, value });
    }
    return { kind: 'map', pos: { line: first.no, col: indent + 1 }, entries };
  }

  #sequence(indent: number): YamlSeq {
    const first = this.#lines[this.#i] as Line;
    const items: YamlNode[] = [];
    while (this.#i < this.#lines.length) {
      const line = this.#lines[this.#i] as Line;
      if (line.indent < indent || (line.indent === indent && !this.#isSeqItem(line))) break;
      if (line.indent > indent) {
        throw this.#error({ line: line.no, col: line.indent + 1 }, `bad indentation: expected ${indent} spaces, found ${line.indent}`);
      }
      const after = line.text.slice(1);
      const rest = stripComment(after);
      if (rest.trim() === '') {
        this.#i++;
        const next = this.#lines[this.#i];
        if (next !== undefined && next.indent > indent) items.push(this.#block(next.indent));
        else items.push({ kind: 'scalar', pos: { line: line.no, col: indent + 2 }, value: null, quoted: false });
        continue;
      }
      // Read the item as if its content were a line of its own, indented to where it starts, so
      // that "- key: v" followed by "  key2: v2" forms one mapping.
      const lead = after.length - after.trimStart().length;
      this.#lines[this.#i] = { no: line.no, indent: indent + 1 + lead, text: after.trimStart() };
      items.push(this.#block(indent + 1 + lead));
    }
    return { kind: 'seq', pos: { line: first.no, col: indent + 1 }, items };
  }

  /** A value written on the line itself, starting at 0-based column `at`. */
  #inline(line: Line, text: string, at: number): YamlNode {
    const pos = { line: line.no, col: at + 1 };
    const c = text[0] as string;
    if (c === '"' || c === "'") {
      const quoted = this.#quoted(line, text, 0, at);
      this.#expectEnd(line, text, quoted.end, at);
      return { kind: 'scalar', pos, value: quoted.value, quoted: true };
    }
    if (c === '[') return this.#flowSequence(line, text, at);
    if (c === '{') {
      const close = text.indexOf('}');
      if (close < 0 || text.slice(1, close).trim() !== '') {
        throw this.#error(pos, 'flow mappings ({...}) are not supported; write a block mapping (only {} for empty is allowed)');
      }
      this.#expectEnd(line, text, close + 1, at);
      return { kind: 'map', pos, entries: [] };
    }
    const why = UNSUPPORTED_INDICATORS[c];
    if (why !== undefined) throw this.#error(pos, why);
    if (c === ']' || c === '}' || c === ',') throw this.#error(pos, `unexpected "${c}"`);
    if (text === '-' || text.startsWith('- ')) throw this.#error(pos, 'a sequence cannot start on the same line as its key; start it on the next line');
    const plain = stripComment(text).trimEnd();
    const colon = plain.search(/:(\s|$)/);
    if (colon >= 0) throw this.#error({ line: line.no, col: at + colon + 1 }, 'unexpected ":" in a plain value; quote the value');
    return { kind: 'scalar', pos, value: resolvePlain(plain), quoted: false };
  }

  #expectEnd(line: Line, text: string, end: number, at: number): void {
    const tail = text.slice(end);
    if (tail.trim() !== '' && !/^\s+#/.test(tail)) {
      throw this.#error({ line: line.no, col: at + end + 1 }, `unexpected text after the value: ${JSON.stringify(tail.trim())}`);
    }
  }

  #flowSequence(line: Line, text: string, at: number): YamlSeq {
    const items: YamlNode[] = [];
    let j = 1;
    const skip = (): void => {
      while (text[j] === ' ' || text[j] === '\t') j++;
    };
    for (;;) {
      skip();
      const c = text[j];
      const pos = { line: line.no, col: at + j + 1 };
      if (c === undefined || c === '#') throw this.#error({ line: line.no, col: at + 1 }, 'unclosed flow sequence: "[" without "]" on the same line');
      if (c === ']') {
        j++;
        break;
      }
      if (c === '[' || c === '{') throw this.#error(pos, 'nested flow collections are not supported');
      if (c === ',') throw this.#error(pos, 'empty item in flow sequence');
      if (c === '"' || c === "'") {
        const quoted = this.#quoted(line, text, j, at);
        items.push({ kind: 'scalar', pos, value: quoted.value, quoted: true });
        j = quoted.end;
      } else {
        const why = UNSUPPORTED_INDICATORS[c];
        if (why !== undefined) throw this.#error(pos, why);
        let k = j;
        while (k < text.length && text[k] !== ',' && text[k] !== ']' && !(text[k] === '#' && /\s/.test(text[k - 1] ?? ''))) k++;
        const plain = text.slice(j, k).trimEnd();
        if (/:(\s|$)/.test(plain)) throw this.#error(pos, 'flow mappings inside a flow sequence are not supported');
        items.push({ kind: 'scalar', pos, value: resolvePlain(plain), quoted: false });
        j = k;
      }
      skip();
      if (text[j] === ',') j++;
      else if (text[j] === undefined) throw this.#error({ line: line.no, col: at + 1 }, 'unclosed flow sequence: "[" without "]" on the same line');
      else if (text[j] !== ']') throw this.#error({ line: line.no, col: at + j + 1 }, 'expected "," or "]" in flow sequence');
    }
    this.#expectEnd(line, text, j, at);
    return { kind: 'seq', pos: { line: line.no, col: at + 1 }, items };
  }

  /** A quoted scalar starting at `text[start]`; `at` is the 0-based column of `text[0]`. */
  #quoted(line: Line, text: string, start: number, at = line.indent): { value: string; end: number } {
    const quote = text[start];
    let value = '';
    let j = start + 1;
    for (;;) {
      const c = text[j];
      if (c === undefined) {
        throw this.#error({ line: line.no, col: at + start + 1 }, `unclosed ${quote === '"' ? 'double' : 'single'} quote (quoted values must end on the same line)`);
      }
      if (quote === "'") {
        if (c === "'") {
          if (text[j + 1] === "'") {
            value += "'";
            j += 2;
            continue;
          }
          return { value, end: j + 1 };
        }
        value += c;
        j++;
        continue;
      }
      if (c === '"') return { value, end: j + 1 };
      if (c === '\\') {
        const e = text[j + 1] ?? '';
        const simple = DOUBLE_ESCAPES[e];
        if (simple !== undefined) {
          value += simple;
          j += 2;
          continue;
        }
        const digits = HEX_ESCAPES[e];
        const hex = digits === undefined ? '' : text.slice(j + 2, j + 2 + digits);
        if (digits === undefined || !new RegExp(`^[0-9a-fA-F]{${digits}}$`).test(hex)) {
          throw this.#error({ line: line.no, col: at + j + 1 }, `invalid escape "\\${e}" in a double-quoted string`);
        }
        const cp = parseInt(hex, 16);
        if (cp > 0x10ffff) throw this.#error({ line: line.no, col: at + j + 1 }, `escape "\\${e}${hex}" is beyond Unicode`);
        value += String.fromCodePoint(cp);
        j += 2 + digits;
        continue;
      }
      value += c;
      j++;
    }
  }
}

/** `text` up to a comment: a `#` at the start or after a blank. Used on text with no quotes. */
function stripComment(text: string): string {
  for (let j = 0; j < text.length; j++) {
    if (text[j] === '#' && (j === 0 || text[j - 1] === ' ' || text[j - 1] === '\t')) return text.slice(0, j);
  }
  return text;
}
