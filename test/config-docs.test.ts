/**
 * Every YAML example we publish must work: the fenced ```yaml blocks of docs/*.md, and the
 * commented-out examples of config/server.yaml. Each must parse with our reader, mean what the
 * `yaml` package says it means, and, if it is a tqserver file, pass its schema with no error and
 * no warning. Which schema is decided by the top-level keys: all server.yaml keys (a fragment
 * such as a lone `metrics:` block is still a whole server.yaml), or all worker.yaml keys. A
 * Prometheus configuration (docs/metrics.md shows scrape jobs) is only parsed.
 *
 * In config/server.yaml, below the opening comment block, a full-line comment that reads
 * `# key: ...` (a lowercase key) is a commented-out example; consecutive ones form one example,
 * uncommented together in place. A trailing `# or: ALT` offers ALT instead of that line's
 * `key: value`, at the same indentation.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { describe, test } from 'node:test';
import YAML from 'yaml';
import { parseYaml, readServerConfig, readWorkerConfig, SERVER_TOP_KEYS, toPlain, WORKER_KEYS, type YamlNode } from '../lib/config/index.js';

/** Keys of a Prometheus configuration and of one of its scrape jobs, as docs/metrics.md shows them. */
const PROMETHEUS_KEYS = [
  'global', 'scrape_configs', 'rule_files', 'alerting', 'remote_write', 'remote_read',
  'job_name', 'scrape_interval', 'scrape_timeout', 'metrics_path', 'scheme', 'params', 'static_configs',
  'authorization', 'basic_auth', 'tls_config', 'relabel_configs', 'metric_relabel_configs',
];

interface Example {
  /** The file it comes from; messages name it, with the line and column in it. */
  readonly file: string;
  /** Where it starts, as `file:line`, and which alternative it is. */
  readonly name: string;
  /** YAML text whose line numbers are those of the file it comes from. */
  readonly text: string;
}

const repo = new URL('../', import.meta.url);
const read = (file: string): string => readFileSync(new URL(file, repo), 'utf8');

/** The fenced ```yaml (or ```yml) blocks of Markdown `text`, read from `file`. */
function fencedYaml(file: string, text: string): Example[] {
  const lines = text.split(/\r?\n/);
  const examples: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^(\s*)```\s*(yaml|yml)\s*$/i.exec(lines[i] as string);
    if (open === null) continue;
    const indent = (open[1] as string).length;
    let end = i + 1;
    while (end < lines.length && !/^\s*```\s*$/.test(lines[end] as string)) end++;
    assert.ok(end < lines.length, `${file}:${i + 1}: unclosed code fence`);
    const body = lines.slice(i + 1, end).map((l) => l.slice(Math.min(indent, l.length - l.trimStart().length)));
    // Blank lines first, so that positions in messages are positions in the Markdown file.
    examples.push({ file, name: `${file}:${i + 2}`, text: '\n'.repeat(i + 1) + body.join('\n') + '\n' });
    i = end;
  }
  return examples;
}

/** The commented-out examples of YAML `text`, read from `file`, each as the whole text with it uncommented. */
function commentedOut(file: string, text: string): Example[] {
  const lines = text.split('\n');
  const body = lines.findIndex((l) => l.trim() !== '' && !l.trimStart().startsWith('#'));
  const uncommented = (i: number): string | undefined => {
    const m = i > body ? /^(\s*)# (\s*[a-z_]+:(?:\s.*)?)$/.exec(lines[i] as string) : null;
    return m === null ? undefined : `${m[1]}${m[2]}`;
  };
  const examples: Example[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (uncommented(i) === undefined) continue;
    const edited = [...lines];
    const alternatives: [number, string][] = [];
    let end = i;
    for (; uncommented(end) !== undefined; end++) {
      const line = uncommented(end) as string;
      edited[end] = line;
      const or = /\s#\s*or:\s*(\S.*)$/.exec(line);
      if (or !== null) alternatives.push([end, `${' '.repeat(line.length - line.trimStart().length)}${or[1]}`]);
    }
    examples.push({ file, name: `${file}:${i + 1}`, text: edited.join('\n') });
    for (const [at, alternative] of alternatives) {
      const variant = [...edited];
      variant[at] = alternative;
      examples.push({ file, name: `${file}:${i + 1} with ${file}:${at + 1} as "${alternative.trim()}"`, text: variant.join('\n') });
    }
    i = end - 1;
  }
  return examples;
}

