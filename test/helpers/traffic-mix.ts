/**
 * A bounded mix of request loops for monitoring tests: each loop requests one path over a
 * keep-alive agent, pauses, and goes again until stopped or its deadline. Unlike load.ts it
 * expects any status (5xx and slow routes are the point) and counts them by status.
 */
import { Agent } from 'node:http';
import { http } from './project.js';

/** One loop: `path` on `base`, then `pauseMs` of rest. */
export interface TrafficLoop {
  readonly base: string;
  readonly path: string;
  readonly pauseMs: number;
}

/** What the loops saw: responses by status (0 for a request that failed without a response). */
export interface TrafficResult {
  readonly byStatus: Map<number, number>;
  readonly errors: string[];
}

/** Starts every loop at once; each stops at `stop()` or after `maxMs`. */
export function trafficMix(loops: readonly TrafficLoop[], maxMs: number): { stop: () => Promise<TrafficResult>; result: TrafficResult } {
  const agent = new Agent({ keepAlive: true, maxSockets: loops.length });
  const result: TrafficResult = { byStatus: new Map(), errors: [] };
  const deadline = Date.now() + maxMs;
  let running = true;
  const count = (status: number): void => void result.byStatus.set(status, (result.byStatus.get(status) ?? 0) + 1);
  const run = async (loop: TrafficLoop): Promise<void> => {
    while (running && Date.now() < deadline) {
      try {
        count((await http(loop.base, loop.path, { agent })).status);
      } catch (err) {
        count(0);
        if (result.errors.length < 20) result.errors.push(`${loop.path}: ${String(err)}`);
      }
      if (loop.pauseMs > 0) await new Promise((r) => setTimeout(r, loop.pauseMs));
    }
  };
  const finished = loops.map(run);
  return {
    result,
    stop: async () => {
      running = false;
      await Promise.all(finished);
      agent.destroy();
      return result;
    },
  };
}
