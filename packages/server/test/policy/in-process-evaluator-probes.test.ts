/**
 * Probes of the in-process evaluator against Cedar, from a review: each decides one request with
 * `new PolicyEngine()` and with `new PolicyEngine({ inProcess: false })` and requires the same
 * outcome (decision, determining policies, errors, or the same error). Probes named "DIVERGED"
 * were answers the in-process engine once gave where Cedar answered otherwise or rejected the
 * request (now deferred to Cedar, or the schema left to Cedar); "SLICE" ones were bugs of the
 * Cedar path's policy slicing, checked against `cedar.isAuthorized` on the whole set.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { GatehouseError } from '@gatehouse/core';
import { cedar } from '../../src/policy/cedar.js';
import { type CedarRequest, PolicyEngine } from '../../src/policy/policy-engine.js';
import { compilePolicySources } from '../../src/policy/policy-set.js';

type Outcome =
  | { decision: string; policies: string[]; errors: string[] }
  | { error: string }
  | { thrown: string };

function decide(engine: PolicyEngine, request: unknown): { outcome: Outcome; evaluator?: string } {
  try {
    const d = engine.evaluate(request as CedarRequest);
    return {
      outcome: { decision: d.decision, policies: d.policies, errors: d.errors },
      evaluator: d.evaluator,
    };
  } catch (error) {
    if (error instanceof GatehouseError) return { outcome: { error: error.code } };
    return { outcome: { thrown: (error as Error).message } };
  }
}

interface Probe {
  schema: string;
  policies: string;
  request: unknown;
  /** Expected evaluator of the fast engine (to show a probe really exercises the fast path). */
  by?: 'in-process' | 'cedar';
}

function both(p: Probe) {
  const set = compilePolicySources({ schema: p.schema, policies: { 'p.cedar': p.policies } });
  const fast = new PolicyEngine();
  fast.load(1, set);
  const reference = new PolicyEngine({ inProcess: false });
  reference.load(1, set);
  const answer = { fast: decide(fast, p.request), cedar: decide(reference, p.request) };
  // Deferring must be deliberate: the evaluator itself never fails on a probe.
  assert.equal(fast.inProcessFailures, 0, 'the in-process evaluator did not fail unexpectedly');
  return answer;
}

function probe(label: string, p: Probe): void {
  test(label, () => {
    const { fast, cedar: reference } = both(p);
    const detail = `in-process engine (${fast.evaluator}): ${JSON.stringify(fast.outcome)}\nCedar: ${JSON.stringify(reference.outcome)}`;
    assert.deepEqual(fast.outcome, reference.outcome, detail);
    if (p.by !== undefined) assert.equal(fast.evaluator, p.by, detail);
  });
}

/** Cedar on the whole policy set (no engine, no slicing): the ground truth. */
function wholeSetCedar(p: Probe): Outcome {
  const set = compilePolicySources({ schema: p.schema, policies: { 'p.cedar': p.policies } });
  const r = p.request as CedarRequest;
  const answer = cedar.isAuthorized({
    principal: r.principal,
    action: r.action,
    resource: r.resource,
    context: r.context,
    entities: r.entities,
    policies: { staticPolicies: set.policies },
    schema: p.schema,
    validateRequest: true,
  });
  if (answer.type === 'failure') return { error: 'ERR_POLICY_REQUEST_INVALID' };
  return {
    decision: answer.response.decision,
    policies: [...answer.response.diagnostics.reason].sort(),
    errors: answer.response.diagnostics.errors.map((e) => `${e.policyId}: ${e.error.message}`),
  };
}

// ---------------------------------------------------------------------------------------------
// A small schema and request builders.

const SCHEMA = `
namespace Gatehouse {
  entity Role;
  entity Group in [Group];
  entity Doc { owner?: String };
  entity User in [Role, Group] {
    name?: String,
    n?: Long,
    ip?: ipaddr,
    doc?: Doc,
    docs?: Set<Doc>,
    rec?: { a?: String },
    recs?: Set<{ k: Long, v: String }>,
  } tags String;
  action "all";
  action "read", "write" in [Action::"all"] appliesTo {
    principal: [User], resource: [Doc], context: { s?: String, ip?: ipaddr, n?: Long },
  };
}`;

