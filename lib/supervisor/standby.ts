/**
 * A warm standby: a `type: node` instance's exact process (argv, folder, environment with its
 * WORKER_PORT, log file, process group), started ahead of time with one extra flag,
 * `--import` of standby-hook.js, which holds it booted before its entrypoint loads. Taking it
 * says "go" on its control pipe (fd 3): Node then loads the entrypoint from disk, so the new
 * code, and the process becomes an ordinary instance. A reload then costs loading the worker's
 * code (10-20 ms), not starting Node (about 150 ms on a busy 2-core machine).
 */
import { closeSync, existsSync } from 'node:fs';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { CODE_ROOT } from '../code-root.js';
import { SupervisorError } from '../errors.js';
import { endGroup, killGroup, launch, type Launched, type LaunchPlan } from './launch.js';

/**
 * `booting`: spawned, its hook not yet loaded. `booted`: held, waiting for "go". `taken`: handed
 * over to an Instance. `exited`: gone before it was taken.
 */
export type StandbyState = 'booting' | 'booted' | 'taken' | 'exited';

/** The hook: a file of its own, dist/supervisor/standby-hook.js, not part of the dist/main.js bundle. */
const HOOK = new URL('./supervisor/standby-hook.js', CODE_ROOT);
let hookFound: boolean | undefined;

/**
 * Whether standbys can run: the compiled hook is there. Run from lib/ by tsx (in-process tests)
 * there is only standby-hook.ts, which a plain `node` cannot import: no standbys then.
 */
export function standbyHookAvailable(): boolean {
  hookFound ??= existsSync(fileURLToPath(HOOK));
  return hookFound;
}

/** How much of a standby's stderr is kept before it is taken (it runs no worker code, so writes little). */
const STDERR_KEEP_BYTES = 4096;

/** One held process, for one port. */
export class Standby {
  readonly port: number;
  /** What it was started as: it may stand in only for an instance of the same plan. */
  readonly plan: LaunchPlan;
  /** Resolves, saying how (`code 1`, `signal SIGKILL`), when it has exited before being taken; never once taken. */
  readonly exited: Promise<string>;
  #state: StandbyState = 'booting';
  readonly #launched: Launched;
  #stderr: Buffer = Buffer.alloc(0);
  readonly #onStderr = (chunk: Buffer): void => {
    const joined = Buffer.concat([this.#stderr, chunk]);
    this.#stderr = joined.length > STDERR_KEEP_BYTES ? Buffer.from(joined.subarray(joined.length - STDERR_KEEP_BYTES)) : joined;
  };

  /** Spawns it, for `port` (already in its plan's environment). */
  constructor(plan: LaunchPlan, port: number) {
    this.plan = plan;
    this.port = port;
    this.#launched = launch(plan, { nodeFlags: ['--import', HOOK.href], control: true });
    const { child } = this.#launched;
    child.stderr?.on('data', this.#onStderr);
    const control = this.#control();
    control?.on('error', () => {});
    control?.on('data', (text: Buffer) => {
      if (this.#state === 'booting' && text.toString('utf8').includes('booted')) this.#state = 'booted';
    });
    this.exited = new Promise((resolveExit) => {
      const gone = (how: string): void => {
        if (this.#state === 'taken' || this.#state === 'exited') return;
        this.#state = 'exited';
        if (child.pid !== undefined) endGroup(child.pid);
        if (this.#launched.out !== undefined) closeSync(this.#launched.out.fd);
        resolveExit(how);
      };
      child.once('exit', (code, signal) => gone(signal !== null ? `signal ${signal}` : `code ${code}`));
      child.once('error', (err) => gone(err.message));
    });
  }

  /** tqserver's end of the control pipe (stdio[3], a socket). */
  #control(): Socket | undefined {
    return (this.#launched.child.stdio[3] ?? undefined) as Socket | undefined;
  }

  get state(): StandbyState {
    return this.#state;
  }

  get pid(): number | undefined {
    return this.#launched.child.pid;
  }

  /** Whether it can still be taken. */
  get waiting(): boolean {
    return this.#state === 'booting' || this.#state === 'booted';
  }

  /** What its stderr said so far (for a standby that exited before use). */
  stderrTail(): string {
    return this.#stderr.toString('utf8').trimEnd();
  }

  /**
   * Says "go" and hands the process over, for an Instance on {@link port}: it loads its
   * entrypoint now (if it is still booting, "go" waits in the pipe). The Instance owns it from
   * now on.
   */
  go(): Launched {
    if (!this.waiting) throw new SupervisorError('ERR_INSTANCE_STATE', `warm standby pid ${this.pid ?? '-'} cannot be taken: ${this.#state}`);
    this.#state = 'taken';
    const { child } = this.#launched;
    child.stderr?.off('data', this.#onStderr);
    const control = this.#control();
    control?.removeAllListeners('data');
    // The hook closes its end on "go"; ours closes once written.
    control?.end('go\n');
    return { ...this.#launched, stderr: this.#stderr };
  }

  /** Kills it (nothing runs in it yet: no grace period); resolves when it has exited. */
  kill(): Promise<void> {
    if (this.#state === 'taken') return Promise.resolve();
    const pid = this.pid;
    if (this.waiting && pid !== undefined && !killGroup(pid, 'SIGKILL')) this.#launched.child.kill('SIGKILL');
    return this.exited.then(() => undefined);
  }
}
