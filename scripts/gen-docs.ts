// Regenerates docs/config.schema.json and docs/configuration.md from the config schema.
import { writeFileSync } from 'node:fs';
import { configJsonSchema, configReferenceMarkdown } from '../packages/server/src/config/config-reference.js';

const root = new URL('..', import.meta.url).pathname;
writeFileSync(`${root}docs/config.schema.json`, `${JSON.stringify(configJsonSchema(), null, 2)}\n`);
writeFileSync(`${root}docs/configuration.md`, configReferenceMarkdown());
console.log('wrote docs/config.schema.json and docs/configuration.md');