const T = (type: string, id: string) => ({ type: `Gatehouse::${type}`, id });
const user = (attrs: Record<string, unknown> = {}, over: Record<string, unknown> = {}) => ({
  uid: T('User', 'a'),
  attrs,
  parents: [],
  ...over,
});
const group = (id: string, parents: string[]) => ({
  uid: T('Group', id),
  attrs: {},
  parents: parents.map((g) => T('Group', g)),
});
const req = (
  entities: unknown[],
  context: Record<string, unknown> = {},
  over: Record<string, unknown> = {},
) => ({
  principal: T('User', 'a'),
  action: T('Action', 'read'),
  resource: T('Doc', 'd'),
  context,
  entities,
  ...over,
});
const ALL = '@id("all") permit (principal, action, resource);';
const ip = (arg: string) => ({ __extn: { fn: 'ip', arg } });

// ---------------------------------------------------------------------------------------------
// DIVERGENCES: wrong decisions.

const EMPTY_NS_GROUP = `
action "x";
namespace Gatehouse {
  entity Doc;
  entity User;
  action "read" in [Action::"x"] appliesTo { principal: [User], resource: [Doc] };
}`;

probe(
  'DIVERGED: action group declared in the empty namespace — forbid bypassed (in-process allow, Cedar deny)',
  {
    schema: EMPTY_NS_GROUP,
    policies: `${ALL}\n@id("no-x") forbid (principal, action in Action::"x", resource);`,
    request: req([]),
  },
);

probe('DIVERGED: action group declared in the empty namespace — `action in` in a condition', {
  schema: EMPTY_NS_GROUP,
  policies: '@id("x") permit (principal, action, resource) when { action in Action::"x" };',
  request: req([]),
});

// ---------------------------------------------------------------------------------------------
// DIVERGENCES: the in-process engine answers a request Cedar rejects (ERR_POLICY_REQUEST_INVALID).

probe('DIVERGED: entity without `attrs` (Cedar: missing field `attrs`)', {
  schema: SCHEMA,
  policies: ALL,
  request: req([{ uid: T('Doc', 'd'), parents: [] }]),
});
probe('DIVERGED: entity with `attrs: null`', {
  schema: SCHEMA,
  policies: ALL,
  request: req([{ uid: T('Doc', 'd'), attrs: null, parents: [] }]),
});
probe('DIVERGED: entity without `parents` (Cedar: missing field `parents`)', {
  schema: SCHEMA,
  policies: ALL,
  request: req([{ uid: T('Doc', 'd'), attrs: {} }]),
});
probe('DIVERGED: entity with `parents: null`', {
  schema: SCHEMA,
  policies: ALL,
  request: req([{ uid: T('Doc', 'd'), attrs: {}, parents: null }]),
});
probe('DIVERGED: entity with `tags: null`', {
  schema: SCHEMA,
  policies: ALL,
  request: req([user({}, { tags: null })]),
});
probe('DIVERGED: cycle in the entity hierarchy (Cedar: transitive closure error)', {
  schema: SCHEMA,
  policies: '@id("g1") permit (principal in Gatehouse::Group::"g1", action, resource);',
  request: req([user({}, { parents: [T('Group', 'g1')] }), group('g1', ['g2']), group('g2', ['g1'])]),
});
probe('DIVERGED: entity that is its own parent', {
  schema: SCHEMA,
  policies: ALL,
  request: req([group('g1', ['g1'])]),
});

// Lone UTF-16 surrogates: cedar-wasm JSON-encodes the call and serde_json refuses them (a plain
// Error, not a Cedar failure); the in-process engine decides. Reachable from any JSON body
// ("\ud800" in an AuthZEN subject/resource id, property, role or group name).
probe('DIVERGED: lone surrogate in an entity id (Cedar-only engine throws)', {
  schema: SCHEMA,
  policies: ALL,
  request: req([], {}, { principal: T('User', '\ud800') }),
});
probe('DIVERGED: lone surrogate in a parent id', {
  schema: SCHEMA,
  policies: '@id("r") permit (principal in Gatehouse::Role::"\u{FFFD}", action, resource);',
  request: req([user({}, { parents: [T('Role', '\ud800')] })]),
});
probe('DIVERGED: lone surrogate in a context string', {
  schema: SCHEMA,
  policies: ALL,
  request: req([], { s: 'x\udfff' }),
});
probe('DIVERGED: lone surrogate in a tag name', {
  schema: SCHEMA,
  policies: ALL,
  request: req([user({}, { tags: { '\ud800': 'v' } })]),
});

