import {
  clientIdParam,
  clientViewSchema,
  createClientBody,
  keyViewSchema,
  problemSchema,
  revokeTokenBody,
  rotateKeyBody,
  updateClientBody,
} from './admin-schemas.js';
import { createApiKeyBody, rotateApiKeyBody } from './api-key-routes.js';
import { createUserBody, setPasswordBody, updateUserBody } from './user-routes.js';

const json = (schema: unknown) => ({ content: { 'application/json': { schema } } });
const problems = (...statuses: number[]) =>
  Object.fromEntries(
    statuses.map((s) => [
      String(s),
      {
        description: 'Problem',
        content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } },
      },
    ]),
  );
const client = { $ref: '#/components/schemas/Client' };
const user = { $ref: '#/components/schemas/User' };
const sources = { type: 'object', additionalProperties: { type: 'string' } };
const policySet = {
  type: 'object',
  properties: {
    version: { type: 'integer' },
    digest: { type: 'string' },
    schema: { type: 'string' },
    policies: sources,
  },
};
const published = {
  type: 'object',
  properties: { version: { type: 'integer' }, digest: { type: 'string' }, changed: { type: 'boolean' } },
};
const idParam = [{ name: 'id', in: 'path', required: true, schema: clientIdParam.properties.id }];

/** The OpenAPI 3.1 document of `/admin/v1`, built from the schemas the routes validate with. */
export function adminOpenApi(issuer: string): Record<string, unknown> {
  return {
    openapi: '3.1.0',
    info: { title: 'Gatehouse admin API', version: '1' },
    servers: [{ url: `${issuer}/admin/v1` }],
    security: [{ bearer: [] }],
    components: {
      securitySchemes: {
        bearer: {
          type: 'http',
          scheme: 'bearer',
          description:
            'An access token from this issuer carrying scope gatehouse:admin (client_credentials).',
        },
      },
      schemas: {
        Client: clientViewSchema,
        Key: keyViewSchema,
        Problem: problemSchema,
        User: {
          type: 'object',
          properties: {
            id: { type: 'string' },
            username: { type: 'string' },
            disabled: { type: 'boolean' },
            roles: { type: 'array', items: { type: 'string' } },
            groups: { type: 'array', items: { type: 'string' } },
            attributes: { type: 'object' },
            has_password: { type: 'boolean' },
            created_at: { type: 'integer' },
            updated_at: { type: 'integer' },
            password_changed_at: { type: ['integer', 'null'] },
          },
        },
      },
    },
    paths: {
      '/clients': {
        get: {
          summary: 'List clients',
          responses: {
            200: {
              description: 'Clients',
              ...json({ type: 'object', properties: { clients: { type: 'array', items: client } } }),
            },
            ...problems(401, 403),
          },
        },
        post: {
          summary: 'Create a client; the generated secret is returned once',
          requestBody: { required: true, ...json(createClientBody) },
          responses: {
            201: {
              description: 'Created',
              ...json({ type: 'object', properties: { client, client_secret: { type: 'string' } } }),
            },
            ...problems(400, 401, 403, 409),
          },
        },
      },
      '/clients/{id}': {
        parameters: idParam,
        get: {
          summary: 'Read a client',
          responses: {
            200: { description: 'Client', ...json({ type: 'object', properties: { client } }) },
            ...problems(401, 403, 404),
          },
        },
        patch: {
          summary: 'Change a client',
          requestBody: { required: true, ...json(updateClientBody) },
          responses: {
            200: { description: 'Client', ...json({ type: 'object', properties: { client } }) },
            ...problems(400, 401, 403, 404, 409),
          },
        },
        delete: {
          summary: 'Delete a client',
          responses: { 204: { description: 'Deleted' }, ...problems(401, 403, 404, 409) },
        },
      },
      '/clients/{id}/secret': {
        parameters: idParam,
        post: {
          summary: 'Replace the client secret; the old one stops working at once',
          responses: {
            200: {
              description: 'New secret',
              ...json({ type: 'object', properties: { client, client_secret: { type: 'string' } } }),
            },
            ...problems(401, 403, 404, 409),
          },
        },
      },
      '/users': {
        get: {
          summary: 'List users by id (?after=<id>&limit=1..500); `next` is the cursor of the following page',
          responses: {
            200: {
              description: 'Users',
              ...json({
                type: 'object',
                properties: { users: { type: 'array', items: user }, next: { type: ['string', 'null'] } },
              }),
            },
            ...problems(400, 401, 403),
          },
        },
        post: {
          summary:
            'Create a user (password checked against the policy and hashed with argon2id, or an existing argon2id hash)',
          requestBody: { required: true, ...json(createUserBody) },
          responses: {
            201: { description: 'Created', ...json({ type: 'object', properties: { user } }) },
            ...problems(400, 401, 403, 409),
          },
        },
      },
      '/users/{id}': {
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        get: {
          summary: 'Read a user',
          responses: {
            200: { description: 'User', ...json({ type: 'object', properties: { user } }) },
            ...problems(401, 403, 404),
          },
        },
        patch: {
          summary: 'Change roles, groups, attributes or disabled',
          requestBody: { required: true, ...json(updateUserBody) },
          responses: {
            200: { description: 'User', ...json({ type: 'object', properties: { user } }) },
            ...problems(400, 401, 403, 404),
          },
        },
        delete: {
          summary: 'Delete a user',
          responses: { 204: { description: 'Deleted' }, ...problems(401, 403, 404) },
        },
      },
      '/users/{id}/password': {
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        put: {
          summary: 'Set a new password',
          requestBody: { required: true, ...json(setPasswordBody) },
          responses: { 204: { description: 'Changed' }, ...problems(400, 401, 403, 404) },
        },
      },
      '/users/import': {
        post: {
          summary:
            'Bulk import users: text/csv, application/x-ndjson (JSON Lines) or a JSON array; bad rows are listed by row and skipped, the rest created (up to 50 MiB)',
          requestBody: {
            required: true,
            content: {
              'text/csv': { schema: { type: 'string' } },
              'application/x-ndjson': { schema: { type: 'string' } },
              'application/json': { schema: { type: 'array', items: { type: 'object' } } },
            },
          },
          responses: {
            200: { description: 'imported, refused, errors [{row, field, message}], errors_omitted' },
            ...problems(400, 401, 403, 413, 415),
          },
        },
      },
      '/users/{id}/sessions': {
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        get: {
          summary:
            "List the user's live sessions (refresh families): browser or native, created, last used, expiry",
          responses: { 200: { description: 'Sessions' }, ...problems(401, 403, 404) },
        },
        delete: {
          summary:
            'End every session of the user: their refresh tokens and the access tokens minted from them stop working',
          responses: { 200: { description: 'How many sessions ended' }, ...problems(401, 403, 404) },
        },
      },
      '/api-keys': {
        get: {
          summary: 'List API keys (never their secrets)',
          responses: { 200: { description: 'API keys' }, ...problems(401, 403) },
        },
        post: {
          summary: 'Create an API key `sk_<id>.<secret>`; the key is returned once',
          requestBody: { required: true, ...json(createApiKeyBody) },
          responses: { 201: { description: 'Created (api_key, key)' }, ...problems(400, 401, 403) },
        },
      },
      '/api-keys/{id}/rotate': {
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        post: {
          summary: 'Replace a key; the old one stays valid for overlap_seconds (default 7 days)',
          requestBody: { required: false, ...json(rotateApiKeyBody) },
          responses: {
            201: { description: 'The new key (api_key, key)' },
            ...problems(400, 401, 403, 404, 409),
          },
        },
      },
      '/api-keys/{id}': {
        parameters: [{ name: 'id', in: 'path', required: true, schema: { type: 'string' } }],
        delete: {
          summary: 'Revoke a key at once',
          responses: { 204: { description: 'Revoked' }, ...problems(401, 403, 404) },
        },
      },
      '/keys': {
        get: {
          summary: 'List signing keys',
          responses: {
            200: {
              description: 'Keys',
              ...json({
                type: 'object',
                properties: { keys: { type: 'array', items: { $ref: '#/components/schemas/Key' } } },
              }),
            },
            ...problems(401, 403),
          },
        },
      },
      '/keys/rotate': {
        post: {
          summary: 'Publish a new signing key that signs after activation_delay seconds',
          requestBody: { required: false, ...json(rotateKeyBody) },
          responses: {
            201: {
              description: 'The new key',
              ...json({ type: 'object', properties: { key: { $ref: '#/components/schemas/Key' } } }),
            },
            ...problems(400, 401, 403),
          },
        },
      },
      '/tokens/revoke': {
        post: {
          summary: 'Revoke any access token issued here',
          requestBody: { required: true, ...json(revokeTokenBody) },
          responses: {
            200: {
              description: 'Outcome',
              ...json({ type: 'object', properties: { revoked: { type: 'boolean' } } }),
            },
            ...problems(400, 401, 403),
          },
        },
      },
      '/policies': {
        get: {
          summary: 'The Cedar policy set in force: version, digest, schema and policy sources by name',
          responses: { 200: { description: 'Policy set', ...json(policySet) }, ...problems(401, 403) },
        },
        put: {
          summary:
            'Store the next policy-set version after Cedar validates it against its schema (201; 200 when unchanged); every instance loads it',
          requestBody: {
            required: true,
            ...json({
              type: 'object',
              required: ['schema', 'policies'],
              properties: { schema: { type: 'string' }, policies: sources },
            }),
          },
          responses: {
            201: { description: 'Stored', ...json(published) },
            200: { description: 'Unchanged', ...json(published) },
            ...problems(400, 401, 403),
          },
        },
      },
      '/policies/versions': {
        get: {
          summary: 'Policy-set versions, newest first (?before=<version>&limit=1..500)',
          responses: {
            200: { description: 'Versions', ...json({ type: 'object' }) },
            ...problems(400, 401, 403),
          },
        },
      },
      '/policies/versions/{version}': {
        parameters: [
          { name: 'version', in: 'path', required: true, schema: { type: 'string', pattern: '^\\d{1,15}$' } },
        ],
        get: {
          summary: 'One stored version with its schema and sources',
          responses: { 200: { description: 'Version', ...json(policySet) }, ...problems(400, 401, 403, 404) },
        },
      },
      '/decisions': {
        get: {
          summary:
            'The decision log, newest first: every deny and sampled allows (?decision=allow|deny&principal=<Cedar uid>&from=&to=<ISO 8601>&limit=1..500&cursor=<next_cursor>)',
          responses: {
            200: { description: 'Decisions', ...json({ type: 'object' }) },
            ...problems(400, 401, 403),
          },
        },
      },
    },
  };
}
