/**
 * Flow collections of the YAML subset: `[a, "b", 3]` and `{key: value}`, nested, and spread over
 * several lines. Continuation lines must be indented deeper than the block that holds the
 * collection; a line that starts by closing it may sit at that block's indentation (as the `yaml`
 * package accepts). Comments may end any line. Not supported, each a ConfigError: a plain or
 * quoted scalar that runs onto the next line, `key: value` directly inside `[...]` (write
 * `[{key: value}]`), empty keys, collections as keys.
 */
import type { SourcePosition } from '../errors.js';
import { duplicateKey, type YamlEntry, type YamlMap, type YamlNode, type YamlSeq } from './yaml-node.js';
import { readQuoted, resolvePlain, unsupportedIndicator } from './yaml-scalar.js';

/** A line of the document without blank and comment-only lines. */
export interface SourceLine {
  /** 1-based line number. */
  readonly no: number;
  /** Spaces before the content; the content starts at column indent + 1. */
  readonly indent: number;
  /** The content, comments not yet removed, trailing blanks trimmed. */
  readonly text: string;
}

/** Reports a syntax error; never returns. */
export type Fail = (at: SourcePosition, reason: string) => never;

/** Where a flow collection starts. */
export interface FlowStart {
  /** The line number of the opening bracket. */
  readonly no: number;
  /** The rest of that line, from the opening bracket. */
  readonly text: string;
  /** 0-based column of `text[0]`. */
  readonly at: number;
  /** Indentation of the block holding the collection; -1 at the top of the document. */
  readonly parentIndent: number;
}

/**
 * Reads the flow collection at `start`, continuing on `lines[next]` and after. Returns it and the
 * index of the first line after the one it ends on; the rest of that line must be blank or a
 * comment.
 */
export function readFlow(start: FlowStart, lines: readonly SourceLine[], next: number, fail: Fail): { node: YamlNode; next: number } {
  const reader = new FlowReader(start, lines, next, fail);
  const node = reader.read();
  return { node, next: reader.next };
}

/** A blank or the end of the line: what ends a key after `:`, and what must precede a comment's `#`. */
function isBlank(c: string | undefined): boolean {
  return c === undefined || c === ' ' || c === '\t';
}

/** YAML 1.2 §7.3.3 (ns-plain-safe-in): `,[]{}` end a plain scalar inside a flow collection. */
function isFlowIndicator(c: string | undefined): boolean {
  return c === ',' || c === '[' || c === ']' || c === '{' || c === '}';
}

class FlowReader {
  readonly #lines: readonly SourceLine[];
  readonly #parentIndent: number;
  readonly #fail: Fail;
  /** Index in #lines of the next line not yet read. */
  #next: number;
  #no: number;
  #text: string;
  /** 0-based column of #text[0]. */
  #base: number;
  #j = 0;

  constructor(start: FlowStart, lines: readonly SourceLine[], next: number, fail: Fail) {
    this.#lines = lines;
    this.#parentIndent = start.parentIndent;
    this.#fail = fail;
    this.#next = next;
    this.#no = start.no;
    this.#text = start.text;
    this.#base = start.at;
  }

  /** Index of the first line after the one the collection ended on. */
  get next(): number {
    return this.#next;
  }

  #pos(): SourcePosition {
    return { line: this.#no, col: this.#base + this.#j + 1 };
  }

