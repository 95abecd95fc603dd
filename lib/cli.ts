/** Command-line arguments of `node dist/main.js`. */
import type { Mode } from './config/index.js';

/** What the command line asks for. */
export type CliRequest =
  | { readonly kind: 'run'; readonly configPath: string | undefined; readonly mode: Mode; readonly quiet: boolean }
  | { readonly kind: 'help' }
  | { readonly kind: 'version' }
  | { readonly kind: 'usage-error'; readonly message: string };

/** The text of --help. */
export const USAGE = `Usage: node dist/main.js [options]

Runs tqserver from the current directory, which holds config/ and workers/.

Options (one dash or two, and a value after a space or "=": --config PATH, -config=PATH
and -mode=prod, as the Go TQServer takes them, all work):
  --config PATH        server configuration (default config/server.yaml; relative to the
                       current directory, or absolute)
  --mode dev|prod      dev rebuilds and restarts workers when their files change, shows build
                       errors in the browser and reloads open pages; default: $TQSERVER_MODE,
                       else dev (development and production are accepted too)
  --quiet              log only warnings and errors to stderr (the log file keeps everything)
  --help               show this help
  --version            show the version

Signals:
  SIGHUP               reload the configuration, rebuild and rolling-restart every worker;
                       metrics settings apply at once, server.host/server.port and
                       metrics.buckets at the next start
  SIGTERM, SIGINT      stop accepting, finish requests in flight, stop the workers, exit 0

Exit status: 0 after a clean stop, 1 when the configuration is broken or the server cannot
start (a port in use names the key to change), 2 for a usage error.
`;

/** Reads `dev`, `development`, `prod` or `production`. */
export function parseMode(text: string): Mode | undefined {
  if (text === 'dev' || text === 'development') return 'dev';
  if (text === 'prod' || text === 'production') return 'prod';
  return undefined;
}

/**
 * Splits one argument into its flag, spelled with two dashes, and the value given after `=`,
 * if any. Long flags take one dash or two, as Go's `flag` package reads them, so the Go
 * TQServer's `-config=path` and `-mode prod` work unchanged; `-h`, `-v` and `-q` are the short
 * flags.
 */
function splitFlag(arg: string): [string, string | undefined] {
  const long = /^--?([a-z][a-z-]+)(?:=(.*))?$/s.exec(arg);
  if (long === null) return [arg, undefined];
  return [`--${long[1]}`, long[2]];
}

/** Parses argv (without node and the script) and the environment. */
export function parseArgs(argv: readonly string[], env: NodeJS.ProcessEnv): CliRequest {
  let configPath: string | undefined;
  let modeText: string | undefined;
  let quiet = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    const [flag, inline] = splitFlag(arg);
    const value = (): string | undefined => inline ?? argv[++i];
    if (inline !== undefined && (flag === '--help' || flag === '--version' || flag === '--quiet')) {
      return { kind: 'usage-error', message: `${flag} takes no value, got ${JSON.stringify(arg)}` };
    }
    switch (flag) {
      case '--help':
      case '-h':
        return { kind: 'help' };
      case '--version':
      case '-v':
        return { kind: 'version' };
      case '--quiet':
      case '-q':
        quiet = true;
        break;
      case '--config':
        configPath = value();
        if (configPath === undefined || configPath === '') return { kind: 'usage-error', message: '--config needs a path' };
        break;
      case '--mode':
        modeText = value();
        if (modeText === undefined) return { kind: 'usage-error', message: '--mode needs dev or prod' };
        break;
      default:
        return { kind: 'usage-error', message: `unknown argument ${JSON.stringify(arg)}` };
    }
  }
  const source = modeText ?? env.TQSERVER_MODE ?? 'dev';
  const mode = parseMode(source);
  if (mode === undefined) {
    return { kind: 'usage-error', message: `mode must be dev or prod, got ${JSON.stringify(source)}${modeText === undefined ? ' (from TQSERVER_MODE)' : ''}` };
  }
  return { kind: 'run', configPath, mode, quiet };
}
