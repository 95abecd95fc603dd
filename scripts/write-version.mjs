// Writes lib/version.ts from package.json, so that dist/ carries the version and
// `node dist/main.js --version` needs nothing beside dist/. Run by `npm run build`; the file is
// committed too (tests and type checks read lib/ without building), and a test checks it still
// matches package.json. Written only when it changes, so file watchers see no churn.
import { readFileSync, writeFileSync } from 'node:fs';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
// A semver version (https://semver.org): it needs no escaping in a string literal.
if (typeof version !== 'string' || !/^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?$/.test(version)) {
  throw new Error(`package.json: version must be a semver string, got ${JSON.stringify(version)}`);
}
const target = new URL('../lib/version.ts', import.meta.url);
const text = `/** The tqserver version: package.json's, written by scripts/write-version.mjs on \`npm run build\`. Do not edit. */
export const VERSION = '${version}';
`;
let current;
try {
  current = readFileSync(target, 'utf8');
} catch {
  current = undefined;
}
if (current !== text) writeFileSync(target, text);
