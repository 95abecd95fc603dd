/**
 * Raw-socket helpers for the hardening tests: a strict client-side response parser (so a test sees
 * exactly the bytes tqserver framed), a connection that waits for responses with a deadline (a
 * failing test fails, it never hangs), requests with timeouts, and project writers for the
 * fixture workers.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { request, type Agent } from 'node:http';
import { connect, type Socket } from 'node:net';
import { join } from 'node:path';
import { portRange, REPO, type Project, type Running } from './project.js';

export const FIXTURES = join(REPO, 'fixtures', 'workers');
export const RECORDER = join(FIXTURES, 'recorder.mjs');
export const BAD_UPSTREAM = join(FIXTURES, 'bad-upstream.mjs');

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * Writes config/server.yaml like Project.server() (loopback, port 0, fast supervisor timings),
 * with `server` and `workers` keys added or overridden (snake_case, as in the file).
 */
export function writeServerYaml(project: Project, options: { server?: Record<string, string | number>; workers?: Record<string, string | number> } = {}): Project {
  const [start, end] = portRange();
  const server = { host: '127.0.0.1', port: 0, log_file: '~', ...options.server };
  const workers = {
    port_range_start: start, port_range_end: end, startup_delay_ms: 0, restart_delay_ms: 20, shutdown_grace_period_ms: 1000,
    health_check_wait_timeout_ms: 3000, health_check_timeout_ms: 500, health_check_interval_ms: 200, ...options.workers,
  };
  const section = (name: string, keys: Record<string, string | number>): string => `${name}:\n` + Object.entries(keys).map(([k, v]) => `  ${k}: ${v}\n`).join('');
  return project.write('config/server.yaml', section('server', server) + section('workers', workers));
}

/** Writes a node worker running fixture `entry` (absolute path) at route `path`, plus `yaml`. */
export function fixtureWorker(project: Project, name: string, path: string, entry: string, yaml = ''): Project {
  return project.write(`workers/${name}/config/worker.yaml`, `path: ${path}\nnode:\n  entrypoint: ${JSON.stringify(entry)}\nlogging:\n  log_file: logs/{name}_{port}.log\n${yaml}`);
}

/** One final response as a strict client framed it. */
export interface RawResponse {
  readonly status: number;
  readonly reason: string;
  /** `[name, value]` pairs, in the order received. */
  readonly headers: readonly (readonly [string, string])[];
  /** The body, de-chunked when it came chunked. */
  readonly body: Buffer;
  /** Interim 1xx statuses (not 101) that came before it. */
  readonly interim: readonly number[];
  /** The values of `name`, joined with ", "; undefined if absent. */
  header(name: string): string | undefined;
  /** How many times `name` appeared. */
  count(name: string): number;
  text(): string;
}

function makeResponse(status: number, reason: string, headers: [string, string][], body: Buffer, interim: number[]): RawResponse {
  const all = (name: string): string[] => headers.filter(([n]) => n.toLowerCase() === name.toLowerCase()).map(([, v]) => v);
  return {
    status, reason, headers, body, interim,
    header: (name) => (all(name).length === 0 ? undefined : all(name).join(', ')),
    count: (name) => all(name).length,
    text: () => body.toString('utf8'),
  };
}

/**
 * Decodes a chunked body at `buf[start..]`: `{ body, end }`, null while incomplete, or a string
 * saying what is malformed.
 */
function dechunk(buf: Buffer, start: number): { body: Buffer; end: number } | null | string {
  const parts: Buffer[] = [];
  let pos = start;
  for (;;) {
    const eol = buf.indexOf('\r\n', pos, 'latin1');
    if (eol < 0) return null;
    const line = buf.toString('latin1', pos, eol);
    const m = /^([0-9a-fA-F]{1,12})(?:[ \t]*;.*)?$/.exec(line);
    if (m === null) return `bad chunk-size line ${JSON.stringify(line.slice(0, 80))}`;
    const size = parseInt(m[1] as string, 16);
    pos = eol + 2;
    if (size === 0) {
      for (;;) {
        const t = buf.indexOf('\r\n', pos, 'latin1');
        if (t < 0) return null;
        const empty = t === pos;
        pos = t + 2;
        if (empty) return { body: Buffer.concat(parts), end: pos };
      }
    }
    if (buf.length < pos + size + 2) return null;
    parts.push(buf.subarray(pos, pos + size));
    if (buf[pos + size] !== 0x0d || buf[pos + size + 1] !== 0x0a) return 'chunk data not followed by CRLF';
    pos += size + 2;
  }
}

