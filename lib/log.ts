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
      write(`${new Date().toISOString()} warn  cannot open log file ${options.file}: ${(err as Error).message}\n`);
    }
  }
  const emit = (level: LogLevel, message: string): void => {
    const line = `${new Date().toISOString()} ${level.padEnd(5)} ${message}\n`;
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
