import { GatehouseError, type RefreshFamilyRecord } from '@gatehouse/core';
import { CLIENT_BINDING, type RefreshFamilies } from '../sessions/refresh-families.js';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { notFoundError } from '../storage/errors.js';
import { type UserDirectory, userView } from '../users/user-directory.js';
import { IMPORT_MAX_BYTES } from '../users/user-import.js';

const userIdParam = {
  type: 'object',
  properties: { id: { type: 'string', pattern: '^usr_[A-Za-z0-9_-]{1,64}$' } },
  required: ['id'],
  additionalProperties: false,
} as const;

const nameList = {
  type: 'array',
  items: { type: 'string', minLength: 1, maxLength: 128 },
  maxItems: 256,
} as const;
const attributes = {
  type: 'object',
  maxProperties: 64,
  additionalProperties: { type: ['string', 'number', 'boolean'] },
} as const;

/** Shapes only; the user directory applies the full rules (username syntax, password policy). */
export const createUserBody = {
  type: 'object',
  properties: {
    username: { type: 'string', minLength: 1, maxLength: 128 },
    password: { type: 'string', minLength: 1, maxLength: 1024 },
    password_hash: { type: 'string', minLength: 1, maxLength: 512 },
    roles: nameList,
    groups: nameList,
    attributes,
    disabled: { type: 'boolean' },
  },
  required: ['username'],
  additionalProperties: false,
} as const;

export const updateUserBody = {
  type: 'object',
  properties: { roles: nameList, groups: nameList, attributes, disabled: { type: 'boolean' } },
  additionalProperties: false,
  minProperties: 1,
} as const;

export const setPasswordBody = {
  type: 'object',
  properties: { password: { type: 'string', minLength: 1, maxLength: 1024 } },
  required: ['password'],
  additionalProperties: false,
} as const;

const listQuery = {
  type: 'object',
  properties: {
    after: { type: 'string', maxLength: 80 },
    limit: { type: 'string', pattern: '^[1-9][0-9]{0,2}$' },
  },
  additionalProperties: false,
} as const;

interface UpdateBody {
  roles?: string[];
  groups?: string[];
  attributes?: Record<string, string | number | boolean>;
  disabled?: boolean;
}

/** A session (refresh family) as the admin API shows it: never a token or its digest. */
export function sessionView(family: RefreshFamilyRecord) {
  return {
    id: family.id,
    client_id: family.clientId,
    scope: family.scope,
    created_at: family.createdAt,
    last_used_at: family.lastUsedAt,
    expires_at: family.expiresAt,
    rotations: family.generation,
    kind: family.binding === CLIENT_BINDING ? 'native' : 'browser',
  };
}

/** `/admin/v1/users`: list, create, read, change, set password, sessions, delete. */
export async function userRoutes(
  app: FastifyInstance,
  users: UserDirectory,
  families: RefreshFamilies,
  actorOf: (request: FastifyRequest) => string,
): Promise<void> {
  app.get<{ Querystring: { after?: string; limit?: string } }>(
    '/users',
    { schema: { querystring: listQuery } },
    async (request) => {
      const limit = Math.min(Number(request.query.limit ?? 100), 500);
      const page = await users.list(request.query.after ?? null, limit);
      return { users: page.map(userView), next: page.length === limit ? (page.at(-1)?.id ?? null) : null };
    },
  );

  app.post('/users', { schema: { body: createUserBody } }, async (request, reply) => {
    const user = await users.create(request.body, actorOf(request));
    return reply.code(201).send({ user: userView(user) });
  });

  app.get<{ Params: { id: string } }>('/users/:id', { schema: { params: userIdParam } }, async (request) => {
    const user = await users.get(request.params.id);
    if (!user) throw notFoundError(`user "${request.params.id}"`);
    return { user: userView(user) };
  });

  app.patch<{ Params: { id: string }; Body: UpdateBody }>(
    '/users/:id',
    { schema: { params: userIdParam, body: updateUserBody } },
    async (request) => {
      const { disabled, ...rest } = request.body;
      const actor = actorOf(request);
      let user =
        Object.keys(rest).length > 0 ? await users.update(request.params.id, rest, actor) : undefined;
      if (disabled !== undefined) user = await users.setDisabled(request.params.id, disabled, actor);
      if (!user) throw notFoundError(`user "${request.params.id}"`);
      return { user: userView(user) };
    },
  );

  app.put<{ Params: { id: string }; Body: { password: string } }>(
    '/users/:id/password',
    { schema: { params: userIdParam, body: setPasswordBody } },
    async (request, reply) => {
      await users.setPassword(request.params.id, request.body.password, actorOf(request));
      return reply.code(204).send();
    },
  );

  // Bulk import: CSV or JSON Lines as text, or a JSON array; bad rows are reported, the rest created.
  for (const type of ['text/csv', 'application/x-ndjson', 'application/jsonl']) {
    app.addContentTypeParser(type, { parseAs: 'string', bodyLimit: IMPORT_MAX_BYTES }, (_r, body, done) =>
      done(null, body),
    );
  }
  app.post('/users/import', { bodyLimit: IMPORT_MAX_BYTES + 1024 }, async (request) => {
    const body = request.body;
    const text = typeof body === 'string' ? body : Array.isArray(body) ? JSON.stringify(body) : undefined;
    if (text === undefined) {
      throw new GatehouseError(
        'ERR_IMPORT_INVALID',
        'send text/csv, application/x-ndjson, or a JSON array of users',
        { status: 400 },
      );
    }
    const format = (request.headers['content-type'] ?? '').startsWith('text/csv') ? 'csv' : 'json';
    const report = await users.import(text, format, actorOf(request), (done, total) =>
      request.log.info({ done, total }, 'user import progress'),
    );
    return {
      imported: report.imported,
      refused: report.refused,
      errors: [...report.errors, ...report.failed].sort((a, b) => a.row - b.row),
      errors_omitted: report.errorsOmitted + report.failedOmitted,
    };
  });

  app.get<{ Params: { id: string } }>(
    '/users/:id/sessions',
    { schema: { params: userIdParam } },
    async (request) => {
      if (!(await users.get(request.params.id))) throw notFoundError(`user "${request.params.id}"`);
      return { sessions: (await families.listLive(request.params.id)).map(sessionView) };
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/users/:id/sessions',
    { schema: { params: userIdParam } },
    async (request) => {
      if (!(await users.get(request.params.id))) throw notFoundError(`user "${request.params.id}"`);
      return { ended: await families.endAllFor(request.params.id, 'admin', actorOf(request)) };
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/users/:id',
    { schema: { params: userIdParam } },
    async (request, reply) => {
      await users.delete(request.params.id, actorOf(request));
      return reply.code(204).send();
    },
  );
}
