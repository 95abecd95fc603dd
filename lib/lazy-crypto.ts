/**
 * node:crypto, loaded by its first use rather than at start-up: loading it costs about 1.2 MB of
 * resident memory for the life of the process (docs/performance.md, "Idle memory"), and an idle
 * server needs it for none of its uses (correlation ids of proxied requests, metrics
 * authentication, dev-mode live reload). ESM has no synchronous import, so it comes through
 * `createRequire`, which for a built-in module is only a lookup.
 */
import { createRequire } from 'node:module';

let loaded: typeof import('node:crypto') | undefined;

/** node:crypto; the first call loads it. */
export function nodeCrypto(): typeof import('node:crypto') {
  loaded ??= createRequire(import.meta.url)('node:crypto') as typeof import('node:crypto');
  return loaded;
}
