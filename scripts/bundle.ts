/**
 * The `gatehouse` program as one ES module, packages/server/dist/gatehouse.mjs (`npm run build`,
 * scripts/build.ts), for production (the Docker image runs it): plain JavaScript under plain
 * `node`, with no TypeScript loader in the process. A clone needs no build: bin/gatehouse.mjs
 * runs the sources through tsx. Why it pays: tsx runs its hooks on a thread of their own, whose
 * collections take CPU from the server on a small machine (the bare benchmark proxy's p99 at
 * 13.7k req/s halved without it), and it keeps every function's name with a property definition
 * each time a closure is made.
 *
 * The workspace packages (@gatehouse/*) are bundled; every npm dependency stays an import,
 * resolved from node_modules next to the bundle (native addons and WebAssembly load as they do
 * from the sources).
 */
import { chmodSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type BuildOptions, buildSync } from 'esbuild';

export const ROOT = fileURLToPath(new URL('..', import.meta.url));
const WORKSPACES = ['packages/core', 'packages/server', 'packages/node'];

/** Where `npm run build` writes the program (beside packages/server/node_modules, which it needs). */
export const SERVER_BUNDLE = join(ROOT, 'packages/server/dist/gatehouse.mjs');
const SERVER_ENTRY = join(ROOT, 'packages/server/src/cli/program.ts');

/** Every npm package the root and the workspaces depend on, but the workspaces themselves. */
function npmDependencies(): string[] {
  const names = new Set<string>();
  for (const dir of ['.', ...WORKSPACES]) {
    const manifest = JSON.parse(readFileSync(join(ROOT, dir, 'package.json'), 'utf8')) as {
      dependencies?: Record<string, string>;
      devDependencies?: Record<string, string>;
    };
    for (const name of Object.keys({ ...manifest.dependencies, ...manifest.devDependencies }))
      if (!name.startsWith('@gatehouse/')) names.add(name);
  }
  return [...names].sort();
}

/**
 * Bundles `entry` (a TypeScript module that runs when loaded) into the ES module `outfile`, with
 * a linked source map: run with `node --enable-source-maps` for stack traces in the sources.
 * Throws with esbuild's messages when the sources do not build.
 */
export function bundle(entry: string, outfile: string, banner?: string): void {
  const options: BuildOptions = {
    ...(banner !== undefined && { banner: { js: banner } }),
    entryPoints: [entry],
    outfile,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    external: npmDependencies().flatMap((name) => [name, `${name}/*`]),
    sourcemap: 'linked',
    logLevel: 'silent',
    // Not minified, so functions and classes keep their names but where two modules' names
    // collide (esbuild renames one: `Foo2`); keeping even those would cost a property
    // definition per closure made. Nothing reads a function's name (errors set `name` themselves).
    keepNames: false,
  };
  buildSync(options);
}

/** Builds packages/server/dist/gatehouse.mjs, an executable (`gatehouse` on a PATH), and returns its path. */
export function bundleServer(outfile: string = SERVER_BUNDLE): string {
  bundle(SERVER_ENTRY, outfile, '#!/usr/bin/env node');
  chmodSync(outfile, 0o755);
  return outfile;
}