/**
 * An incremental, strict HTTP/1.1 response reader for one client connection (RFC 9112 6.3):
 * 1xx other than 101 are interim; HEAD, 101, 204 and 304 have no body; chunked wins over
 * Content-Length; neither means the body runs to the close. Malformed input sets `error` and
 * stops parsing. `methods` holds the method of each request sent, in order.
 */
export class ResponseReader {
  readonly responses: RawResponse[] = [];
  readonly methods: string[] = [];
  /** What was malformed, if anything. */
  error: string | undefined;
  /** A 101 was read: what follows is not HTTP. */
  upgraded = false;
  #buf: Buffer = Buffer.alloc(0);
  #interim: number[] = [];

  /** Bytes received and not (yet) part of a response. */
  get rest(): Buffer {
    return this.#buf;
  }

  push(chunk: Buffer): void {
    this.#buf = this.#buf.length === 0 ? chunk : Buffer.concat([this.#buf, chunk]);
    this.#parse(false);
  }

  /** The connection closed: a body delimited by the close is complete now. */
  close(): void {
    this.#parse(true);
  }

  #parse(closed: boolean): void {
    while (this.error === undefined && !this.upgraded && this.#buf.length > 0) {
      const buf = this.#buf;
      const headEnd = buf.indexOf('\r\n\r\n', 0, 'latin1');
      if (headEnd < 0) {
        if (!'HTTP/1.'.startsWith(buf.toString('latin1', 0, Math.min(buf.length, 7)))) {
          this.error = `not an HTTP response: ${JSON.stringify(buf.toString('latin1', 0, 80))}`;
        } else if (closed) this.error = 'the connection closed in the middle of a response head';
        return;
      }
      const lines = buf.toString('latin1', 0, headEnd).split('\r\n');
      const m = /^HTTP\/1\.[01] (\d{3})(?: (.*))?$/.exec(lines[0] as string);
      if (m === null) {
        this.error = `not a status line: ${JSON.stringify((lines[0] as string).slice(0, 80))}`;
        return;
      }
      const headers: [string, string][] = [];
      for (const line of lines.slice(1)) {
        const colon = line.indexOf(':');
        if (colon <= 0 || /[\r\n]/.test(line)) {
          this.error = `malformed header line ${JSON.stringify(line.slice(0, 80))}`;
          return;
        }
        headers.push([line.slice(0, colon), line.slice(colon + 1).trim()]);
      }
      const status = Number(m[1]);
      const start = headEnd + 4;
      if (status >= 100 && status < 200 && status !== 101) {
        this.#interim.push(status);
        this.#buf = buf.subarray(start);
        continue;
      }
      const method = this.methods[this.responses.length] ?? 'GET';
      const te = headers.filter(([n]) => n.toLowerCase() === 'transfer-encoding').map(([, v]) => v.toLowerCase());
      const cl = headers.filter(([n]) => n.toLowerCase() === 'content-length').map(([, v]) => v);
      let body: Buffer;
      let end: number;
      if (status === 101 || status === 204 || status === 304 || method === 'HEAD') {
        body = Buffer.alloc(0);
        end = start;
      } else if (te.length > 0 && /(^|,)\s*chunked\s*$/.test(te.join(','))) {
        const r = dechunk(buf, start);
        if (typeof r === 'string') {
          this.error = r;
          return;
        }
        if (r === null) {
          if (closed) this.error = 'the connection closed in the middle of a chunked body';
          return;
        }
        body = r.body;
        end = r.end;
      } else if (cl.length > 0) {
        if (new Set(cl).size !== 1 || !/^\d+$/.test(cl[0] as string)) {
          this.error = `invalid Content-Length ${JSON.stringify(cl)}`;
          return;
        }
        const length = Number(cl[0]);
        if (buf.length < start + length) {
          if (closed) this.error = 'the connection closed in the middle of a Content-Length body';
          return;
        }
        body = buf.subarray(start, start + length);
        end = start + length;
      } else {
        if (!closed) return;
        body = buf.subarray(start);
        end = buf.length;
      }
      this.responses.push(makeResponse(status, m[2] ?? '', headers, Buffer.from(body), this.#interim));
      this.#interim = [];
      this.#buf = buf.subarray(end);
      if (status === 101) this.upgraded = true;
    }
  }
}

/** A raw client connection to tqserver that parses what comes back. */
export class RawConnection {
  readonly socket: Socket;
  readonly reader = new ResponseReader();
  closed = false;
  socketError: string | undefined;
  bytesRead = 0;
  /** The first bytes received, for failure messages. */
  #start = '';
  #changed: (() => void)[] = [];

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.on('data', (chunk: Buffer) => {
      this.bytesRead += chunk.length;
      if (this.#start.length < 600) this.#start += chunk.toString('latin1', 0, Math.min(chunk.length, 600));
      this.reader.push(chunk);
      this.#notify();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => (this.socketError = err.code ?? err.message));
    socket.on('close', () => {
      this.closed = true;
      this.reader.close();
      this.#notify();
    });
  }

  /** Connects to 127.0.0.1:`port`. */
  static open(port: number): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = connect({ port, host: '127.0.0.1', noDelay: true });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawConnection(socket));
      });
    });
  }

  get responses(): RawResponse[] {
    return this.reader.responses;
  }

  /** Writes `data`: requests whose methods are `methods`, in order. */
  send(data: string | Buffer, methods: string[] = ['GET']): void {
    this.reader.methods.push(...methods);
    this.socket.write(data);
  }

  /**
   * Waits until `n` responses in all have arrived, the connection closed or broke, or `timeoutMs`
   * passed; resolves true only in the first case.
   */
  async waitFor(n: number, timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (this.responses.length >= n) return true;
      if (this.closed || this.reader.error !== undefined) return false;
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(done, left);
        function done(): void {
          clearTimeout(timer);
          resolve();
        }
        this.#changed.push(done);
      });
    }
  }

  #notify(): void {
    const waiting = this.#changed;
    this.#changed = [];
    for (const w of waiting) w();
  }

  /** A one-line account of what came back, for assertion messages. */
  describe(): string {
    const statuses = this.responses.map((r) => r.status + (r.interim.length ? ` (after ${r.interim.join(',')})` : ''));
    return `responses [${statuses.join(', ')}]${this.closed ? ', closed' : ', open'}${this.socketError ? `, socket error ${this.socketError}` : ''}` +
      `${this.reader.error ? `, unparseable: ${this.reader.error}` : ''}; first bytes: ${JSON.stringify(this.#start.slice(0, 300))}`;
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** Sends `data` on a new connection, waits for `methods.length` responses, lingers, closes. */
export async function exchange(port: number, data: string | Buffer, options: { methods?: string[]; timeoutMs?: number; lingerMs?: number } = {}): Promise<{ conn: RawConnection; ok: boolean; elapsedMs: number }> {
  const methods = options.methods ?? ['GET'];
  const conn = await RawConnection.open(port);
  const started = Date.now();
  conn.send(data, methods);
  const ok = await conn.waitFor(methods.length, options.timeoutMs ?? 5000);
  const elapsedMs = Date.now() - started;
  if (options.lingerMs) await sleep(options.lingerMs);
  conn.destroy();
  return { conn, ok, elapsedMs };
}

/** A response read whole by node:http. */
export interface Fetched {
  readonly status: number;
  readonly headers: Record<string, string | string[] | undefined>;
  readonly body: Buffer;
  text(): string;
}

/** One request through node:http that rejects (never hangs) after `timeoutMs`. */
export function fetchWithTimeout(base: string, path: string, options: { method?: string; headers?: Record<string, string>; body?: string | Buffer; agent?: Agent | false; timeoutMs?: number } = {}): Promise<Fetched> {
  const url = new URL(base);
  const timeoutMs = options.timeoutMs ?? 5000;
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, path, method: options.method ?? 'GET', headers: options.headers, agent: options.agent ?? false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        clearTimeout(timer);
        const body = Buffer.concat(chunks);
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, text: () => body.toString('utf8') });
      });
      res.on('error', (err) => {
        clearTimeout(timer);
        reject(err);
      });
    });
    const timer = setTimeout(() => {
      req.destroy(new Error(`${options.method ?? 'GET'} ${path}: no complete response within ${timeoutMs} ms`));
    }, timeoutMs);
    req.on('error', (err) => {
      clearTimeout(timer);
      reject(err);
    });
    req.end(options.body);
  });
}

