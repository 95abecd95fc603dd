/** `workers/<name>/config/worker.yaml`: keys, defaults and validation. */
import { existsSync } from 'node:fs';
import { dirname, isAbsolute, join } from 'node:path';
import { bunCandidates, findBun } from './bun-binary.js';
import { PHP_KEYS, readPhpConfig, type PhpConfig } from './php-config.js';
import { findPhpFpm } from './php-fpm-binary.js';
import { byPosition, throwIfAny, type Report } from './report.js';
import { Section } from './section.js';
import type { YamlNode } from './yaml-node.js';

/** Worker types tqserver knows how to build and start. */
export type WorkerType = 'node' | 'exec' | 'bun' | 'go' | 'php';

/** Dev or prod, from `--mode` or `TQSERVER_MODE`. */
export type Mode = 'dev' | 'prod';

/** A resolved worker configuration. */
export interface WorkerConfig {
  /** The worker folder's name. */
  readonly name: string;
  /** Absolute path of the worker folder; instances start there. */
  readonly dir: string;
  /** The worker.yaml it was read from. */
  readonly file: string;
  /** Route prefix, normalised: `/` or `/a/b` (no trailing slash). */
  readonly path: string;
  readonly type: WorkerType;
  /** `enabled` resolved for the mode (`development` means dev mode only). */
  readonly enabled: boolean;
  /** argv that starts an instance; argv[0] is looked up in PATH unless it has a slash. */
  readonly command: readonly string[];
  /** argv that builds the worker before instances start, if any. */
  readonly build: readonly string[] | undefined;
  readonly env: Readonly<Record<string, string>>;
  readonly scaling: {
    readonly minWorkers: number;
    readonly maxWorkers: number;
    /** Scale up while more than this many requests wait. */
    readonly queueThreshold: number;
    /** Idle seconds before an instance above min_workers is stopped. */
    readonly scaleDownDelaySeconds: number;
    /** Requests one instance handles at once; more wait in the queue. */
    readonly maxConcurrency: number;
  };
  /** Recycle an instance after this many requests; 0 = never. */
  readonly maxRequests: number;
  /** Recycle an instance whose resident memory exceeds this; 0 = never. */
  readonly maxMemoryMb: number;
  /** Log file template with `{name}`, `{date}`, `{port}`; null disables it. */
  readonly logFile: string | null;
  /**
   * Whether its instances get the metrics endpoint's credential (TQSERVER_METRICS_AUTHORIZATION),
   * for a worker that scrapes the server, such as the monitoring dashboard. Off by default: a
   * secret goes only where it was asked for.
   */
  readonly metricsCredentials: boolean;
  /**
   * `type: php` only: php-fpm's pool and the document root. `command` is then the php-fpm
   * executable alone; each instance adds the arguments of its own generated configuration.
   */
  readonly php?: PhpConfig;
}

/** The top-level keys of worker.yaml. */
export const WORKER_KEYS: readonly string[] = ['path', 'type', 'enabled', 'node', 'bun', 'go', 'exec', 'env', 'scaling', 'max_requests', 'max_memory_mb', 'logging', 'log_file', 'metrics_credentials', 'php', 'document_root'];
const TYPES: readonly WorkerType[] = ['node', 'exec', 'bun', 'go', 'php'];

