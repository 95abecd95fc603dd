/**
 * Loads a project's configuration: `config/server.yaml` and every
 * `workers/<name>/config/worker.yaml`. Nothing is spawned or bound here; broken files throw,
 * with every problem found, before anything starts.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { isAbsolute, join, relative, resolve } from 'node:path';
import { ConfigError } from '../errors.js';
import { byPosition, throwIfAny, type Report } from './report.js';
import { checkServerConfig, type ServerConfig } from './server-config.js';
import { checkWorkerConfig, type Mode, type WorkerConfig } from './worker-config.js';
import type { YamlNode } from './yaml-node.js';
import { parseYaml } from './yaml.js';

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

/** Why a file could not be read, from Node's error code. */
function unreadable(err: NodeJS.ErrnoException): string {
  switch (err.code) {
    case 'ENOENT':
      return 'file not found';
    case 'EACCES':
    case 'EPERM':
      return 'cannot read: permission denied';
    case 'EISDIR':
      return 'cannot read: is a directory';
    default:
      return `cannot read: ${err.code ?? err.message}`;
  }
}

/** The parsed file, or undefined after reporting why it could not be read or parsed. */
function readYamlFile(abs: string, file: string, errors: ConfigError[]): YamlNode | undefined {
  let text: string;
  try {
    text = readFileSync(abs, 'utf8');
  } catch (err) {
    errors.push(new ConfigError(file, undefined, unreadable(err as NodeJS.ErrnoException)));
    return undefined;
  }
  try {
    return parseYaml(text, file);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    errors.push(err);
    return undefined;
  }
}

/**
 * Loads and checks the whole configuration. Throws ConfigErrors listing every problem found:
 * server.yaml's first, then each worker.yaml's by worker name, each file's by line and column.
 * A file that is not valid YAML contributes its first syntax error. If server.yaml cannot be
 * read or parsed, loading stops there: it decides where the workers are.
 */
export function loadConfig(options: LoadOptions): LoadedConfig {
  const root = resolve(options.root);
  const warnings: string[] = [];
  const configAbs = resolve(root, options.configPath ?? 'config/server.yaml');
  let file = displayPath(configAbs);
  const serverErrors: ConfigError[] = [];
  let serverNode: YamlNode | undefined;
  if (exists(configAbs)) {
    serverNode = readYamlFile(configAbs, file, serverErrors);
    throwIfAny(serverErrors);
  } else if (options.configPath !== undefined) {
    throwIfAny([new ConfigError(file, undefined, 'config file not found')]);
  } else {
    warnings.push(`${file}: warning: not found, using the defaults`);
    file = '(defaults)';
  }
  const server = checkServerConfig(serverNode, root, { file, warnings, errors: serverErrors });
  const errors = byPosition(serverErrors);
  const workers = loadWorkers(server, serverErrors.length === 0, options.mode, warnings, errors);
  throwIfAny(errors);
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

/**
 * Reads every worker.yaml, appending each file's problems to `errors`. Checks against the server
 * configuration (the metrics path, the port range) need `serverOk`: with a broken server.yaml
 * they would compare against defaults standing in for broken values.
 */
function loadWorkers(server: ServerConfig, serverOk: boolean, mode: Mode, warnings: string[], errors: ConfigError[]): WorkerConfig[] {
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
    const file = displayPath(yamlAbs);
    if (!exists(yamlAbs)) {
      warnings.push(`${displayPath(workerDir)}: warning: no config/worker.yaml, skipped`);
      continue;
    }
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) {
      errors.push(new ConfigError(file, undefined, `worker folder name ${JSON.stringify(name)} must be letters, digits, ".", "_" or "-"`));
      continue;
    }
    const report: Report = { file, warnings, errors: [] };
    const node = readYamlFile(yamlAbs, file, report.errors);
    if (node === undefined) {
      errors.push(...report.errors);
      continue;
    }
    const worker = checkWorkerConfig(node, name, workerDir, mode, report, server.root);
    if (report.errors.length === 0 && worker.enabled) {
      const pathPos = node.kind === 'map' ? node.entries.find((e) => e.key === 'path')?.value.pos : undefined;
      const other = routes.get(worker.path);
      if (other !== undefined) {
        report.errors.push(new ConfigError(file, pathPos, `path ${worker.path} is already served by worker ${other.name} (${other.file})`));
      } else if (serverOk && server.metrics.enabled && worker.path === server.metrics.path) {
        report.errors.push(new ConfigError(file, pathPos, `path ${worker.path} is the metrics endpoint (metrics.path in ${server.file})`));
      } else {
        routes.set(worker.path, worker);
        workers.push(worker);
      }
    }
    errors.push(...byPosition(report.errors));
  }
  const ports = server.workers.portRangeEnd - server.workers.portRangeStart + 1;
  const wanted = workers.reduce((n, w) => n + w.scaling.maxWorkers, 0);
  if (serverOk && wanted * 2 > ports) {
    warnings.push(`${server.file}: warning: the port range holds ${ports} ports, and the workers may run ${wanted} instances (twice that during a rolling restart)`);
  }
  return workers;
}

export type { Mode, WorkerConfig, ServerConfig };