// Schema name resolution: `named()` maps String/Long/Bool/Boolean/ipaddr to builtins before
// looking at declared names, but a declaration in the empty namespace wins in Cedar.
const emptyNsShadow = (decl: string, attrType: string) => `
${decl}
namespace Gatehouse { entity Doc; entity User { a: ${attrType} }; action "read" appliesTo { principal: [User], resource: [Doc] }; }`;
probe('DIVERGED: empty-namespace `entity String;` — attribute typed String accepted as a string', {
  schema: emptyNsShadow('entity String;', 'String'),
  policies: ALL,
  request: req([user({ a: 'x' })]),
});
probe('DIVERGED: empty-namespace `entity Long;`', {
  schema: emptyNsShadow('entity Long;', 'Long'),
  policies: ALL,
  request: req([user({ a: 1 })]),
});
probe('DIVERGED: empty-namespace `entity Bool;`', {
  schema: emptyNsShadow('entity Bool;', 'Bool'),
  policies: ALL,
  request: req([user({ a: true })]),
});
probe('DIVERGED: empty-namespace `entity ipaddr;`', {
  schema: emptyNsShadow('entity ipaddr;', 'ipaddr'),
  policies: ALL,
  request: req([user({ a: ip('10.0.0.1') })]),
});
probe('DIVERGED: empty-namespace `type ipaddr = String;` (Cedar only warns about the shadowing)', {
  schema: emptyNsShadow('type ipaddr = String;', 'ipaddr'),
  policies: ALL,
  request: req([user({ a: ip('10.0.0.1') })]),
});

// memberOfTypes / principalTypes / resourceTypes naming an empty-namespace type come back as
// `Foo` in the resolved schema; `qualify` turns them into `Gatehouse::Foo`, an undeclared type.
const EMPTY_NS_TYPE = (decl: string) => `
entity Foo;
namespace Gatehouse { entity Doc; ${decl} }`;
probe(
  'DIVERGED: parent of the undeclared type Gatehouse::Foo (schema says `User in [Foo]`, Foo in the empty namespace)',
  {
    schema: EMPTY_NS_TYPE(
      'entity User in [Foo]; action "read" appliesTo { principal: [User], resource: [Doc] };',
    ),
    policies: ALL,
    request: req([{ uid: T('User', 'a'), attrs: {}, parents: [T('Foo', 'f')] }]),
  },
);
probe('DIVERGED: principal of the undeclared type Gatehouse::Foo (appliesTo principal: [User, Foo])', {
  schema: EMPTY_NS_TYPE('entity User; action "read" appliesTo { principal: [User, Foo], resource: [Doc] };'),
  policies: ALL,
  request: req([], {}, { principal: T('Foo', 'f') }),
});
probe('DIVERGED: resource of the undeclared type Gatehouse::Foo (appliesTo resource: [Doc, Foo])', {
  schema: EMPTY_NS_TYPE('entity User; action "read" appliesTo { principal: [User], resource: [Doc, Foo] };'),
  policies: ALL,
  request: req([], {}, { resource: T('Foo', 'f') }),
});

// JavaScript objects (not JSON): cedar-wasm JSON.stringify-s the call, the evaluator reads the
// object. Only reachable from code that passes such values, not from a JSON body.
probe('DIVERGED: a Date where a record is expected (JSON.stringify makes it a string)', {
  schema: SCHEMA,
  policies: ALL,
  request: req([user({ rec: new Date(0) })]),
});

// Not an answer but not a deferral either: the evaluator throws a TypeError (uidOf destructures
// null) where Cedar returns ERR_POLICY_REQUEST_INVALID. Reachable through AuthZEN resource
// properties when a resource type has an entity-typed attribute.
probe('DIVERGED (crash): `{ "__entity": null }` for an entity-typed attribute', {
  schema: SCHEMA,
  policies: ALL,
  request: req([user({ doc: { __entity: null } })]),
});

