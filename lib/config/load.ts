/**
 * Loads a project's configuration: `config/server.yaml` and every
 * `workers/<name>/config/worker.yaml`. Nothing is spawned or bound here; a broken file throws
 * before anything starts.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { readServerConfig, type ServerConfig } from './server-config.js';
import { readWorkerConfig, type Mode, type WorkerConfig } from './worker-config.js';
import { parseYaml, type YamlNode } from './yaml.js';

/** Everything a server needs to start, plus warnings to print. */
export interface LoadedConfig {
  readonly server: ServerConfig;
  /** Enabled workers, sorted by name. */
  readonly workers: readonly WorkerConfig[];
  readonly warnings: readonly string[];
}

/** Where to load from. */
export interface LoadOptions {
  /** Project root; relative paths resolve against it. */
  readonly root: string;
  /** `--config` as given; relative to the root. Default `config/server.yaml`, which may be absent. */
  readonly configPath?: string | undefined;
  readonly mode: Mode;
}

/** A path as short as it can be said from the current directory, for messages. */
export function displayPath(abs: string): string {
  const rel = relative(process.cwd(), abs);
  return rel === '' || rel.startsWith('..') || isAbsolute(rel) ? abs : rel;
}

function readYamlFile(abs: string): YamlNode {
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    throw new ConfigError(displayPath(abs), { line: 1, col: 1 }, `cannot read: ${(err as Error).message}`);
  }
  return parseYaml(text, displayPath(abs));
}

/** Loads and checks the whole configuration. Throws ConfigError on the first problem. */
export function loadConfig(options: LoadOptions): LoadedConfig {
  const root = resolve(options.root);
  const warnings: string[] = [];
  const configAbs = resolve(root, options.configPath ?? 'config/server.yaml');
  let serverNode: YamlNode | undefined;
  let file = displayPath(configAbs);
  if (exists(configAbs)) {
    serverNode = readYamlFile(configAbs);
  } else if (options.configPath !== undefined) {
    throw new ConfigError(file, { line: 1, col: 1 }, 'config file not found');
  } else {
    warnings.push(`${file}: warning: not found, using the defaults`);
    file = '(defaults)';
  }
  const server = readServerConfig(serverNode, file, root, warnings);
  const workers = loadWorkers(server, options.mode, warnings);
  return { server, workers, warnings };
}

function exists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

function loadWorkers(server: ServerConfig, mode: Mode, warnings: string[]): WorkerConfig[] {
  const dir = server.workers.directory;
  let names: string[];
  try {
    names = readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory() && !d.name.startsWith('.'))
      .map((d) => d.name)
      .sort();
  } catch {
    warnings.push(`${displayPath(dir)}: warning: workers directory not found; no workers will run`);
    return [];
  }
  const workers: WorkerConfig[] = [];
  const routes = new Map<string, WorkerConfig>();
  for (const name of names) {
    const workerDir = join(dir, name);
    const yamlAbs = join(workerDir, 'config', 'worker.yaml');
    if (!exists(yamlAbs)) {
      warnings.push(`${displayPath(workerDir)}: warning: no config/worker.yaml, skipped`);
      continue;
    }
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) {
      throw new ConfigError(displayPath(yamlAbs), { line: 1, col: 1 }, `worker folder name ${JSON.stringify(name)} must be letters, digits, ".", "_" or "-"`);
    }
    const node = readYamlFile(yamlAbs);
    const worker = readWorkerConfig(node, name, workerDir, displayPath(yamlAbs), mode, warnings);
    if (!worker.enabled) continue;
    const pathPos = node.kind === 'map' ? node.entries.find((e) => e.key === 'path')?.value.pos : undefined;
    const other = routes.get(worker.path);
    if (other !== undefined) {
      throw new ConfigError(worker.file, pathPos ?? { line: 1, col: 1 }, `path ${worker.path} is already served by worker ${other.name} (${other.file})`);
    }
    if (server.metrics.enabled && worker.path === server.metrics.path) {
      throw new ConfigError(worker.file, pathPos ?? { line: 1, col: 1 }, `path ${worker.path} is the metrics endpoint (metrics.path in ${server.file})`);
    }
    routes.set(worker.path, worker);
    workers.push(worker);
  }
  const ports = server.workers.portRangeEnd - server.workers.portRangeStart + 1;
  const wanted = workers.reduce((n, w) => n + w.scaling.maxWorkers, 0);
  if (wanted * 2 > ports) {
    warnings.push(`${server.file}: warning: the port range holds ${ports} ports, and the workers may run ${wanted} instances (twice that during a rolling restart)`);
  }
  return workers;
}

export type { Mode, WorkerConfig, ServerConfig };
