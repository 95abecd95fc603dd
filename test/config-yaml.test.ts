/**
 * The YAML-subset reader: every file of the corpus must read exactly as the `yaml` package
 * (YAML 1.2, core schema) reads it, and every unsupported or broken construct must be an error
 * that names file, line and column.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import YAML from 'yaml';
import { ConfigError } from '../lib/errors.js';
import { parseYaml, toPlain, type YamlNode } from '../lib/config/index.js';

const corpus = new URL('../fixtures/config/yaml-corpus/', import.meta.url);
const repoConfigs = [new URL('../config/server.yaml', import.meta.url)];

describe('corpus agrees with the yaml package', () => {
  const files = readdirSync(corpus).sort();
  test('the corpus is not empty', () => assert.ok(files.length >= 10));
  for (const f of files) {
    test(f, () => {
      const text = readFileSync(new URL(f, corpus), 'utf8');
      const ours = toPlain(parseYaml(text, f));
      const theirs = YAML.parse(text) ?? null;
      assert.deepEqual(ours, theirs);
    });
  }
  for (const url of repoConfigs) {
    test(`repository ${url.pathname.split('/').slice(-2).join('/')}`, (t) => {
      let text: string;
      try {
        text = readFileSync(url, 'utf8');
      } catch {
        t.skip('not present yet');
        return;
      }
      assert.deepEqual(toPlain(parseYaml(text, 'server.yaml')), YAML.parse(text));
    });
  }
});

describe('errors name file, line and column', () => {
  const cases: [string, string, RegExp, boolean][] = [
    // text, where, message, and whether the yaml package rejects it too
    ['a:\n\tb: 1\n', '2:1', /tab character in indentation/, true],
    ['a: &x 1\n', '1:4', /anchors/, false],
    ['a: *x\n', '1:4', /aliases/, true],
    ['a: !!str 1\n', '1:4', /tags/, false],
    ['a: 1\n---\nb: 2\n', '2:1', /several documents/, false],
    ['a: 1\n...\n', '2:1', /several documents/, false],
    ['%YAML 1.2\n---\na: 1\n', '1:1', /directives/, false],
    ['a: 1\na: 2\n', '2:1', /duplicate key "a" \(first defined on line 1\)/, true],
    ['a:\n  b: 1\n  b: 2\n', '3:3', /duplicate key "b"/, true],
    ['a: "abc\n', '1:4', /unclosed double quote/, true],
    ["a: 'abc\n", '1:4', /unclosed single quote/, true],
    ['a: "x" y\n', '1:7', /unexpected text after the value/, true],
    ['a:\n  b: 1\n   c: 2\n', '3:4', /bad indentation/, true],
    ['a:\n    b: 1\n  c: 2\n', '3:3', /bad indentation/, true],
    ['  a: 1\nb: 2\n', '2:1', /bad indentation/, true],
    ['a: |\n  x\n', '1:4', /block scalars/, false],
    ['a: >\n  x\n', '1:4', /block scalars/, false],
    ['a: b: c\n', '1:5', /unexpected ":"/, true],
    ['a: [1, 2\n', '1:4', /unclosed flow sequence/, true],
    ['a: [1,, 2]\n', '1:7', /empty item/, true],
    ['a: "\\q"\n', '1:5', /invalid escape "\\q"/, true],
    ['a: -\n', '1:4', /sequence cannot start on the same line/, true],
    ['a: 1\n- b\n', '2:1', /sequence item where a mapping key was expected/, true],
    ['a:\n  - x\n  y: 1\n', '3:3', /bad indentation|expected/, true],
    ['? complex\n', '1:1', /complex keys/, false],
    ['a: @x\n', '1:4', /reserved/, true],
    ['a: b\n  c\n', '2:3', /continued on the next line/, false],
    ['plain\n  continued\n', '2:3', /multi-line plain scalars/, false],
    // flow collections
    ['a: {b: 1\n', '1:4', /unclosed flow mapping: "\{" has no matching "\}"/, true],
    ['a: {b: 1\nc: 2\n', '1:4', /unclosed flow mapping/, true],
    ['a: [1,\n2]\n', '1:4', /unclosed flow sequence/, true],
    ['a:\n  b: [\n  1,\n  ]\n', '2:6', /unclosed flow sequence/, true],
    ['a: {b: [1, 2}\n', '1:13', /expected "," or "\]" in a flow sequence/, true],
    ['a: ["x" "y"]\n', '1:9', /expected "," or "\]" in a flow sequence \(a "," is missing\?\)/, true],
    ['a: {b: "1" c: 2}\n', '1:12', /expected "," or "\}" in a flow mapping/, true],
    ['a: {b: 1 c: 2}\n', '1:11', /unexpected ":" after the value/, true],
    ['a: [x\n  y]\n', '2:3', /a plain value runs onto the next line/, false],
    ['a: [\n  1,\n  "x" "y"\n]\n', '3:7', /expected "," or "\]"/, true],
    ['a: {b: 1, b: 2}\n', '1:11', /duplicate key "b" \(first defined on line 1\)/, true],
    ['a: {b: 1,\n  c: {d: 1, d: 2}}\n', '2:13', /duplicate key "d"/, true],
    ['a: {b: 1}\na: 2\n', '2:1', /duplicate key "a"/, true],
    ['a: [1, 2] x\n', '1:11', /unexpected text after the value: "x"/, true],
    ['a: {b: 1}}\n', '1:10', /unexpected text after the value/, true],
    ['a: [1]]\n', '1:7', /unexpected text after the value/, true],
    ['a: [1]#c\n', '1:7', /unexpected text after the value/, true],
    ['a: [\n  1\n] x\n', '3:3', /unexpected text after the value/, true],
    ['a: {b: 1,, c: 2}\n', '1:10', /empty entry in flow mapping/, true],
    ['a: [,]\n', '1:5', /empty item in flow sequence/, true],
    ['a: [b: 1]\n', '1:6', /"key: value" pair directly inside \[\.\.\.\] is not supported/, false],
    ['a: {: 1}\n', '1:5', /a key is missing/, false],
    ['a: {[b]: 1}\n', '1:5', /flow collections as keys/, false],
    ['a: [&x 1]\n', '1:5', /anchors/, false],
    ['a: [*x]\n', '1:5', /aliases/, true],
    ['a: [- x]\n', '1:5', /unexpected "-"/, true],
    ['a: [#x]\n', '1:5', /comment needs a blank/, true],
    ['a: [}]\n', '1:5', /unexpected "\}"/, true],
    ['a: ["x\n  y"]\n', '1:5', /unclosed double quote/, false],
    ['a: [1, 2]\n  b: 3\n', '2:3', /continued on the next line/, true],
    ['{a: 1}\nb: 2\n', '2:1', /bad indentation/, true],
    ['- [a]\n  - b\n', '2:3', /bad indentation/, true],
  ];
  for (const [text, where, message, yamlRejects] of cases) {
    test(`${JSON.stringify(text)} -> ${where}`, () => {
      assert.throws(
        () => parseYaml(text, 'cfg.yaml'),
        (err: unknown) => {
          assert.ok(err instanceof ConfigError, String(err));
          assert.equal(err.code, 'ERR_CONFIG');
          assert.equal(`${err.line}:${err.col}`, where, err.message);
          assert.match(err.message, message);
          assert.ok(err.message.startsWith(`cfg.yaml:${where}: `), err.message);
          return true;
        },
      );
      if (yamlRejects) assert.throws(() => YAML.parse(text), 'the yaml package rejects this too');
    });
  }
});

test('positions of values are kept for schema errors', () => {
  const node = parseYaml('server:\n  port:   "x"\nlist:\n  - a\n  - b: 1\n', 'f');
  assert.equal(node.kind, 'map');
  if (node.kind !== 'map') return;
  const server = node.entries[0]?.value;
  assert.equal(server?.kind, 'map');
  if (server?.kind !== 'map') return;
  assert.deepEqual(server.entries[0]?.keyPos, { line: 2, col: 3 });
  assert.deepEqual(server.entries[0]?.value.pos, { line: 2, col: 11 });
  const list = node.entries[1]?.value;
  assert.equal(list?.kind === 'seq' ? list.items[1]?.pos.col : 0, 5);
});

test('flow collections keep the position of every node, over several lines', () => {
  const text = 'auth:\n  basic: {username: prom, password: "pw"}\ncmd: [\n  node,  # c\n    "x.js", [a, {b: ~}]]\n';
  const node = parseYaml(text, 'f');
  const at = (n: YamlNode | undefined): string => (n === undefined ? 'absent' : `${n.pos.line}:${n.pos.col}`);
  const entry = (n: YamlNode | undefined, key: string) => (n?.kind === 'map' ? n.entries.find((e) => e.key === key) : undefined);
  const item = (n: YamlNode | undefined, i: number) => (n?.kind === 'seq' ? n.items[i] : undefined);
  const basic = entry(entry(node, 'auth')?.value, 'basic')?.value;
  assert.equal(at(basic), '2:10');
  assert.deepEqual(entry(basic, 'username')?.keyPos, { line: 2, col: 11 });
  assert.equal(at(entry(basic, 'username')?.value), '2:21');
  assert.deepEqual(entry(basic, 'password')?.keyPos, { line: 2, col: 27 });
  assert.equal(at(entry(basic, 'password')?.value), '2:37');
  const cmd = entry(node, 'cmd')?.value;
  assert.equal(at(cmd), '3:6');
  assert.equal(at(item(cmd, 0)), '4:3');
  assert.equal(at(item(cmd, 1)), '5:5');
  assert.equal(at(item(cmd, 2)), '5:13');
  assert.equal(at(item(item(cmd, 2), 1)), '5:17');
  assert.equal(at(entry(item(item(cmd, 2), 1), 'b')?.value), '5:21');
  assert.deepEqual(toPlain(node), YAML.parse(text));
});
