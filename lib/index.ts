/** tqserver's public surface for embedding: start a server in-process, or use its parts. */
export { startApp, type App, type AppOptions, type AppHooks } from './app.js';
export { loadConfig, type LoadedConfig, type ServerConfig, type WorkerConfig, type Mode } from './config/index.js';
export type { ServerObserver, RequestEvent, InstanceInfo, ExitReason } from './observer.js';
export { TqError, MetricError, ConfigError, ConfigErrors, ServeError } from './errors.js';
export * as exposition from './exposition/index.js';
