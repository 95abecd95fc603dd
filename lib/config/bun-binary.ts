/**
 * Where the `bun` executable of a `bun` worker comes from, when its worker.yaml does not say
 * (`bun.binary`). The Go TQServer looks in PATH, then in `~/.bun/bin`; tqserver also looks in
 * the `node_modules/.bin` of the project and of its own installation, so that the npm package
 * `bun` (a real Bun binary) works as a dependency without being on PATH.
 */
import { homedir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { CODE_ROOT } from '../code-root.js';
import { isExecutableFile } from './executable.js';

/** tqserver's own `node_modules/.bin`: CODE_ROOT is the package's `dist/` (or `lib/`). */
const OWN_BIN = fileURLToPath(new URL('../node_modules/.bin/', CODE_ROOT));

/**
 * The places looked at, in order: each folder of `PATH`, then `<root>/node_modules/.bin`, then
 * tqserver's own `node_modules/.bin`, then `~/.bun/bin` (where Bun's own installer puts it).
 */
export function bunCandidates(root: string, env: NodeJS.ProcessEnv): string[] {
  const path = (env.PATH ?? '').split(delimiter).filter((dir) => dir !== '');
  return [...path, join(root, 'node_modules', '.bin'), OWN_BIN, join(env.HOME ?? homedir(), '.bun', 'bin')].map((dir) => join(dir, 'bun'));
}

/** The first of {@link bunCandidates} that is an executable file, or undefined. */
export function findBun(root: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  return bunCandidates(root, env).find(isExecutableFile);
}
