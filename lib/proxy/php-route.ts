/**
 * What a URL path names inside a php worker's document root: a static file (served like a
 * public/ file), a script to run through php-fpm (`*.php`, a folder's `index.php`, else the
 * front controller `index.php`), or nothing. A script outside the document root is never named:
 * the path is decoded once and refused for `..` (plain or encoded), backslashes and NUL (as for
 * public/ files), and the real path of every file must stay inside the root's real path, so a
 * symlink cannot lead out.
 */
import { realpath, stat } from 'node:fs/promises';
import type { Stats } from 'node:fs';
import { join, sep } from 'node:path';
import { pathSegments } from './static.js';

/** Where a path leads. */
export type PhpTarget =
  | { readonly kind: 'static' }
  | {
      readonly kind: 'script';
      /** The script's URL path below the route, decoded (`/index.php`, `/admin/index.php`). */
      readonly scriptPath: string;
      /** Its file name: the document root joined with scriptPath. */
      readonly filename: string;
      /** The decoded URL path after the script's (`/users/42`), or ''. */
      readonly pathInfo: string;
    }
  | { readonly kind: 'not_found' };

/** A script php-fpm runs (its security.limit_extensions, as tqserver configures it). */
const SCRIPT = /\.php$/;

/**
 * Files never sent as they are: PHP sources by another spelling or extension, which php-fpm
 * would not run but whose source must not leak either.
 */
const NEVER_STATIC = /\.(php[0-9]?|phtml|phar|phps)$/i;

const FRONT_CONTROLLER = 'index.php';

async function statOf(path: string): Promise<Stats | undefined> {
  try {
    return await stat(path);
  } catch {
    return undefined;
  }
}

/** Whether the real path of `path` lies inside `realRoot`. */
async function inside(path: string, realRoot: string): Promise<boolean> {
  try {
    const real = await realpath(path);
    return real === realRoot || real.startsWith(realRoot + sep);
  } catch {
    return false;
  }
}

/**
 * Where `rest` (the URL path below the worker's route, without query) leads inside
 * `documentRoot` (absolute). Dot-segments other than `.well-known` (`.git`, `.env`,
 * `.user.ini`) name nothing.
 */
export async function resolvePhpTarget(documentRoot: string, rest: string): Promise<PhpTarget> {
  const segments = pathSegments(rest);
  if (segments === undefined || segments.some((s) => s.startsWith('.') && s !== '.well-known')) return { kind: 'not_found' };
  let realRoot: string;
  try {
    realRoot = await realpath(documentRoot);
  } catch {
    return { kind: 'not_found' };
  }
  const script = async (upTo: number, pathInfo: string, file = segments.slice(0, upTo)): Promise<PhpTarget> => {
    const filename = join(documentRoot, ...file);
    if (!(await inside(filename, realRoot))) return { kind: 'not_found' };
    return { kind: 'script', scriptPath: '/' + file.join('/'), filename, pathInfo };
  };
  const trailing = rest.endsWith('/') ? '/' : '';
  // `/a.php/b/c`: the first `.php` segment that is a file is the script, the rest its PATH_INFO.
  for (let i = 0; i < segments.length; i++) {
    if (!SCRIPT.test(segments[i] as string)) continue;
    const info = await statOf(join(documentRoot, ...segments.slice(0, i + 1)));
    if (info?.isFile()) return script(i + 1, i + 1 < segments.length ? '/' + segments.slice(i + 1).join('/') + trailing : '');
    if (info === undefined) break;
  }
  const full = join(documentRoot, ...segments);
  if (full !== documentRoot && !full.startsWith(documentRoot + sep)) return { kind: 'not_found' };
  const info = await statOf(full);
  if (info?.isFile()) {
    if (NEVER_STATIC.test(full) || !(await inside(full, realRoot))) return { kind: 'not_found' };
    return { kind: 'static' };
  }
  if (info?.isDirectory() && (await inside(full, realRoot))) {
    const index = [...segments, FRONT_CONTROLLER];
    if ((await statOf(join(documentRoot, ...index)))?.isFile()) return script(index.length, '', index);
  }
  // Anything else goes to the front controller, with the whole path as PATH_INFO.
  if (!(await statOf(join(documentRoot, FRONT_CONTROLLER)))?.isFile()) return { kind: 'not_found' };
  return script(1, segments.length === 0 ? '' : '/' + segments.join('/') + trailing, [FRONT_CONTROLLER]);
}
