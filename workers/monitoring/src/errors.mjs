/**
 * The monitoring worker's errors: one base class with a stable string `code`, as in tqserver's
 * own taxonomy (the worker cannot import lib/: it must run from a copied workers/ folder).
 */

/** Base class of every error the monitoring worker throws on purpose. */
export class MonitoringError extends Error {
  /**
   * @param {string} code stable machine-readable code (`ERR_EXPOSITION_PARSE`, ...)
   * @param {string} message
   */
  constructor(code, message) {
    super(message);
    this.name = new.target.name;
    /** @readonly */
    this.code = code;
  }
}

/** An exposition body that is not valid text 0.0.4 or OpenMetrics 1.0. `line` is 1-based. */
export class ParseError extends MonitoringError {
  /**
   * @param {number} line
   * @param {string} reason
   */
  constructor(line, reason) {
    super('ERR_EXPOSITION_PARSE', `line ${line}: ${reason}`);
    this.line = line;
    this.reason = reason;
  }
}

/** A MONITORING_* (or WORKER_*) environment variable with a value the worker cannot use. */
export class ConfigError extends MonitoringError {
  /**
   * @param {string} variable
   * @param {string} reason
   */
  constructor(variable, reason) {
    super('ERR_MONITORING_CONFIG', `${variable}: ${reason}`);
    this.variable = variable;
  }
}

/**
 * A scrape that gave no usable exposition: `ERR_SCRAPE_TIMEOUT`, `ERR_SCRAPE_STATUS` (not 200),
 * `ERR_SCRAPE_TOO_LARGE`, `ERR_SCRAPE_NETWORK`.
 */
export class ScrapeError extends MonitoringError {}
