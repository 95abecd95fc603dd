/**
 * A reader for the YAML subset tqserver's configuration files use: block mappings and
 * sequences, flow collections (`[a, "b", 3]`, `{user: u, pass: p}`, nested, over several lines;
 * see yaml-flow.ts), plain, single- and double-quoted scalars, comments, and the YAML 1.2 core
 * schema (`~`/`null`, booleans, integers, floats). Everything else (tabs in indentation, anchors,
 * aliases, tags, block scalars, several documents, duplicate keys, unclosed quotes or brackets,
 * bad indentation) is a ConfigError that names file, line and column. Every node keeps its
 * position, so a schema error about a value can point at it too.
 */
import { ConfigError, type SourcePosition } from '../errors.js';
import { readFlow, type SourceLine } from './yaml-flow.js';
import { duplicateKey, type YamlEntry, type YamlMap, type YamlNode, type YamlSeq } from './yaml-node.js';
import { readQuoted, resolvePlain, unsupportedIndicator } from './yaml-scalar.js';

/** Parses `text` (the contents of `file`) into a node tree; an empty document is a null scalar. */
export function parseYaml(text: string, file: string): YamlNode {
  return new Parser(text, file).document();
}

class Parser {
  readonly #file: string;
  readonly #lines: SourceLine[] = [];
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
    const node = this.#block(start.indent, -1);
    const extra = this.#lines[this.#i];
    if (extra !== undefined) throw this.#error({ line: extra.no, col: extra.indent + 1 }, 'bad indentation: this line is outside the block above it');
    return node;
  }

  #isSeqItem(line: SourceLine): boolean {
    return line.text === '-' || line.text.startsWith('- ') || line.text.startsWith('-\t');
  }

  /** A node whose first line is the current one, at `indent`, inside a block at `parent`. */
  #block(indent: number, parent: number): YamlNode {
    const line = this.#lines[this.#i] as SourceLine;
    if (this.#isSeqItem(line)) return this.#sequence(indent);
    if (this.#splitKey(line) !== undefined) return this.#mapping(indent);
    this.#i++;
    const node = this.#inline(line, line.text, line.indent, parent);
    const next = this.#lines[this.#i];
    if (next !== undefined && next.indent > indent) {
      const why = node.kind === 'scalar' ? 'multi-line plain scalars are not supported; quote the value on one line' : 'bad indentation: this line is outside the value above it';
      throw this.#error({ line: next.no, col: next.indent + 1 }, why);
    }
    return node;
  }

  /**
   * Splits `key: rest` when the line holds a mapping key: a quoted key, or plain text up to the
   * first `:` followed by a blank or the end of the line (outside a comment). A line that opens a
   * flow collection holds none: `{a: 1}` is a value.
   */
  #splitKey(line: SourceLine): { key: string; keyCol: number; rest: string; restCol: number } | undefined {
    const text = line.text;
    const col = line.indent + 1;
    if (text.startsWith('[') || text.startsWith('{')) return undefined;
    if (text.startsWith('"') || text.startsWith("'")) {
      const quoted = this.#quoted(line.no, text, 0, line.indent);
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
    const first = this.#lines[this.#i] as SourceLine;
    const entries: YamlEntry[] = [];
    const seen = new Map<string, SourcePosition>();
    while (this.#i < this.#lines.length) {
      const line = this.#lines[this.#i] as SourceLine;
      if (line.indent < indent) break;
      if (line.indent > indent) {
        throw this.#error({ line: line.no, col: line.indent + 1 }, `bad indentation: expected ${indent} spaces, found ${line.indent}`);
      }
      if (this.#isSeqItem(line)) throw this.#error({ line: line.no, col: indent + 1 }, 'a sequence item where a mapping key was expected');
      const split = this.#splitKey(line);
      if (split === undefined) throw this.#error({ line: line.no, col: indent + 1 }, 'expected "key: value"');
      const keyPos = { line: line.no, col: split.keyCol };
      const why = unsupportedIndicator(split.key[0]);
      if (why !== undefined && !line.text.startsWith('"') && !line.text.startsWith("'")) throw this.#error(keyPos, why);
      const previous = seen.get(split.key);
      if (previous !== undefined) throw this.#error(keyPos, duplicateKey(split.key, previous));
      seen.set(split.key, keyPos);
      this.#i++;
      const rest = stripComment(split.rest);
      let value: YamlNode;
      if (rest.trim() === '') {
        const next = this.#lines[this.#i];
        if (next !== undefined && next.indent > indent) value = this.#block(next.indent, indent);
        else if (next !== undefined && next.indent === indent && this.#isSeqItem(next)) value = this.#sequence(indent);
        else value = { kind: 'scalar', pos: { line: line.no, col: split.restCol }, value: null, quoted: false };
      } else {
        const lead = split.rest.length - split.rest.trimStart().length;
        value = this.#inline(line, split.rest.trimStart(), split.restCol - 1 + lead, indent);
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
    const first = this.#lines[this.#i] as SourceLine;
    const items: YamlNode[] = [];
    while (this.#i < this.#lines.length) {
      const line = this.#lines[this.#i] as SourceLine;
      if (line.indent < indent || (line.indent === indent && !this.#isSeqItem(line))) break;
      if (line.indent > indent) {
        throw this.#error({ line: line.no, col: line.indent + 1 }, `bad indentation: expected ${indent} spaces, found ${line.indent}`);
      }
      const after = line.text.slice(1);
      const rest = stripComment(after);
      if (rest.trim() === '') {
        this.#i++;
        const next = this.#lines[this.#i];
        if (next !== undefined && next.indent > indent) items.push(this.#block(next.indent, indent));
        else items.push({ kind: 'scalar', pos: { line: line.no, col: indent + 2 }, value: null, quoted: false });
        continue;
      }
      // Read the item as if its content were a line of its own, indented to where it starts, so
      // that "- key: v" followed by "  key2: v2" forms one mapping.
      const lead = after.length - after.trimStart().length;
      this.#lines[this.#i] = { no: line.no, indent: indent + 1 + lead, text: after.trimStart() };
      items.push(this.#block(indent + 1 + lead, indent));
    }
    return { kind: 'seq', pos: { line: first.no, col: indent + 1 }, items };
  }

  /**
   * A value written on the line itself, starting at 0-based column `at`, in a block at `parent`.
   * A flow collection may go on over the next lines.
   */
  #inline(line: SourceLine, text: string, at: number, parent: number): YamlNode {
    const pos = { line: line.no, col: at + 1 };
    const c = text[0] as string;
    if (c === '"' || c === "'") {
      const quoted = this.#quoted(line.no, text, 0, at);
      this.#expectEnd(line, text, quoted.end, at);
      return { kind: 'scalar', pos, value: quoted.value, quoted: true };
    }
    if (c === '[' || c === '{') {
      const flow = readFlow({ no: line.no, text, at, parentIndent: parent }, this.#lines, this.#i, (where, reason) => {
        throw this.#error(where, reason);
      });
      this.#i = flow.next;
      return flow.node;
    }
    const why = unsupportedIndicator(c);
    if (why !== undefined) throw this.#error(pos, why);
    if (c === ']' || c === '}' || c === ',') throw this.#error(pos, `unexpected "${c}"`);
    if (text === '-' || text.startsWith('- ')) throw this.#error(pos, 'a sequence cannot start on the same line as its key; start it on the next line');
    const plain = stripComment(text).trimEnd();
    const colon = plain.search(/:(\s|$)/);
    if (colon >= 0) throw this.#error({ line: line.no, col: at + colon + 1 }, 'unexpected ":" in a plain value; quote the value');
    return { kind: 'scalar', pos, value: resolvePlain(plain), quoted: false };
  }

  #expectEnd(line: SourceLine, text: string, end: number, at: number): void {
    const tail = text.slice(end);
    if (tail.trim() !== '' && !/^\s+#/.test(tail)) {
      throw this.#error({ line: line.no, col: at + end + 1 }, `unexpected text after the value: ${JSON.stringify(tail.trim())}`);
    }
  }

  /** A quoted scalar starting at `text[start]` on line `no`; `at` is the 0-based column of `text[0]`. */
  #quoted(no: number, text: string, start: number, at: number): { value: string; end: number } {
    return readQuoted(text, start, (offset, reason) => {
      throw this.#error({ line: no, col: at + offset + 1 }, reason);
    });
  }
}

/** `text` up to a comment: a `#` at the start or after a blank. Used on text with no quotes. */
function stripComment(text: string): string {
  for (let j = 0; j < text.length; j++) {
    if (text[j] === '#' && (j === 0 || text[j - 1] === ' ' || text[j - 1] === '\t')) return text.slice(0, j);
  }
  return text;
}
