import type { FastifyInstance, FastifyRequest } from 'fastify';
import { type ApiKeys, apiKeyView } from '../api-keys/api-keys.js';

const keyIdParam = {
  type: 'object',
  properties: { id: { type: 'string', pattern: '^[A-Za-z0-9_-]{16}$' } },
  required: ['id'],
  additionalProperties: false,
} as const;

export const createApiKeyBody = {
  type: 'object',
  properties: {
    name: { type: 'string', minLength: 1, maxLength: 200 },
    owner: { type: 'string', pattern: '^[A-Za-z0-9._~-]{1,128}$' },
    scopes: {
      type: 'array',
      items: { type: 'string', pattern: '^[\\x21\\x23-\\x5b\\x5d-\\x7e]+$', maxLength: 200 },
      maxItems: 100,
      uniqueItems: true,
    },
    expires_in: { type: 'integer', minimum: 1, maximum: 315_360_000 },
  },
  required: ['name', 'owner'],
  additionalProperties: false,
} as const;

export const rotateApiKeyBody = {
  type: 'object',
  properties: { overlap_seconds: { type: 'integer', minimum: 0, maximum: 7_776_000 } },
  additionalProperties: false,
} as const;

/** `/admin/v1/api-keys`: list, create (key shown once), rotate with overlap, revoke. */
export async function apiKeyRoutes(
  app: FastifyInstance,
  apiKeys: ApiKeys,
  actorOf: (request: FastifyRequest) => string,
): Promise<void> {
  app.get('/api-keys', async () => ({ api_keys: (await apiKeys.list()).map(apiKeyView) }));

  app.post<{ Body: { name: string; owner: string; scopes?: string[]; expires_in?: number } }>(
    '/api-keys',
    { schema: { body: createApiKeyBody } },
    async (request, reply) => {
      const b = request.body;
      const { record, key } = await apiKeys.create(
        { name: b.name, owner: b.owner, scopes: b.scopes ?? [], expiresIn: b.expires_in ?? null },
        actorOf(request),
      );
      return reply
        .code(201)
        .header('cache-control', 'no-store')
        .send({ api_key: apiKeyView(record), key });
    },
  );

  app.post<{ Params: { id: string }; Body: { overlap_seconds?: number } | undefined }>(
    '/api-keys/:id/rotate',
    { schema: { params: keyIdParam, body: rotateApiKeyBody } },
    async (request, reply) => {
      const { record, key } = await apiKeys.rotate(
        request.params.id,
        actorOf(request),
        request.body?.overlap_seconds,
      );
      return reply
        .code(201)
        .header('cache-control', 'no-store')
        .send({ api_key: apiKeyView(record), key });
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/api-keys/:id',
    { schema: { params: keyIdParam } },
    async (request, reply) => {
      await apiKeys.revoke(request.params.id, actorOf(request));
      return reply.code(204).send();
    },
  );
}
