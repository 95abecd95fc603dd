/** Health probes: `GET /health` on 127.0.0.1 (not localhost, which may resolve to ::1 first). */
import { request } from 'node:http';

/** The result of one probe. */
export interface ProbeResult {
  readonly ok: boolean;
  readonly durationSeconds: number;
  /** Why it failed: a status, a timeout or a socket error. */
  readonly error?: string;
}

/** One probe of `port` with a timeout; never rejects. */
export function probe(port: number, timeoutMs: number): Promise<ProbeResult> {
  const started = process.hrtime.bigint();
  const elapsed = (): number => Number(process.hrtime.bigint() - started) / 1e9;
  return new Promise((resolve) => {
    let done = false;
    const finish = (ok: boolean, error?: string): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(error === undefined ? { ok, durationSeconds: elapsed() } : { ok, durationSeconds: elapsed(), error });
    };
    const req = request({ host: '127.0.0.1', port, path: '/health', method: 'GET', agent: false, headers: { connection: 'close', 'user-agent': 'tqserver-health' } }, (res) => {
      res.resume();
      res.on('error', () => {});
      finish(res.statusCode === 200, res.statusCode === 200 ? undefined : `status ${res.statusCode}`);
    });
    const timer = setTimeout(() => {
      finish(false, `no answer within ${timeoutMs} ms`);
      req.destroy();
    }, timeoutMs);
    req.on('error', (err) => finish(false, err.message));
    req.end();
  });
}
