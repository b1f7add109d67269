import type { MayActRule } from '@gatehouse/core';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ApiKeys } from '../api-keys/api-keys.js';
import type { AuditLog } from '../audit/audit-log.js';
import { type ClientRegistry, clientView } from '../clients/client-registry.js';
import { requireBearerScope, sendBearerChallenges } from '../http/bearer-scope.js';
import { notFoundError } from '../storage/errors.js';
import type { AccessTokens } from '../issuer/access-tokens.js';
import type { ActiveTokens } from '../issuer/active-tokens.js';
import type { Revocations } from '../issuer/revocations.js';
import type { KeyManager } from '../keys/key-manager.js';
import type { RefreshFamilies } from '../sessions/refresh-families.js';
import type { UserDirectory } from '../users/user-directory.js';
import {
  clientIdParam,
  createClientBody,
  revocationBody,
  revokeTokenBody,
  rotateKeyBody,
  updateClientBody,
} from './admin-schemas.js';
import { apiKeyRoutes } from './api-key-routes.js';
import { adminOpenApi } from './openapi.js';
import { userRoutes } from './user-routes.js';

/** The scope an access token needs to use the admin API. */
export const ADMIN_SCOPE = 'gatehouse:admin';

export interface AdminDeps {
  issuer: string;
  clients: ClientRegistry;
  keys: KeyManager;
  tokens: AccessTokens;
  active: ActiveTokens;
  revocations: Revocations;
  audit: AuditLog;
  users: UserDirectory;
  families: RefreshFamilies;
  /** The latest expiry a token issued now can have (how long a bare id revocation is kept). */
  maxTokenExpiry: () => number;
  apiKeys: ApiKeys;
}

interface ClientBody {
  client_id?: string;
  name?: string;
  scopes?: string[];
  resources?: string[];
  audience?: string | null;
  access_token_format?: 'jwt' | 'opaque';
  access_token_ttl?: number | null;
  grant_types?: string[];
  may_act?: { subject_audiences: string[]; scopes?: string[] } | null;
}

/** The API's spelling of a may_act rule, as the record holds it. */
function mayActOf(rule: ClientBody['may_act']): MayActRule | null {
  return rule ? { subjectAudiences: rule.subject_audiences, scopes: rule.scopes ?? [] } : null;
}

