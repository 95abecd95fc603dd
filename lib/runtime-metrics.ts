/**
 * The standard process_* and nodejs_* families that Node dashboards query, computed at scrape
 * time, lint-clean (no gauge ends in _total). Linux facts (fds, virtual memory) come from /proc
 * and are left out where /proc is missing.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { constants, monitorEventLoopDelay, PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics } from 'node:v8';
import type { Registry } from './exposition/index.js';

const GC_KINDS: Readonly<Record<number, string>> = {
  [constants.NODE_PERFORMANCE_GC_MAJOR]: 'major',
  [constants.NODE_PERFORMANCE_GC_MINOR]: 'minor',
  [constants.NODE_PERFORMANCE_GC_INCREMENTAL]: 'incremental',
  [constants.NODE_PERFORMANCE_GC_WEAKCB]: 'weakcb',
};

const VM_SIZE = /^VmSize:\s+(\d+)\s+kB/m;

/** Virtual memory of this process from /proc, in bytes; undefined without /proc. */
function virtualMemory(): number | undefined {
  try {
    const m = VM_SIZE.exec(readFileSync('/proc/self/status', 'latin1'));
    return m === null ? undefined : Number(m[1]) * 1024;
  } catch {
    return undefined;
  }
}

/** Registers the runtime families; returns a function that stops their observers. */
export function registerRuntimeMetrics(registry: Registry): () => void {
  const start = Date.now() / 1000 - process.uptime();

  // CPU time is a counter read from the OS: each scrape adds what passed since the last one.
  const cpu = (name: string, help: string, read: (u: NodeJS.CpuUsage) => number): void => {
    registry.counter({ name, help, collect: (c) => c.inc(Math.max(0, read(process.cpuUsage()) / 1e6 - c.labels().value)) });
  };
  cpu('process_cpu_user_seconds_total', 'User CPU time spent, in seconds.', (u) => u.user);
  cpu('process_cpu_system_seconds_total', 'System CPU time spent, in seconds.', (u) => u.system);
  cpu('process_cpu_seconds_total', 'User and system CPU time spent, in seconds.', (u) => u.user + u.system);
  registry.gauge({ name: 'process_start_time_seconds', help: 'Unix time the process started, in seconds.', collect: (g) => g.set(start) });
  registry.gauge({ name: 'process_resident_memory_bytes', help: 'Resident memory, in bytes.', collect: (g) => g.set(process.memoryUsage.rss()) });
  if (virtualMemory() !== undefined) {
    registry.gauge({ name: 'process_virtual_memory_bytes', help: 'Virtual memory, in bytes.', collect: (g) => g.set(virtualMemory() ?? NaN) });
    registry.gauge({
      name: 'process_open_fds',
      help: 'Open file descriptors.',
      // readdir holds one descriptor of its own for the listing.
      collect: (g) => g.set(readdirSync('/proc/self/fd').length - 1),
    });
    const limits = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync('/proc/self/limits', 'latin1'));
    if (limits !== null) {
      const max = limits[1] === 'unlimited' ? Infinity : Number(limits[1]);
      registry.gauge({ name: 'process_max_fds', help: 'Maximum number of open file descriptors (soft limit).', collect: (g) => g.set(max) });
    }
  }

  // Event-loop delay, sampled every 20 ms; each scrape reports the interval since the last one.
  const delay = monitorEventLoopDelay({ resolution: 20 });
  delay.enable();
  const lag = (suffix: string, help: string, read: () => number): void => {
    registry.gauge({ name: `nodejs_eventloop_lag${suffix}_seconds`, help, collect: (g) => g.set(delay.count === 0 ? 0 : read() / 1e9) });
  };
  lag('', 'Mean event-loop delay since the previous scrape, in seconds.', () => delay.mean);
  lag('_min', 'Smallest event-loop delay since the previous scrape, in seconds.', () => delay.min);
  lag('_max', 'Largest event-loop delay since the previous scrape, in seconds.', () => delay.max);
  lag('_mean', 'Mean event-loop delay since the previous scrape, in seconds.', () => delay.mean);
  lag('_stddev', 'Standard deviation of the event-loop delay since the previous scrape, in seconds.', () => delay.stddev);
  lag('_p50', 'Median event-loop delay since the previous scrape, in seconds.', () => delay.percentile(50));
  lag('_p90', '90th percentile of the event-loop delay since the previous scrape, in seconds.', () => delay.percentile(90));
  // The last lag family resets the sampler, so that every scrape covers one interval.
  lag('_p99', '99th percentile of the event-loop delay since the previous scrape, in seconds.', () => {
    const p99 = delay.percentile(99);
    queueMicrotask(() => delay.reset());
    return p99;
  });

  registry.gauge({ name: 'nodejs_heap_size_total_bytes', help: 'V8 heap size, in bytes.', collect: (g) => g.set(process.memoryUsage().heapTotal) });
  registry.gauge({ name: 'nodejs_heap_size_used_bytes', help: 'V8 heap used, in bytes.', collect: (g) => g.set(process.memoryUsage().heapUsed) });
  registry.gauge({ name: 'nodejs_external_memory_bytes', help: 'Memory of C++ objects bound to JavaScript objects, in bytes.', collect: (g) => g.set(process.memoryUsage().external) });
  const space = (what: 'total' | 'used' | 'available', read: (s: ReturnType<typeof getHeapSpaceStatistics>[number]) => number): void => {
    registry.gauge({
      name: `nodejs_heap_space_size_${what}_bytes`,
      help: `V8 heap space size ${what}, by space, in bytes.`,
      labelNames: ['space'] as const,
      collect: (g) => {
        for (const s of getHeapSpaceStatistics()) g.labels(s.space_name.replace(/_space$/, '')).set(read(s));
      },
    });
  };
  space('total', (s) => s.space_size);
  space('used', (s) => s.space_used_size);
  space('available', (s) => s.space_available_size);
  registry.gauge({
    name: 'nodejs_active_resources',
    help: 'Resources keeping the event loop alive, by type (process.getActiveResourcesInfo()).',
    labelNames: ['type'] as const,
    collect: (g) => {
      g.clear();
      const counts = new Map<string, number>();
      for (const t of process.getActiveResourcesInfo()) counts.set(t, (counts.get(t) ?? 0) + 1);
      for (const [t, n] of counts) g.labels(t).set(n);
    },
  });
  const [major = '', minor = '', patch = ''] = process.versions.node.split('.');
  registry.gauge({ name: 'nodejs_version_info', help: 'Node.js version.', labelNames: ['version', 'major', 'minor', 'patch'] as const }).labels(process.version, major, minor, patch).set(1);

  const gc = registry.histogram({ name: 'nodejs_gc_duration_seconds', help: 'Garbage collection pauses, by kind, in seconds.', labelNames: ['kind'] as const, buckets: [0.001, 0.01, 0.1, 1, 2, 5] });
  for (const kind of Object.values(GC_KINDS)) gc.labels(kind);
  const observer = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const kind = GC_KINDS[(entry as unknown as { detail?: { kind?: number } }).detail?.kind ?? -1];
      if (kind !== undefined) gc.labels(kind).observe(entry.duration / 1000);
    }
  });
  observer.observe({ entryTypes: ['gc'] });

  return () => {
    delay.disable();
    observer.disconnect();
  };
}
