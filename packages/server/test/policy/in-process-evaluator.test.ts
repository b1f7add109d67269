/**
 * The in-process evaluator (the policy set compiled to JavaScript) against Cedar itself: every
 * request is decided by both engines and must get the same decision, determining policies and
 * errors; the in-process engine must really decide the clean cases (not defer them all) and must
 * leave errors and invalid requests to Cedar.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { GatehouseError } from '@gatehouse/core';
import { BASE_SCHEMA } from '../../src/policy/base-schema.js';
import type { EntityJson } from '../../src/policy/cedar.js';
import { uid } from '../../src/policy/entities.js';
import { type CedarRequest, type PolicyDecision, PolicyEngine } from '../../src/policy/policy-engine.js';
import { compilePolicySources, type PolicySources } from '../../src/policy/policy-set.js';
import { cedarContext, NetworkZones } from '../../src/policy/request-context.js';

const examples = new URL('../../../../examples/policies/', import.meta.url).pathname;
const zones = new NetworkZones({ internal: ['10.0.0.0/8'], office: ['192.0.2.0/24'] });
const TUESDAY_10 = Date.parse('2026-12-01T10:00:00Z');

function engines(sources: PolicySources): { fast: PolicyEngine; cedar: PolicyEngine } {
  const set = compilePolicySources(sources);
  const fast = new PolicyEngine();
  fast.load(1, set);
  const cedar = new PolicyEngine({ inProcess: false });
  cedar.load(1, set);
  assert.equal(fast.inProcessGap, undefined, 'the set compiles to JavaScript');
  assert.equal(cedar.inProcessGap, 'disabled');
  return { fast, cedar };
}

type Outcome = { ok: Omit<PolicyDecision, 'latencyUs' | 'evaluator'> } | { error: string };

function outcome(engine: PolicyEngine, request: CedarRequest): { outcome: Outcome; evaluator?: string } {
  try {
    const { latencyUs: _, evaluator, ...rest } = engine.evaluate(request);
    return { outcome: { ok: rest }, evaluator };
  } catch (error) {
    if (!(error instanceof GatehouseError)) throw error;
    return { outcome: { error: `${error.code}: ${error.message}` } };
  }
}

/** Decides with both engines; returns who decided on the fast one. */
function agree(
  pair: { fast: PolicyEngine; cedar: PolicyEngine },
  request: CedarRequest,
  label: string,
): string {
  const fast = outcome(pair.fast, request);
  const reference = outcome(pair.cedar, request);
  assert.deepEqual(fast.outcome, reference.outcome, label);
  return fast.evaluator ?? 'error';
}

const user = (
  attrs: Record<string, unknown>,
  parents: string[][] = [],
  tags?: Record<string, string>,
): EntityJson =>
  ({
    uid: uid('User', 'alice'),
    attrs,
    parents: parents.map(([type, id]) => uid(type as string, id as string)),
    ...(tags && { tags }),
  }) as EntityJson;

function request(
  over: Partial<CedarRequest> & { user?: EntityJson; doc?: Record<string, unknown> } = {},
): CedarRequest {
  const principal = uid('User', 'alice');
  const resource = uid('Document', 'd1');
  return {
    principal,
    action: over.action ?? uid('Action', 'read'),
    resource: over.resource ?? resource,
    context: over.context ?? cedarContext({ ip: '10.0.0.1', mfa: 2 }, TUESDAY_10, zones),
    entities: over.entities ?? [
      over.user ?? user({ username: 'alice', disabled: false }, [['Role', 'reader']], { region: 'eu' }),
      { uid: resource, attrs: (over.doc ?? { owner: 'alice' }) as EntityJson['attrs'], parents: [] },
    ],
  };
}

