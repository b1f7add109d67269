/** The Cedar policy engine: validation on write, default deny, forbid over permit, context, cache. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { BASE_SCHEMA } from '../../src/policy/base-schema.js';
import { cedar, type EntityJson } from '../../src/policy/cedar.js';
import { uid } from '../../src/policy/entities.js';
import { type CedarRequest, PolicyEngine } from '../../src/policy/policy-engine.js';
import { compilePolicySources } from '../../src/policy/policy-set.js';
import { cedarContext, NetworkZones } from '../../src/policy/request-context.js';
import { isGatehouseError } from '../support/servers.js';
import { DecisionCache, type DecisionQuestion } from '../../src/policy/decision-cache.js';

const examples = new URL('../../../../examples/policies/', import.meta.url).pathname;

function engineWith(policies: Record<string, string>, version = 1, cacheSize = 0): PolicyEngine {
  const engine = new PolicyEngine({ cacheSize });
  engine.load(version, compilePolicySources({ schema: BASE_SCHEMA, policies }));
  return engine;
}

const TUESDAY_10 = Date.parse('2026-12-01T10:00:00Z');
const zones = new NetworkZones({ internal: ['10.0.0.0/8'] });

function readDocument(
  roles: string[],
  context = cedarContext({ ip: '10.0.0.1' }, TUESDAY_10, zones),
): CedarRequest {
  const principal = uid('User', 'alice');
  const resource = uid('Document', 'd1');
  return {
    principal,
    action: uid('Action', 'read'),
    resource,
    context,
    entities: [
      { uid: principal, attrs: { disabled: false }, parents: roles.map((r) => uid('Role', r)) },
      { uid: resource, attrs: {}, parents: [] },
    ],
  };
}

test('the shipped example schema is the schema in force before any policy is stored', () => {
  assert.equal(readFileSync(`${examples}schema.cedarschema`, 'utf8'), BASE_SCHEMA);
});

test('default deny: with no policy, or none that matches, the answer is deny with no reason', () => {
  assert.deepEqual(
    (({ decision, policies }) => ({ decision, policies }))(engineWith({}).evaluate(readDocument(['admin']))),
    { decision: 'deny', policies: [] },
  );
  const engine = engineWith({
    'a.cedar': '@id("admins") permit (principal in Gatehouse::Role::"admin", action, resource);',
  });
  assert.equal(engine.evaluate(readDocument(['reader'])).decision, 'deny');
  const allowed = engine.evaluate(readDocument(['admin']));
  assert.equal(allowed.decision, 'allow');
  assert.deepEqual(allowed.policies, ['admins']);
  assert.equal(allowed.version, 1);
});

test('forbid wins over permit, and names the forbid', () => {
  const engine = engineWith({
    'a.cedar': `
      @id("everyone") permit (principal, action, resource);
      @id("no-readers") forbid (principal in Gatehouse::Role::"reader", action, resource);`,
  });
  const d = engine.evaluate(readDocument(['reader', 'admin']));
  assert.equal(d.decision, 'deny');
  assert.deepEqual(d.policies, ['no-readers']);
  assert.deepEqual(engine.evaluate(readDocument(['admin'])).policies, ['everyone']);
});

test('context conditions: network zone, hour and risk decide', () => {
  const engine = engineWith({
    'ctx.cedar': `
      @id("internal-daytime") permit (principal, action, resource)
      when { context has network && context.network.zone == "internal" && context.time.hour >= 8 && context.time.hour < 18 };
      @id("risky") forbid (principal, action, resource) when { context has risk && context.risk > 70 };`,
  });
  const at = (input: Parameters<typeof cedarContext>[0], ms = TUESDAY_10) =>
    engine.evaluate(readDocument([], cedarContext(input, ms, zones))).decision;
  assert.equal(at({ ip: '10.2.3.4' }), 'allow');
  assert.equal(at({ ip: '198.51.100.1' }), 'deny', 'external zone');
  assert.equal(at({}), 'deny', 'no network known');
  assert.equal(at({ ip: '10.2.3.4' }, Date.parse('2026-12-01T19:00:00Z')), 'deny', 'after hours');
  assert.equal(at({ ip: '10.2.3.4', time: '2026-12-01T07:59:00Z' }), 'deny', 'time given by the caller');
  assert.equal(at({ ip: '10.2.3.4', risk: 71 }), 'deny');
  assert.equal(at({ ip: '10.2.3.4', risk: 70 }), 'allow');
});

test('an invalid policy is rejected with the validator message; so are syntax errors, bad schemas and reused ids', () => {
  assert.throws(
    () =>
      compilePolicySources({ schema: BASE_SCHEMA, policies: { 'bad.cedar': 'permit (principal, action' } }),
    (e: Error) =>
      isGatehouseError('ERR_POLICY_INVALID', 400)(e) &&
      e.message ===
        'bad.cedar: unexpected end of input at line 1, column 26: expected `!=`, `)`, `,`, `:`, `<`, `<=`, `==`, `>`, `>=`, `in`, or `is`',
  );
  assert.throws(
    () =>
      compilePolicySources({
        schema: BASE_SCHEMA,
        policies: { 'typo.cedar': 'permit (principal, action, resource) when { context.risc > 3 };' },
      }),
    (e: Error) =>
      isGatehouseError('ERR_POLICY_INVALID', 400)(e) &&
      e.message.startsWith('typo.cedar: ') &&
      e.message.includes('attribute `risc` in context') &&
      e.message.includes('did you mean `risk`?'),
  );
  assert.throws(
    () =>
      compilePolicySources({
        schema: BASE_SCHEMA,
        policies: { 'wrong.cedar': 'permit (principal is Gatehouse::Robot, action, resource);' },
      }),
    (e: Error) => isGatehouseError('ERR_POLICY_INVALID')(e) && e.message.includes('Gatehouse::Robot'),
  );
  assert.throws(
    () => compilePolicySources({ schema: 'namespace Gatehouse { entity User in [Nope]; }', policies: {} }),
    (e: Error) => isGatehouseError('ERR_POLICY_SCHEMA_INVALID', 400)(e) && e.message.startsWith('schema: '),
  );
  assert.throws(
    () => compilePolicySources({ schema: 'namespace Other { entity User; }', policies: {} }),
    isGatehouseError('ERR_POLICY_SCHEMA_INVALID'),
  );
  assert.throws(
    () =>
      compilePolicySources({
        schema: BASE_SCHEMA,
        policies: {
          'a.cedar': '@id("same") permit (principal, action, resource);',
          'b.cedar': '@id("same") forbid (principal, action, resource);',
        },
      }),
    (e: Error) =>
      isGatehouseError('ERR_POLICY_INVALID')(e) &&
      e.message === 'b.cedar: policy id "same" is already used in a.cedar',
  );
  assert.throws(
    () => compilePolicySources({ schema: BASE_SCHEMA, policies: { '../etc.cedar': '' } }),
    isGatehouseError('ERR_POLICY_INVALID'),
  );
});

test('policies without @id are named after their source and position', () => {
  const set = compilePolicySources({
    schema: BASE_SCHEMA,
    policies: {
      'two.cedar':
        'permit (principal, action, resource);\nforbid (principal, action, resource) when { context.mfa < 1 };',
    },
  });
  assert.deepEqual(Object.keys(set.policies), ['two.cedar#1', 'two.cedar#2']);
  assert.match(set.digest, /^sha256:[0-9a-f]{64}$/);
});

test('a request that does not fit the schema is ERR_POLICY_REQUEST_INVALID, not a decision', () => {
  const engine = engineWith({ 'a.cedar': 'permit (principal, action, resource);' });
  const request = readDocument([]);
  const wrongAttribute = {
    ...request,
    entities: [request.entities[0]!, { uid: request.resource, attrs: { owner: 42 }, parents: [] }],
  };
  assert.throws(() => engine.evaluate(wrongAttribute), isGatehouseError('ERR_POLICY_REQUEST_INVALID', 400));
  assert.throws(
    () => engine.evaluate({ ...request, action: uid('Action', 'fly') }),
    isGatehouseError('ERR_POLICY_REQUEST_INVALID', 400),
  );
});

test('the decision cache answers a repeated question until the policy-set version changes', () => {
  const engine = new PolicyEngine({ cacheSize: 10 });
  const permit = compilePolicySources({
    schema: BASE_SCHEMA,
    policies: { 'a.cedar': '@id("p") permit (principal, action, resource);' },
  });
  engine.load(1, permit);
  const request = readDocument([]);
  const question: DecisionQuestion = {
    principal: request.principal,
    version: 'v1',
    action: 'read',
    resources: [request.entities[1] as EntityJson],
    context: request.context,
  };
  const first = engine.evaluate(request, question);
  assert.equal(first.cached, false);
  const second = engine.evaluate(request, question);
  assert.equal(second.cached, true);
  assert.equal(second.decision, 'allow');
  engine.load(2, compilePolicySources({ schema: BASE_SCHEMA, policies: {} }));
  const third = engine.evaluate(request, question);
  assert.deepEqual([third.cached, third.decision, third.version], [false, 'deny', 2]);
});

test('network zones: first zone holding the address, IPv4 and IPv6, external otherwise', () => {
  const z = new NetworkZones({ internal: ['10.0.0.0/8', 'fd00::/8'], office: ['192.0.2.0/24', '10.9.9.9'] });
  assert.equal(z.zoneOf('10.9.9.9'), 'internal');
  assert.equal(z.zoneOf('fd00::1'), 'internal');
  assert.equal(z.zoneOf('192.0.2.77'), 'office');
  assert.equal(z.zoneOf('8.8.8.8'), 'external');
});

test('slicing the policy set per request changes no decision, reason or error (against Cedar on the whole set)', () => {
  const sources = {
    schema: BASE_SCHEMA,
    policies: {
      'access.cedar': readFileSync(`${examples}access.cedar`, 'utf8'),
      'least-privilege.cedar': readFileSync(`${examples}least-privilege.cedar`, 'utf8'),
      'scopes.cedar': `
        @id("alice-exactly") permit (principal == Gatehouse::User::"alice", action == Gatehouse::Action::"delete", resource);
        @id("group-docs") permit (principal is Gatehouse::User in Gatehouse::Group::"g1", action, resource is Gatehouse::Document);
        @id("doc-in-route") permit (principal, action, resource in Gatehouse::Route::"r1");
        @id("errs") forbid (principal is Gatehouse::User, action, resource) when { principal.hasTag("level") && context.mfa * 9223372036854775807 > 0 };`,
    },
  };
  const set = compilePolicySources(sources);
  const engine = new PolicyEngine();
  engine.load(1, set);
  let compared = 0;
  const seenDecisions = new Set<string>();
  for (const id of ['alice', 'bob']) {
    for (const parents of [
      [],
      [uid('Role', 'admin')],
      [uid('Role', 'editor'), uid('Group', 'g1')],
      [uid('Group', 'g2')],
    ]) {
      for (const action of ['read', 'write', 'delete', 'admin']) {
        for (const [type, rid] of [
          ['Document', 'd1'],
          ['Route', 'r1'],
        ] as const) {
          for (const ip of ['10.0.0.1', '203.0.113.1']) {
            const principal = uid('User', id);
            const resource = uid(type, rid);
            const request: CedarRequest = {
              principal,
              action: uid('Action', action),
              resource,
              context: cedarContext({ ip, mfa: 2 }, TUESDAY_10, zones),
              entities: [
                {
                  uid: principal,
                  attrs: { disabled: false },
                  parents,
                  ...(id === 'bob' && { tags: { level: 'x' } }),
                },
                {
                  uid: resource,
                  attrs: type === 'Route' ? { method: 'GET', path: '/', service: 's' } : {},
                  parents: [],
                },
              ],
            };
            const ours = engine.evaluate(request);
            const whole = cedar.isAuthorized({
              ...request,
              policies: { staticPolicies: set.policies },
              schema: BASE_SCHEMA,
              validateRequest: true,
            });
            assert.equal(whole.type, 'success');
            if (whole.type !== 'success') continue;
            const { decision, diagnostics } = whole.response;
            assert.deepEqual(
              [ours.decision, [...ours.policies].sort(), [...ours.errors].sort()],
              [
                decision,
                [...diagnostics.reason].sort(),
                diagnostics.errors.map((e) => `${e.policyId}: ${e.error.message}`).sort(),
              ],
              JSON.stringify(request),
            );
            seenDecisions.add(`${decision}:${diagnostics.reason.join(',')}:${diagnostics.errors.length}`);
            compared++;
          }
        }
      }
    }
  }
  assert.equal(compared, 128);
  assert.ok(seenDecisions.size > 10, `varied outcomes (${seenDecisions.size})`);
  assert.ok(
    [...seenDecisions].some((d) => d.endsWith(':1')),
    'a policy that errors is among them',
  );
});

test('many distinct slices (a policy per user): decisions stay right, sliced or, past the miss budget, on the whole set', () => {
  const policies: Record<string, string> = {};
  for (let i = 0; i < 300; i++) {
    policies[`u${i}.cedar`] =
      `@id("user-${i}") permit (principal == Gatehouse::User::"u${i}", action == Gatehouse::Action::"read", resource);`;
  }
  const engine = engineWith(policies);
  for (let i = 0; i < 300; i++) {
    const request = readDocument([]);
    const principal = uid('User', `u${i}`);
    const d = engine.evaluate({
      ...request,
      principal,
      entities: [{ ...request.entities[0]!, uid: principal }, request.entities[1]!],
    });
    assert.deepEqual([d.decision, d.policies], ['allow', [`user-${i}`]]);
  }
  assert.equal(engine.evaluate(readDocument([])).decision, 'deny');
});

test('decision cache: the same question hits, any difference misses, whatever ids hold', () => {
  const user = { type: 'Gatehouse::User', id: 'u1' };
  const doc = (id: string, attrs: Record<string, string> = {}): EntityJson => ({
    uid: { type: 'Gatehouse::Document', id },
    attrs,
    parents: [],
  });
  const ctx = (over: Record<string, unknown> = {}) =>
    ({
      time: { hour: 10, minute: 5, weekday: 2 },
      mfa: 0,
      network: { ip: { __extn: { fn: 'ip', arg: '10.0.0.1' } }, zone: 'internal' },
      ...over,
    }) as DecisionQuestion['context'];
  const q = (over: Partial<DecisionQuestion> = {}): DecisionQuestion => ({
    principal: user,
    version: 'v1',
    action: 'read',
    resources: [doc('d1')],
    context: ctx(),
    ...over,
  });
  const cache = new DecisionCache<string>(100);
  const base = q();
  cache.set(base, 'base');
  assert.equal(cache.get(q()), 'base', 'an equal question built anew hits');
  const variants = [
    q({ principal: { ...user, id: 'u2' } }),
    q({ principal: { ...user, type: 'Gatehouse::Client' } }),
    q({ version: 'v2' }),
    q({ action: 'write' }),
    q({ resources: [doc('d2')] }),
    q({ resources: [doc('d1', { owner: 'x' })] }),
    q({ resources: [doc('d1'), doc('d2')] }),
    q({ resources: [] }),
    q({ context: ctx({ mfa: 2 }) }),
    q({ context: ctx({ mfa: '0' }) }),
    q({ context: ctx({ risk: 80 }) }),
    q({ context: ctx({ time: { hour: 10, minute: 6, weekday: 2 } }) }),
    q({ context: ctx({ network: undefined }) }),
    q({ context: ctx({ device: { managed: true } }) }),
    q({ context: ctx({ extra: 1 }) }),
    // Separators and quotes inside ids cannot make two questions look alike.
    q({ principal: { type: 'Gatehouse::User', id: 'u1"' }, resources: [doc('d1')] }),
    q({ principal: { type: 'Gatehouse::User', id: 'u' }, version: '1v1' }),
  ];
  for (const [i, variant] of variants.entries()) assert.equal(cache.get(variant), undefined, `variant ${i}`);
  for (const [i, variant] of variants.entries()) cache.set(variant, `v${i}`);
  for (const [i, variant] of variants.entries())
    assert.equal(cache.get(variant), `v${i}`, `variant ${i} stored`);
  assert.equal(cache.get(base), 'base');
  assert.equal(cache.size, variants.length + 1);
  // Look-alike shapes (the built context's fields with a twist) are other questions.
  const odd = [
    q({ context: ctx({ time: { hour: '10', minute: 5, weekday: 2 } }) }),
    q({ context: ctx({ time: { hour: 10, minute: 5, weekday: 2, x: 1 } }) }),
    q({
      context: ctx({ network: { ip: { __extn: { fn: 'ip', arg: '10.0.0.1' } }, zone: 'internal', x: 1 } }),
    }),
    q({
      context: ctx({ network: { ip: { __extn: { fn: 'decimal', arg: '10.0.0.1' } }, zone: 'internal' } }),
    }),
    q({ context: ctx({ risk: undefined }) }),
    q({ context: ctx({ device: { managed: 'true' } }) }),
    q({ resources: [{ ...doc('d1'), parents: [{ type: 'Gatehouse::Folder', id: 'f' }] }] }),
    q({ resources: [{ ...doc('d1'), tags: {} } as EntityJson] }),
    q({ resources: [doc('d1', { owner: 'x', n: '1' })] }),
  ];
  for (const [i, variant] of odd.entries()) assert.equal(cache.get(variant), undefined, `odd ${i}`);
  for (const [i, variant] of odd.entries()) cache.set(variant, `o${i}`);
  for (const [i, variant] of odd.entries()) assert.equal(cache.get(variant), `o${i}`, `odd ${i} stored`);
  assert.equal(cache.size, 1 + variants.length + odd.length);
});

test('decision cache: records compare by their fields in any order, and a stored question is a copy', () => {
  const cache = new DecisionCache<string>(100);
  const question = (attrs: Record<string, unknown>, context: Record<string, unknown>): DecisionQuestion => ({
    principal: { type: 'Gatehouse::User', id: 'u1' },
    version: 'v1',
    action: 'read',
    resources: [
      { uid: { type: 'Gatehouse::Document', id: 'd1' }, attrs: attrs as EntityJson['attrs'], parents: [] },
    ],
    context: context as DecisionQuestion['context'],
  });
  const attrs = { owner: 'a', level: 2 };
  const context = { team: { name: 't', size: 3 }, list: [1, 'x', true, null] };
  cache.set(question(attrs, context), 'stored');
  assert.equal(
    cache.get(
      question({ level: 2, owner: 'a' }, { list: [1, 'x', true, null], team: { size: 3, name: 't' } }),
    ),
    'stored',
  );
  // Changing the caller's objects afterwards changes nothing stored.
  attrs.owner = 'b';
  context.list.push(2);
  assert.equal(cache.get(question(attrs, context)), undefined);
  assert.equal(
    cache.get(
      question({ owner: 'a', level: 2 }, { team: { name: 't', size: 3 }, list: [1, 'x', true, null] }),
    ),
    'stored',
  );
  // Arrays keep their order; a field left out differs from one that is undefined.
  assert.equal(
    cache.get(
      question({ owner: 'a', level: 2 }, { team: { name: 't', size: 3 }, list: ['x', 1, true, null] }),
    ),
    undefined,
  );
  assert.equal(
    cache.get(
      question(
        { owner: 'a', level: 2, extra: undefined },
        { team: { name: 't', size: 3 }, list: [1, 'x', true, null] },
      ),
    ),
    undefined,
  );
});

test('decision cache: values it cannot compare as JSON are never cached, never confused', () => {
  const cache = new DecisionCache<string>(100);
  const question = (context: unknown): DecisionQuestion => ({
    principal: { type: 'Gatehouse::User', id: 'u1' },
    version: 'v1',
    action: 'read',
    resources: [],
    context: context as DecisionQuestion['context'],
  });
  let deep: Record<string, unknown> = { leaf: 1 };
  for (let i = 0; i < 100; i++) deep = { deep };
  const uncacheable = [{ at: new Date(0) }, { at: new Map() }, { n: 10n }, { f: () => 1 }, deep];
  for (const [i, context] of uncacheable.entries()) {
    cache.set(question(context), `u${i}`);
    assert.equal(cache.get(question(context)), undefined, `uncacheable ${i}`);
  }
  assert.equal(cache.size, 0);
  // Two different dates are not one question (they would be, written as JSON records).
  cache.set(question({ at: { later: true } }), 'plain');
  assert.equal(cache.get(question({ at: new Date(1) })), undefined);
});

test('decision cache stays within its limit', () => {
  const cache = new DecisionCache<number>(50);
  const question = (i: number): DecisionQuestion => ({
    principal: { type: 'Gatehouse::User', id: `u${i}` },
    version: 'v1',
    action: 'read',
    resources: [],
    context: {},
  });
  for (let i = 0; i < 500; i++) cache.set(question(i), i);
  assert.ok(cache.size <= 50, `size ${cache.size}`);
  assert.equal(cache.get(question(499)), 499);
  assert.equal(cache.get(question(0)), undefined);
});
