/**
 * Hardening, a weakness: instances SIGKILLed under load. Whatever was in flight on a killed
 * instance gets a 502 at once (a request that never reached it may be retried elsewhere); no
 * client is left hanging, whether its request had a body or not.
 */
import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { alive, Project, startServer, type Running } from './helpers/project.js';
import { fetchWithTimeout, sleep, stopWithin, writeServerYaml } from './helpers/raw.js';

const CLIENTS = 4;
const BODY = Buffer.alloc(10 * 1024, 'k');

describe('hardening: instances SIGKILLed under load', () => {
  const project = new Project('tq-harden-kill-');
  let server: Running;

  before(async () => {
    writeServerYaml(project);
    project.echoWorker('echo', '/', 'scaling:\n  min_workers: 2\n  max_workers: 2\n');
    server = await startServer(project);
  });
  after(async () => {
    await stopWithin(server);
    project.remove();
  });

  test('4 clients, GET and 10 KB POSTs, one instance killed every 700 ms: every request answered, only 502s, at most 4 per kill', { timeout: 40_000 }, async (t) => {
    /** pid -> when a response last came from it. */
    const seen = new Map<number, number>();
    const statuses: Record<number, number> = {};
    const errors: string[] = [];
    let running = true;

    const client = async (n: number): Promise<void> => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      for (let i = 0; running; i++) {
        const post = (i + n) % 2 === 1;
        const path = `/echo?client=${n}&i=${i}`;
        try {
          const r = await fetchWithTimeout(server.base, path, post ? { method: 'POST', body: BODY, headers: { 'Content-Type': 'application/octet-stream' }, agent, timeoutMs: 5000 } : { agent, timeoutMs: 5000 });
          statuses[r.status] = (statuses[r.status] ?? 0) + 1;
          const pid = Number(r.headers['x-worker-pid']);
          if (pid > 0) seen.set(pid, Date.now());
        } catch (err) {
          errors.push(`${post ? 'POST' : 'GET'}: ${(err as Error).message.replace(/\/echo\?\S+/, '/echo')}`);
        }
      }
      agent.destroy();
    };

    let kills = 0;
    let lastKill = Date.now();
    // Kill only while two instances have answered since the last kill, so one is always serving.
    const killer = setInterval(() => {
      const serving = [...seen.entries()].filter(([pid, at]) => at > lastKill && alive(pid)).map(([pid]) => pid);
      if (serving.length < 2) return;
      try {
        process.kill(serving[kills % serving.length] as number, 'SIGKILL');
        kills++;
        lastKill = Date.now();
      } catch {
        // Gone already.
      }
    }, 700);

    const clients = Array.from({ length: CLIENTS }, (_, n) => client(n));
    await sleep(4000);
    running = false;
    clearInterval(killer);
    await Promise.all(clients);

    const total = Object.values(statuses).reduce((a, b) => a + b, 0) + errors.length;
    const others = Object.entries(statuses).filter(([s]) => s !== '200' && s !== '502');
    const bad502 = statuses[502] ?? 0;
    const problems: string[] = [];
    if (kills < 2) problems.push(`only ${kills} instance(s) were killed; the test needs at least 2`);
    if (errors.length > 0) problems.push(`${errors.length} requests got no response (client error or 5 s timeout): ${[...new Set(errors)].slice(0, 5).join(' | ')}`);
    if (others.length > 0) problems.push(`statuses other than 200 and 502: ${JSON.stringify(Object.fromEntries(others))}`);
    if (bad502 > kills * CLIENTS) problems.push(`${bad502} responses were 502, more than ${CLIENTS} per kill (${kills} kills)`);
    t.diagnostic(`${total} requests, statuses ${JSON.stringify(statuses)}, ${errors.length} without a response, ${kills} kills`);
    assert.deepEqual(problems, [], `${problems.join('\n')}\n(${total} requests, statuses ${JSON.stringify(statuses)}, ${kills} kills)`);
  });
});
