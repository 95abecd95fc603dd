/**
 * Files under a worker's `public/` folder, served at the worker's route before the worker is
 * asked. Nothing outside that folder is ever served: the path is decoded once, any `..`,
 * backslash or NUL refuses it, the joined path must stay inside the folder, and so must the
 * file's real path (no symlink leads out).
 */
import { createReadStream } from 'node:fs';
import { realpath, stat } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join, sep } from 'node:path';
import { pipeline } from 'node:stream';
import { contentTypeOf } from './content-types.js';

/**
 * The segments of `rest` (a URL path such as `/css/app.css`, without query), decoded once,
 * without empty and `.` segments; undefined when it could name anything outside the folder it
 * is resolved in: undecodable escapes, `..` segments (plain or encoded), backslashes, NUL bytes.
 */
export function pathSegments(rest: string): string[] | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(rest);
  } catch {
    return undefined;
  }
  if (decoded.includes('\0') || decoded.includes('\\')) return undefined;
  const segments = decoded.split('/').filter((s) => s !== '' && s !== '.');
  return segments.some((s) => s === '..') ? undefined : segments;
}

/**
 * The file `rest` (a URL path such as `/css/app.css`, without query) names inside `publicDir`,
 * or undefined when it could name anything outside it: undecodable escapes, `..` segments
 * (plain or encoded), backslashes, NUL bytes.
 */
export function resolvePublicPath(publicDir: string, rest: string): string | undefined {
  const segments = pathSegments(rest);
  if (segments === undefined || segments.length === 0) return undefined;
  const full = join(publicDir, ...segments);
  return full.startsWith(publicDir + sep) ? full : undefined;
}

/** A weak ETag from size and modification time. */
function etagOf(size: number, mtimeMs: number): string {
  return `W/"${size.toString(16)}-${Math.floor(mtimeMs).toString(16)}"`;
}

/**
 * Serves `rest` from `publicDir` if it is a file there (GET and HEAD only), with Content-Type,
 * Content-Length, ETag, Last-Modified and 304 answers to If-None-Match / If-Modified-Since.
 * Resolves true if it answered, false if the request should go on to the worker.
 */
export async function serveStatic(req: IncomingMessage, res: ServerResponse, publicDir: string, rest: string, extraHeaders?: Record<string, string>): Promise<boolean> {
  if (req.method !== 'GET' && req.method !== 'HEAD') return false;
  const file = resolvePublicPath(publicDir, rest);
  if (file === undefined) return false;
  let info;
  let real: string;
  let realRoot: string;
  try {
    info = await stat(file);
    if (!info.isFile()) return false;
    [real, realRoot] = await Promise.all([realpath(file), realpath(publicDir)]);
  } catch {
    return false;
  }
  if (!real.startsWith(realRoot + sep)) return false;
  const etag = etagOf(info.size, info.mtimeMs);
  const lastModified = new Date(Math.floor(info.mtimeMs / 1000) * 1000);
  const headers: Record<string, string | number> = {
    ...extraHeaders,
    'Content-Type': contentTypeOf(file),
    ETag: etag,
    'Last-Modified': lastModified.toUTCString(),
    'Cache-Control': 'no-cache',
  };
  const ifNoneMatch = req.headers['if-none-match'];
  const ifModifiedSince = req.headers['if-modified-since'];
  const notModified =
    ifNoneMatch !== undefined
      ? ifNoneMatch.split(',').some((t) => t.trim() === etag || t.trim() === '*' || t.trim() === etag.slice(2))
      : ifModifiedSince !== undefined && !Number.isNaN(Date.parse(ifModifiedSince)) && lastModified.getTime() <= Date.parse(ifModifiedSince);
  if (notModified) {
    res.writeHead(304, headers);
    res.end();
    return true;
  }
  headers['Content-Length'] = info.size;
  res.writeHead(200, headers);
  if (req.method === 'HEAD') {
    res.end();
    return true;
  }
  pipeline(createReadStream(real), res, (err) => {
    if (err) res.destroy();
  });
  return true;
}
