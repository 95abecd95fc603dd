/**
 * Runs `promtool check metrics` on exposition text. Tests that need promtool call
 * `promtoolOrSkip(t)`: on a developer machine without it they skip with a loud message; in CI
 * (CI=true) a missing promtool is a failure, never a skip.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { TestContext } from 'node:test';

export interface PromtoolResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

let available: boolean | undefined;

function promtoolAvailable(): boolean {
  available ??= spawnSync('promtool', ['--version'], { stdio: 'ignore' }).status === 0;
  return available;
}

/** True if promtool can run; otherwise skips `t` loudly, or throws when CI=true. */
export function promtoolOrSkip(t: TestContext): boolean {
  if (promtoolAvailable()) return true;
  if (process.env.CI === 'true') throw new Error('promtool is not installed, and CI must run every promtool test (.ci/run installs Debian package prometheus)');
  const msg = '!!! SKIPPED: promtool not found; install Debian package "prometheus" to run this test !!!';
  console.error(msg);
  t.skip(msg);
  return false;
}

/** Feeds `text` to `promtool check metrics` on stdin. */
export function checkMetrics(text: string): Promise<PromtoolResult> {
  return new Promise((resolve, reject) => {
    const child = spawn('promtool', ['check', 'metrics'], { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.on('error', () => {});
    child.stdin.end(text);
  });
}

/** Asserts promtool reports nothing at all (no parse error, no lint problem) for `text`. */
export async function assertPromtoolClean(text: string, what: string): Promise<void> {
  const r = await checkMetrics(text);
  if (r.code !== 0 || r.stdout !== '' || r.stderr !== '') {
    throw new Error(`promtool check metrics on ${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  }
}
