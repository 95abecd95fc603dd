/**
 * The server's log: lines to stderr (info lines only without --quiet) and, when configured, to
 * a log file whose name may hold `{date}`.
 */
import { closeSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

/** Log levels, lowest first. */
export type LogLevel = 'info' | 'warn' | 'error';

/** Where log lines go. */
export interface Logger {
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  /** Closes the log file, if any. */
  close(): void;
}

/** Today's date as used in `{date}` placeholders: YYYY-MM-DD, local time. */
export function today(now = new Date()): string {
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${now.getFullYear()}-${p(now.getMonth() + 1)}-${p(now.getDate())}`;
}

/**
 * `ms` (milliseconds since the epoch) as ISO 8601 in UTC, `YYYY-MM-DDTHH:mm:ss.sssZ`: what
 * Date#toISOString writes for years 0-9999, from the UTC fields. The first toISOString of a
 * process reads about 0.4 MB of ICU data into resident memory; the UTC getters read none.
 */
export function timestamp(ms = Date.now()): string {
  const d = new Date(ms);
  const p = (n: number, width = 2): string => String(n).padStart(width, '0');
  return `${p(d.getUTCFullYear(), 4)}-${p(d.getUTCMonth() + 1)}-${p(d.getUTCDate())}T${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())}.${p(d.getUTCMilliseconds(), 3)}Z`;
}

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  /** Suppress info lines on stderr (they still go to the file). */
  readonly quiet: boolean;
  /** Absolute path of the log file, or null for none. */
  readonly file: string | null;
  /** Where stderr lines go; default process.stderr. */
  readonly write?: (line: string) => void;
}

/** Creates a logger. A log file that cannot be opened is reported once and skipped. */
export function createLogger(options: LoggerOptions): Logger {
  const write = options.write ?? ((line: string) => process.stderr.write(line));
  let fd: number | undefined;
  if (options.file !== null) {
    try {
      mkdirSync(dirname(options.file), { recursive: true });
      fd = openSync(options.file, 'a');
    } catch (err) {
      write(`${timestamp()} warn  cannot open log file ${options.file}: ${(err as Error).message}\n`);
    }
  }
  const emit = (level: LogLevel, message: string): void => {
    const line = `${timestamp()} ${level.padEnd(5)} ${message}\n`;
    if (level !== 'info' || !options.quiet) write(line);
    if (fd !== undefined) {
      try {
        writeSync(fd, line);
      } catch {
        fd = undefined;
      }
    }
  };
  return {
    info: (m) => emit('info', m),
    warn: (m) => emit('warn', m),
    error: (m) => emit('error', m),
    close: () => {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}
