/** Dev mode: watching a folder tree for changes, debounced. */
import { watch, type FSWatcher } from 'node:fs';
import { sep } from 'node:path';

/** Folders whose changes never mean new code: dependencies, build output, logs, VCS. */
const IGNORED = new Set(['node_modules', 'bin', 'logs', '.git', 'dist']);

/** Whether a change to `relative` (a path inside the watched folder) matters. */
export function isRelevant(relative: string): boolean {
  const parts = relative.split(sep);
  if (parts.some((p) => IGNORED.has(p) || p.startsWith('.'))) return false;
  const last = parts.at(-1) ?? '';
  return !(last.endsWith('~') || last.endsWith('.swp') || last.endsWith('.tmp') || /^\d+$/.test(last));
}

/**
 * Calls `onChange` with the relevant paths changed under `dir`, `debounceMs` after the last
 * change of a burst. Returns a function that stops watching.
 */
export function watchTree(dir: string, debounceMs: number, onChange: (paths: string[]) => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  const pending = new Set<string>();
  let watcher: FSWatcher;
  try {
    watcher = watch(dir, { recursive: true }, (_event, filename) => {
      const name = filename?.toString();
      if (name === undefined || !isRelevant(name)) return;
      pending.add(name);
      clearTimeout(timer);
      timer = setTimeout(() => {
        const paths = [...pending];
        pending.clear();
        onChange(paths);
      }, debounceMs);
    });
  } catch {
    return () => {};
  }
  watcher.on('error', () => {});
  return () => {
    clearTimeout(timer);
    watcher.close();
  };
}
