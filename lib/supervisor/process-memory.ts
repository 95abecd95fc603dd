/** Resident memory of a child process, read from /proc (Linux); undefined elsewhere or if gone. */
import { readFileSync } from 'node:fs';

/** Resident set size of `pid` in bytes (VmRSS), or undefined when it cannot be read. */
export function residentBytes(pid: number): number | undefined {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'latin1');
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return m === null ? undefined : Number(m[1]) * 1024;
  } catch {
    return undefined;
  }
}

/**
 * Resident memory of `pid` and of its children (one level: a php-fpm master and its pool), read
 * from /proc/<pid>/task/<pid>/children; undefined when `pid` cannot be read.
 */
export function treeResidentBytes(pid: number): number | undefined {
  const own = residentBytes(pid);
  if (own === undefined) return undefined;
  let children: string;
  try {
    children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'latin1');
  } catch {
    return own;
  }
  let total = own;
  for (const child of children.trim().split(' ')) if (child !== '') total += residentBytes(Number(child)) ?? 0;
  return total;
}
