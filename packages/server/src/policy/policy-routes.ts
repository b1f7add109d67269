import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { AuditLog } from '../audit/audit-log.js';
import { requireBearerScope, sendBearerChallenges } from '../http/bearer-scope.js';
import type { ActiveTokens } from '../issuer/active-tokens.js';
import { notFoundError } from '../storage/errors.js';
import { evaluationSchema, evaluationsSchema } from './authzen.js';
import { parseInput } from './policy-errors.js';
import type { PolicyPoint } from './policy-point.js';

/** The scope a PEP's client token needs to ask for decisions and read the policy set. */
export const AUTHZ_SCOPE = 'gatehouse:authz';
const ADMIN_SCOPE = 'gatehouse:admin';

export interface PolicyRouteDeps {
  issuer: string;
  point: PolicyPoint;
  active: ActiveTokens;
  audit: AuditLog;
}

const AUTHZEN = 'the request does not match the AuthZEN schema';
const PARAMS = 'invalid parameter';
const MAX_SOURCE_BYTES = 1_048_576;
const sourcesBody = z
  .object({
    schema: z.string().min(1).max(MAX_SOURCE_BYTES),
    policies: z.record(z.string().min(1).max(128), z.string().max(MAX_SOURCE_BYTES)),
  })
  .strict();

/** `limit` of a page: 1–500. */
const pageLimit = z
  .string()
  .regex(/^\d{1,3}$/, 'expected 1–500')
  .transform(Number)
  .refine((n) => n >= 1 && n <= 500, 'expected 1–500')
  .optional();

const decisionsQuery = z
  .object({
    decision: z.enum(['allow', 'deny']).optional(),
    principal: z.string().min(1).max(600).optional(),
    from: z.iso.datetime({ offset: true }).optional(),
    to: z.iso.datetime({ offset: true }).optional(),
    limit: pageLimit,
    cursor: z
      .string()
      .regex(/^\d{1,16}\.dec_[A-Za-z0-9_-]{1,40}$/, 'expected the next_cursor of a previous page')
      .optional(),
  })
  .strict();

const versionsQuery = z
  .object({
    before: z
      .string()
      .regex(/^\d{1,15}$/, 'expected a version number')
      .transform(Number)
      .optional(),
    limit: pageLimit,
  })
  .strict();

const versionParam = z
  .object({
    version: z
      .string()
      .regex(/^\d{1,15}$/, 'expected a version number')
      .transform(Number),
  })
  .strict();

/**
 * The policy decision point over HTTP. `/access/v1/*` is the OpenID AuthZEN Authorization API
 * for PEPs holding a client token with `gatehouse:authz` (or `gatehouse:admin`), as a Keycloak
 * or Ory user would expect of a PDP; `/admin/v1/policies` and `/admin/v1/decisions` are for
 * admins.
 */
export async function policyRoutes(app: FastifyInstance, deps: PolicyRouteDeps): Promise<void> {
  // JSON only: a form body must not be read as an (empty) object.
  app.removeContentTypeParser('application/x-www-form-urlencoded');
  sendBearerChallenges(app);
  const { point } = deps;

  app.get('/.well-known/authzen-configuration', async () => ({
    policy_decision_point: deps.issuer,
    access_evaluation_endpoint: `${deps.issuer}/access/v1/evaluation`,
    access_evaluations_endpoint: `${deps.issuer}/access/v1/evaluations`,
  }));

  app.register(async (pep) => {
    pep.addHook('onRequest', async (request) => {
      await requireBearerScope(request, deps, [AUTHZ_SCOPE, ADMIN_SCOPE], 'gatehouse-authz');
    });
    pep.post('/access/v1/evaluation', async (request) =>
      point.evaluate(parseInput(evaluationSchema, request.body, AUTHZEN)),
    );
    pep.post('/access/v1/evaluations', async (request) =>
      point.evaluateBatch(parseInput(evaluationsSchema, request.body, AUTHZEN)),
    );
    pep.get('/access/v1/policies/current', async (_request, reply) => {
      const { version, sources, digest } = point.current();
      return reply.header('cache-control', 'no-store').send({ version, digest, ...sources });
    });
  });

  app.register(async (admin) => {
    const admins = new WeakMap<FastifyRequest, string>();
    admin.addHook('onRequest', async (request) => {
      admins.set(request, await requireBearerScope(request, deps, [ADMIN_SCOPE], 'gatehouse-admin'));
    });

    admin.put('/admin/v1/policies', async (request, reply) => {
      const sources = parseInput(
        sourcesBody,
        request.body,
        'the body must be { schema, policies: { name: text } }',
      );
      const actor = `admin:${admins.get(request) ?? 'unknown'}`;
      const { record, changed } = await point.publish(sources, actor);
      if (changed) {
        request.log.info({ action: 'policy.updated', version: record.version, admin: actor }, 'admin change');
        await deps.audit.record({
          actor,
          action: 'policy.updated',
          target: `v${record.version}`,
          details: { digest: record.digest, sources: Object.keys(sources.policies).sort() },
        });
      }
      return reply
        .code(changed ? 201 : 200)
        .send({ version: record.version, digest: record.digest, changed });
    });

    admin.get('/admin/v1/policies', async () => {
      const { version, sources, digest } = point.current();
      return { version, digest, ...sources };
    });

    admin.get('/admin/v1/policies/versions', async (request) => {
      const q = parseInput(versionsQuery, request.query ?? {}, PARAMS);
      const versions = await point.store.policies.list(q.before ?? null, q.limit ?? 50);
      return {
        versions: versions.map((v) => ({
          version: v.version,
          digest: v.digest,
          created_by: v.createdBy,
          created_at: new Date(v.createdAt).toISOString(),
        })),
      };
    });

    admin.get('/admin/v1/policies/versions/:version', async (request) => {
      const { version } = parseInput(versionParam, request.params, PARAMS);
      const record = await point.store.policies.get(version);
      if (!record) throw notFoundError(`policy version ${version}`);
      return {
        version: record.version,
        digest: record.digest,
        created_by: record.createdBy,
        created_at: new Date(record.createdAt).toISOString(),
        schema: record.schema,
        policies: record.policies,
      };
    });

    admin.get('/admin/v1/decisions', async (request) => {
      const q = parseInput(decisionsQuery, request.query ?? {}, PARAMS);
      const limit = q.limit ?? 50;
      const [at, id] =
        q.cursor === undefined
          ? []
          : [Number(q.cursor.split('.')[0]), q.cursor.slice(q.cursor.indexOf('.') + 1)];
      const rows = await point.store.decisions.query({
        limit,
        ...(q.decision && { decision: q.decision }),
        ...(q.principal && { principal: q.principal }),
        ...(q.from && { from: Date.parse(q.from) }),
        ...(q.to && { to: Date.parse(q.to) }),
        ...(at !== undefined && id !== undefined && { after: { at, id } }),
      });
      const last = rows.at(-1);
      return {
        decisions: rows.map((d) => ({
          id: d.id,
          at: new Date(d.at).toISOString(),
          decision: d.decision,
          principal: d.principal,
          action: d.action,
          resource: d.resource,
          policy_version: d.policyVersion,
          policies: d.policies,
          errors: d.errors,
          latency_us: d.latencyUs,
          source: d.source,
          input: JSON.parse(d.input) as unknown,
        })),
        next_cursor: rows.length === limit && last ? `${last.at}.${last.id}` : null,
      };
    });
  });
}