/** `/admin/v1`: clients, keys and token revocation, for holders of a `gatehouse:admin` token. */
export async function adminRoutes(app: FastifyInstance, deps: AdminDeps): Promise<void> {
  // The admin API speaks JSON only; a form body must not be read as an (empty) object.
  app.removeContentTypeParser('application/x-www-form-urlencoded');
  sendBearerChallenges(app);

  app.get('/openapi.json', async () => adminOpenApi(deps.issuer));

  app.register(async (secured) => {
    /** The admin client behind each authenticated request, for the audit trail. */
    const admins = new WeakMap<FastifyRequest, string>();
    secured.addHook('onRequest', async (request) => {
      admins.set(request, await requireAdmin(request, deps));
    });
    /** Logs an admin change and writes its audit entry; durable before the answer goes out. */
    const audited = async (
      request: FastifyRequest,
      action: string,
      target: string,
      details: Record<string, unknown> = {},
    ) => {
      const admin = admins.get(request) ?? 'unknown';
      request.log.info({ action, target, admin }, 'admin change');
      await deps.audit.record({ actor: `admin:${admin}`, action, target, details });
    };

    secured.get('/clients', async () => ({ clients: (await deps.clients.list()).map(clientView) }));

    secured.post<{ Body: ClientBody }>(
      '/clients',
      { schema: { body: createClientBody } },
      async (request, reply) => {
        const b = request.body;
        const { record, secret } = await deps.clients.create({
          id: b.client_id,
          name: b.name,
          scopes: b.scopes,
          resources: b.resources,
          audience: b.audience,
          accessTokenFormat: b.access_token_format,
          accessTokenTtl: b.access_token_ttl,
          grantTypes: b.grant_types,
          mayAct: mayActOf(b.may_act),
        });
        await audited(request, 'client.created', record.id, { scopes: record.scopes });
        return reply
          .code(201)
          .header('cache-control', 'no-store')
          .send({ client: clientView(record), client_secret: secret });
      },
    );

    secured.get<{ Params: { id: string } }>(
      '/clients/:id',
      { schema: { params: clientIdParam } },
      async (request) => {
        const record = await deps.clients.get(request.params.id);
        if (!record) throw notFoundError(`client "${request.params.id}"`);
        return { client: clientView(record) };
      },
    );

    secured.patch<{ Params: { id: string }; Body: ClientBody }>(
      '/clients/:id',
      { schema: { params: clientIdParam, body: updateClientBody } },
      async (request) => {
        const b = request.body;
        const record = await deps.clients.update(request.params.id, {
          ...(b.name !== undefined && { name: b.name }),
          ...(b.scopes !== undefined && { scopes: b.scopes }),
          ...(b.resources !== undefined && { resources: b.resources }),
          ...(b.audience !== undefined && { defaultAudience: b.audience }),
          ...(b.access_token_format !== undefined && { accessTokenFormat: b.access_token_format }),
          ...(b.access_token_ttl !== undefined && { accessTokenTtl: b.access_token_ttl }),
          ...(b.grant_types !== undefined && { grantTypes: b.grant_types }),
          ...(b.may_act !== undefined && { mayAct: mayActOf(b.may_act) }),
        });
        await audited(request, 'client.updated', record.id, { fields: Object.keys(b) });
        return { client: clientView(record) };
      },
    );

    secured.delete<{ Params: { id: string } }>(
      '/clients/:id',
      { schema: { params: clientIdParam } },
      async (request, reply) => {
        await deps.clients.delete(request.params.id);
        await audited(request, 'client.deleted', request.params.id);
        return reply.code(204).send();
      },
    );

    secured.post<{ Params: { id: string } }>(
      '/clients/:id/secret',
      { schema: { params: clientIdParam } },
      async (request, reply) => {
        const { record, secret } = await deps.clients.resetSecret(request.params.id);
        await audited(request, 'client.secret_reset', record.id);
        return reply
          .header('cache-control', 'no-store')
          .send({ client: clientView(record), client_secret: secret });
      },
    );

    const actorOf = (request: FastifyRequest) => `admin:${admins.get(request) ?? 'unknown'}`;
    await userRoutes(secured, deps.users, deps.families, actorOf);
    await apiKeyRoutes(secured, deps.apiKeys, actorOf);

    secured.get('/keys', async () => ({ keys: deps.keys.list() }));

    secured.post<{ Body: { activation_delay?: number } | undefined }>(
      '/keys/rotate',
      { schema: { body: rotateKeyBody } },
      async (request, reply) => {
        const key = await deps.keys.rotate(request.body?.activation_delay);
        await audited(request, 'key.rotated', key.kid, { activates_at: key.activates_at });
        return reply.code(201).send({ key });
      },
    );

    secured.post<{ Body: { kind: 'subject' | 'client' | 'session' | 'token'; value: string } }>(
      '/revocations',
      { schema: { body: revocationBody } },
      async (request, reply) => {
        const { kind, value } = request.body;
        let record: { seq: number; notBefore: number } | undefined;
        if (kind === 'subject' || kind === 'client') {
          record = await deps.revocations.revokeAllOf(kind === 'subject' ? 'sub' : 'client', value);
        } else if (kind === 'session') {
          // A live family ends with its refresh tokens; an unknown id is still revoked as a sid.
          if (!(await deps.families.endById(value, 'admin', `admin:${admins.get(request) ?? 'unknown'}`))) {
            record = await deps.revocations.revokeSession(value, deps.maxTokenExpiry());
          }
        } else {
          record = await deps.revocations.revoke(value, deps.maxTokenExpiry());
        }
        await audited(request, 'revocation.created', value, { kind });
        return reply.code(201).send({
          revoked: {
            kind,
            value,
            ...(record && { seq: record.seq }),
            ...(record?.notBefore && { not_before: record.notBefore }),
          },
        });
      },
    );

    secured.post<{ Body: { token: string } }>(
      '/tokens/revoke',
      { schema: { body: revokeTokenBody } },
      async (request) => {
        const claims = await deps.tokens.read(request.body.token);
        if (!claims) return { revoked: false };
        await deps.revocations.revoke(claims.jti, claims.exp);
        await audited(request, 'token.revoked', claims.jti, { client_id: claims.client_id });
        return { revoked: true };
      },
    );
  });
}

/** Authenticates the admin bearer token; returns the admin client's id. */
function requireAdmin(request: FastifyRequest, deps: AdminDeps): Promise<string> {
  return requireBearerScope(request, deps, [ADMIN_SCOPE], 'gatehouse-admin');
}