test('every operator the evaluator compiles gives Cedar’s answer, and is decided in process', () => {
  const operators: Record<string, string> = {
    eq: 'resource.owner == principal.username',
    ne: 'resource.owner != "bob"',
    lt: 'context.mfa < 3',
    le: 'context.mfa <= 2',
    gt: 'context.time.hour > 9',
    ge: 'context.time.weekday >= 2',
    plus: 'context.mfa + 1 == 3',
    minus: 'context.mfa - 5 == -3',
    times: 'context.mfa * 4 == 8',
    neg: '-context.mfa == -2',
    and: 'context.mfa == 2 && context.time.hour == 10',
    or: 'context.mfa == 9 || context.time.hour == 10',
    not: '!(context.mfa == 9)',
    ite: '(if context.mfa > 1 then "strong" else "weak") == "strong"',
    has: 'resource has owner && !(resource has classification)',
    ctxHas: 'context has network && !(context has risk)',
    in: 'principal in Gatehouse::Role::"reader"',
    inSet: 'principal in [Gatehouse::Role::"admin", Gatehouse::Role::"reader"]',
    is: 'principal is Gatehouse::User && !(resource is Gatehouse::Route)',
    isIn: 'principal is Gatehouse::User in Gatehouse::Role::"reader"',
    like: 'principal.username like "al*e" && !(principal.username like "b*")',
    likeStar: 'resource.owner like "*"',
    contains: '["alice", "bob"].contains(resource.owner)',
    containsAll: '["alice", "bob", "carol"].containsAll([resource.owner, "bob"])',
    containsAny: '["x", "alice"].containsAny([resource.owner])',
    isEmpty: '!([1].isEmpty())',
    record: '{ a: 1, b: "x" } == { b: "x", a: 1 }',
    setEq: '[1, 2, 2] == [2, 1]',
    tags: 'principal.hasTag("region") && principal.getTag("region") == "eu" && !principal.hasTag("x")',
    ipRange:
      'context.network.ip.isInRange(ip("10.0.0.0/8")) && !context.network.ip.isInRange(ip("192.0.2.0/24"))',
    ipKinds:
      'context.network.ip.isIpv4() && !context.network.ip.isIpv6() && !context.network.ip.isLoopback()',
    action: 'action in [Gatehouse::Action::"read", Gatehouse::Action::"write"]',
    entityEq: 'resource == Gatehouse::Document::"d1"',
  };
  const policies = Object.entries(operators)
    .map(
      ([id, condition]) =>
        `@id("${id}") permit (principal is Gatehouse::User, action, resource is Gatehouse::Document)
        when { principal has username && resource has owner && context has network } when { ${condition} };`,
    )
    .join('\n');
  const pair = engines({ schema: BASE_SCHEMA, policies: { 'ops.cedar': policies } });
  const d = pair.fast.evaluate(request());
  assert.equal(d.evaluator, 'in-process');
  // Each condition above holds for this request: all of them are determining.
  assert.deepEqual(d.policies, Object.keys(operators).sort());
  assert.equal(agree(pair, request(), 'all operators'), 'in-process');

  // And each one turned false: a different request makes some fail, Cedar agrees on which.
  const other = request({
    user: user({ username: 'bob', disabled: false }, [['Role', 'admin']]),
    doc: { owner: 'bob', classification: 'secret' },
    action: uid('Action', 'delete'),
    context: cedarContext({ ip: '192.0.2.7', mfa: 0, risk: 10 }, TUESDAY_10 + 10 * 3_600_000, zones),
  });
  assert.equal(agree(pair, other, 'operators, other request'), 'in-process');
});

