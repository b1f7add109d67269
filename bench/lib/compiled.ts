/**
 * The programs a benchmark starts, as plain JavaScript bundles (scripts/bundle.ts) run by plain
 * `node`: Gatehouse as its production build, the peers and the load generator likewise, so that
 * no process under load carries tsx's hooks thread or its per-closure name keeping, and every
 * server is measured in the same form. Each is built once per benchmark process, from the tree
 * as it is (uncommitted changes included, as the report's code line says).
 */
import { basename, join } from 'node:path';
import { boundChild } from '../../packages/server/src/internal/bounded-map.js';
import { bundle, bundleServer, ROOT } from '../../scripts/bundle.js';

/** Bench bundles live under bench/results (ignored by git), where node_modules resolve. */
const BUILD_DIR = join(ROOT, 'bench', 'results', 'build');
/** Each program's bundle, by program: built on first use. */
const built = new Map<string, string>();

/** packages/server/dist/gatehouse.mjs, built from the current sources: what the Docker image runs. */
export function gatehouseProgram(): string {
  return boundChild(built, 'gatehouse', () => bundleServer());
}

/** A TypeScript program of the benchmark's (a path from the repository root), bundled. */
export function compiledScript(script: string): string {
  return boundChild(built, script, () => {
    const outfile = join(BUILD_DIR, basename(script).replace(/\.ts$/, '.mjs'));
    bundle(join(ROOT, script), outfile);
    return outfile;
  });
}
