/** The tqserver version: package.json's, written by scripts/write-version.mjs on `npm run build`. Do not edit. */
export const VERSION = '0.1.0';