test('the shipped examples on thousands of varied requests: the same decisions and reasons as Cedar', () => {
  const read = (name: string) => readFileSync(`${examples}${name}`, 'utf8');
  const pair = engines({
    schema: read('schema.cedarschema'),
    policies: {
      'access.cedar': read('access.cedar'),
      'least-privilege.cedar': read('least-privilege.cedar'),
      'teams.cedar': `
@id("team-edits") permit (principal in Gatehouse::Group::"team-1", action in [Gatehouse::Action::"read", Gatehouse::Action::"write"], resource is Gatehouse::Document)
when { resource has owner && resource.owner == "team-1" };
@id("team-region") forbid (principal in Gatehouse::Group::"team-2", action == Gatehouse::Action::"write", resource)
when { principal.hasTag("region") && principal.getTag("region") != "eu" };`,
    },
  });
  const ips = ['10.1.2.3', '192.0.2.44', '203.0.113.9', undefined];
  const actions = ['read', 'write', 'delete', 'admin'];
  let inProcess = 0;
  let allowed = 0;
  const total = 1500;
  for (let i = 0; i < total; i++) {
    const principal = uid(i % 5 === 0 ? 'Client' : 'User', `p${i % 37}`);
    const resource = uid(i % 7 === 0 ? 'Route' : 'Document', `r${i}`);
    const subject: EntityJson =
      principal.type === 'Gatehouse::Client'
        ? { uid: principal, attrs: { scopes: i % 2 ? ['routes:read'] : [] }, parents: [] }
        : {
            uid: principal,
            attrs: { disabled: i % 31 === 0, ...(i % 3 ? { username: `p${i % 37}` } : {}) },
            parents: [
              uid('Role', ['admin', 'reader', 'editor'][i % 3] as string),
              uid('Group', `team-${i % 4}`),
            ],
            ...(i % 2 === 0 && { tags: { region: i % 4 === 0 ? 'us' : 'eu' } }),
          };
    const object: EntityJson =
      resource.type === 'Gatehouse::Route'
        ? { uid: resource, attrs: { method: 'GET', path: '/x', service: 's' }, parents: [] }
        : {
            uid: resource,
            attrs: {
              ...(i % 4 !== 1 && { owner: i % 3 === 0 ? `p${i % 37}` : 'team-1' }),
              ...(i % 11 === 0 && { classification: 'confidential' }),
            },
            parents: [],
          };
    const context = cedarContext(
      {
        ip: ips[i % ips.length],
        ...(i % 3 !== 2 && { risk: (i * 13) % 100 }),
        mfa: i % 4,
        ...(i % 5 !== 4 && { device: { managed: i % 2 === 0 } }),
      },
      TUESDAY_10 + (i % 48) * 3_600_000,
      zones,
    );
    const req = {
      principal,
      action: uid('Action', actions[i % 4] as string),
      resource,
      context,
      entities: [subject, object],
    };
    const by = agree(pair, req, `request ${i}`);
    if (by === 'in-process') inProcess++;
    if (pair.fast.evaluate(req).decision === 'allow') allowed++;
  }
  assert.ok(allowed > total / 10 && allowed < total - total / 10, `a mix of allows and denies (${allowed})`);
  assert.equal(pair.fast.inProcessFailures, 0);
  assert.equal(inProcess, total, 'every one of these well-formed requests was decided in process');
});

test('evaluation errors are left to Cedar, which reports them and skips the policy', () => {
  const pair = engines({
    schema: BASE_SCHEMA,
    policies: {
      'e.cedar': `
@id("overflow") forbid (principal, action, resource) when { context.mfa * 9007199254740991 * 2000 > 1 };
@id("readers") permit (principal in Gatehouse::Role::"reader", action, resource);`,
    },
  });
  const d = pair.fast.evaluate(request());
  assert.equal(d.evaluator, 'cedar');
  assert.equal(d.decision, 'allow', 'the erroring forbid is skipped, as Cedar does');
  assert.equal(d.errors.length, 1);
  assert.match(d.errors[0] as string, /^overflow: /);
  agree(pair, request(), 'overflow');
  // mfa 0: no overflow, decided in process.
  const calm = request({ context: cedarContext({ ip: '10.0.0.1', mfa: 0 }, TUESDAY_10, zones) });
  assert.equal(agree(pair, calm, 'no overflow'), 'in-process');
});

