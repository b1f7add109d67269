import { isIP } from 'node:net';
import { z } from 'zod';
import type { CedarValueJson, EntityJson } from './cedar.js';
import { type SubjectEntities, uid } from './entities.js';
import type { DecisionQuestion } from './decision-cache.js';
import { policyError } from './policy-errors.js';
import type { CedarRequest } from './policy-engine.js';
import type { CompiledPolicySet } from './policy-set.js';
import { type ContextInput, cedarContext, type NetworkZones } from './request-context.js';

/**
 * OpenID AuthZEN Authorization API 1.0 requests, translated into Cedar requests. Subjects and
 * resources name a Cedar entity type of the Gatehouse namespace (`user` and `client` are
 * accepted for `User` and `Client`); properties become the entity's attributes.
 */

const id = z.string().min(1).max(256);
const properties = z.record(z.string().min(1).max(128), z.unknown()).optional();

export const subjectSchema = z.object({ type: z.string().min(1).max(128), id, properties }).strict();
export const resourceSchema = z.object({ type: z.string().min(1).max(128), id, properties }).strict();
export const actionSchema = z.object({ name: z.string().min(1).max(128), properties }).strict();
export const contextSchema = z
  .object({
    time: z.iso.datetime({ offset: true }).optional(),
    ip: z
      .string()
      .max(45)
      .refine((v) => isIP(v) !== 0, 'expected an IPv4 or IPv6 address')
      .optional(),
    risk: z.number().int().min(0).max(100).optional(),
    mfa: z.number().int().min(0).max(3).optional(),
    device: z
      .object({
        id: z.string().max(256).optional(),
        managed: z.boolean().default(false),
        platform: z.string().max(64).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/** One Access Evaluation request (`POST /access/v1/evaluation`). */
export const evaluationSchema = z
  .object({
    subject: subjectSchema,
    action: actionSchema,
    resource: resourceSchema,
    context: contextSchema.optional(),
  })
  .strict();

const SEMANTICS = ['execute_all', 'deny_on_first_deny', 'permit_on_first_permit'] as const;

/** An Access Evaluations request (`POST /access/v1/evaluations`): defaults plus items. */
export const evaluationsSchema = z
  .object({
    subject: subjectSchema.optional(),
    action: actionSchema.optional(),
    resource: resourceSchema.optional(),
    context: contextSchema.optional(),
    evaluations: z
      .array(
        z
          .object({
            subject: subjectSchema.optional(),
            action: actionSchema.optional(),
            resource: resourceSchema.optional(),
            context: contextSchema.optional(),
          })
          .strict(),
      )
      .max(100)
      .optional(),
    options: z
      .object({ evaluations_semantic: z.enum(SEMANTICS).default('execute_all') })
      .strict()
      .optional(),
  })
  .strict();

export type Evaluation = z.output<typeof evaluationSchema>;
export type Evaluations = z.output<typeof evaluationsSchema>;
export type EvaluationsSemantic = (typeof SEMANTICS)[number];

/**
 * The items of a batch with the spec's defaults applied: a field an item leaves out is the
 * request's top-level one (replaced whole, never merged). No items: one evaluation of the
 * top-level fields. An item that still lacks a field is a 400 naming its index.
 */
export function batchItems(request: Evaluations): Evaluation[] {
  const items = request.evaluations && request.evaluations.length > 0 ? request.evaluations : [{}];
  return items.map((item, index) => {
    const subject = item.subject ?? request.subject;
    const action = item.action ?? request.action;
    const resource = item.resource ?? request.resource;
    const context = item.context ?? request.context;
    const missing = [!subject && 'subject', !action && 'action', !resource && 'resource'].filter(Boolean);
    if (!subject || !action || !resource) {
      throw policyError(
        'ERR_POLICY_REQUEST_INVALID',
        `evaluations.${index}: ${missing.join(', ')} missing here and at the top level`,
      );
    }
    return { subject, action, resource, ...(context && { context }) };
  });
}

/** Looks up a subject the PDP knows (user or client); undefined when it does not exist. */
export type SubjectResolver = (
  type: 'User' | 'Client',
  id: string,
  properties: Record<string, unknown> | undefined,
) => Promise<SubjectEntities | undefined>;

/** A translated request, with what identifies it for the decision cache. */
export interface TranslatedRequest {
  request: CedarRequest;
  question: DecisionQuestion;
}

/** `user` → `User`; any other name must be an entity type of the schema as written. */
function entityType(set: CompiledPolicySet, name: string, what: string): string {
  const type = name === 'user' ? 'User' : name === 'client' ? 'Client' : name;
  if (!set.entityTypes.has(type)) {
    throw policyError(
      'ERR_POLICY_REQUEST_INVALID',
      `${what}.type "${name.slice(0, 64)}" is not an entity type of the schema (${[...set.entityTypes].join(', ')})`,
    );
  }
  return type;
}

/**
 * Translates one AuthZEN evaluation into a Cedar request. Users and clients come from the
 * resolver (the store); other subjects and every resource are described by their properties.
 * Undefined when the subject is a user or client the store does not know (a deny, not an error).
 */
export async function translateEvaluation(
  evaluation: Evaluation,
  deps: { set: CompiledPolicySet; resolve: SubjectResolver; zones: NetworkZones; nowMs: number },
): Promise<TranslatedRequest | undefined> {
  const { set } = deps;
  const subjectType = entityType(set, evaluation.subject.type, 'subject');
  const resourceType = entityType(set, evaluation.resource.type, 'resource');
  if (!set.actions.has(evaluation.action.name)) {
    throw policyError(
      'ERR_POLICY_REQUEST_INVALID',
      `action.name "${evaluation.action.name.slice(0, 64)}" is not an action of the schema (${[...set.actions].join(', ')})`,
    );
  }
  let subject: SubjectEntities | undefined;
  if (subjectType === 'User' || subjectType === 'Client') {
    subject = await deps.resolve(subjectType, evaluation.subject.id, evaluation.subject.properties);
    if (!subject) return undefined;
  } else {
    subject = describedEntity(subjectType, evaluation.subject.id, evaluation.subject.properties);
  }
  const resource = describedEntity(resourceType, evaluation.resource.id, evaluation.resource.properties);
  const context = cedarContext((evaluation.context ?? {}) as ContextInput, deps.nowMs, deps.zones);
  const action = { type: `Gatehouse::Action`, id: evaluation.action.name };
  const entities: EntityJson[] = [...subject.entities, ...resource.entities];
  return {
    request: { principal: subject.principal, action, resource: resource.principal, context, entities },
    question: {
      principal: subject.principal,
      version: subject.version,
      action: action.id,
      resources: resource.entities,
      context,
    },
  };
}

/** An entity described entirely by the caller's properties (attributes checked by the schema). */
export function describedEntity(
  type: string,
  entityId: string,
  props: Record<string, unknown> | undefined,
): SubjectEntities {
  const principal = uid(type, entityId);
  return {
    principal,
    entities: [{ uid: principal, attrs: (props ?? {}) as Record<string, CedarValueJson>, parents: [] }],
    // Its properties are all there is to it: they key the decision cache.
    version: JSON.stringify(props ?? {}),
  };
}
