/** Listeners that cannot bind, explained in terms of the key an operator should change. */
import type { ListenAddress } from './config/index.js';
import { ListenError } from './errors.js';

/** Why a listener could not bind, by errno code, and which part of its address is to blame. */
const LISTEN_PROBLEMS: Readonly<Record<string, { readonly problem: string; readonly about: 'port' | 'host'; readonly note?: string }>> = {
  EADDRINUSE: { problem: 'is already in use', about: 'port' },
  EACCES: { problem: 'is not allowed for this process', about: 'port', note: 'ports below 1024 need privileges' },
  EADDRNOTAVAIL: { problem: 'is not an address of this machine', about: 'host' },
  ENOTFOUND: { problem: 'is not a host name that resolves', about: 'host' },
};

/** `host:port`, with brackets around an IPv6 host. */
export function hostPort(host: string, port: number): string {
  return `${host.includes(':') ? `[${host}]` : host}:${port}`;
}

/**
 * The error for a listener that cannot bind, naming the setting to change and the file it is in:
 * `server.port 8080 on 127.0.0.1 is already in use (EADDRINUSE); change server.port in
 * config/server.yaml or stop the other process`.
 */
export function listenError(err: unknown, setting: 'server' | 'metrics.listen', at: ListenAddress, file: string): ListenError {
  const code = (err as NodeJS.ErrnoException).code ?? '';
  const known = LISTEN_PROBLEMS[code];
  const about = known?.about ?? 'port';
  const key = setting === 'metrics.listen' ? setting : `server.${about}`;
  const subject = setting === 'metrics.listen' ? `metrics.listen ${hostPort(at.host, at.port)}` : about === 'host' ? `server.host ${at.host}` : `server.port ${at.port} on ${at.host}`;
  const where = file === '(defaults)' ? 'config/server.yaml' : file;
  const problem = known === undefined ? `cannot be bound (${(err as Error).message})` : `${known.problem} (${code}${known.note === undefined ? '' : `: ${known.note}`})`;
  return new ListenError(key, `${subject} ${problem}; change ${key} in ${where}${code === 'EADDRINUSE' ? ' or stop the other process' : ''}`);
}
