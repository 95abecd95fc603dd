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
