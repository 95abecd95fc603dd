/**
 * One running instance of a worker: its process, port, slot and state. The states and the
 * transitions allowed between them are in one table.
 */
import type { ChildProcess } from 'node:child_process';
import { createWriteStream, type WriteStream } from 'node:fs';
import type { Mode, WorkerConfig } from '../config/index.js';
import type { ExitReason, InstanceInfo } from '../observer.js';
import { SupervisorError } from '../errors.js';
import type { PhpFpmStatus } from '../fastcgi/index.js';
import { fastcgiPing, fastcgiStatus } from './fastcgi-health.js';
import { probe, type ProbeResult } from './health.js';
import { endGroup, killGroup, launch, launchPlan, type Launched, type MetricsAccess } from './launch.js';
import { residentBytes, treeResidentBytes } from './process-memory.js';

/**
 * `starting`: spawned, not yet healthy. `healthy`: in rotation. `draining`: out of rotation,
 * finishing its requests. `stopping`: signalled to exit. `exited`: the process is gone.
 */
export type InstanceState = 'starting' | 'healthy' | 'draining' | 'stopping' | 'exited';

const TRANSITIONS: Readonly<Record<InstanceState, readonly InstanceState[]>> = {
  starting: ['healthy', 'draining', 'stopping', 'exited'],
  healthy: ['draining', 'stopping', 'exited'],
  draining: ['stopping', 'exited'],
  stopping: ['exited'],
  exited: [],
};

/** How an instance's process ended. */
export interface ExitStatus {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  /** Set when the process could not be started at all. */
  readonly error?: string;
}

/** What starting an instance needs. */
export interface InstanceOptions {
  readonly worker: WorkerConfig;
  readonly slot: number;
  readonly port: number;
  readonly mode: Mode;
  /** Project root, against which log paths resolve. */
  readonly root: string;
  /** The metrics endpoint, if served, for the environment. */
  readonly metrics?: MetricsAccess | undefined;
  /** The argv to start it with, when not the worker's `command` (a php-fpm with its own configuration). */
  readonly command?: readonly string[] | undefined;
  /** Its process, already started for this port (a warm standby's); otherwise it is launched here. */
  readonly launched?: Launched | undefined;
}

/** How tqserver speaks to an instance: HTTP/1.1, or FastCGI (php-fpm). */
export type InstanceProtocol = 'http' | 'fastcgi';

/** What php-fpm's status page said last, and when (ms since the epoch). */
export interface PhpStatusReading {
  readonly status: PhpFpmStatus;
  readonly atMs: number;
}

/** The first pause between readiness polls of a new instance. */
const READY_POLL_FIRST_MS = 5;
/** The longest pause between readiness polls: a refused connect costs little, a late poll delays the switch. */
const READY_POLL_MAX_MS = 25;
/** How much of an instance's stderr is kept in memory. */
const STDERR_TAIL_BYTES = 4096;
/** The most of an instance's output queued for its log file before more is dropped. */
const LOG_QUEUE_MAX_BYTES = 4 * 1024 * 1024;
/** How many lines of stderr an explanation quotes. */
const STDERR_LINES = 12;
/** How long an exit waits for the rest of the instance's stderr. */
const STDERR_DRAIN_MS = 200;

/** A running (or finished) instance. */
export class Instance {
  readonly worker: WorkerConfig;
  readonly slot: number;
  readonly port: number;
  readonly protocol: InstanceProtocol;
  readonly startedAt = Date.now();
  #inflight = 0;
  #served = 0;
  #idleSince = Date.now();
  #retiredFor: ExitReason | undefined;
  #wasHealthy = false;
  #healthFailures = 0;
  #refusedUntil = 0;
  /** Resolves when the process is gone. */
  readonly exited: Promise<ExitStatus>;
  /** The log file its output goes to, if any. */
  readonly logFile: string | undefined;
  #state: InstanceState = 'starting';
  #status: ExitStatus | undefined;
  readonly #child: ChildProcess;
  #idleWaiters: (() => void)[] = [];
  /** The end of what it wrote to stderr, for log lines and the dev-mode start-failure page. */
  #stderrTail: Buffer = Buffer.alloc(0);
  #stderrCut = false;
  #stopping: Promise<ExitStatus> | undefined;
  /** Its log file, while open. */
  #log: WriteStream | undefined;
  #php: PhpStatusReading | undefined;
  /** The php-fpm counters already reported (see takePhpCounters). */
  #phpReported = { maxChildrenReached: 0, slowRequests: 0 };

