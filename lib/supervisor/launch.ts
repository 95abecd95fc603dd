/**
 * Starting an instance's process: what decides it (argv, folder, environment, log file), the
 * spawn itself, and the process groups that must not outlive the server. An Instance launches
 * its process here, or is handed one a warm standby launched ahead of time (standby.ts).
 */
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import type { Mode, WorkerConfig } from '../config/index.js';
import { today } from '../log.js';

/** How a worker reaches the server's metrics endpoint, when it is served. */
export interface MetricsAccess {
  /** The endpoint's URL from the worker's side (a loopback address). */
  readonly url: string;
  /** The Authorization header value the endpoint asks for, if it asks for one. */
  readonly authorization: string | undefined;
}

/** Fills `{name}`, `{date}` and `{port}` in a log file template. */
export function logPath(template: string, root: string, name: string, port: number): string {
  return resolve(root, template.replaceAll('{name}', name).replaceAll('{date}', today()).replaceAll('{port}', String(port)));
}

/**
 * The environment of the worker contract, over the server's own and the worker's `env`: the
 * WORKER_* variables; TQSERVER_METRICS_URL while metrics are served; and
 * TQSERVER_METRICS_AUTHORIZATION only for a worker with `metrics_credentials: true`.
 */
export function instanceEnv(worker: WorkerConfig, port: number, mode: Mode, metrics?: MetricsAccess): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...worker.env,
    WORKER_PORT: String(port),
    PORT: String(port),
    WORKER_NAME: worker.name,
    WORKER_PATH: worker.path,
    WORKER_TYPE: worker.type,
    WORKER_MODE: mode,
  };
  // Never inherited from the server's own environment: they describe this server only.
  delete env.TQSERVER_METRICS_URL;
  delete env.TQSERVER_METRICS_AUTHORIZATION;
  if (metrics !== undefined) {
    env.TQSERVER_METRICS_URL = metrics.url;
    if (worker.metricsCredentials && metrics.authorization !== undefined) env.TQSERVER_METRICS_AUTHORIZATION = metrics.authorization;
  }
  return env;
}

/** Everything that decides what an instance's process is, so what a standby must match to stand in for it. */
export interface LaunchPlan {
  readonly argv: readonly [string, ...string[]];
  readonly cwd: string;
  readonly env: NodeJS.ProcessEnv;
  /** The file its stdout goes to and its stderr is copied to; undefined for none. */
  readonly logFile: string | undefined;
}

/** The plan of an instance of `worker` on `port`; `command` replaces the worker's own (php-fpm's argv). */
export function launchPlan(worker: WorkerConfig, port: number, mode: Mode, root: string, metrics?: MetricsAccess, command?: readonly string[]): LaunchPlan {
  return {
    argv: (command ?? worker.command) as [string, ...string[]],
    cwd: worker.dir,
    env: instanceEnv(worker, port, mode, metrics),
    logFile: worker.logFile === null ? undefined : logPath(worker.logFile, root, worker.name, port),
  };
}

/** Whether two plans start the same process. */
export function samePlan(a: LaunchPlan, b: LaunchPlan): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** A spawned process, before an Instance takes it over. */
export interface Launched {
  readonly child: ChildProcess;
  /** The open log file its stdout goes to (the Instance copies stderr there and closes it), if any. */
  readonly out: { readonly fd: number; readonly path: string } | undefined;
  /** What it wrote to stderr before it was handed over (a standby's), for the log and explanations. */
  readonly stderr?: Buffer | undefined;
}

/** What a standby adds to a plain launch. */
export interface LaunchExtras {
  /** Node flags placed before the script (`--import` of the standby hook). */
  readonly nodeFlags?: readonly string[];
  /** A pipe on fd 3 (child.stdio[3]), tqserver's control channel to a standby. */
  readonly control?: boolean;
}

/**
 * Spawns `plan` in a process group of its own (so that stopping it also stops what it spawned),
 * stdout straight to the log file, stderr piped (tqserver keeps its end to say why an instance
 * died), and tracks the group (see {@link trackGroup}). A log file that cannot be opened is skipped.
 */
export function launch(plan: LaunchPlan, extras: LaunchExtras = {}): Launched {
  let out: Launched['out'];
  if (plan.logFile !== undefined) {
    try {
      mkdirSync(dirname(plan.logFile), { recursive: true });
      out = { fd: openSync(plan.logFile, 'a'), path: plan.logFile };
    } catch {
      out = undefined;
    }
  }
  const [file, ...args] = plan.argv;
  const stdio: StdioOptions = ['ignore', out?.fd ?? 'ignore', 'pipe'];
  if (extras.control === true) stdio.push('pipe');
  const child = spawn(file, [...(extras.nodeFlags ?? []), ...args], { cwd: plan.cwd, env: plan.env, stdio, detached: true });
  if (child.pid !== undefined) trackGroup(child.pid);
  return { child, out };
}

/**
 * Process groups of every live instance and standby. They run in groups of their own, which
 * outlive the server if it dies without stopping them; this last-resort hook kills them on any
 * exit the process gets to see (an uncaught error, process.exit). Only SIGKILL escapes it (a
 * standby then exits when its control pipe closes).
 */
const liveGroups = new Set<number>();
let exitHookInstalled = false;

/** Tracks the group led by `pid` until {@link endGroup}. */
function trackGroup(pid: number): void {
  liveGroups.add(pid);
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once('exit', () => {
    for (const group of liveGroups) killGroup(group, 'SIGKILL');
  });
}

/** Sends `signal` to the group led by `pid`; false if there is none. */
export function killGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Its leader has exited: kills what it left behind in its group (they would be orphans) and stops tracking it. */
export function endGroup(pid: number): void {
  liveGroups.delete(pid);
  killGroup(pid, 'SIGKILL');
}
