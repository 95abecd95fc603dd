/**
 * The folder of tqserver's code, for the files it locates beside its own: dist/ when built, lib/
 * when run from source by tsx. dist/main.js is one file bundled by esbuild, in which every
 * module's `import.meta.url` is that of dist/main.js, while tsc's separate modules of dist/
 * (the library entry points, the standby hook) each have their own. This module sits at the top
 * of lib/, so in both it is a file of that folder (dist/code-root.js, or dist/main.js itself):
 * it must stay there, and the bundle must stay one file (scripts/bundle-main.mjs).
 */

/** dist/ (lib/ under tsx), with a trailing slash. */
export const CODE_ROOT: URL = new URL('./', import.meta.url);
