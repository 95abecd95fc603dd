/**
 * Where the php-fpm executable of a `php` worker comes from, when its worker.yaml does not say
 * (`php.binary`): `php-fpm` in PATH, then a versioned `php-fpmX.Y` there (Debian installs
 * `/usr/sbin/php-fpm8.2` and no `php-fpm`), the newest first. `/usr/sbin` and `/usr/local/sbin`
 * are looked in too, since they are often missing from a non-root PATH.
 */
import { readdirSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { isExecutableFile } from './executable.js';

/** The folders looked in, in order: PATH's, then /usr/local/sbin and /usr/sbin if not there. */
export function phpFpmFolders(env: NodeJS.ProcessEnv): string[] {
  const path = (env.PATH ?? '').split(delimiter).filter((dir) => dir !== '');
  for (const dir of ['/usr/local/sbin', '/usr/sbin']) if (!path.includes(dir)) path.push(dir);
  return path;
}

/** `php-fpm8.2` before `php-fpm8.1` before `php-fpm7.4`: by version, newest first. */
function byVersionDescending(a: string, b: string): number {
  const [am = 0, an = 0] = a.slice('php-fpm'.length).split('.').map(Number);
  const [bm = 0, bn = 0] = b.slice('php-fpm'.length).split('.').map(Number);
  return bm - am || bn - an;
}

/** The php-fpm to run when php.binary is not set, or undefined if none is installed. */
export function findPhpFpm(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const folders = phpFpmFolders(env);
  for (const dir of folders) {
    const plain = join(dir, 'php-fpm');
    if (isExecutableFile(plain)) return plain;
  }
  for (const dir of folders) {
    let names: string[];
    try {
      names = readdirSync(dir).filter((n) => /^php-fpm[0-9]+\.[0-9]+$/.test(n));
    } catch {
      continue;
    }
    const found = names.sort(byVersionDescending).map((n) => join(dir, n)).find(isExecutableFile);
    if (found !== undefined) return found;
  }
  return undefined;
}
