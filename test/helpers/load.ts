/** A bounded loopback load loop for tests: N concurrent keep-alive clients until stopped. */
import { Agent } from 'node:http';
import { http } from './project.js';

export interface LoadResult {
  readonly ok: number;
  readonly failed: number;
  readonly failures: string[];
  /** Every distinct `version` and `pid` the responses carried. */
  readonly versions: Set<string>;
  readonly pids: Set<number>;
}

/** Runs `concurrency` request loops against base+path until `stop()`; at most `maxMs`. */
export function load(base: string, path: string, concurrency = 4, maxMs = 20_000): { stop: () => Promise<LoadResult>; result: LoadResult; seen: (version: string) => boolean } {
  const agent = new Agent({ keepAlive: true, maxSockets: concurrency });
  const result: LoadResult = { ok: 0, failed: 0, failures: [], versions: new Set(), pids: new Set() };
  let running = true;
  const deadline = Date.now() + maxMs;
  const loop = async (): Promise<void> => {
    while (running && Date.now() < deadline) {
      try {
        const r = await http(base, path, { agent });
        if (r.status === 200) {
          (result as { ok: number }).ok++;
          const body = r.json();
          result.versions.add(body.version);
          result.pids.add(body.pid);
        } else {
          (result as { failed: number }).failed++;
          result.failures.push(`status ${r.status}: ${r.text().slice(0, 200)}`);
        }
      } catch (err) {
        (result as { failed: number }).failed++;
        result.failures.push(String(err));
      }
    }
  };
  const loops = Array.from({ length: concurrency }, loop);
  return {
    result,
    seen: (version) => result.versions.has(version),
    stop: async () => {
      running = false;
      await Promise.all(loops);
      agent.destroy();
      return result;
    },
  };
}
