/**
 * The warm standbys of one worker (standby.ts): how many to hold, which are stale, and their
 * ports. Only dev mode, `dev.warm_standby`, and a `type: node` worker run by its default command
 * get any (the host's plan says so). Standbys are not instances: they hold a port each, but
 * appear in no count, metric or rotation until one is taken and becomes an Instance, which then
 * owns its process and its port.
 */
import type { Mode, ServerConfig, WorkerConfig } from '../config/index.js';
import type { Logger } from '../log.js';
import { launchPlan, samePlan, type LaunchPlan, type MetricsAccess } from './launch.js';
import type { PortPool } from './port-pool.js';
import { Standby, standbyHookAvailable } from './standby.js';

/**
 * Preloads in NODE_OPTIONS: Node runs them before the hook holds the process, so at the
 * standby's start, not after the save.
 */
const PRELOAD = /(?:^|\s)(?:-r|--require|--import|--loader|--experimental-loader)(?:[\s=]|$)/;

/**
 * What an instance of `worker` on `port` starts as now, if warm standbys may stand in for it:
 * dev mode, `dev.warm_standby`, a `type: node` worker run as `node <entrypoint>` (the default
 * command) with no preload in NODE_OPTIONS, and the hook built. Undefined otherwise.
 */
export function standbyPlan(worker: WorkerConfig, mode: Mode, server: ServerConfig, port: number, metrics?: MetricsAccess): LaunchPlan | undefined {
  const plain = worker.type === 'node' && worker.command.length === 2 && worker.command[0] === process.execPath;
  if (mode !== 'dev' || !server.dev.warmStandby || !plain || !standbyHookAvailable()) return undefined;
  const plan = launchPlan(worker, port, mode, server.root, metrics);
  return PRELOAD.test(plan.env.NODE_OPTIONS ?? '') ? undefined : plan;
}

/** What a worker's standbys need from its pool. */
export interface StandbyHost {
  readonly name: string;
  readonly ports: PortPool;
  readonly log: Logger;
  /**
   * The plan of an instance of the worker on `port`, as it would start now; undefined when the
   * worker is to have no standbys (prod mode, turned off, not a plain node worker, stopping).
   */
  plan(port: number): LaunchPlan | undefined;
}

/** The standbys held for one worker. */
export class WarmStandbys {
  readonly #host: StandbyHost;
  readonly #held: Standby[] = [];
  /** Standbys killed on purpose: their exit is not news. */
  readonly #discarded = new WeakSet<Standby>();
  #wanted = 0;
  /** Standbys on their way (waiting for a port). */
  #starting = 0;
  #closed = false;

  constructor(host: StandbyHost) {
    this.#host = host;
  }

  /**
   * Holds `count` standbys: kills the stale and the extra ones, and starts the missing ones
   * (they boot in the background). A pool calls it when none of its instances is starting, since
   * a booting standby competes with them for the CPU.
   */
  fill(count: number): void {
    if (this.#closed) return;
    this.prune();
    // Whether the worker is to have standbys at all (the port does not matter for that).
    this.#wanted = this.#host.plan(0) === undefined ? 0 : count;
    while (this.#held.length > this.#wanted) this.#discard(this.#held[this.#held.length - 1] as Standby);
    for (let missing = this.#wanted - this.#held.length - this.#starting; missing > 0; missing--) void this.#start();
  }

  /**
   * A standby to start an instance with, taken out of this set: a booted one if there is one,
   * else one still booting (it has a head start on a new process). Stale ones are killed first.
   */
  take(): Standby | undefined {
    if (this.#closed) return undefined;
    this.prune();
    const standby = this.#held.find((s) => s.state === 'booted') ?? this.#held.find((s) => s.waiting);
    if (standby === undefined) return undefined;
    this.#held.splice(this.#held.indexOf(standby), 1);
    return standby;
  }

  /** Kills the standbys whose plan is no longer what an instance on their port would start as (a changed configuration). */
  prune(): void {
    for (const standby of [...this.#held]) {
      const plan = this.#host.plan(standby.port);
      if (plan === undefined || !samePlan(plan, standby.plan)) this.#discard(standby);
    }
  }

  /** Kills every standby, and starts no more; resolves when they have exited. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#wanted = 0;
    await Promise.all([...this.#held].map((s) => this.#discard(s)));
  }

  async #start(): Promise<void> {
    let port: number;
    this.#starting++;
    try {
      port = await this.#host.ports.acquire();
    } catch (err) {
      this.#host.log.warn(`worker ${this.#host.name}: no warm standby: ${(err as Error).message}`);
      return;
    } finally {
      this.#starting--;
    }
    const plan = this.#closed || this.#held.length >= this.#wanted ? undefined : this.#host.plan(port);
    if (plan === undefined) {
      this.#host.ports.release(port);
      return;
    }
    const standby = new Standby(plan, port);
    this.#held.push(standby);
    const how = await standby.exited;
    const at = this.#held.indexOf(standby);
    if (at >= 0) this.#held.splice(at, 1);
    this.#host.ports.release(port);
    if (this.#discarded.has(standby)) return;
    const stderr = standby.stderrTail();
    this.#host.log.warn(`worker ${this.#host.name}: warm standby (pid ${standby.pid ?? '-'}, port ${port}) exited before use (${how})${stderr === '' ? '' : `; its stderr ended with:\n  | ${stderr.split('\n').slice(-12).join('\n  | ')}`}`);
  }

  #discard(standby: Standby): Promise<void> {
    const at = this.#held.indexOf(standby);
    if (at >= 0) this.#held.splice(at, 1);
    this.#discarded.add(standby);
    return standby.kill().then(() => undefined);
  }
}
