/**
 * Dev mode: watching a folder tree for changes, debounced.
 *
 * Every folder of the tree gets its own non-recursive `fs.watch`, and an event only marks its
 * folder dirty: once the tree has been quiet for the debounce time, each dirty folder is read
 * again and compared with what was seen before (inode, size, mtime). A folder watch follows the
 * folder, not the files in it, so a file replaced by rename (`sed -i`, an editor's safe-write,
 * `git checkout`), deleted and recreated, or written in place is seen every time. Node 20's
 * recursive `fs.watch` on Linux watches each file's inode and goes deaf to a file once it is
 * replaced; this is why it is not used.
 */
import { lstatSync, readdirSync, watch, type FSWatcher, type Stats } from 'node:fs';
import { basename, dirname, join, sep } from 'node:path';

/** Folder names never entered: dependencies, build output, logs. Dot-folders are skipped too. */
const IGNORED_FOLDERS = new Set(['node_modules', 'bin', 'dist', 'build', 'logs']);

/**
 * What package managers write on install (npm, Yarn, pnpm, Bun, Composer), and `go.sum`, which
 * `go build -mod=mod` writes: a change of dependencies comes with a change of the manifest.
 */
const LOCK_FILES = new Set([
  'package-lock.json', 'npm-shrinkwrap.json', 'yarn.lock', 'pnpm-lock.yaml', 'bun.lockb', 'bun.lock', 'composer.lock', 'go.sum',
]);

/**
 * Editors' backup, swap and safe-write files: `a.js~` (Emacs, Vim backups), `.swp`/`.swo`/`.swx`
 * (Vim), `#a.js#` (Emacs auto-save), `___jb_tmp___`/`___jb_old___` (JetBrains), `.tmp`, and
 * names of digits only (Vim writes `4913` to test whether a folder is writable).
 */
const EDITOR_FILE = /(~|\.sw[pox]|\.tmp|___jb_(tmp|old)___)$|^#.*#$|^\d+$/;

/**
 * Whether a change to `relative` (a path inside a worker folder, `sep`-separated) can mean new
 * code. False for anything under node_modules/, bin/, dist/, build/ or logs/ at any depth, any
 * dot-file or dot-folder, lock files, `*.log` files and editor temporary files.
 */
export function isRelevant(relative: string): boolean {
  const parts = relative.split(sep);
  if (parts.some((p) => IGNORED_FOLDERS.has(p) || p.startsWith('.'))) return false;
  const last = parts.at(-1) ?? '';
  return !(LOCK_FILES.has(last) || last.endsWith('.log') || EDITOR_FILE.test(last));
}

/**
 * Whether `relative` (a path inside the workers directory) is one of the entries that decide
 * which worker folders exist: `NAME`, `NAME/config` and `NAME/config/worker.yaml`. Dot-folders
 * are not worker folders (the configuration loader skips them too).
 */
export function isWorkerConfigEntry(relative: string): boolean {
  const parts = relative.split(sep);
  if (parts[0] === undefined || parts[0] === '' || parts[0].startsWith('.')) return false;
  if (parts.length === 1) return true;
  return parts[1] === 'config' && (parts.length === 2 || (parts.length === 3 && parts[2] === 'worker.yaml'));
}

/** What is remembered of a file or folder to tell that it changed. */
interface Seen {
  readonly ino: number;
  readonly size: number;
  readonly mtimeMs: number;
  readonly folder: boolean;
}

/** What to remember of an entry: symbolic links are not followed. */
function seen(stats: Stats): Seen {
  return { ino: stats.ino, size: stats.size, mtimeMs: stats.mtimeMs, folder: stats.isDirectory() };
}

/**
 * Unchanged: the same folder (what happens inside it is its own watch's business), or a file
 * with the same content as far as `stat` can tell.
 */
function same(a: Seen, b: Seen): boolean {
  if (a.folder || b.folder) return a.folder === b.folder && a.ino === b.ino;
  return a.ino === b.ino && a.size === b.size && a.mtimeMs === b.mtimeMs;
}

/** The folder holding `relative`; the root is `''`. */
function parentOf(relative: string): string {
  const parent = dirname(relative);
  return parent === '.' ? '' : parent;
}

