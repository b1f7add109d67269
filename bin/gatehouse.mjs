#!/usr/bin/env node
// Runs the TypeScript sources directly through tsx, so a fresh clone needs no build step
// (`npm run build` makes packages/server/dist/gatehouse.mjs, the same program as plain JavaScript).
import { register } from 'tsx/esm/api';

register();
await import('../packages/server/src/cli/program.ts');
