import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { policyError } from './policy-errors.js';
import type { PolicySources } from './policy-set.js';

/** The schema file a policy directory must hold. */
export const SCHEMA_FILE = 'schema.cedarschema';
const MAX_FILE_BYTES = 1_048_576;

/**
 * Reads a policy directory: `schema.cedarschema` and every `*.cedar` file beside it (not in
 * subdirectories), each a source named by its file name.
 *
 * @throws GatehouseError `ERR_POLICY_INVALID` when the directory or its schema is missing or a
 *   file is too large to be a policy.
 */
export function readPolicyDir(dir: string): PolicySources {
  let names: string[];
  try {
    names = readdirSync(dir).sort();
  } catch (error) {
    throw policyError('ERR_POLICY_INVALID', `policy directory ${dir} cannot be read`, error);
  }
  if (!names.includes(SCHEMA_FILE)) {
    throw policyError('ERR_POLICY_INVALID', `policy directory ${dir} has no ${SCHEMA_FILE}`);
  }
  const read = (name: string): string => {
    const path = join(dir, name);
    if (statSync(path).size > MAX_FILE_BYTES) {
      throw policyError('ERR_POLICY_INVALID', `${name} is larger than ${MAX_FILE_BYTES} bytes`);
    }
    return readFileSync(path, 'utf8');
  };
  const policies: Record<string, string> = {};
  for (const name of names) {
    if (name.endsWith('.cedar') && statSync(join(dir, name)).isFile()) policies[name] = read(name);
  }
  return { schema: read(SCHEMA_FILE), policies };
}
