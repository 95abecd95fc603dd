// Bundles lib/main.ts into one file, dist/main.js (with dist/main.js.map), over the one tsc
// wrote. Run by `npm run build`, after tsc: tsc still writes the rest of dist/, which the
// package's exports (dist/index.js, dist/exposition/index.js), the standby hook
// (dist/supervisor/standby-hook.js, loaded by `node --import` into worker processes) and the
// tests use. One file instead of about 80 modules: Node's ESM loader runs its URL and path
// functions for each import, often enough that V8 optimizes them during start-up, and the
// optimizing compiler's first run costs about 4 MB of resident memory (docs/performance.md,
// "Idle memory").
//
// No code splitting: the modules that lib/ imports lazily (watch.ts, the FastCGI client,
// php-dispatch.ts) stay in the file, and esbuild runs each one's top level on its first
// import(), as Node would. Chunks of their own measured the same at idle, within the noise, and
// one file keeps import.meta.url that of dist/main.js, which lib/code-root.ts relies on.
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

await esbuild.build({
  entryPoints: [fileURLToPath(new URL('../lib/main.ts', import.meta.url))],
  outfile: fileURLToPath(new URL('../dist/main.js', import.meta.url)),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // Stack traces under `node --enable-source-maps` name lib/*.ts lines. Like tsc's maps, this
  // one points at lib/ rather than carrying its text.
  sourcemap: true,
  sourcesContent: false,
  logLevel: 'warning',
});
