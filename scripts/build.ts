// `npm run build`: packages/server/dist/gatehouse.mjs (see scripts/bundle.ts).
import { relative } from 'node:path';
import { bundleServer, ROOT } from './bundle.js';

const started = performance.now();
const outfile = bundleServer();
process.stdout.write(`built ${relative(ROOT, outfile)} in ${Math.round(performance.now() - started)} ms\n`);