/** Which file an example is, from its top-level keys. */
function kindOf(node: YamlNode): 'server' | 'worker' | 'prometheus' | undefined {
  if (node.kind !== 'map' || node.entries.length === 0) return undefined;
  const keys = node.entries.map((e) => e.key);
  if (keys.every((k) => SERVER_TOP_KEYS.includes(k))) return 'server';
  if (keys.every((k) => WORKER_KEYS.includes(k))) return 'worker';
  if (keys.every((k) => PROMETHEUS_KEYS.includes(k))) return 'prometheus';
  return undefined;
}

function check(example: Example): void {
  const node = parseYaml(example.text, example.file);
  assert.deepEqual(toPlain(node), YAML.parse(example.text) ?? null, `${example.name}: our reader and the yaml package disagree`);
  const kind = kindOf(node);
  const keys = node.kind === 'map' ? node.entries.map((e) => e.key).join(', ') : node.kind;
  assert.ok(kind !== undefined, `${example.name}: neither a server.yaml, a worker.yaml nor a Prometheus configuration (top-level: ${keys})`);
  const warnings: string[] = [];
  if (kind === 'server') readServerConfig(node, example.file, '/proj', warnings);
  if (kind === 'worker') readWorkerConfig(node, 'example', '/proj/workers/example', example.file, 'dev', warnings);
  assert.deepEqual(warnings, [], `${example.name}: warnings`);
}

describe('YAML examples in docs/*.md', () => {
  const docs = readdirSync(new URL('docs/', repo)).filter((f) => f.endsWith('.md')).sort();
  const examples = docs.flatMap((f) => fencedYaml(`docs/${f}`, read(`docs/${f}`)));
  test('there are examples to check', () => assert.ok(examples.length > 0, docs.join(', ')));
  for (const example of examples) test(example.name, () => check(example));
});

describe('commented-out examples in config/server.yaml', () => {
  const examples = commentedOut('config/server.yaml', read('config/server.yaml'));
  test('there are examples to check', () => assert.ok(examples.length > 0));
  for (const example of examples) test(example.name, () => check(example));
});

describe('the extraction itself', () => {
  test('fenced yaml blocks, with the line numbers of the Markdown file', () => {
    const md = '# T\n\n```yaml\na: 1\n```\n\n```\nnot: yaml\n```\n- item\n  ```yml\n  b: [x,\n    y]\n  ```\n';
    const examples = fencedYaml('x.md', md);
    assert.deepEqual(examples.map((e) => e.name), ['x.md:4', 'x.md:12']);
    assert.deepEqual(examples.map((e) => toPlain(parseYaml(e.text, e.file))), [{ a: 1 }, { b: ['x', 'y'] }]);
    assert.equal(parseYaml((examples[1] as Example).text, 'x.md').pos.line, 12);
  });

  test('commented-out lines below the header, uncommented together, and their "or:" alternatives', () => {
    const yaml = [
      '# Header prose: not an example.',
      '# key: not an example either, it is in the header',
      'metrics:',
      '  path: /metrics',
      '  # listen: :9100   # an admin port',
      '  # auth:',
      '  #   bearer_token: t   # or: basic: {username: u, password: p}',
      '  # This prose is no example.',
      '  enabled: true',
      '',
    ].join('\n');
    const examples = commentedOut('s.yaml', yaml);
    assert.deepEqual(examples.map((e) => e.name), ['s.yaml:5', 's.yaml:5 with s.yaml:7 as "basic: {username: u, password: p}"']);
    assert.deepEqual(examples.map((e) => toPlain(parseYaml(e.text, e.file))), [
      { metrics: { path: '/metrics', listen: ':9100', auth: { bearer_token: 't' }, enabled: true } },
      { metrics: { path: '/metrics', listen: ':9100', auth: { basic: { username: 'u', password: 'p' } }, enabled: true } },
    ]);
  });
});
