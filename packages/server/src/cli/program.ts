/**
 * The `gatehouse` program: runs the command line and exits with its code. bin/gatehouse.mjs
 * loads it through tsx (a clone); `npm run build` bundles it into packages/server/dist/gatehouse.mjs.
 */
// First: before anything else loads (see the module).
import './keep-tick-shape.js';
import { main } from './main.js';

process.exitCode = await main(process.argv.slice(2));
