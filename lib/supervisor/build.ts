/** Running a worker's build command and keeping its output for the build-error page. */
import { spawn } from 'node:child_process';
import type { Mode, WorkerConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import { instanceEnv } from './launch.js';

/** The longest a build may run. */
const BUILD_TIMEOUT_MS = 10 * 60_000;

/** Output kept from a build (the tail beyond this is dropped). */
const MAX_OUTPUT = 256 * 1024;

/** A build's result. */
export interface BuildResult {
  readonly ok: boolean;
  /** Combined stdout and stderr (at most 256 KiB), or the reason it could not run. */
  readonly output: string;
  readonly durationSeconds: number;
}

/** Runs `argv` in `cwd` with `env`; resolves (never rejects) when it exits or times out. */
export function runBuild(argv: readonly string[], cwd: string, env: NodeJS.ProcessEnv, timeoutMs: number): Promise<BuildResult> {
  const started = process.hrtime.bigint();
  const seconds = (): number => Number(process.hrtime.bigint() - started) / 1e9;
  return new Promise((resolve) => {
    let output = '';
    const keep = (chunk: Buffer): void => {
      if (output.length < MAX_OUTPUT) output += chunk.toString('utf8').slice(0, MAX_OUTPUT - output.length);
    };
    const child = spawn(argv[0] as string, argv.slice(1), { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const timer = setTimeout(() => {
      output += `\n[tqserver] build timed out after ${timeoutMs} ms and was killed\n`;
      try {
        process.kill(-(child.pid as number), 'SIGKILL');
      } catch {
        child.kill('SIGKILL');
      }
    }, timeoutMs);
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    child.on('error', (err) => {
      clearTimeout(timer);
      resolve({ ok: false, output: `cannot run ${argv.join(' ')}: ${err.message}`, durationSeconds: seconds() });
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      const ok = code === 0;
      if (!ok) output += `\n[tqserver] ${argv.join(' ')} exited with ${signal ?? `code ${code}`}\n`;
      resolve({ ok, output, durationSeconds: seconds() });
    });
  });
}

/**
 * Builds `worker` if it has a build step (an ok result with no output if not), logging the start,
 * the time taken, or the end of a failure's output. `serving` says whether instances of the
 * previous build keep serving, for the log.
 */
export async function buildWorker(worker: WorkerConfig, mode: Mode, log: Logger, serving: boolean): Promise<BuildResult> {
  const argv = worker.build;
  if (argv === undefined) return { ok: true, output: '', durationSeconds: 0 };
  log.info(`worker ${worker.name}: building (${argv.join(' ')})`);
  const result = await runBuild(argv, worker.dir, instanceEnv(worker, 0, mode), BUILD_TIMEOUT_MS);
  if (result.ok) {
    log.info(`worker ${worker.name}: built in ${result.durationSeconds.toFixed(2)} s`);
  } else {
    const tail = result.output.trim().split('\n').slice(-5).join('\n  ');
    log.error(`worker ${worker.name}: build failed${serving ? '; the running instances keep serving' : ''}:\n  ${tail}`);
  }
  return result;
}
