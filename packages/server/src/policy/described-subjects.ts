import { z } from 'zod';
import type { SubjectResolver } from './authzen.js';
import { clientEntities, userEntities } from './entities.js';
import { policyError } from './policy-errors.js';

const userProperties = z
  .object({
    username: z.string().max(256).optional(),
    disabled: z.boolean().default(false),
    roles: z.array(z.string().max(200)).max(100).default([]),
    groups: z.array(z.string().max(200)).max(100).default([]),
    attributes: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
  })
  .strict();
const clientProperties = z.object({ scopes: z.array(z.string().max(200)).max(100).default([]) }).strict();

/**
 * Users and clients described entirely by the request's `subject.properties`, where no user
 * store is at hand (policy tests, services deciding locally from their caller's token): a user
 * has `roles`, `groups`, `attributes`, `username` and `disabled`; a client has `scopes`.
 */
export const describedSubjects: SubjectResolver = async (type, id, properties) => {
  if (type === 'Client') {
    const p = parse(clientProperties, properties);
    const entities = clientEntities({
      id,
      name: id,
      secretDigest: '',
      scopes: p.scopes,
      resources: [],
      defaultAudience: null,
      grantTypes: [],
      accessTokenFormat: 'jwt',
      accessTokenTtl: null,
      source: 'api',
      mayAct: null,
      createdAt: 0,
      updatedAt: 0,
    });
    // What describes the client is its version: two clients with other scopes never share a cached answer.
    return { ...entities, version: JSON.stringify(p) };
  }
  const p = parse(userProperties, properties);
  const entities = userEntities({
    id,
    username: p.username ?? id,
    usernameKey: (p.username ?? id).toLowerCase(),
    passwordHash: null,
    disabled: p.disabled,
    roles: p.roles,
    groups: p.groups,
    attributes: p.attributes,
    createdAt: 0,
    updatedAt: 0,
    passwordChangedAt: null,
  });
  // Described subjects have no stored version: what describes them is their version.
  return { ...entities, version: JSON.stringify(p) };
};

function parse<T>(schema: z.ZodType<T>, properties: Record<string, unknown> | undefined): T {
  const parsed = schema.safeParse(properties ?? {});
  if (parsed.success) return parsed.data;
  const detail = parsed.error.issues
    .map((i) => `subject.properties.${i.path.join('.')}: ${i.message}`)
    .join('; ');
  throw policyError('ERR_POLICY_REQUEST_INVALID', detail);
}