  constructor(options: InstanceOptions) {
    const { worker, port, mode, root, metrics } = options;
    this.worker = worker;
    this.slot = options.slot;
    this.port = port;
    this.protocol = worker.type === 'php' ? 'fastcgi' : 'http';
    const launched = options.launched ?? launch(launchPlan(worker, port, mode, root, metrics, options.command));
    this.#child = launched.child;
    this.logFile = launched.out?.path;
    const log = launched.out === undefined ? undefined : createWriteStream('', { fd: launched.out.fd });
    log?.on('error', () => {});
    this.#log = log;
    if (launched.stderr !== undefined && launched.stderr.length > 0) this.appendStderr(launched.stderr);
    const stderr = this.#child.stderr;
    stderr?.on('data', (chunk: Buffer) => {
      // A slow disk holds the instance's stderr back rather than tqserver's memory growing.
      if (!this.appendStderr(chunk) && stderr !== null && log !== undefined) {
        stderr.pause();
        log.once('drain', () => stderr.resume());
      }
    });
    this.#child.stderr?.once('close', () => {
      this.#log = undefined;
      log?.end();
    });
    const pid = this.#child.pid;
    this.exited = new Promise((resolveExit) => {
      const finish = (status: ExitStatus): void => {
        if (this.#status !== undefined) return;
        if (pid !== undefined) endGroup(pid);
        this.#status = status;
        this.#state = 'exited';
        this.#notifyIdle();
        // Its last words may still be in the pipe: wait for stderr to close, but not for long
        // (something it started may hold the pipe open).
        const stderr = this.#child.stderr;
        if (stderr === null || stderr.closed) {
          resolveExit(status);
          return;
        }
        const timer = setTimeout(() => resolveExit(status), STDERR_DRAIN_MS);
        stderr.once('close', () => {
          clearTimeout(timer);
          resolveExit(status);
        });
      };
      this.#child.once('error', (err: NodeJS.ErrnoException) => {
        const missing = this.protocol === 'fastcgi' && err.code === 'ENOENT';
        finish({ code: null, signal: null, error: missing ? `${err.message}: php-fpm not found; install it (Debian: php8.2-fpm) or set php.binary` : err.message });
      });
      this.#child.once('exit', (code, signal) => finish({ code, signal }));
    });
  }

  /**
   * Takes what the instance wrote to stderr, or, for php-fpm, what a script wrote to
   * FCGI_STDERR: it goes to the log file, and its end is kept for explanations. Returns false
   * while the log file has more queued than it wants (the caller may wait for its drain); what
   * is written past LOG_QUEUE_MAX_BYTES queued is dropped, since a script's output cannot wait.
   */
  appendStderr(chunk: Buffer): boolean {
    const log = this.#log;
    let room = true;
    if (log !== undefined && log.writableLength < LOG_QUEUE_MAX_BYTES) room = log.write(chunk);
    else if (log !== undefined) room = false;
    const joined = Buffer.concat([this.#stderrTail, chunk]);
    this.#stderrCut ||= joined.length > STDERR_TAIL_BYTES;
    // A copy, so that a large chunk is not kept alive by a small view of it.
    this.#stderrTail = joined.length > STDERR_TAIL_BYTES ? Buffer.from(joined.subarray(joined.length - STDERR_TAIL_BYTES)) : joined;
    return room;
  }

  /**
   * One periodic health probe: `GET /health` over HTTP, or php-fpm's status page over FastCGI
   * (whose reading is kept, see phpStatus). Never rejects.
   */
  async probe(timeoutMs: number): Promise<ProbeResult> {
    if (this.protocol === 'http') return probe(this.port, timeoutMs);
    const { probe: result, status } = await fastcgiStatus(this.port, timeoutMs);
    if (status !== undefined) this.#php = { status, atMs: Date.now() };
    return result;
  }

  /** What php-fpm's status page said at the last periodic probe that read it. */
  get phpStatus(): PhpStatusReading | undefined {
    return this.#php;
  }

  /**
   * How much php-fpm's counters grew since the last call (its first reading counts from 0),
   * so that the server's own counters add each event once.
   */
  takePhpCounters(): { readonly maxChildrenReached: number; readonly slowRequests: number } | undefined {
    const now = this.#php?.status;
    if (now === undefined) return undefined;
    const before = this.#phpReported;
    this.#phpReported = { maxChildrenReached: now.maxChildrenReached, slowRequests: now.slowRequests };
    return { maxChildrenReached: Math.max(0, now.maxChildrenReached - before.maxChildrenReached), slowRequests: Math.max(0, now.slowRequests - before.slowRequests) };
  }

  /**
   * Resident memory now: the process's, and for php-fpm its children's too (they serve the
   * requests). Undefined once it is gone.
   */
  memoryBytes(): number | undefined {
    const pid = this.#child.pid;
    if (pid === undefined) return undefined;
    return this.protocol === 'fastcgi' ? treeResidentBytes(pid) : residentBytes(pid);
  }

  /**
   * `instance <name> <what>`, followed by the last lines it wrote to stderr, if any: why it
   * failed, for the log and the dev-mode start-failure page.
   */
  explain(what: string): string {
    const stderr = this.stderrTail();
    const head = `instance ${this} ${what}`;
    return stderr === '' ? head : `${head}; its stderr ended with:\n${stderr.split('\n').slice(-STDERR_LINES).join('\n')}`;
  }

  /** The last lines it wrote to stderr (at most STDERR_TAIL_BYTES), or ''. */
  stderrTail(): string {
    const text = this.#stderrTail.toString('utf8');
    // Once cut, the first line is a fragment.
    return (this.#stderrCut ? text.slice(text.indexOf('\n') + 1) : text).trimEnd();
  }

  /** Requests forwarded and not yet finished. */
  get inflight(): number {
    return this.#inflight;
  }

  /** Requests finished. */
  get served(): number {
    return this.#served;
  }

  /** When `inflight` last became 0 (ms since the epoch). */
  get idleSince(): number {
    return this.#idleSince;
  }

  /** Whether it ever became healthy; a process that exits before that failed to start. */
  get wasHealthy(): boolean {
    return this.#wasHealthy;
  }

  /** Why the supervisor retired it; undefined for a process that exits on its own. */
  get exitReason(): ExitReason | undefined {
    return this.#retiredFor;
  }

  /**
   * Marks it retired for `reason`: it takes no new requests and its exit is planned. Returns
   * false if it was retired already (then nothing changes), so each retirement happens once.
   */
  retire(reason: ExitReason): boolean {
    if (this.#retiredFor !== undefined || this.#state === 'exited') return false;
    this.#retiredFor = reason;
    return true;
  }

  /** Whether it is retired (or gone), so takes no new requests. */
  get retired(): boolean {
    return this.#retiredFor !== undefined;
  }

  /** Records one periodic health probe; returns how many failed in a row, 0 after a success. */
  recordHealth(ok: boolean): number {
    this.#healthFailures = ok ? 0 : this.#healthFailures + 1;
    return this.#healthFailures;
  }

  /** Its port refused a connection: dispatch passes it over until `until` (ms since the epoch). */
  refusedConnections(until: number): void {
    this.#refusedUntil = until;
  }

  /**
   * Whether a request may go to it now: healthy (a retired instance stays in rotation until it
   * drains), not refusing connections, with room under `maxConcurrency` and under `budget`
   * requests in all (served and in flight).
   */
  canTake(maxConcurrency: number, budget: number, nowMs: number): boolean {
    return this.#state === 'healthy' && this.#inflight < maxConcurrency && this.#served + this.#inflight < budget && this.#refusedUntil <= nowMs;
  }

  /** The current state. */
  get state(): InstanceState {
    return this.#state;
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  /** What observers are told about it. */
  info(): InstanceInfo {
    return { worker: this.worker.name, slot: this.slot, port: this.port, pid: this.#child.pid };
  }

  /** A short name for log lines: `api#2 (pid 123, port 9001)`. */
  toString(): string {
    return `${this.worker.name}#${this.slot} (pid ${this.#child.pid ?? '-'}, port ${this.port})`;
  }

  /** Moves to `to`; throws on a transition the table does not allow (a supervisor bug). */
  transition(to: InstanceState): void {
    if (this.#state === to) return;
    if (!TRANSITIONS[this.#state].includes(to)) throw new SupervisorError('ERR_INSTANCE_STATE', `instance ${this}: no transition ${this.#state} -> ${to}`);
    this.#state = to;
    if (to === 'healthy') this.#wasHealthy = true;
  }

  /**
   * Polls `GET /health` (php-fpm: its ping page, over FastCGI) until it answers 200 (true), the process exits, or `timeoutMs` passes (a
   * string saying why it failed). The polls come 5 ms apart at first, doubling up to 25 ms:
   * most workers listen within a few tens of milliseconds, and a reload waits for the first
   * answer, not for the next tick of a slow poll.
   */
  async waitReady(timeoutMs: number, probeTimeoutMs: number): Promise<true | string> {
    const deadline = Date.now() + timeoutMs;
    let last = 'no answer';
    let pauseMs = READY_POLL_FIRST_MS;
    while (this.#status === undefined && this.#state === 'starting') {
      const left = deadline - Date.now();
      if (left <= 0) return `not healthy within ${timeoutMs} ms (last probe: ${last})`;
      const wait = Math.min(probeTimeoutMs, left);
      const result = this.protocol === 'fastcgi' ? await fastcgiPing(this.port, wait) : await probe(this.port, wait);
      if (result.ok) return true;
      last = result.error ?? 'failed';
      await new Promise((r) => setTimeout(r, Math.min(pauseMs, Math.max(0, deadline - Date.now()))));
      pauseMs = Math.min(pauseMs * 2, READY_POLL_MAX_MS);
    }
    const status = this.#status;
    if (status !== undefined) return status.error ?? `exited during start-up with ${status.signal ?? `code ${status.code}`}`;
    return `stopped during start-up (${this.#state})`;
  }

  /** Counts one request in flight. */
  begin(): void {
    this.#inflight++;
  }

  /** Counts one request finished. */
  end(): void {
    this.#inflight--;
    this.#served++;
    if (this.#inflight === 0) {
      this.#idleSince = Date.now();
      this.#notifyIdle();
    }
  }

  #notifyIdle(): void {
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }

  /** Resolves when no request is in flight (or the process is gone), or after `timeoutMs`. */
  whenIdle(timeoutMs: number): Promise<void> {
    if (this.#inflight <= 0 || this.#state === 'exited') return Promise.resolve();
    return new Promise((resolveIdle) => {
      const waiter = (): void => {
        clearTimeout(timer);
        resolveIdle();
      };
      const timer = setTimeout(() => {
        const at = this.#idleWaiters.indexOf(waiter);
        if (at >= 0) this.#idleWaiters.splice(at, 1);
        resolveIdle();
      }, timeoutMs);
      this.#idleWaiters.push(waiter);
    });
  }

  #signal(signal: NodeJS.Signals): void {
    const pid = this.#child.pid;
    if (pid === undefined || this.#state === 'exited') return;
    if (!killGroup(pid, signal)) {
      try {
        this.#child.kill(signal);
      } catch {
        // Already gone.
      }
    }
  }

  /** SIGTERM to its process group, SIGKILL after `graceMs`; resolves when it has exited. */
  stop(graceMs: number): Promise<ExitStatus> {
    // Once: a second SIGTERM means "exit now" to many programs.
    this.#stopping ??= (async () => {
      if (this.#state === 'exited') return this.exited;
      this.transition('stopping');
      this.#signal('SIGTERM');
      const timer = setTimeout(() => this.#signal('SIGKILL'), graceMs);
      const status = await this.exited;
      clearTimeout(timer);
      return status;
    })();
    return this.#stopping;
  }
}
