/** Configuration: the YAML-subset reader, the server and worker schemas, and the loader. */
export { loadConfig, displayPath, type LoadedConfig, type LoadOptions } from './load.js';
export { readServerConfig, parseListen, DEFAULT_DURATION_BUCKETS, SERVER_TOP_KEYS, type ServerConfig, type MetricsAuth, type ListenAddress } from './server-config.js';
export { readWorkerConfig, normaliseRoute, WORKER_KEYS, type WorkerConfig, type WorkerType, type Mode } from './worker-config.js';
export { readPhpConfig, parseSeconds, PHP_KEYS, PHP_POOL_KEYS, type PhpConfig, type PhpProcessManager } from './php-config.js';
export { findPhpFpm, phpFpmFolders } from './php-fpm-binary.js';
export { parseYaml } from './yaml.js';
export { toPlain, type YamlNode, type YamlScalar } from './yaml-node.js';
export { resolvePlain } from './yaml-scalar.js';
