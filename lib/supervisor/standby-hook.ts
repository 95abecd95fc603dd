/**
 * The warm-standby hook, run in a worker's process by `node --import <this file> <entrypoint>`
 * (see standby.ts). Node runs `--import` modules, and awaits them, before it reads the
 * entrypoint; this one holds the process there, booted, until tqserver says "go" on the control
 * pipe (fd 3). It then closes the pipe, takes itself out of `process.execArgv` and returns, and
 * Node loads the entrypoint from disk as `node <entrypoint>` would: the code saved last.
 * If the pipe closes without "go" (tqserver died, or discarded the standby), the process exits.
 *
 * No exports and nothing left behind: after "go" the worker's process holds no trace of it but
 * the modules below, which any HTTP worker loads anyway.
 */
import { Socket } from 'node:net';
import { isMainThread } from 'node:worker_threads';

/** The control pipe tqserver opens as stdio[3]. */
const CONTROL_FD = 3;

/** Waits on the control pipe for "go"; exits the process if it closes first. */
function hold(): Promise<void> {
  return new Promise((release) => {
    const control = new Socket({ fd: CONTROL_FD, readable: true, writable: true });
    let said = '';
    let released = false;
    control.setEncoding('utf8');
    control.on('data', (text: string) => {
      said += text;
      if (released || !said.split('\n').includes('go')) return;
      released = true;
      control.destroy();
      release();
    });
    control.on('error', () => {});
    control.on('close', () => {
      if (!released) process.exit(0);
    });
    control.write('booted\n');
  });
}

/**
 * Removes this hook's `--import` from process.execArgv, which `child_process.fork` and
 * `cluster` pass on: the worker's own children must start as plain Node processes.
 */
function forget(): void {
  const me = import.meta.url;
  const argv = process.execArgv;
  for (let i = argv.length - 1; i >= 0; i--) {
    if (argv[i] === `--import=${me}`) argv.splice(i, 1);
    else if (argv[i] === '--import' && argv[i + 1] === me) argv.splice(i, 2);
  }
}

// Worker threads run `--import` modules too; only the main thread owns the control pipe.
if (isMainThread) {
  await hold();
  forget();
}
