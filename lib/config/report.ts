/** What reading configuration files found: every problem, not just the first, and warnings. */
import { ConfigError, ConfigErrors } from '../errors.js';

/** Where the readers of one file put what they find; they go on after a problem. */
export interface Report {
  /** The file as messages name it. */
  readonly file: string;
  /** Shared by every file of a load, in the order found. */
  readonly warnings: string[];
  /** This file's problems, in the order found. */
  readonly errors: ConfigError[];
}

/** `errors` by line, then column; whole-file problems (no position) first; ties keep their order. */
export function byPosition(errors: readonly ConfigError[]): ConfigError[] {
  return [...errors].sort((a, b) => (a.line ?? 0) - (b.line ?? 0) || (a.col ?? 0) - (b.col ?? 0));
}

/** Throws ConfigErrors listing `errors` as given, if there is at least one. */
export function throwIfAny(errors: readonly ConfigError[]): void {
  const [first, ...rest] = errors;
  if (first !== undefined) throw new ConfigErrors([first, ...rest]);
}
