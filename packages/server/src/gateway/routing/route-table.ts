import type { RouteConfig } from '@gatehouse/core';
import { pathHasPrefix } from './normalize-path.js';

/** A route ready to match: its config plus the lookups prepared once. */
export interface CompiledRoute {
  config: RouteConfig;
  methods: ReadonlySet<string> | null;
  hosts: ReadonlySet<string> | null;
}

/**
 * The routes in force, matched by host, method and normalized path. The most specific route
 * wins (exact before prefix, then the longest path), whatever the order they were declared in,
 * so adding a route never silently shadows a more specific one.
 */
export class RouteTable {
  readonly #routes: readonly CompiledRoute[];

  constructor(routes: readonly RouteConfig[]) {
    this.#routes = routes
      .map((config) => ({
        config,
        methods: config.match.methods ? new Set<string>(config.match.methods) : null,
        hosts: config.match.hosts ? new Set(config.match.hosts) : null,
      }))
      .sort(
        (a, b) =>
          Number(b.config.match.exact) - Number(a.config.match.exact) ||
          b.config.match.path.length - a.config.match.path.length,
      );
  }

  get size(): number {
    return this.#routes.length;
  }

  /** The route for a request, or undefined. `host` is the Host header, lower-cased. */
  match(method: string, host: string | undefined, path: string): CompiledRoute | undefined {
    for (const route of this.#routes) {
      const { match } = route.config;
      if (match.exact ? path !== match.path : !pathHasPrefix(path, match.path)) continue;
      if (route.methods && !route.methods.has(method)) continue;
      if (route.hosts && (host === undefined || !route.hosts.has(host))) continue;
      return route;
    }
    return undefined;
  }

  /** Every route, most specific first. */
  all(): readonly CompiledRoute[] {
    return this.#routes;
  }

  /** A route by id (forward-auth and tests). */
  byId(id: string): CompiledRoute | undefined {
    return this.#routes.find((r) => r.config.id === id);
  }
}