// ---------------------------------------------------------------------------------------------
// SLICE: the Cedar-only engine (policy slicing, policy-scope.ts) was wrong here; the
// in-process engine gives whole-set Cedar's answer. A deferred request meets the same slicing.

const SLICE_CASES: [string, Probe][] = [
  [
    'SLICE: principal in `{ __entity }` form (uidKey sees undefined type/id)',
    {
      schema: SCHEMA,
      policies: '@id("eq") permit (principal == Gatehouse::User::"a", action, resource);',
      request: req([], {}, { principal: { __entity: T('User', 'a') } }),
    },
  ],
  [
    'SLICE: action group in another namespace (actionGroups only looks at Gatehouse)',
    {
      schema: `namespace Other { entity T; action "g"; action "m" in ["g"] appliesTo { principal: [T], resource: [T] }; }
namespace Gatehouse { entity Doc; entity User; action "read" appliesTo { principal: [User], resource: [Doc] }; }`,
      policies: '@id("g") permit (principal, action in Other::Action::"g", resource);',
      request: {
        principal: { type: 'Other::T', id: 'a' },
        action: { type: 'Other::Action', id: 'm' },
        resource: { type: 'Other::T', id: 'b' },
        context: {},
        entities: [],
      },
    },
  ],
];
for (const [label, p] of SLICE_CASES) {
  test(`${label} — in-process agrees with whole-set Cedar`, () => {
    assert.deepEqual(both(p).fast.outcome, wholeSetCedar(p));
  });
  probe(label, p);
}

// ---------------------------------------------------------------------------------------------
// Checked and fine: both engines agree (most decided in process).

