/**
 * JSON schemas of the admin API. The same objects validate requests (Fastify/Ajv) and build the
 * OpenAPI document, so the document cannot drift from what the server accepts.
 */
const scope = { type: 'string', pattern: '^[\\x21\\x23-\\x5b\\x5d-\\x7e]+$', maxLength: 200 } as const;
const uri = { type: 'string', minLength: 1, maxLength: 2048 } as const;

export const clientIdParam = {
  type: 'object',
  properties: { id: { type: 'string', pattern: '^[A-Za-z0-9._~-]{1,128}$' } },
  required: ['id'],
  additionalProperties: false,
} as const;

const clientFields = {
  name: { type: 'string', minLength: 1, maxLength: 200 },
  scopes: { type: 'array', items: scope, maxItems: 100, uniqueItems: true },
  resources: { type: 'array', items: uri, maxItems: 100, uniqueItems: true },
  audience: { anyOf: [uri, { type: 'null' }] },
  access_token_format: { type: 'string', enum: ['jwt', 'opaque'] },
  access_token_ttl: { anyOf: [{ type: 'integer', minimum: 1, maximum: 86400 }, { type: 'null' }] },
  grant_types: {
    type: 'array',
    items: {
      type: 'string',
      enum: ['client_credentials', 'urn:ietf:params:oauth:grant-type:token-exchange'],
    },
    minItems: 1,
    uniqueItems: true,
  },
  may_act: {
    anyOf: [
      {
        type: 'object',
        properties: {
          subject_audiences: { type: 'array', items: uri, minItems: 1, maxItems: 100, uniqueItems: true },
          scopes: { type: 'array', items: scope, maxItems: 100, uniqueItems: true },
        },
        required: ['subject_audiences'],
        additionalProperties: false,
      },
      { type: 'null' },
    ],
  },
} as const;

export const createClientBody = {
  type: 'object',
  properties: { client_id: clientIdParam.properties.id, ...clientFields },
  additionalProperties: false,
} as const;

export const updateClientBody = {
  type: 'object',
  properties: clientFields,
  additionalProperties: false,
  minProperties: 1,
} as const;

export const clientViewSchema = {
  type: 'object',
  properties: {
    client_id: { type: 'string' },
    name: { type: 'string' },
    scopes: { type: 'array', items: { type: 'string' } },
    resources: { type: 'array', items: { type: 'string' } },
    audience: { type: ['string', 'null'] },
    grant_types: { type: 'array', items: { type: 'string' } },
    access_token_format: { type: 'string' },
    access_token_ttl: { type: ['integer', 'null'] },
    source: { type: 'string', enum: ['config', 'api'] },
    created_at: { type: 'integer' },
    updated_at: { type: 'integer' },
    may_act: {
      type: ['object', 'null'],
      properties: {
        subject_audiences: { type: 'array', items: { type: 'string' } },
        scopes: { type: 'array', items: { type: 'string' } },
      },
    },
  },
} as const;

export const rotateKeyBody = {
  type: 'object',
  properties: { activation_delay: { type: 'integer', minimum: 0, maximum: 2592000 } },
  additionalProperties: false,
} as const;

export const keyViewSchema = {
  type: 'object',
  properties: {
    kid: { type: 'string' },
    alg: { type: 'string' },
    state: { type: 'string', enum: ['next', 'active', 'retired'] },
    created_at: { type: 'integer' },
    activates_at: { type: 'integer' },
    retired_at: { type: ['integer', 'null'] },
    expires_at: { type: ['integer', 'null'] },
  },
} as const;

export const revokeTokenBody = {
  type: 'object',
  properties: { token: { type: 'string', minLength: 1, maxLength: 8192 } },
  required: ['token'],
  additionalProperties: false,
} as const;

export const revocationBody = {
  type: 'object',
  properties: {
    kind: { type: 'string', enum: ['subject', 'client', 'session', 'token'] },
    value: { type: 'string', minLength: 1, maxLength: 256, pattern: '^[\\x21-\\x7e]+$' },
  },
  required: ['kind', 'value'],
  additionalProperties: false,
} as const;

export const problemSchema = {
  type: 'object',
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    code: { type: 'string' },
    detail: { type: 'string' },
    errors: { type: 'array', items: { type: 'object' } },
  },
  required: ['type', 'title', 'status', 'code', 'detail'],
} as const;