  #peek(): string | undefined {
    return this.#text[this.#j];
  }

  /** The collection; only blanks or a comment may follow it on its last line. */
  read(): YamlNode {
    const node = this.#node();
    const end = this.#j;
    while (this.#peek() === ' ' || this.#peek() === '\t') this.#j++;
    const tail = this.#text.slice(this.#j);
    if (tail !== '' && !(tail.startsWith('#') && this.#j > end)) {
      this.#fail(this.#pos(), `unexpected text after the value: ${JSON.stringify(tail)}`);
    }
    return node;
  }

  /**
   * Moves past blanks, comments and line breaks to the next token. False when the collection's
   * lines have run out: the end of the document, or a line not indented as a continuation.
   */
  #skip(): boolean {
    for (;;) {
      while (this.#peek() === ' ' || this.#peek() === '\t') this.#j++;
      if (this.#peek() === '#' && isBlank(this.#text[this.#j - 1])) this.#j = this.#text.length;
      if (this.#j < this.#text.length) return true;
      const line = this.#lines[this.#next];
      if (line === undefined) return false;
      const closes = line.text.startsWith(']') || line.text.startsWith('}');
      if (line.indent < this.#parentIndent || (line.indent === this.#parentIndent && !closes)) return false;
      this.#next++;
      this.#no = line.no;
      this.#text = line.text;
      this.#base = line.indent;
      this.#j = 0;
    }
  }

  #node(): YamlNode {
    const c = this.#peek();
    if (c === '[') return this.#sequence();
    if (c === '{') return this.#mapping();
    if (c === '"' || c === "'") {
      const scalar = this.#quoted();
      return { kind: 'scalar', pos: scalar.pos, value: scalar.value, quoted: true };
    }
    const plain = this.#plain();
    return { kind: 'scalar', pos: plain.pos, value: resolvePlain(plain.text), quoted: false };
  }

  #quoted(): { pos: SourcePosition; value: string } {
    const pos = this.#pos();
    const { value, end } = readQuoted(this.#text, this.#j, (offset, reason) => this.#fail({ line: this.#no, col: this.#base + offset + 1 }, reason));
    this.#j = end;
    return { pos, value };
  }

  /** A plain scalar on this line, as written. */
  #plain(): { pos: SourcePosition; text: string } {
    const pos = this.#pos();
    const text = this.#text;
    const start = this.#j;
    const c = text[start];
    const why = unsupportedIndicator(c);
    if (why !== undefined) this.#fail(pos, why);
    if (c === '#') this.#fail(pos, 'a comment needs a blank before "#"; quote the value if "#" belongs to it');
    if ((c === '-' || c === ':') && (isBlank(text[start + 1]) || isFlowIndicator(text[start + 1]))) {
      this.#fail(pos, `unexpected "${c}" in a flow collection; quote the value`);
    }
    if (isFlowIndicator(c)) this.#fail(pos, `unexpected "${c}"`);
    let k = start;
    while (k < text.length) {
      const d = text[k];
      if (isFlowIndicator(d)) break;
      if (d === ':' && (isBlank(text[k + 1]) || isFlowIndicator(text[k + 1]))) break;
      if (d === '#' && isBlank(text[k - 1])) break;
      k++;
    }
    this.#j = k;
    return { pos, text: text.slice(start, k).trimEnd() };
  }

  /** A key: a quoted one's value, or a plain one as written (as block mappings keep keys). */
  #key(): { pos: SourcePosition; key: string } {
    const c = this.#peek();
    if (c === '"' || c === "'") {
      const { pos, value } = this.#quoted();
      return { pos, key: value };
    }
    const { pos, text } = this.#plain();
    return { pos, key: text };
  }

  /** What to say when the token after an entry is neither "," nor the closing bracket. */
  #expected(close: ']' | '}', entryLine: number): never {
    const what = close === ']' ? 'flow sequence' : 'flow mapping';
    const hint = this.#no !== entryLine ? ' (a "," is missing, or a plain value runs onto the next line: quote it)' : ' (a "," is missing?)';
    this.#fail(this.#pos(), `expected "," or "${close}" in a ${what}${hint}`);
  }

  #sequence(): YamlSeq {
    const pos = this.#pos();
    const unclosed = (): never => this.#fail(pos, 'unclosed flow sequence: "[" has no matching "]"');
    this.#j++;
    const items: YamlNode[] = [];
    for (;;) {
      if (!this.#skip()) unclosed();
      if (this.#peek() === ']') break;
      if (this.#peek() === ',') this.#fail(this.#pos(), 'empty item in flow sequence');
      items.push(this.#node());
      const line = this.#no;
      if (!this.#skip()) unclosed();
      const c = this.#peek();
      if (c === ':') this.#fail(this.#pos(), 'a "key: value" pair directly inside [...] is not supported; write it as {key: value}');
      if (c === ']') break;
      if (c !== ',') this.#expected(']', line);
      this.#j++;
    }
    this.#j++;
    return { kind: 'seq', pos, items };
  }

  #mapping(): YamlMap {
    const pos = this.#pos();
    const unclosed = (): never => this.#fail(pos, 'unclosed flow mapping: "{" has no matching "}"');
    this.#j++;
    const entries: YamlEntry[] = [];
    const seen = new Map<string, SourcePosition>();
    for (;;) {
      if (!this.#skip()) unclosed();
      const c = this.#peek();
      if (c === '}') break;
      if (c === ',') this.#fail(this.#pos(), 'empty entry in flow mapping');
      if (c === ':') this.#fail(this.#pos(), 'a key is missing before ":"');
      if (c === '[' || c === '{') this.#fail(this.#pos(), 'flow collections as keys are not supported');
      const { pos: keyPos, key } = this.#key();
      const first = seen.get(key);
      if (first !== undefined) this.#fail(keyPos, duplicateKey(key, first));
      seen.set(key, keyPos);
      if (!this.#skip()) unclosed();
      let value: YamlNode;
      if (this.#peek() === ':') {
        const colon = this.#pos();
        this.#j++;
        if (!this.#skip()) unclosed();
        const v = this.#peek();
        value = v === ',' || v === '}' ? { kind: 'scalar', pos: { line: colon.line, col: colon.col + 1 }, value: null, quoted: false } : this.#node();
      } else if (this.#peek() === ',' || this.#peek() === '}') {
        value = { kind: 'scalar', pos: keyPos, value: null, quoted: false };
      } else {
        this.#fail(this.#pos(), 'expected ":" after the key');
      }
      entries.push({ key, keyPos, value });
      const line = this.#no;
      if (!this.#skip()) unclosed();
      const after = this.#peek();
      if (after === ':') this.#fail(this.#pos(), 'unexpected ":" after the value (a "," is missing before the next key, or quote the value)');
      if (after === '}') break;
      if (after !== ',') this.#expected('}', line);
      this.#j++;
    }
    this.#j++;
    return { kind: 'map', pos, entries };
  }
}
