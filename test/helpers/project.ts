/**
 * Temporary tqserver projects for end-to-end tests: write config/server.yaml and workers, start
 * the real `dist/main.js` on 127.0.0.1 port 0 as a child process, talk to it over real sockets,
 * and stop it (and check that no worker process is left behind).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = fileURLToPath(new URL('../../', import.meta.url));
export const MAIN = join(REPO, 'dist', 'main.js');
export const ECHO = join(REPO, 'fixtures', 'workers', 'echo.mjs');

let nextRange = 20_000 + Math.floor(Math.random() * 200) * 100;

/** A port range no other test of this process uses. */
export function portRange(size = 100): [number, number] {
  const start = nextRange;
  nextRange += size;
  if (nextRange > 60_000) nextRange = 20_000;
  return [start, start + size - 1];
}

/** A temporary project folder. */
export class Project {
  readonly dir: string;

  constructor(name = 'tq-e2e-') {
    this.dir = mkdtempSync(join(tmpdir(), name));
  }

  /** Writes a file (folders created). */
  write(rel: string, text: string): this {
    const full = join(this.dir, rel);
    mkdirSync(dirname(full), { recursive: true });
    writeFileSync(full, text);
    return this;
  }

  /** Reads a file of the project. */
  read(rel: string): string {
    return readFileSync(join(this.dir, rel), 'utf8');
  }

  /** Writes config/server.yaml: fast timings for tests, loopback, port 0, plus `extra` YAML. */
  server(extra = ''): this {
    const [start, end] = portRange();
    return this.write(
      'config/server.yaml',
      `server:\n  host: 127.0.0.1\n  port: 0\n  log_file: ~\n` +
        `workers:\n  port_range_start: ${start}\n  port_range_end: ${end}\n  startup_delay_ms: 0\n  restart_delay_ms: 20\n` +
        `  shutdown_grace_period_ms: 1000\n  health_check_wait_timeout_ms: 3000\n  health_check_timeout_ms: 500\n  health_check_interval_ms: 200\n` +
        extra,
    );
  }

  /** Writes a worker running the echo fixture, with `yaml` added to its worker.yaml. */
  echoWorker(name: string, path: string, yaml = ''): this {
    return this.write(`workers/${name}/config/worker.yaml`, `path: ${path}\nnode:\n  entrypoint: ${JSON.stringify(ECHO)}\nlogging:\n  log_file: logs/{name}_{port}.log\n${yaml}`);
  }

  remove(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/** A started server process. */
export interface Running {
  readonly child: ChildProcess;
  readonly port: number;
  readonly base: string;
  /** Everything it wrote to stderr so far. */
  stderr(): string;
  /** Resolves with the exit code once it has exited. */
  readonly exited: Promise<number | null>;
  /** SIGTERM, then wait for exit (SIGKILL after 15 s); resolves with the exit code. */
  stop(): Promise<number | null>;
  /** Waits until stderr matches `pattern`. */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<void>;
}

/**
 * Starts `node dist/main.js args` in `project`; resolves once it printed its ready line. `wrap`
 * is a command that runs it (for example `prlimit --nofile=200`), if any.
 */
export function startServer(project: Project, args: string[] = ['--mode', 'prod'], env: NodeJS.ProcessEnv = {}, wrap: readonly string[] = []): Promise<Running> {
  const [file, ...argv] = [...wrap, process.execPath, MAIN, ...args] as [string, ...string[]];
  const child = spawn(file, argv, { cwd: project.dir, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  child.stderr?.setEncoding('utf8').on('data', (d: string) => (err += d));
  const waitFor = (pattern: RegExp, timeoutMs = 10_000): Promise<void> =>
    new Promise((resolve, reject) => {
      const started = Date.now();
      const check = (): void => {
        if (pattern.test(err)) return resolve();
        if (Date.now() - started > timeoutMs) return reject(new Error(`timed out waiting for ${pattern} in stderr:\n${err}`));
        setTimeout(check, 20);
      };
      check();
    });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`server did not become ready:\n${err}`));
    }, 20_000);
    child.stdout?.setEncoding('utf8').on('data', (d: string) => {
      out += d;
      const m = /tqserver ready on http:\/\/[^\s]*:(\d+)/.exec(out);
      if (m === null) return;
      clearTimeout(timer);
      const port = Number(m[1]);
      resolve({
        child,
        port,
        base: `http://127.0.0.1:${port}`,
        stderr: () => err,
        exited,
        waitFor,
        stop: async () => {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          const kill = setTimeout(() => child.kill('SIGKILL'), 15_000);
          const code = await exited;
          clearTimeout(kill);
          return code;
        },
      });
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before it was ready:\n${err}`));
    });
  });
}

/** Runs the server expecting it to fail at start-up; resolves with exit code and output. */
export function runToExit(project: Project, args: string[] = ['--mode', 'prod']): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [MAIN, ...args], { cwd: project.dir, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A response, read whole. */
export interface Reply {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
  text(): string;
  json<T = any>(): T;
}

/** One HTTP request with a raw path (nothing normalised), over a fresh connection by default. */
export function http(base: string, path: string, options: { method?: string; headers?: Record<string, string>; body?: string | Buffer; agent?: any } = {}): Promise<Reply> {
  const url = new URL(base);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method: options.method ?? 'GET', headers: options.headers, agent: options.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: () => body.toString('utf8'), json: () => JSON.parse(body.toString('utf8')) });
      });
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Whether a process is alive. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Polls `check` every 25 ms until it returns a value other than undefined, or fails after `timeoutMs`. */
export async function eventually<T>(check: () => Promise<T | undefined> | T | undefined, timeoutMs = 10_000, what = 'condition'): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const v = await check();
      if (v !== undefined) return v;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
