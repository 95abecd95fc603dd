/** Longest-prefix routing on path-segment boundaries. */

/** A route: a normalised prefix (`/` or `/a/b`) and what it leads to. */
export interface Route<T> {
  readonly prefix: string;
  readonly target: T;
}

/** A match: the route, and the path with the prefix stripped (`/api/users` under `/api` is `/users`). */
export interface Match<T> {
  readonly prefix: string;
  readonly target: T;
  readonly rest: string;
}

/**
 * Routes a request path to the route with the longest prefix that ends on a segment boundary:
 * `/api` matches `/api` and `/api/x`, never `/apiary`; `/` matches everything.
 */
export class Router<T> {
  readonly #routes: readonly Route<T>[];

  constructor(routes: readonly Route<T>[]) {
    this.#routes = [...routes].sort((a, b) => b.prefix.length - a.prefix.length);
  }

  /** The match for `path` (no query string), or undefined. */
  match(path: string): Match<T> | undefined {
    for (const route of this.#routes) {
      const { prefix } = route;
      if (prefix === '/') return { prefix, target: route.target, rest: path };
      if (path.startsWith(prefix) && (path.length === prefix.length || path.charCodeAt(prefix.length) === 47 /* / */)) {
        return { prefix, target: route.target, rest: path.length === prefix.length ? '/' : path.slice(prefix.length) };
      }
    }
    return undefined;
  }
}