const fine: [string, Probe][] = [
  // Entity uid forms
  [
    'uid with extra field',
    {
      schema: SCHEMA,
      policies: ALL,
      request: req([user({}, { uid: { ...T('User', 'a'), x: 1 } })]),
      by: 'in-process',
    },
  ],
  [
    'uid with both __entity and type/id (Cedar takes __entity too)',
    {
      schema: SCHEMA,
      policies: '@id("r") permit (principal in Gatehouse::Role::"admin", action, resource);',
      request: req([
        user({}, { uid: { __entity: T('User', 'zzz'), ...T('User', 'a') }, parents: [T('Role', 'admin')] }),
      ]),
      by: 'in-process',
    },
  ],
  [
    'parent with both forms',
    {
      schema: SCHEMA,
      policies: '@id("r") permit (principal in Gatehouse::Role::"admin", action, resource);',
      request: req([user({}, { parents: [{ __entity: T('Role', 'x'), ...T('Role', 'admin') }] })]),
      by: 'in-process',
    },
  ],
  [
    'duplicate entity in two uid forms (deferred)',
    {
      schema: SCHEMA,
      policies: ALL,
      request: req([user(), user({}, { uid: { __entity: T('User', 'a') } })]),
      by: 'cedar',
    },
  ],
  [
    'entity with an unknown extra field',
    { schema: SCHEMA, policies: ALL, request: req([user({}, { foo: 1 })]), by: 'in-process' },
  ],
  [
    'action entity in the entity list (deferred)',
    { schema: SCHEMA, policies: ALL, request: req([{ uid: T('Action', 'read'), attrs: {}, parents: [] }]) },
  ],
  // `in`, `is`, action groups
  [
    'principal absent from the entities: `in` is equality only',
    {
      schema: SCHEMA,
      policies:
        '@id("r") permit (principal in Gatehouse::Role::"admin", action, resource);\n@id("s") permit (principal in Gatehouse::User::"a", action, resource);',
      request: req([]),
      by: 'in-process',
    },
  ],
  [
    'transitive groups, middle group present',
    {
      schema: SCHEMA,
      policies: '@id("g3") permit (principal in Gatehouse::Group::"g3", action, resource);',
      request: req([user({}, { parents: [T('Group', 'g1')] }), group('g1', ['g2']), group('g2', ['g3'])]),
      by: 'in-process',
    },
  ],
  [
    'transitive groups, middle group absent',
    {
      schema: SCHEMA,
      policies: '@id("g3") permit (principal in Gatehouse::Group::"g3", action, resource);',
      request: req([user({}, { parents: [T('Group', 'g1')] }), group('g2', ['g3'])]),
      by: 'in-process',
    },
  ],
  [
    'is … in with a set',
    {
      schema: SCHEMA,
      policies:
        '@id("i") permit (principal, action, resource) when { principal is Gatehouse::User in [Gatehouse::Group::"x", Gatehouse::Group::"g"] };',
      request: req([user({}, { parents: [T('Group', 'g')] })]),
      by: 'in-process',
    },
  ],
  [
    'action group from Gatehouse, scope and literal',
    {
      schema: SCHEMA,
      policies:
        '@id("a") permit (principal, action in Gatehouse::Action::"all", resource) when { Gatehouse::Action::"write" in Gatehouse::Action::"all" };',
      request: req([]),
      by: 'in-process',
    },
  ],
  [
    'request for an action group without appliesTo',
    { schema: SCHEMA, policies: ALL, request: req([], {}, { action: T('Action', 'all') }) },
  ],
  // has / attributes / tags
  [
    'has on an absent entity (deferred: Cedar says false)',
    {
      schema: SCHEMA,
      policies: '@id("h") permit (principal, action, resource) when { resource has owner };',
      request: req([]),
    },
  ],
  [
    'entity-typed attribute and a set of them',
    {
      schema: SCHEMA,
      policies:
        '@id("d") permit (principal, action, resource) when { principal has doc && principal.doc == resource && principal has docs && principal.docs.contains(resource) };',
      request: req([user({ doc: { __entity: T('Doc', 'd') }, docs: [{ __entity: T('Doc', 'd') }] })]),
      by: 'in-process',
    },
  ],
  [
    'entity-typed attribute with extra keys in __entity',
    {
      schema: SCHEMA,
      policies: ALL,
      request: req([user({ doc: { __entity: { ...T('Doc', 'd'), x: 1 }, y: 2 } })]),
    },
  ],
  [
    'entity-typed attribute in the implicit form (deferred)',
    { schema: SCHEMA, policies: ALL, request: req([user({ doc: T('Doc', 'd') })]) },
  ],
  [
    'set of records',
    {
      schema: SCHEMA,
      policies:
        '@id("r") permit (principal, action, resource) when { principal has recs && principal.recs.contains({ k: 1, v: "x" }) && !principal.recs.contains({ k: 1, v: "y" }) && principal.recs == [{ v: "y", k: 2 }, { k: 1, v: "x" }] };',
      request: req([
        user({
          recs: [
            { k: 1, v: 'x' },
            { k: 2, v: 'y' },
            { k: 1, v: 'x' },
          ],
        }),
      ]),
      by: 'in-process',
    },
  ],
  [
    'record missing required field in a set (rejected by both)',
    { schema: SCHEMA, policies: ALL, request: req([user({ recs: [{ v: 'x' }] })]) },
  ],
  [
    'tags: {} on a type without tags',
    {
      schema: SCHEMA,
      policies: ALL,
      request: req([{ uid: T('Doc', 'd'), attrs: {}, parents: [], tags: {} }]),
      by: 'in-process',
    },
  ],
  [
    'tags on a type without tags',
    {
      schema: SCHEMA,
      policies: ALL,
      request: req([{ uid: T('Doc', 'd'), attrs: {}, parents: [], tags: { x: 'y' } }]),
    },
  ],
  [
    'required attribute of an absent entity (deferred: Cedar reports the error)',
    {
      schema:
        'namespace Gatehouse { entity Doc { owner: String }; entity User; action "read" appliesTo { principal: [User], resource: [Doc] }; }',
      policies: `${ALL}\n@id("o") forbid (principal, action, resource) when { resource.owner == "a" };`,
      request: req([]),
      by: 'cedar',
    },
  ],
  [
    'tags: hasTag/getTag',
    {
      schema: SCHEMA,
      policies:
        '@id("t") permit (principal, action, resource) when { principal.hasTag("x") && principal.getTag("x") == "y" && !principal.hasTag("z") };',
      request: req([user({}, { tags: { x: 'y' } })]),
      by: 'in-process',
    },
  ],
  // Longs
  [
    '-0 as a Long',
    {
      schema: SCHEMA,
      policies:
        '@id("z") permit (principal, action, resource) when { context has n && context.n == 0 && context.n * -1 == 0 };',
      request: req([], { n: -0 }),
      by: 'in-process',
    },
  ],
  [
    '2^53 - 1 + 1 (deferred, exact beyond)',
    {
      schema: SCHEMA,
      policies: '@id("b") permit (principal, action, resource) when { context has n && context.n + 1 > 0 };',
      request: req([], { n: 2 ** 53 - 1 }),
      by: 'cedar',
    },
  ],
  [
    'Long overflow (deferred, Cedar errors)',
    {
      schema: SCHEMA,
      policies:
        '@id("o") permit (principal, action, resource) when { context has n && context.n * 9007199254740991 * 2000 > 0 };',
      request: req([], { n: 3 }),
      by: 'cedar',
    },
  ],
  [
    'Long beyond 2^53 in context (deferred)',
    { schema: SCHEMA, policies: ALL, request: req([], { n: 2 ** 60 }) },
  ],
  ['non-integer Long (rejected by both)', { schema: SCHEMA, policies: ALL, request: req([], { n: 1.5 }) }],
  // like
  [
    'like: escaped star, unicode, backtracking',
    {
      schema: SCHEMA,
      policies:
        '@id("l") permit (principal, action, resource) when { context has s && context.s like "a\\**\u{1F600}*b*b" && !(context.s like "a\\*") };',
      request: req([], { s: 'a*xx\u{1F600}bbab' }),
      by: 'in-process',
    },
  ],
  [
    'like: no normalisation (é vs e+U+0301)',
    {
      schema: SCHEMA,
      policies:
        '@id("l") permit (principal, action, resource) when { context has s && context.s like "e\u0301*" };',
      request: req([], { s: '\u00e9' }),
      by: 'in-process',
    },
  ],
  [
    'like: astral character matched by one wildcard',
    {
      schema: SCHEMA,
      policies:
        '@id("l") permit (principal, action, resource) when { context has s && context.s like "*\u{1F600}" && context.s == "\u{1F600}" };',
      request: req([], { s: '\u{1F600}' }),
      by: 'in-process',
    },
  ],
  // sets and records
  [
    'set equality with duplicates and nested sets',
    {
      schema: SCHEMA,
      policies:
        '@id("s") permit (principal, action, resource) when { [[1, 2], [2]] == [[2], [2, 1], [1, 2]] && {a: [1]} == {a: [1, 1]} && [principal] == [Gatehouse::User::"a"] };',
      request: req([]),
      by: 'in-process',
    },
  ],
  [
    'record literal with an `__entity` field is a record',
    {
      schema: SCHEMA,
      policies:
        '@id("r") permit (principal, action, resource) when { {"__entity": {type: "Gatehouse::User", id: "a"}} has "__entity" };',
      request: req([]),
      by: 'in-process',
    },
  ],
  // IP
  [
    'ip: /32 range, 0.0.0.0/0, range from context',
    {
      schema: SCHEMA,
      policies:
        '@id("i") permit (principal, action, resource) when { context has ip && ip("10.0.0.1").isInRange(context.ip) && ip("10.0.0.1").isInRange(ip("10.0.0.1/32")) && ip("1.2.3.4").isInRange(ip("0.0.0.0/0")) };',
      request: req([], { ip: ip('10.0.0.0/24') }),
      by: 'in-process',
    },
  ],
  [
    'ip: loopback / multicast on single addresses',
    {
      schema: SCHEMA,
      policies:
        '@id("i") permit (principal, action, resource) when { ip("127.255.0.1").isLoopback() && ip("239.1.1.1").isMulticast() && !ip("240.0.0.1").isMulticast() && !ip("128.0.0.1").isLoopback() };',
      request: req([]),
      by: 'in-process',
    },
  ],
  [
    'ip: loopback of a range (deferred)',
    {
      schema: SCHEMA,
      policies:
        '@id("i") permit (principal, action, resource) when { context has ip && context.ip.isLoopback() };',
      request: req([], { ip: ip('127.0.0.0/8') }),
      by: 'cedar',
    },
  ],
  [
    'ip: range with host bits (deferred)',
    {
      schema: SCHEMA,
      policies:
        '@id("i") permit (principal, action, resource) when { context has ip && context.ip.isInRange(ip("10.0.0.0/8")) };',
      request: req([], { ip: ip('10.1.2.3/8') }),
      by: 'cedar',
    },
  ],
  [
    'ip: leading zeros rejected by both',
    { schema: SCHEMA, policies: ALL, request: req([], { ip: ip('010.0.0.1') }) },
  ],
  [
    'ip: short form rejected by both',
    { schema: SCHEMA, policies: ALL, request: req([], { ip: ip('10.1') }) },
  ],
  [
    'ip: IPv4-mapped IPv6 rejected by both',
    { schema: SCHEMA, policies: ALL, request: req([], { ip: ip('::ffff:10.0.0.1') }) },
  ],
  [
    'ip: plain string for ipaddr (deferred, Cedar accepts)',
    { schema: SCHEMA, policies: ALL, request: req([], { ip: '10.0.0.1' }) },
  ],
  [
    'ip: extra key inside __extn',
    {
      schema: SCHEMA,
      policies: ALL,
      request: req([], { ip: { __extn: { fn: 'ip', arg: '10.0.0.1', x: 1 } } }),
      by: 'in-process',
    },
  ],
  [
    'ip: == between addresses (deferred)',
    {
      schema: SCHEMA,
      policies:
        '@id("i") permit (principal, action, resource) when { context has ip && context.ip == ip("10.0.0.1") };',
      request: req([], { ip: ip('10.0.0.1') }),
      by: 'cedar',
    },
  ],
  // context / request shape
  [
    'context with an extra attribute (rejected by both)',
    { schema: SCHEMA, policies: ALL, request: req([], { zzz: 1 }) },
  ],
  [
    'context `__proto__` key from JSON.parse (rejected by both)',
    { schema: SCHEMA, policies: ALL, request: req([], JSON.parse('{"__proto__": "x"}')) },
  ],
  [
    'principal uid with extra field',
    {
      schema: SCHEMA,
      policies: ALL,
      request: req([], {}, { principal: { ...T('User', 'a'), q: 1 } }),
      by: 'in-process',
    },
  ],
  [
    'NUL in ids does not collide with the type separator',
    {
      schema: SCHEMA,
      policies: '@id("n") permit (principal == Gatehouse::User::"a\\0b", action, resource);',
      request: req([], {}, { principal: T('User', 'a\u0000b') }),
      by: 'in-process',
    },
  ],
  [
    'empty-namespace parent type used correctly (deferred)',
    {
      schema: EMPTY_NS_TYPE(
        'entity User in [Foo]; action "read" appliesTo { principal: [User], resource: [Doc] };',
      ),
      policies: '@id("f") permit (principal in Foo::"f", action, resource);',
      request: req([{ uid: T('User', 'a'), attrs: {}, parents: [{ type: 'Foo', id: 'f' }] }]),
    },
  ],
  [
    'common type and entity type of the same name',
    {
      schema:
        'namespace Gatehouse { type Foo = String; entity Foo; entity Doc; entity User { a: Foo }; action "read" appliesTo { principal: [User], resource: [Doc] }; }',
      policies: ALL,
      request: req([user({ a: 'x' })]),
    },
  ],
  [
    '`__proto__` as a record attribute, context attribute and record-literal key',
    {
      schema:
        'namespace Gatehouse { entity Doc; entity User { r: { "__proto__"?: String } }; action "read" appliesTo { principal: [User], resource: [Doc], context: { "__proto__"?: Long } }; }',
      policies:
        '@id("p") permit (principal, action, resource) when { principal.r has "__proto__" && context has "__proto__" && {"__proto__": 1} has "__proto__" };',
      request: req([user({ r: JSON.parse('{"__proto__": "x"}') })], JSON.parse('{"__proto__": 1}')),
      by: 'in-process',
    },
  ],
  [
    'attribute named `__expr`',
    {
      schema:
        'namespace Gatehouse { entity Doc; entity User { r: { "__expr": String } }; action "read" appliesTo { principal: [User], resource: [Doc] }; }',
      policies: '@id("e") permit (principal, action, resource) when { principal.r.__expr == "1" };',
      request: req([user({ r: { __expr: '1' } })]),
    },
  ],
];
for (const [label, p] of fine) probe(label, p);
