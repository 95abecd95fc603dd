/** Health probes: `GET /health` on 127.0.0.1 (not localhost, which may resolve to ::1 first). */
import { request } from 'node:http';
import { OWN_LIMIT_CODES } from '../errors.js';

/** The result of one probe. */
export interface ProbeResult {
  readonly ok: boolean;
  readonly durationSeconds: number;
  /** Why it failed: a status, a timeout or a socket error. */
  readonly error?: string;
  /**
   * The failure says nothing about the worker: tqserver's own event loop was stalled past the
   * timeout (the answer may have been waiting unread), or tqserver is out of file descriptors.
   */
  readonly inconclusive?: boolean;
}

/** How late the timeout may fire before the stall is taken to be tqserver's own. */
export const STALL_ALLOWANCE_MS = 50;


/** One probe of `port` with a timeout; never rejects. */
export function probe(port: number, timeoutMs: number): Promise<ProbeResult> {
  const started = process.hrtime.bigint();
  const elapsed = (): number => Number(process.hrtime.bigint() - started) / 1e9;
  return new Promise((resolve) => {
    let done = false;
    const finish = (ok: boolean, error?: string, inconclusive = false): void => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve(error === undefined ? { ok, durationSeconds: elapsed() } : { ok, durationSeconds: elapsed(), error, inconclusive });
    };
    const req = request({ host: '127.0.0.1', port, path: '/health', method: 'GET', agent: false, headers: { connection: 'close', 'user-agent': 'tqserver-health' } }, (res) => {
      res.resume();
      res.on('error', () => {});
      finish(res.statusCode === 200, res.statusCode === 200 ? undefined : `status ${res.statusCode}`);
    });
    const timer = setTimeout(() => {
      const late = elapsed() * 1000 - timeoutMs;
      finish(false, `no answer within ${timeoutMs} ms${late > STALL_ALLOWANCE_MS ? ` (tqserver's event loop was ${Math.round(late)} ms late)` : ''}`, late > STALL_ALLOWANCE_MS);
      req.destroy();
    }, timeoutMs);
    req.on('error', (err: NodeJS.ErrnoException) => {
      const own = err.code !== undefined && OWN_LIMIT_CODES.has(err.code);
      finish(false, own ? `tqserver is out of file descriptors (${err.code})` : err.message, own);
    });
    req.end();
  });
}
