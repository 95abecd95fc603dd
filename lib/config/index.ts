/** Configuration: the YAML-subset reader, the server and worker schemas, and the loader. */
export { loadConfig, displayPath, type LoadedConfig, type LoadOptions } from './load.js';
export { readServerConfig, parseListen, DEFAULT_DURATION_BUCKETS, type ServerConfig, type MetricsAuth, type ListenAddress } from './server-config.js';
export { readWorkerConfig, normaliseRoute, type WorkerConfig, type WorkerType, type Mode } from './worker-config.js';
export { parseYaml, toPlain, resolvePlain, type YamlNode, type YamlScalar } from './yaml.js';