/** `lstat`, or undefined if there is nothing there (any more). */
function lstat(path: string): Stats | undefined {
  try {
    return lstatSync(path);
  } catch {
    return undefined;
  }
}

/** One watched folder: its watch and its entries as last read. */
interface Folder {
  readonly ino: number;
  watcher: FSWatcher | undefined;
  readonly entries: Map<string, Seen>;
}

/** The watch of one tree; see the file comment. */
class TreeWatch {
  readonly #root: string;
  readonly #debounceMs: number;
  readonly #onChange: (paths: string[]) => void;
  readonly #include: (relative: string) => boolean;
  /** Watched folders by path relative to the root; the root is `''`. */
  readonly #folders = new Map<string, Folder>();
  /** Folders an event came from since the last flush. */
  readonly #dirty = new Set<string>();
  /** Paths events named since the last flush: a write in place may leave size and mtime alone. */
  readonly #named = new Set<string>();
  /**
   * Folders whose watch may have died since the last flush. A watch follows an inode; when its
   * folder is deleted or moved away, Linux reports it under the folder's own name. A folder
   * deleted and made again at once can get the same inode number back, so the number alone
   * cannot tell.
   */
  readonly #suspect = new Set<string>();
  /** While the root does not exist: a watch on its parent, to see it (re)appear. */
  #parentWatcher: FSWatcher | undefined;
  #timer: NodeJS.Timeout | undefined;
  #closed = false;

  constructor(root: string, debounceMs: number, onChange: (paths: string[]) => void, include: (relative: string) => boolean) {
    this.#root = root;
    this.#debounceMs = debounceMs;
    this.#onChange = onChange;
    this.#include = include;
  }

  /** Reads the tree and starts watching it; what is there now is not a change. */
  start(): void {
    this.#attachRoot(new Set());
  }

