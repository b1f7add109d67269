import { configSchema } from '@gatehouse/core';
import { z } from 'zod';

type JsonSchema = {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  oneOf?: JsonSchema[];
  anyOf?: JsonSchema[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  description?: string;
  pattern?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
};

/** The JSON Schema of the config file (what `docs/config.schema.json` holds). */
export function configJsonSchema(): JsonSchema & Record<string, unknown> {
  return z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema &
    Record<string, unknown>;
}

/** A Markdown table of every config key, generated from the schema (`docs/configuration.md`). */
export function configReferenceMarkdown(): string {
  const rows: string[] = [];
  const walk = (schema: JsonSchema, path: string, variant = '') => {
    if (schema.properties) {
      for (const [key, child] of Object.entries(schema.properties))
        walk(child, path ? `${path}.${key}` : key, variant);
      return;
    }
    const alternatives = schema.oneOf ?? schema.anyOf;
    if (alternatives?.some((a) => a.properties)) {
      for (const alt of alternatives) {
        const kind = alt.properties?.kind?.const ?? alt.properties?.source?.const;
        walk(
          alt,
          path,
          kind === undefined
            ? variant
            : `when ${path}.${alt.properties?.kind ? 'kind' : 'source'} = ${String(kind)}`,
        );
      }
      return;
    }
    if (schema.type === 'array' && schema.items?.properties) {
      walk(schema.items, `${path}[]`, variant);
      return;
    }
    rows.push(
      `| \`${path}\` | ${typeOf(schema)} | ${schema.default === undefined ? '' : `\`${JSON.stringify(schema.default)}\``} | ${[schema.description, variant].filter(Boolean).join(' — ')} |`,
    );
  };
  walk(configJsonSchema(), '');
  return [
    '# Configuration reference',
    '',
    'Generated from the schema by `npm run gen:docs`; a test fails when it is out of date.',
    'Any key can be overridden by an environment variable: `GATEHOUSE_` + the path in upper case with `__`',
    'between levels, e.g. `GATEHOUSE_SERVER__PORT=9000`, `GATEHOUSE_STORAGE__STORE__URL=postgres://…`.',
    'Values are read as YAML scalars; lists and mappings only in flow style (`[a, b]`, `{a: 1}`), so `gh:` stays text.',
    '`GATEHOUSE_KEK` and `GATEHOUSE_CONFIG` are reserved (the key-encryption',
    'key and the config file path).',
    '',
    '| key | type | default | description |',
    '|---|---|---|---|',
    ...dedupe(rows),
    '',
  ].join('\n');
}

function typeOf(schema: JsonSchema): string {
  if (schema.const !== undefined) return `\`${JSON.stringify(schema.const)}\``;
  if (schema.enum) return schema.enum.map((v) => `\`${String(v)}\``).join(' \\| ');
  const alternatives = schema.anyOf ?? schema.oneOf;
  if (alternatives) return alternatives.map(typeOf).join(' \\| ');
  if (schema.type === 'array') return `list of ${schema.items ? typeOf(schema.items) : 'any'}`;
  const bounded = schema.maximum !== undefined && schema.maximum < Number.MAX_SAFE_INTEGER;
  const low = schema.exclusiveMinimum !== undefined ? schema.exclusiveMinimum + 1 : schema.minimum;
  const range = bounded ? ` ${low ?? ''}–${schema.maximum}` : low !== undefined ? ` ≥ ${low}` : '';
  return `${Array.isArray(schema.type) ? schema.type.join(' \\| ') : (schema.type ?? 'any')}${range}`;
}

function dedupe(rows: string[]): string[] {
  return [...new Set(rows)];
}
