/**
 * Hardening, bug 4: pipelining. A proxy works on one request per client connection at a time
 * and stops reading that connection until the current response is written (RFC 9112 9.3;
 * HAProxy and nginx both do). So a client that pipelines 20,000 requests and reads nothing costs
 * little memory and delays no one, and still gets every answer, in order, once it reads.
 */
import assert from 'node:assert/strict';
import { Agent } from 'node:http';
import { connect, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { Project, startServer, type Running } from './helpers/project.js';
import { fetchWithTimeout, RawConnection, rssBytes, sleep, stopWithin, writeServerYaml } from './helpers/raw.js';
import { scrape } from './helpers/scrape.js';

const N = 20_000;
const MB = 1024 * 1024;

describe('hardening: a client that pipelines 20,000 requests and reads nothing', () => {
  const project = new Project('tq-harden-pipeline-');
  let server: Running;

  before(async () => {
    writeServerYaml(project);
    project.echoWorker('echo', '/', 'scaling:\n  min_workers: 1\n  max_workers: 1\n');
    server = await startServer(project);
  });
  after(async () => {
    await stopWithin(server);
    project.remove();
  });

  test('one request at a time: delays no one, replaces no instance, and gets all 20,000 answers in order', { timeout: 60_000 }, async (t) => {
    const started = Date.now();
    const pid = server.child.pid as number;
    for (let i = 0; i < 20; i++) await fetchWithTimeout(server.base, '/echo?warm');
    const restartsBefore = (await scrape(server.base)).value('tqserver_worker_restarts_by_reason_total', { worker: 'echo', reason: 'health' });
    const rssBefore = rssBytes(pid);
    let rssPeak = rssBefore;
    const sampler = setInterval(() => {
      try {
        rssPeak = Math.max(rssPeak, rssBytes(pid));
      } catch {
        // The server may be gone; the assertions below say so.
      }
    }, 100);

    const flood = await RawConnection.open(server.port);
    const problems: string[] = [];
    try {
      flood.socket.pause();
      let text = '';
      for (let i = 0; i < N; i++) text += `GET /echo?i=${i} HTTP/1.1\r\nHost: x\r\n\r\n`;
      flood.send(text, new Array<string>(N).fill('GET'));
      const pause = sleep(2000);
      let activePeak = 0;
      const watching = (async () => {
        for (let i = 0; i < 8; i++) {
          await sleep(200);
          activePeak = Math.max(activePeak, (await scrape(server.base)).value('tqserver_active_requests'));
        }
      })();

      // Meanwhile, someone else.
      const statuses: (number | string)[] = [];
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      const otherStarted = Date.now();
      for (let i = 0; i < 50; i++) {
        try {
          statuses.push((await fetchWithTimeout(server.base, `/echo?other=${i}`, { agent, timeoutMs: 5000 })).status);
        } catch (err) {
          statuses.push((err as Error).message);
        }
      }
      const otherMs = Date.now() - otherStarted;
      agent.destroy();
      await pause;
      await watching;
      const rssPaused = rssPeak;

      // One request at a time on the flooding connection: at most it and the other client's.
      if (activePeak > 2) problems.push(`tqserver_active_requests reached ${activePeak} during the flood: the pipelined requests were dispatched at once`);
      const bad = statuses.filter((s) => s !== 200);
      if (bad.length > 0) problems.push(`another client's 50 requests during the flood: ${bad.length} not 200 (${[...new Set(bad)].join(', ')}; ${otherMs} ms in all)`);
      const restartsAfter = (await scrape(server.base)).value('tqserver_worker_restarts_by_reason_total', { worker: 'echo', reason: 'health' });
      if (restartsAfter !== restartsBefore) problems.push(`instances replaced for failed health checks during the flood: ${restartsAfter - restartsBefore}`);

      flood.socket.resume();
      const all = await flood.waitFor(N, Math.max(5000, 55_000 - (Date.now() - started)));
      clearInterval(sampler);
      const grown = (rssPeak - rssBefore) / MB;
      // The kernel's socket buffers (up to 32 MB on this machine's defaults) take all 20,000
      // small answers even while the client reads nothing, so the server may serve them all; what
      // it holds itself is the next test's concern. This bound catches holding every request.
      if (grown >= 80) problems.push(`server RSS grew by ${grown.toFixed(1)} MB (${(rssBefore / MB).toFixed(0)} -> peak ${(rssPeak / MB).toFixed(0)} MB; ${((rssPaused - rssBefore) / MB).toFixed(1)} MB while the client was not reading): are the pipelined requests all parsed and held?`);
      const responses = flood.responses;
      const ok200 = responses.filter((r) => r.status === 200).length;
      if (!all) problems.push(`the flooding client got ${responses.length} of ${N} responses (${flood.describe().slice(0, 300)})`);
      if (ok200 !== N) {
        const counts: Record<number, number> = {};
        for (const r of responses) counts[r.status] = (counts[r.status] ?? 0) + 1;
        problems.push(`the flooding client got ${ok200} "200" responses of ${N}; statuses: ${JSON.stringify(counts)}`);
      }
      for (const i of [0, N / 2, N - 1]) {
        const r = responses[i];
        let url: string | undefined;
        try {
          url = r?.status === 200 ? (JSON.parse(r.text()) as { url: string }).url : undefined;
        } catch {
          url = undefined;
        }
        if (url !== `/echo?i=${i}`) problems.push(`response #${i} should answer /echo?i=${i}, got ${r === undefined ? 'nothing' : `${r.status} ${url ?? r.text().slice(0, 80).replace(/\s+/g, ' ')}`}`);
      }
    } finally {
      clearInterval(sampler);
      flood.destroy();
    }
    t.diagnostic(`RSS ${(rssBefore / MB).toFixed(0)} MB -> peak ${(rssPeak / MB).toFixed(0)} MB; ${Date.now() - started} ms in all`);
    assert.deepEqual(problems, [], problems.join('\n'));
  });
  test('a client that reads nothing stops being served once its socket buffers are full: the server holds little, then answers all', { timeout: 60_000 }, async () => {
    const count = 2000;
    const size = 100_000;
    const pid = server.child.pid as number;
    const requestsOf = async (): Promise<number> => (await scrape(server.base)).series('tqserver_requests_total').reduce((sum, x) => sum + x.value, 0);
    const before_ = await requestsOf();
    const rssBefore = rssBytes(pid);
    const socket = await new Promise<Socket>((resolve, reject) => {
      const c = connect({ port: server.port, host: '127.0.0.1' }, () => resolve(c));
      c.once('error', reject);
    });
    try {
      socket.pause();
      let text = '';
      for (let i = 0; i < count; i++) text += `GET /bytes/${size} HTTP/1.1\r\nHost: x\r\n\r\n`;
      socket.write(text);
      await sleep(2000);
      // 200 MB of answers were asked for; the kernel buffers hold a few hundred, then the server waits.
      const served = (await requestsOf()) - before_;
      const rssGrown = (rssBytes(pid) - rssBefore) / MB;
      assert.ok(served < 700, `while the client read nothing, ${served} of ${count} requests of 100 KB were served: the server did not wait for the client`);
      assert.ok(rssGrown < 40, `while the client read nothing, server RSS grew by ${rssGrown.toFixed(1)} MB`);
      // Then it reads, and everything comes, whole.
      let statuses = 0;
      let bytes = 0;
      let tail = '';
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`only ${statuses} of ${count} answers arrived`)), 40_000);
        socket.on('data', (chunk: Buffer) => {
          bytes += chunk.length;
          const seen = tail + chunk.toString('latin1');
          statuses += seen.split('HTTP/1.1 200 OK').length - 1;
          tail = seen.slice(-14);
          if (statuses === count) {
            clearTimeout(timer);
            resolve();
          }
        });
        socket.resume();
      });
      assert.ok(bytes >= count * size, `${bytes} bytes read for ${count} answers of ${size}`);
    } finally {
      socket.destroy();
    }
  });
});
