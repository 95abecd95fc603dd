// Writes dist/package.json, `{"type": "module"}`, so that dist/ copied anywhere on its own (it
// needs nothing else) still says its .js files are ES modules. Without it, and with no
// package.json above, Node 20 parses each module as CommonJS first, fails on `import`, and
// parses it again as ESM: about 1 MB more resident memory for the life of the process
// (docs/performance.md, "Idle memory"), and a slower start. Run by `npm run build`; written
// only when it changes, so file watchers see no churn.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';

const target = new URL('../dist/package.json', import.meta.url);
const text = '{ "type": "module" }\n';
let current;
try {
  current = readFileSync(target, 'utf8');
} catch {
  current = undefined;
}
if (current !== text) {
  mkdirSync(new URL('.', target), { recursive: true });
  writeFileSync(target, text);
}
