/** Worker supervision: pools of instances, ports, health, scaling, builds and dev-mode watching. */
export { Supervisor, type SupervisorOptions } from './supervisor.js';
export { WorkerPool, type PoolContext, type InstanceSnapshot } from './pool.js';
export { Instance, type InstanceState } from './instance.js';
export type { MetricsAccess } from './launch.js';
export { PortPool, canBind } from './port-pool.js';
export { decideScale, restartDelayMs, type ScaleAction, type ScaleState } from './decisions.js';
export { probe, type ProbeResult } from './health.js';
export { runBuild, type BuildResult } from './build.js';
export { residentBytes } from './process-memory.js';