  /** Stops every watch; no call of `onChange` follows. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#parentWatcher?.close();
    for (const folder of this.#folders.values()) folder.watcher?.close();
    this.#folders.clear();
  }

  /** An event of the watch of `folder`, about its entry `name`: noted, and the burst timer restarted. */
  #event(folder: string, name: string | undefined): void {
    if (this.#closed) return;
    const self = name === basename(join(this.#root, folder));
    if (self) this.#suspect.add(folder);
    if (name !== undefined) {
      const relative = join(folder, name);
      if (this.#include(relative)) this.#named.add(relative);
      // Entries never looked at cannot change what is reported: a log written on every request
      // in a watched folder costs nothing.
      else if (!self) return;
    }
    this.#dirty.add(folder);
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#flush(), this.#debounceMs);
  }

  /** The burst is over: reads every dirty folder again and reports what changed, if anything. */
  #flush(): void {
    if (this.#closed) return;
    const changed = new Set<string>();
    while (this.#dirty.size > 0) {
      const next = shallowest(this.#dirty);
      this.#dirty.delete(next);
      if (this.#folders.has(next)) this.#rescan(next, changed);
      else if (next === '' && this.#parentWatcher !== undefined) this.#attachRoot(changed);
    }
    for (const relative of this.#named) {
      const entry = this.#folders.get(parentOf(relative))?.entries.get(basename(relative));
      if (entry !== undefined && !entry.folder) changed.add(relative);
    }
    this.#named.clear();
    if (changed.size > 0) this.#onChange([...changed].sort());
  }

  /** Watches and reads the root if it is a folder, else watches its parent for it to appear. */
  #attachRoot(changed: Set<string>): void {
    const stats = lstat(this.#root);
    if (stats?.isDirectory()) {
      this.#parentWatcher?.close();
      this.#parentWatcher = undefined;
      this.#add('', stats, changed);
      return;
    }
    if (this.#parentWatcher !== undefined) return;
    const name = basename(this.#root);
    this.#parentWatcher = this.#watch(dirname(this.#root), (entry) => {
      if (entry === undefined || entry === name) this.#event('', undefined);
    });
  }

  /** A non-recursive watch of `path`, or undefined if the platform refuses one. */
  #watch(path: string, onEvent: (name: string | undefined) => void): FSWatcher | undefined {
    try {
      const watcher = watch(path, { persistent: false }, (_event, name) => onEvent(name ?? undefined));
      // Linux reports no error for a watched folder that goes away; its parent's event does.
      watcher.on('error', () => {});
      return watcher;
    } catch {
      // No watch (inotify limit reached, no permission): the folder is still read when its
      // parent changes, so only writes in place inside it go unseen.
      return undefined;
    }
  }

  /** Starts watching a folder that is new to us, and reads it: all it holds is new. */
  #add(folder: string, stats: Stats, changed: Set<string>): void {
    const watcher = this.#watch(join(this.#root, folder), (name) => this.#event(folder, name));
    this.#folders.set(folder, { ino: stats.ino, watcher, entries: new Map() });
    this.#rescan(folder, changed);
  }

  /** Stops watching a folder and everything under it; every file in it counts as changed. */
  #remove(folder: string, changed: Set<string>): void {
    const record = this.#folders.get(folder);
    if (record === undefined) return;
    record.watcher?.close();
    this.#folders.delete(folder);
    for (const [name, entry] of record.entries) {
      const relative = join(folder, name);
      if (entry.folder) this.#remove(relative, changed);
      else changed.add(relative);
    }
  }

  /** Reads a watched folder again and records what was added, removed or modified. */
  #rescan(folder: string, changed: Set<string>): void {
    const record = this.#folders.get(folder) as Folder;
    const path = join(this.#root, folder);
    if (this.#suspect.delete(folder)) {
      // A new watch before reading, so that nothing written after the read goes unseen.
      record.watcher?.close();
      record.watcher = this.#watch(path, (name) => this.#event(folder, name));
    }
    const stats = lstat(path);
    let names: string[] | undefined;
    try {
      names = stats?.isDirectory() && stats.ino === record.ino ? readdirSync(path) : undefined;
    } catch {
      names = undefined;
    }
    if (names === undefined) {
      // Gone, or replaced by another folder of the same name: what the watch followed is lost.
      this.#remove(folder, changed);
      if (folder === '') this.#attachRoot(changed);
      else this.#dirty.add(parentOf(folder));
      return;
    }
    const present = new Set<string>();
    for (const name of names) {
      const relative = join(folder, name);
      if (!this.#include(relative)) continue;
      const now = lstat(join(this.#root, relative));
      if (now === undefined) continue;
      present.add(name);
      const next = seen(now);
      const before = record.entries.get(name);
      if (before !== undefined && same(before, next)) continue;
      record.entries.set(name, next);
      if (before?.folder) this.#remove(relative, changed);
      if (next.folder) this.#add(relative, now, changed);
      // A file added, modified, or replaced by a folder.
      if (!next.folder || before?.folder === false) changed.add(relative);
    }
    for (const [name, entry] of record.entries) {
      if (present.has(name)) continue;
      record.entries.delete(name);
      const relative = join(folder, name);
      if (entry.folder) this.#remove(relative, changed);
      else changed.add(relative);
    }
  }
}

/** The least deep of a set of relative folder paths (the root `''` first). */
function shallowest(folders: Set<string>): string {
  let best: string | undefined;
  let bestDepth = Infinity;
  for (const folder of folders) {
    const depth = folder === '' ? 0 : folder.split(sep).length;
    if (depth < bestDepth) {
      best = folder;
      bestDepth = depth;
    }
  }
  return best as string;
}

/**
 * Calls `onChange` with the sorted relative paths of the files added, removed or modified under
 * `dir`, once the tree has been quiet for `debounceMs`: a burst of saves is one call. Only paths
 * for which `include` holds are looked at, and folders it rejects are never entered (so never
 * watched). Folders themselves are not reported, only the files in them; a file that came and
 * went within one burst (an editor's or `sed -i`'s temporary file) is not reported either. If
 * `dir` does not exist, or goes away, its parent is watched until it is back. Returns a function
 * that stops watching.
 */
export function watchTree(
  dir: string,
  debounceMs: number,
  onChange: (paths: string[]) => void,
  include: (relative: string) => boolean = isRelevant,
): () => void {
  const tree = new TreeWatch(dir, debounceMs, onChange, include);
  tree.start();
  return () => tree.close();
}
