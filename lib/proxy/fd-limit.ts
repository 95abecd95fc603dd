/** The process's limit on open file descriptors, where the platform tells it. */
import { readFileSync } from 'node:fs';

/** Descriptors tqserver needs besides client and upstream connections: logs, listeners, pipes, watchers. */
export const FD_RESERVE = 256;

/**
 * The soft limit on open files (`ulimit -n`) from /proc/self/limits (Linux; Node raises the soft
 * limit to the hard one at start-up), or undefined where it cannot be read or is unlimited.
 */
export function openFileLimit(): number | undefined {
  try {
    const line = /^Max open files\s+(\S+)/m.exec(readFileSync('/proc/self/limits', 'utf8'));
    const soft = Number(line?.[1]);
    return Number.isSafeInteger(soft) && soft > 0 ? soft : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The descriptors `maxConnections` busy clients need: one for the client and one for its
 * connection to a worker each, and the reserve.
 */
export function descriptorsNeeded(maxConnections: number): number {
  return maxConnections * 2 + FD_RESERVE;
}

/** The connection cap when server.max_connections is not set. */
export const DEFAULT_MAX_CONNECTIONS = 10_000;

/**
 * The connection cap for a configured `max_connections`, or, when it is not set, as many as
 * the descriptor limit `limit` leaves room for (at most DEFAULT_MAX_CONNECTIONS, at least 1).
 */
export function connectionCap(configured: number | undefined, limit: number | undefined): number {
  if (configured !== undefined) return configured;
  if (limit === undefined) return DEFAULT_MAX_CONNECTIONS;
  return Math.max(1, Math.min(DEFAULT_MAX_CONNECTIONS, Math.floor((limit - FD_RESERVE) / 2)));
}
