#!/usr/bin/env node
/** The tqserver command: `node dist/main.js [--config PATH] [--mode dev|prod] [--quiet]`. */
import { startApp, type App } from './app.js';
import { parseArgs, USAGE } from './cli.js';
import { ConfigError, ConfigErrors } from './errors.js';
import { VERSION } from './version.js';

async function main(): Promise<void> {
  const request = parseArgs(process.argv.slice(2), process.env);
  switch (request.kind) {
    case 'help':
      process.stdout.write(USAGE);
      return;
    case 'version':
      process.stdout.write(`tqserver ${VERSION}\n`);
      return;
    case 'usage-error':
      process.stderr.write(`tqserver: ${request.message}\n\n${USAGE}`);
      process.exitCode = 2;
      return;
    case 'run':
      break;
  }
  // Handlers go in before anything starts: a signal with no handler would kill the process
  // with its workers still running. A signal during start-up is acted on once started.
  let app: App | undefined;
  let signals = 0;
  let reloadPending = false;
  const stop = (signal: NodeJS.Signals): void => {
    signals++;
    if (signals > 1) {
      process.stderr.write(`tqserver: ${signal} again, exiting now\n`);
      process.exit(1);
    }
    if (app === undefined) return;
    app.log.info(`${signal} received`);
    void app.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', stop);
  process.on('SIGINT', stop);
  process.on('SIGHUP', () => {
    if (app === undefined) {
      reloadPending = true;
      return;
    }
    app.log.info('SIGHUP received: reloading the configuration');
    void app.reload();
  });

  try {
    app = await startApp({ root: process.cwd(), configPath: request.configPath, mode: request.mode, quiet: request.quiet });
  } catch (err) {
    // One line per configuration problem, each starting with file:line:col.
    const lines = err instanceof ConfigErrors ? err.errors.map((e) => e.message) : err instanceof ConfigError ? [err.message] : [`cannot start: ${(err as Error).message}`];
    process.stderr.write(lines.map((line) => `tqserver: ${line}\n`).join(''));
    process.exit(1);
  }
  const started = app;
  if (signals > 0) {
    started.log.info('stop requested during start-up');
    await started.stop();
    process.exit(0);
  }
  process.stdout.write(`tqserver ready on http://${started.address.address.includes(':') ? `[${started.address.address}]` : started.address.address}:${started.address.port}\n`);
  const m = started.metricsAddress;
  if (m !== undefined) process.stdout.write(`tqserver metrics on http://${m.address.includes(':') ? `[${m.address}]` : m.address}:${m.port}${started.config.server.metrics.path}\n`);
  if (reloadPending) void started.reload();
}

void main();