/** The resident set size of process `pid`, in bytes (Linux /proc). */
export function rssBytes(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (m === null) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

/** One request as the recorder fixture logged it. */
export interface Recorded {
  readonly method?: string;
  readonly target?: string;
  readonly version?: string;
  readonly rawHeaders?: string[];
  readonly framing?: 'none' | 'length' | 'chunked';
  readonly body?: string;
  readonly complete?: boolean;
  readonly aborted?: boolean;
  readonly garbage?: string;
  readonly reason?: string;
}

/** The values of header `name` in a recorded request. */
export function recordedHeader(entry: Recorded, name: string): string[] {
  const raw = entry.rawHeaders ?? [];
  const out: string[] = [];
  for (let i = 0; i < raw.length; i += 2) if ((raw[i] as string).toLowerCase() === name.toLowerCase()) out.push(raw[i + 1] as string);
  return out;
}

/** Talks to a recorder instance directly (not through tqserver), at 127.0.0.1:`port`. */
export class RecorderClient {
  constructor(readonly port: number) {}

  /** Finds the recorder's port by asking through tqserver at `prefix`/__log. */
  static async discover(base: string, prefix: string): Promise<RecorderClient> {
    const r = await fetchWithTimeout(base, `${prefix === '/' ? '' : prefix}/__log`);
    if (r.status !== 200) throw new Error(`recorder at ${prefix}: ${r.status} ${r.text()}`);
    return new RecorderClient((JSON.parse(r.text()) as { port: number }).port);
  }

  async log(): Promise<Recorded[]> {
    const r = await fetchWithTimeout(`http://127.0.0.1:${this.port}`, '/__log');
    return (JSON.parse(r.text()) as { log: Recorded[] }).log;
  }

  async reset(): Promise<void> {
    await fetchWithTimeout(`http://127.0.0.1:${this.port}`, '/__reset', { method: 'POST' });
  }
}

/** A short account of a recorder log, for assertion messages. */
export function describeLog(log: readonly Recorded[]): string {
  return JSON.stringify(log.map((e) => (e.garbage !== undefined ? { garbage: e.garbage.slice(0, 120), reason: e.reason } : { method: e.method, target: e.target, framing: e.framing, body: e.body?.slice(0, 120), complete: e.complete })));
}

/** The processes descended from `pid`, with their command lines (Linux /proc). */
export function descendants(pid: number): { pid: number; cmdline: string }[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      // "pid (comm) state ppid ...": comm may hold spaces and parentheses.
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      children.set(ppid, [...(children.get(ppid) ?? []), Number(name)]);
    } catch {
      // Exited meanwhile.
    }
  }
  const out: { pid: number; cmdline: string }[] = [];
  const todo = [...(children.get(pid) ?? [])];
  while (todo.length > 0) {
    const p = todo.pop() as number;
    try {
      out.push({ pid: p, cmdline: readFileSync(`/proc/${p}/cmdline`, 'utf8') });
    } catch {
      continue;
    }
    todo.push(...(children.get(p) ?? []));
  }
  return out;
}

/** SIGKILLs each process of `procs` still running the same command line; returns how many. */
export function reap(procs: readonly { pid: number; cmdline: string }[]): number {
  let killed = 0;
  for (const { pid, cmdline } of procs) {
    try {
      if (readFileSync(`/proc/${pid}/cmdline`, 'utf8') !== cmdline) continue;
      process.kill(pid, 'SIGKILL');
      killed++;
    } catch {
      // Gone.
    }
  }
  return killed;
}

/**
 * Stops `server` (SIGTERM), SIGKILLs it if it has not exited within `ms`, then SIGKILLs any of
 * its worker processes it left behind. Resolves with the exit code.
 */
export async function stopWithin(server: Running | undefined, ms = 8000): Promise<number | null | undefined> {
  if (server === undefined) return undefined;
  const family = server.child.pid === undefined ? [] : descendants(server.child.pid);
  const timer = setTimeout(() => server.child.kill('SIGKILL'), ms);
  try {
    return await server.stop();
  } finally {
    clearTimeout(timer);
    reap(family);
  }
}
