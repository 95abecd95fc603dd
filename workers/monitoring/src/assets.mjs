/**
 * The page's files (ui/), read once at start into memory with their ETag and a gzipped copy.
 * The HTML gets the base URL written into its `<base href>`: tqserver strips the route prefix,
 * so `/monitoring` and `/monitoring/` both arrive here as `/`, and only a base URL makes the
 * page's relative URLs (`./app.mjs`, `./api/dashboard`) right from either.
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';

/**
 * @typedef {object} Asset
 * @property {string} contentType
 * @property {Buffer} body
 * @property {Buffer} gzipped
 * @property {string} etag
 */

/** The files served, by request path, and their types. */
const FILES = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/app.mjs': ['app.mjs', 'text/javascript; charset=utf-8'],
  '/chart.mjs': ['chart.mjs', 'text/javascript; charset=utf-8'],
  '/format.mjs': ['format.mjs', 'text/javascript; charset=utf-8'],
  '/render.mjs': ['render.mjs', 'text/javascript; charset=utf-8'],
  '/style.css': ['style.css', 'text/css; charset=utf-8'],
  '/favicon.svg': ['favicon.svg', 'image/svg+xml'],
};

/** @param {string} text */
const escapeAttribute = (text) => text.replace(/[&"<>]/g, (c) => `&#${c.charCodeAt(0)};`);

/**
 * Loads every asset from `dir` (a file URL of the ui/ folder).
 * @param {URL} dir
 * @param {string} basePath the page's path without a trailing slash ('' for the root)
 * @returns {Map<string, Asset>}
 */
export function loadAssets(dir, basePath) {
  /** @type {Map<string, Asset>} */
  const assets = new Map();
  for (const [path, [file, contentType]] of Object.entries(FILES)) {
    let body = readFileSync(new URL(file, dir));
    if (file === 'index.html') body = Buffer.from(body.toString('utf8').replace('{{BASE}}', escapeAttribute(basePath + '/')));
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
    assets.set(path, { contentType, body, gzipped: gzipSync(body, { level: 9 }), etag });
  }
  return assets;
}
