/**
 * A real Prometheus (Debian's package) for end-to-end tests: started on a free loopback port with
 * its data in a temporary folder, queried over its HTTP API, stopped with SIGTERM (SIGKILL after
 * 10 s). Also runs promtool with any arguments. A missing tool skips loudly on a developer
 * machine and fails under CI=true, never a silent skip.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import type { PromtoolResult } from './promtool.js';

/** Why the Prometheus tests cannot run here, or undefined when they can; throws under CI=true. */
export function prometheusUnavailable(): string | undefined {
  if (spawnSync('prometheus', ['--version'], { stdio: 'ignore' }).status === 0) return undefined;
  if (process.env.CI === 'true') throw new Error('prometheus is not installed, and CI must run this test (.ci/run installs Debian package prometheus)');
  const msg = '!!! SKIPPED: prometheus not found; install Debian package "prometheus" to run this test !!!';
  console.error(msg);
  return msg;
}

/** A TCP port free on 127.0.0.1 right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Runs `promtool args` in `cwd`; killed after `timeoutMs`. */
export function promtool(args: readonly string[], cwd: string, timeoutMs = 20_000): Promise<PromtoolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** One sample of an instant-vector query result. */
export interface PromSample {
  readonly metric: Record<string, string>;
  readonly value: [number, string];
}

/** A running Prometheus. */
export interface RunningPrometheus {
  readonly base: string;
  /** Its stderr so far. */
  log(): string;
  /** GET `path` of the HTTP API; throws unless the answer has status "success". */
  api<T>(path: string): Promise<T>;
  /** An instant query, at `time` (Unix seconds) if given. */
  query(promql: string, time?: number): Promise<PromSample[]>;
  /** SIGTERM, then SIGKILL after 10 s; resolves once it exited. */
  stop(): Promise<void>;
}

/** Starts `prometheus` on a free loopback port with `configFile`, data under `dir`; resolves once /-/ready answers. */
export async function startPrometheus(configFile: string, dir: string, readyTimeoutMs = 20_000): Promise<RunningPrometheus> {
  const port = await freePort();
  const child: ChildProcess = spawn(
    'prometheus',
    [`--config.file=${configFile}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`, '--log.level=warn'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let log = '';
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (log += d));
  const exited = new Promise<void>((resolve) => child.on('exit', () => resolve()));
  const base = `http://127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const kill = setTimeout(() => child.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(kill);
  };
  const api = async <T>(path: string): Promise<T> => {
    const res = await fetch(`${base}${path}`, { signal: AbortSignal.timeout(10_000) });
    const body = (await res.json()) as { status: string; data: T; error?: string };
    if (body.status !== 'success') throw new Error(`${path}: ${body.error}`);
    return body.data;
  };
  const deadline = Date.now() + readyTimeoutMs;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`prometheus exited with ${child.exitCode}:\n${log}`);
    const ready = await fetch(`${base}/-/ready`, { signal: AbortSignal.timeout(1000) }).then((r) => r.ok, () => false);
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus was not ready within ${readyTimeoutMs} ms:\n${log}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    base,
    log: () => log,
    api,
    query: async (promql, time) => {
      const at = time === undefined ? '' : `&time=${time}`;
      const data = await api<{ resultType: string; result: PromSample[] }>(`/api/v1/query?query=${encodeURIComponent(promql)}${at}`);
      if (data.resultType !== 'vector') throw new Error(`${promql}: a ${data.resultType}, not a vector`);
      return data.result;
    },
    stop,
  };
}