/** Normalises a route prefix: leading slash, no trailing slash, no empty or dot segments. */
export function normaliseRoute(path: string): string | undefined {
  if (!path.startsWith('/') || /[\s?#%\\]/.test(path)) return undefined;
  const segments = path.split('/').filter((s) => s !== '');
  if (segments.some((s) => s === '.' || s === '..')) return undefined;
  return '/' + segments.join('/');
}

/**
 * Reads one worker's configuration. `dir` is its folder (absolute), `file` its worker.yaml,
 * `root` the project root (where a `bun` worker's `bun` may be found in node_modules/.bin;
 * default: the folder holding the workers directory). Pushes unknown-key warnings; throws
 * ConfigErrors listing every problem of the file, by line and column.
 */
export function readWorkerConfig(node: YamlNode | undefined, name: string, dir: string, file: string, mode: Mode, warnings: string[], root = dirname(dirname(dir))): WorkerConfig {
  const report: Report = { file, warnings, errors: [] };
  const config = checkWorkerConfig(node, name, dir, mode, report, root);
  throwIfAny(byPosition(report.errors));
  return config;
}

/**
 * As readWorkerConfig, but reports every problem to `report` instead of throwing; a broken
 * value is replaced by its default, so the result is only meaningful when none was reported.
 */
export function checkWorkerConfig(node: YamlNode | undefined, name: string, dir: string, mode: Mode, report: Report, root = dirname(dirname(dir))): WorkerConfig {
  const file = report.file;
  const top = new Section(report, '', node, WORKER_KEYS);
  const rawPath = top.string('path', '');
  const path = normaliseRoute(rawPath);
  if (!top.has('path') && top.isMapping) {
    top.fail('path', 'is required (the route prefix, e.g. / or /api)');
  } else if (top.has('path') && top.ok('path') && (rawPath === '' || path === undefined)) {
    top.fail('path', `must be a URL path starting with "/" (no spaces, "?", "#", "%", "\\" or dot segments), got ${JSON.stringify(rawPath)}`);
  }

  const typeText = top.string('type', 'node');
  const type: WorkerType = TYPES.includes(typeText as WorkerType) ? (typeText as WorkerType) : 'node';
  if (top.ok('type') && type !== typeText) {
    top.fail('type', `must be one of ${TYPES.join(', ')}, got ${JSON.stringify(typeText)}`);
  }

  let enabled = true;
  const enabledNode = top.node('enabled');
  if (enabledNode !== undefined) {
    const v = enabledNode.kind === 'scalar' ? enabledNode.value : undefined;
    if (v === true || v === 'true') enabled = true;
    else if (v === false || v === 'false') enabled = false;
    else if (v === 'development') enabled = mode === 'dev';
    else top.fail('enabled', `must be true, false or development, got ${JSON.stringify(v ?? enabledNode.kind)}`);
  }

  const nodeSection = top.section('node', ['entrypoint', 'env']);
  const bunSection = top.section('bun', ['entrypoint', 'env', 'binary']);
  const goSection = top.section('go', ['max_requests', 'go_max_procs', 'go_mem_limit', 'read_timeout_seconds', 'write_timeout_seconds', 'idle_timeout_seconds']);
  const execSection = top.section('exec', ['command', 'build']);
  const phpSection = top.section('php', PHP_KEYS);
  let php: PhpConfig | undefined;
  const env: Record<string, string> = { ...top.stringMap('env') };

  let command: string[];
  let build: string[] | undefined;
  switch (type) {
    case 'node': {
      const entry = nodeSection.string('entrypoint', 'index.js');
      Object.assign(env, nodeSection.stringMap('env'));
      command = [process.execPath, entry];
      break;
    }
    case 'bun': {
      const entry = bunSection.string('entrypoint', 'index.ts');
      Object.assign(env, bunSection.stringMap('env'));
      const binary = bunSection.string('binary', undefined);
      if (binary === '') bunSection.fail('binary', 'must not be empty: a command looked up in PATH, or a path (relative to the worker folder)');
      const bun = binary || findBun(root);
      if (bun === undefined) {
        const places = bunCandidates(root, process.env).map((p) => dirname(p));
        report.warnings.push(`${file}: warning: bun not found (looked in PATH, ${places.slice(-3).join(', ')}); install it (npm install --save-dev bun) or set bun.binary`);
      }
      command = [bun ?? 'bun', 'run', entry];
      build = existsSync(join(dir, 'package.json')) ? [bun ?? 'bun', 'install'] : undefined;
      break;
    }
    case 'go':
      command = [join(dir, 'bin', name)];
      build = ['go', 'build', '-o', join('bin', name), './src'];
      break;
    case 'php': {
      php = readPhpConfig(phpSection, top.string('document_root', 'public'), dir, report);
      const binary = phpSection.string('binary', undefined);
      if (binary === '') phpSection.fail('binary', 'must not be empty: a command looked up in PATH, or a path (relative to the worker folder)');
      command = [binary || findPhpFpm() || 'php-fpm'];
      break;
    }
    case 'exec': {
      const cmd = execSection.stringList('command');
      command = cmd ?? [];
      if (execSection.ok('command') && top.ok('exec') && (cmd === undefined || cmd.length === 0 || cmd[0] === '')) {
        const at = execSection.has('command') ? execSection : top;
        at.fail(execSection.has('command') ? 'command' : 'exec', 'exec.command is required for type exec: the argv to run, e.g. [python3, app.py]');
      }
      build = execSection.stringList('build');
      if (build !== undefined && build.length === 0) execSection.fail('build', 'must not be an empty list');
      break;
    }
  }
  if (type !== 'php') {
    for (const key of ['php', 'document_root']) if (top.has(key)) report.warnings.push(`${file}: warning: ${key} applies to type php only; ignored`);
  }
  if (type === 'node' && command[1] !== undefined && !isAbsolute(command[1]) && command[1].startsWith('..')) {
    report.warnings.push(`${file}: warning: node.entrypoint ${command[1]} is outside the worker folder`);
  }

  const scaling = top.section('scaling', ['min_workers', 'max_workers', 'queue_threshold', 'scale_down_delay', 'max_concurrency']);
  const minWorkers = scaling.int('min_workers', 1, 0, 1000);
  // One php-fpm per instance already runs a pool of children: one instance unless asked for more.
  const maxWorkers = scaling.int('max_workers', Math.max(php === undefined ? 5 : 1, minWorkers), 1, 1000);
  if (scaling.ok('min_workers') && scaling.ok('max_workers') && minWorkers > maxWorkers) {
    scaling.fail('min_workers', `(${minWorkers}) must not exceed max_workers (${maxWorkers})`);
  }

  const maxRequests = top.has('max_requests') ? top.int('max_requests', 0, 0) : goSection.int('max_requests', 0, 0);
  const logging = top.section('logging', ['log_file']);
  const logFile = logging.has('log_file')
    ? logging.optionalString('log_file', '')
    : top.optionalString('log_file', 'logs/worker_{name}_{date}.log');

  return {
    name,
    dir,
    file,
    path: path ?? '/',
    type,
    enabled,
    command,
    build,
    env,
    scaling: {
      minWorkers,
      maxWorkers,
      queueThreshold: scaling.int('queue_threshold', 10, 0),
      scaleDownDelaySeconds: scaling.number('scale_down_delay', 60, 0),
      // php-fpm runs pm.max_children requests at once; more would wait in its backlog, unseen.
      maxConcurrency: scaling.int('max_concurrency', php?.pool.maxChildren ?? 100, 1, 1_000_000),
    },
    maxRequests,
    maxMemoryMb: top.number('max_memory_mb', 0, 0),
    logFile,
    metricsCredentials: top.bool('metrics_credentials', false),
    ...(php === undefined ? {} : { php }),
  };
}
