/**
 * The standard process_* and nodejs_* families that Node dashboards query, computed at scrape
 * time, lint-clean (no gauge ends in _total). Linux facts (fds, virtual memory) come from /proc
 * and are left out where /proc is missing.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { constants, createHistogram, performance, PerformanceObserver, type RecordableHistogram } from 'node:perf_hooks';
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

/** How often the event-loop lag sampler runs, in milliseconds. */
export const LAG_RESOLUTION_MS = 20;

/** The event-loop lag over one window, in seconds; all 0 when nothing was sampled. */
export interface LagReading {
  readonly count: number;
  readonly min: number;
  readonly max: number;
  readonly mean: number;
  readonly stddev: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
}

const NO_LAG: LagReading = Object.freeze({ count: 0, min: 0, max: 0, mean: 0, stddev: 0, p50: 0, p90: 0, p99: 0 });

/**
 * Event-loop lag from a timer that should run every `resolutionMs`: each tick records how much
 * later than that it ran. The interval itself is subtracted, so an idle loop reads about 0.
 * (`monitorEventLoopDelay` records the whole interval, so it reads its resolution when idle, and
 * its `reset()` forgets the previous tick, which loses the stall that straddles a scrape.)
 */
export class LoopLag {
  readonly #resolutionMs: number;
  #histogram: RecordableHistogram = createHistogram();
  #previousMs: number | undefined;

  constructor(resolutionMs: number) {
    this.#resolutionMs = resolutionMs;
  }

  /** Records one tick of the timer, run at `nowMs` on a monotonic clock (`performance.now()`). */
  tick(nowMs: number): void {
    if (this.#previousMs !== undefined) {
      const lateNs = Math.round((nowMs - this.#previousMs - this.#resolutionMs) * 1e6);
      // The histogram takes integers >= 1, so it holds lag + 1 ns; a tick on time (or early, by
      // clock rounding) is lag 0.
      this.#histogram.record(Math.max(0, lateNs) + 1);
    }
    this.#previousMs = nowMs;
  }

  /** The window since the previous take(), then a new window (the tick timing carries over). */
  take(): LagReading {
    const h = this.#histogram;
    if (h.count === 0) return NO_LAG;
    const seconds = (stored: number): number => (stored - 1) / 1e9;
    const reading: LagReading = {
      count: h.count,
      min: seconds(h.min),
      max: seconds(h.max),
      mean: seconds(h.mean),
      stddev: h.stddev / 1e9,
      p50: seconds(h.percentile(50)),
      p90: seconds(h.percentile(90)),
      p99: seconds(h.percentile(99)),
    };
    // A new histogram, not h.reset(): reset writes all of its ~350 KB of counts, which then
    // stay resident; a new one keeps untouched counts out of memory (docs/performance.md).
    this.#histogram = createHistogram();
    return reading;
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

  // Event-loop lag: a timer every LAG_RESOLUTION_MS records how late it ran; each scrape reads
  // the interval since the previous one, and all the lag families of one scrape read one window.
  const lag = new LoopLag(LAG_RESOLUTION_MS);
  lag.tick(performance.now());
  const sampler = setInterval(() => lag.tick(performance.now()), LAG_RESOLUTION_MS);
  sampler.unref();
  let reading: LagReading | undefined;
  const read = (): LagReading => {
    if (reading === undefined) {
      reading = lag.take();
      queueMicrotask(() => (reading = undefined));
    }
    return reading;
  };
  const lagGauge = (suffix: string, help: string, pick: (r: LagReading) => number): void => {
    registry.gauge({ name: `nodejs_eventloop_lag${suffix}_seconds`, help, collect: (g) => g.set(pick(read())) });
  };
  lagGauge('', 'Mean event-loop lag since the previous scrape, in seconds (0 when idle).', (r) => r.mean);
  lagGauge('_min', 'Smallest event-loop lag since the previous scrape, in seconds.', (r) => r.min);
  lagGauge('_max', 'Largest event-loop lag since the previous scrape, in seconds.', (r) => r.max);
  lagGauge('_mean', 'Mean event-loop lag since the previous scrape, in seconds.', (r) => r.mean);
  lagGauge('_stddev', 'Standard deviation of the event-loop lag since the previous scrape, in seconds.', (r) => r.stddev);
  lagGauge('_p50', 'Median event-loop lag since the previous scrape, in seconds.', (r) => r.p50);
  lagGauge('_p90', '90th percentile of the event-loop lag since the previous scrape, in seconds.', (r) => r.p90);
  lagGauge('_p99', '99th percentile of the event-loop lag since the previous scrape, in seconds.', (r) => r.p99);

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
    clearInterval(sampler);
    observer.disconnect();
  };
}