test('requests that do not fit the schema get Cedar’s own message, attack by attack', () => {
  const pair = engines({
    schema: BASE_SCHEMA,
    policies: { 'a.cedar': '@id("all") permit (principal, action, resource);' },
  });
  const bad: [string, CedarRequest][] = [
    ['unknown action', request({ action: uid('Action', 'fly') })],
    ['principal type the action does not apply to', { ...request(), principal: uid('Role', 'admin') }],
    ['resource type the action does not apply to', request({ resource: uid('Group', 'g') })],
    [
      'context attribute of the wrong type',
      request({ context: { time: { hour: '10', minute: 0, weekday: 2 }, mfa: 0 } }),
    ],
    [
      'undeclared context attribute',
      request({ context: { time: { hour: 1, minute: 0, weekday: 2 }, mfa: 0, x: 1 } }),
    ],
    ['missing required context attribute', request({ context: { mfa: 0 } })],
    ['entity attribute of the wrong type', request({ user: user({ disabled: 'no' }) })],
    ['undeclared entity attribute', request({ user: user({ disabled: false, admin: true }) })],
    ['missing required entity attribute', request({ user: user({}) })],
    [
      'parent of a type the schema does not allow',
      request({ user: user({ disabled: false }, [['Document', 'd']]) }),
    ],
    [
      'tag of the wrong type',
      request({ user: user({ disabled: false }, [], { n: 1 as unknown as string }) }),
    ],
    [
      'an ip that is no address',
      request({
        context: {
          time: { hour: 1, minute: 0, weekday: 2 },
          mfa: 0,
          network: { ip: { __extn: { fn: 'ip', arg: '10.0.0.300' } }, zone: 'x' },
        },
      }),
    ],
    [
      'a Long that is not an integer',
      request({ context: { time: { hour: 1.5, minute: 0, weekday: 2 }, mfa: 0 } }),
    ],
  ];
  for (const [label, req] of bad) {
    const fast = outcome(pair.fast, req).outcome;
    assert.ok(
      'error' in fast && fast.error.startsWith('ERR_POLICY_REQUEST_INVALID'),
      `${label}: ${JSON.stringify(fast)}`,
    );
    agree(pair, req, label);
  }
  // Unusual but valid requests Cedar accepts: both agree, whoever decides.
  const unusual: [string, CedarRequest][] = [
    ['IPv6 address', request({ context: cedarContext({ ip: '2001:db8::1' }, TUESDAY_10, zones) })],
    [
      'an ip escape with an extra field',
      request({
        context: {
          time: { hour: 10, minute: 0, weekday: 2 },
          mfa: 0,
          network: { ip: { __extn: { fn: 'ip', arg: '10.0.0.1', x: 1 } }, zone: 'internal' },
        } as unknown as CedarRequest['context'],
      }),
    ],
    ['duplicate-free entities without the principal', request({ entities: [] })],
    [
      'entity uid in __entity form',
      request({
        entities: [{ uid: { __entity: uid('User', 'alice') }, attrs: { disabled: false }, parents: [] }],
      }),
    ],
  ];
  for (const [label, req] of unusual) agree(pair, req, label);
});

test('a schema the evaluator does not model leaves every decision to Cedar, with the same answers', () => {
  const schema = BASE_SCHEMA.replace('owner?: String,', 'owner?: String,\n    price?: decimal,');
  assert.notEqual(schema, BASE_SCHEMA);
  const set = compilePolicySources({
    schema,
    policies: { 'a.cedar': '@id("all") permit (principal, action, resource);' },
  });
  const engine = new PolicyEngine();
  engine.load(1, set);
  assert.match(engine.inProcessGap ?? '', /decimal/);
  const d = engine.evaluate(request());
  assert.deepEqual([d.decision, d.policies, d.evaluator], ['allow', ['all'], 'cedar']);
});
