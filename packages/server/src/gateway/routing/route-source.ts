import { readFileSync, statSync } from 'node:fs';
import { type RouteConfig, routesFileSchema } from '@gatehouse/core';
import type { Logger } from 'pino';
import { parse as parseYaml } from 'yaml';
import { dottedPath } from '../../config/load-config.js';
import { RouteTable } from './route-table.js';

/** How often the routes file is checked for changes. */
const POLL_MS = 500;

/** Reads a routes file; throws with the dotted path of the first bad key. */
export function readRoutesFile(path: string): RouteConfig[] {
  const text = readFileSync(path, 'utf8');
  const parsed = routesFileSchema.safeParse(parseYaml(text, { uniqueKeys: true }) ?? {});
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new Error(`${dottedPath(issue?.path ?? []) || '(root)'}: ${issue?.message ?? 'invalid'}`);
  }
  return parsed.data.routes;
}

/**
 * The routes in force: those of the config file plus those of the routes file, which is watched
 * and reloaded on change. A file that does not parse or validate leaves the previous routes in
 * place, and says why in the log; the gateway never runs on half a file.
 */
export class RouteSource {
  readonly #inline: readonly RouteConfig[];
  readonly #file: string | undefined;
  readonly #logger: Logger;
  readonly #onReload: (outcome: 'applied' | 'rejected') => void;
  #table: RouteTable;
  #timer: NodeJS.Timeout | undefined;
  /** mtime and size of the file as last read: a change to either triggers a reload. */
  #seen: string | undefined;

  constructor(options: {
    inline: readonly RouteConfig[];
    file?: string | undefined;
    logger: Logger;
    onReload?: (outcome: 'applied' | 'rejected') => void;
  }) {
    this.#inline = options.inline;
    this.#file = options.file;
    this.#logger = options.logger;
    this.#onReload = options.onReload ?? (() => undefined);
    // At start a bad routes file is a bad configuration: fail loudly (the caller reports it).
    this.#seen = this.#stamp();
    this.#table = this.#build(this.#file === undefined ? [] : readRoutesFile(this.#file));
  }

  #stamp(): string | undefined {
    if (this.#file === undefined) return undefined;
    try {
      const stat = statSync(this.#file);
      return `${stat.mtimeMs}:${stat.size}`;
    } catch {
      return 'missing';
    }
  }

  get table(): RouteTable {
    return this.#table;
  }

  /** Starts watching the routes file, if there is one. */
  watch(): void {
    if (this.#file === undefined || this.#timer) return;
    // Polled against the stamp taken when the file was read, so no write after that is missed
    // (fs.watchFile takes its first stat later) and editors that replace the file are seen too.
    this.#timer = setInterval(() => {
      const stamp = this.#stamp();
      if (stamp === this.#seen) return;
      this.#seen = stamp;
      this.reload();
    }, POLL_MS);
    this.#timer.unref();
  }

  /** Re-reads the routes file now; keeps the old routes when it is bad. */
  reload(): boolean {
    if (this.#file === undefined) return false;
    try {
      this.#table = this.#build(readRoutesFile(this.#file));
      this.#logger.info({ routes: this.#table.size, file: this.#file }, 'gateway routes reloaded');
      this.#onReload('applied');
      return true;
    } catch (err) {
      this.#logger.warn(
        { file: this.#file, reason: (err as Error).message },
        'gateway routes file rejected; keeping the previous routes',
      );
      this.#onReload('rejected');
      return false;
    }
  }

  stop(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #build(fromFile: readonly RouteConfig[]): RouteTable {
    const ids = new Set(this.#inline.map((r) => r.id));
    const clash = fromFile.find((r) => ids.has(r.id));
    if (clash)
      throw new Error(`route id "${clash.id}" is declared in both the config file and the routes file`);
    return new RouteTable([...this.#inline, ...fromFile]);
  }
}
