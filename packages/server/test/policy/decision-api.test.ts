/**
 * The AuthZEN decision API, the policy admin API and the decision log, in process over inject():
 * request and response shapes, authentication, and every kind of bad input answered 4xx
 * without a change of state.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ManualClock, type UserRecord } from '@gatehouse/core';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { injectClientToken } from '../support/client-token.js';
import { type InProcessApp, openInProcessApp } from '../support/in-process-app.js';

const examples = new URL('../../../../examples/policies/', import.meta.url).pathname;
// A Tuesday, 10:00 UTC: inside the example policies' business hours.
const clock = new ManualClock(Date.parse('2026-12-01T10:00:00Z'));

function user(id: string, fields: Partial<UserRecord> = {}): UserRecord {
  const at = Math.floor(clock.nowMs() / 1000);
  return {
    id,
    username: id,
    usernameKey: id,
    passwordHash: null,
    disabled: false,
    roles: [],
    groups: [],
    attributes: {},
    createdAt: at,
    updatedAt: at,
    passwordChangedAt: null,
    ...fields,
  };
}

describe('decision API (AuthZEN) and policy admin API', () => {
  let gh: InProcessApp;
  const tokens: Record<'pep' | 'admin' | 'plain', string> = { pep: '', admin: '', plain: '' };

  const call = (
    options: InjectOptions & { as?: keyof typeof tokens | null },
  ): Promise<LightMyRequestResponse> => {
    const { as = 'pep', ...rest } = options;
    return gh.app.inject({
      ...rest,
      headers: { ...(as && { authorization: `Bearer ${tokens[as]}` }), ...rest.headers },
    });
  };
  const evaluate = (payload: unknown, as: keyof typeof tokens | null = 'pep') =>
    call({ method: 'POST', url: '/access/v1/evaluation', payload: payload as object, as });
  const decisionsLogged = async () => {
    await gh.runtime.policy.log.flush();
    return (await gh.runtime.store.decisions.query({ limit: 1000 })).length;
  };
  const problemOf = (res: LightMyRequestResponse) => {
    assert.match(String(res.headers['content-type']), /^application\/problem\+json/);
    return res.json() as { status: number; code: string; detail: string };
  };

  before(async () => {
    gh = await openInProcessApp(
      'pdp',
      [`policy: { dir: ${examples}, networks: { internal: [10.0.0.0/8] }, allow_sample: 1 }`],
      { clock },
    );
    const { runtime } = gh;
    for (const [name, scopes] of [
      ['pep', ['gatehouse:authz']],
      ['admin', ['gatehouse:admin']],
      ['plain', ['read']],
    ] as const) {
      const { secret } = await runtime.clients.create({ id: name, scopes: [...scopes] });
      tokens[name] = await injectClientToken(gh.app, name, secret, scopes.join(' '));
    }
    await runtime.store.users.create(
      user('eddie', { roles: ['editor'], attributes: { department: 'docs' } }),
    );
    await runtime.store.users.create(user('dan', { roles: ['admin'], disabled: true }));
  });
  after(() => gh.close());

  const editorWrites = {
    subject: { type: 'user', id: 'eddie' },
    action: { name: 'write' },
    resource: { type: 'Document', id: 'd1' },
    context: { ip: '10.1.2.3' },
  };

  test('an evaluation answers decision and reasons: the determining policies and the version', async () => {
    const res = await evaluate(editorWrites);
    assert.equal(res.statusCode, 200);
    assert.deepEqual(res.json(), {
      decision: true,
      context: {
        reason: 'permitted by editors-edit-documents',
        policies: ['editors-edit-documents'],
        errors: [],
        policy_version: 1,
      },
    });
    const external = await evaluate({ ...editorWrites, context: { ip: '203.0.113.9' } });
    assert.deepEqual(external.json(), {
      decision: false,
      context: {
        reason: 'forbidden by external-network-read-only',
        policies: ['external-network-read-only'],
        errors: [],
        policy_version: 1,
      },
    });
  });

  test('users come from the store: a disabled admin is denied, an unknown user is a default deny', async () => {
    const disabled = await evaluate({
      ...editorWrites,
      subject: { type: 'user', id: 'dan' },
      action: { name: 'read' },
    });
    assert.equal(disabled.json().decision, false);
    assert.deepEqual(disabled.json().context.policies, ['disabled-users-nothing']);
    const logged = await decisionsLogged();
    const unknown = await evaluate({ ...editorWrites, subject: { type: 'user', id: 'nobody' } });
    assert.equal(await decisionsLogged(), logged + 1, 'an unknown subject is a logged deny');
    assert.equal(unknown.statusCode, 200);
    assert.deepEqual(unknown.json(), {
      decision: false,
      context: {
        reason: 'unknown subject: no such user or client',
        policies: [],
        errors: [],
        policy_version: 1,
      },
    });
    // Roles change in the store: the next decision sees it (the cache key holds the user's version).
    clock.advance(1000);
    await gh.runtime.store.users.update('eddie', { roles: [], updatedAt: Math.floor(clock.nowMs() / 1000) });
    const demoted = await evaluate(editorWrites);
    assert.deepEqual(demoted.json().context.reason, 'no policy permits this (default deny)');
    await gh.runtime.store.users.update('eddie', {
      roles: ['editor'],
      updatedAt: Math.floor(clock.nowMs() / 1000) + 1,
    });
  });

  test('a batch applies top-level defaults, replaces them per item, and answers per item', async () => {
    const res = await call({
      method: 'POST',
      url: '/access/v1/evaluations',
      payload: {
        subject: { type: 'user', id: 'eddie' },
        action: { name: 'read' },
        context: { ip: '10.1.2.3' },
        evaluations: [
          { resource: { type: 'Document', id: 'a' } },
          { resource: { type: 'Document', id: 'b' }, action: { name: 'delete' } },
          { resource: { type: 'Robot', id: 'r2d2' } },
          { resource: { type: 'Document', id: 'c', properties: { classification: 'confidential' } } },
        ],
      },
    });
    assert.equal(res.statusCode, 200);
    const { evaluations } = res.json() as {
      evaluations: { decision: boolean; context: Record<string, unknown> }[];
    };
    assert.deepEqual(
      evaluations.map((e) => e.decision),
      [true, false, false, false],
    );
    assert.deepEqual(evaluations[1]?.context.reason, 'forbidden by delete-needs-mfa');
    const itemError = evaluations[2]?.context.error as { status: number; code: string; message: string };
    assert.equal(itemError.status, 400);
    assert.equal(itemError.code, 'ERR_POLICY_REQUEST_INVALID');
    assert.match(itemError.message, /resource\.type "Robot" is not an entity type/);
    assert.deepEqual(evaluations[3]?.context.policies, ['confidential-needs-managed-device']);

    const firstDeny = await call({
      method: 'POST',
      url: '/access/v1/evaluations',
      payload: {
        subject: { type: 'user', id: 'eddie' },
        resource: { type: 'Document', id: 'a' },
        options: { evaluations_semantic: 'deny_on_first_deny' },
        evaluations: [
          { action: { name: 'read' } },
          { action: { name: 'delete' } },
          { action: { name: 'write' } },
        ],
      },
    });
    assert.deepEqual(
      (firstDeny.json() as { evaluations: { decision: boolean }[] }).evaluations.map((e) => e.decision),
      [true, false],
    );
    const firstPermit = await call({
      method: 'POST',
      url: '/access/v1/evaluations',
      payload: {
        subject: { type: 'user', id: 'eddie' },
        resource: { type: 'Document', id: 'a' },
        options: { evaluations_semantic: 'permit_on_first_permit' },
        evaluations: [
          { action: { name: 'delete' } },
          { action: { name: 'read' } },
          { action: { name: 'write' } },
        ],
      },
    });
    assert.deepEqual(
      (firstPermit.json() as { evaluations: { decision: boolean }[] }).evaluations.map((e) => e.decision),
      [false, true],
    );
    // No items: the top-level request is the one evaluation.
    const single = await call({ method: 'POST', url: '/access/v1/evaluations', payload: editorWrites });
    assert.deepEqual((single.json() as { evaluations: { decision: boolean }[] }).evaluations.length, 1);
    const missing = await call({
      method: 'POST',
      url: '/access/v1/evaluations',
      payload: { subject: { type: 'user', id: 'eddie' }, evaluations: [{ action: { name: 'read' } }] },
    });
    assert.equal(missing.statusCode, 400);
    assert.equal(problemOf(missing).detail, 'evaluations.0: resource missing here and at the top level');
  });

  test('callers authenticate with a client token holding gatehouse:authz (or gatehouse:admin)', async () => {
    const none = await evaluate(editorWrites, null);
    assert.equal(none.statusCode, 401);
    assert.equal(none.headers['www-authenticate'], 'Bearer realm="gatehouse-authz"');
    assert.equal(problemOf(none).code, 'ERR_AUTH_REQUIRED');
    const forged = await call({
      method: 'POST',
      url: '/access/v1/evaluation',
      payload: editorWrites,
      as: null,
      headers: { authorization: `Bearer ${tokens.pep.slice(0, -4)}AAAA` },
    });
    assert.equal(forged.statusCode, 401);
    const malformed = await call({
      method: 'POST',
      url: '/access/v1/evaluation',
      payload: editorWrites,
      as: null,
      headers: { authorization: 'Basic abc' },
    });
    assert.equal(malformed.statusCode, 400);
    const plain = await evaluate(editorWrites, 'plain');
    assert.equal(plain.statusCode, 403);
    assert.match(String(plain.headers['www-authenticate']), /error="insufficient_scope"/);
    assert.equal((await evaluate(editorWrites, 'admin')).statusCode, 200);
    for (const url of ['/access/v1/evaluations', '/access/v1/policies/current']) {
      const res = await call({
        method: url.endsWith('current') ? 'GET' : 'POST',
        url,
        payload: url.endsWith('current') ? undefined : {},
        as: null,
      });
      assert.equal(res.statusCode, 401, url);
    }
    // The policy admin API wants the admin scope: a PEP token is not enough.
    const pepAdmin = await call({ method: 'GET', url: '/admin/v1/policies/versions' });
    assert.equal(pepAdmin.statusCode, 403);
  });

  test('bad input, attack by attack: 4xx with a code and a sentence, no 5xx, nothing logged', async () => {
    const logged = await decisionsLogged();
    const attacks: [string, InjectOptions, number, string, RegExp][] = [
      [
        'malformed JSON',
        { payload: '{"subject":', headers: { 'content-type': 'application/json' } },
        400,
        'ERR_REQUEST_INVALID',
        /not valid JSON/,
      ],
      [
        'not an object',
        { payload: '[1,2]', headers: { 'content-type': 'application/json' } },
        400,
        'ERR_POLICY_REQUEST_INVALID',
        /AuthZEN schema/,
      ],
      [
        'wrong types',
        { payload: { ...editorWrites, subject: { type: 'user', id: 7 } } },
        400,
        'ERR_POLICY_REQUEST_INVALID',
        /subject\.id: /,
      ],
      [
        'unknown field',
        { payload: { ...editorWrites, admin: true } },
        400,
        'ERR_POLICY_REQUEST_INVALID',
        /Unrecognized key/,
      ],
      [
        'unknown subject type',
        { payload: { ...editorWrites, subject: { type: 'Robot', id: 'x' } } },
        400,
        'ERR_POLICY_REQUEST_INVALID',
        /subject\.type "Robot" is not an entity type of the schema/,
      ],
      [
        'unknown action',
        { payload: { ...editorWrites, action: { name: 'fly' } } },
        400,
        'ERR_POLICY_REQUEST_INVALID',
        /action\.name "fly" is not an action/,
      ],
      [
        'resource attribute of the wrong type',
        { payload: { ...editorWrites, resource: { type: 'Document', id: 'd', properties: { owner: 42 } } } },
        400,
        'ERR_POLICY_REQUEST_INVALID',
        /owner/,
      ],
      [
        'undeclared resource attribute',
        {
          payload: {
            ...editorWrites,
            resource: { type: 'Document', id: 'd', properties: { secret_level: 'x' } },
          },
        },
        400,
        'ERR_POLICY_REQUEST_INVALID',
        /secret_level/,
      ],
      [
        'bad ip',
        { payload: { ...editorWrites, context: { ip: '10.1.2.999' } } },
        400,
        'ERR_POLICY_REQUEST_INVALID',
        /context\.ip: expected an IPv4 or IPv6 address/,
      ],
      [
        'risk out of range',
        { payload: { ...editorWrites, context: { risk: 1e9 } } },
        400,
        'ERR_POLICY_REQUEST_INVALID',
        /context\.risk/,
      ],
      [
        'unknown context key',
        { payload: { ...editorWrites, context: { zone: 'internal' } } },
        400,
        'ERR_POLICY_REQUEST_INVALID',
        /context/,
      ],
      [
        'bad time',
        { payload: { ...editorWrites, context: { time: 'yesterday' } } },
        400,
        'ERR_POLICY_REQUEST_INVALID',
        /context\.time/,
      ],
      [
        'oversized body',
        {
          payload: JSON.stringify({ ...editorWrites, pad: 'x'.repeat(70_000) }),
          headers: { 'content-type': 'application/json' },
        },
        413,
        'ERR_BODY_TOO_LARGE',
        /too large/,
      ],
      [
        'form body',
        { payload: 'subject=x', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
        415,
        'ERR_MEDIA_TYPE_UNSUPPORTED',
        /content type/,
      ],
      [
        'a lone UTF-16 surrogate in an id (Cedar cannot decode it)',
        {
          payload: JSON.stringify({ ...editorWrites, resource: { type: 'Document', id: 'd\ud800' } }),
          headers: { 'content-type': 'application/json' },
        },
        400,
        'ERR_POLICY_REQUEST_INVALID',
        /Cedar cannot read this request/,
      ],
      [
        'huge id',
        { payload: { ...editorWrites, subject: { type: 'user', id: 'u'.repeat(300) } } },
        400,
        'ERR_POLICY_REQUEST_INVALID',
        /subject\.id/,
      ],
    ];
    for (const [name, options, status, code, detail] of attacks) {
      const res = await call({ method: 'POST', url: '/access/v1/evaluation', ...options });
      assert.equal(res.statusCode, status, `${name}: ${res.body}`);
      const p = problemOf(res);
      assert.equal(p.code, code, name);
      assert.match(p.detail, detail, name);
    }
    assert.equal(await decisionsLogged(), logged, 'bad input leaves no decision behind');
  });

  test('policy writes are validated: an invalid policy is a 400 with the validator message and changes nothing', async () => {
    const current = await call({ method: 'GET', url: '/access/v1/policies/current' });
    assert.equal(current.statusCode, 200);
    const body = current.json() as {
      version: number;
      schema: string;
      policies: Record<string, string>;
      digest: string;
    };
    assert.equal(body.version, 1);
    assert.deepEqual(Object.keys(body.policies).sort(), ['access.cedar', 'least-privilege.cedar']);

    const put = (payload: unknown) =>
      call({ method: 'PUT', url: '/admin/v1/policies', payload: payload as object, as: 'admin' });
    const syntax = await put({
      schema: body.schema,
      policies: { ...body.policies, 'x.cedar': 'permit (principal,' },
    });
    assert.equal(syntax.statusCode, 400);
    assert.equal(problemOf(syntax).code, 'ERR_POLICY_INVALID');
    assert.match(problemOf(syntax).detail, /^x\.cedar: unexpected end of input at line 1, column 19/);
    const schemaViolation = await put({
      schema: body.schema,
      policies: {
        ...body.policies,
        'x.cedar': 'forbid (principal, action, resource) when { principal.age < 18 };',
      },
    });
    assert.equal(schemaViolation.statusCode, 400);
    assert.match(problemOf(schemaViolation).detail, /^x\.cedar: .*attribute `age`/);
    const badSchema = await put({ schema: 'namespace Gatehouse {', policies: {} });
    assert.equal(problemOf(badSchema).code, 'ERR_POLICY_SCHEMA_INVALID');
    const wrongShape = await put({
      schema: body.schema,
      policies: ['permit (principal, action, resource);'],
    });
    assert.equal(problemOf(wrongShape).code, 'ERR_POLICY_REQUEST_INVALID');
    assert.equal((await gh.runtime.store.policies.current())?.version, 1, 'nothing stored');

    const stored = await put({
      schema: body.schema,
      policies: {
        ...body.policies,
        'night.cedar':
          '@id("no-nights") forbid (principal, action, resource) when { context.time.hour < 6 };',
      },
    });
    assert.equal(stored.statusCode, 201);
    assert.deepEqual((stored.json() as { version: number; changed: boolean }).version, 2);
    const again = await put({
      schema: body.schema,
      policies: {
        ...body.policies,
        'night.cedar':
          '@id("no-nights") forbid (principal, action, resource) when { context.time.hour < 6 };',
      },
    });
    assert.equal(again.statusCode, 200);
    assert.deepEqual(again.json(), { ...(stored.json() as object), changed: false });
    assert.equal((await evaluate(editorWrites)).json().context.policy_version, 2);

    const versions = await call({ method: 'GET', url: '/admin/v1/policies/versions', as: 'admin' });
    assert.deepEqual(
      (versions.json() as { versions: { version: number; created_by: string }[] }).versions.map((v) => [
        v.version,
        v.created_by,
      ]),
      [
        [2, 'admin:admin'],
        [1, `config:${examples}`],
      ],
    );
    const v1 = await call({ method: 'GET', url: '/admin/v1/policies/versions/1', as: 'admin' });
    assert.deepEqual((v1.json() as { policies: object }).policies, body.policies);
    assert.equal(
      (await call({ method: 'GET', url: '/admin/v1/policies/versions/99', as: 'admin' })).statusCode,
      404,
    );
    assert.equal(
      (await call({ method: 'GET', url: '/admin/v1/policies/versions/x', as: 'admin' })).statusCode,
      400,
    );
    const audit = await gh.runtime.store.audit.list(0, 1000);
    assert.ok(
      audit.some((e) => e.action === 'policy.updated' && e.target === 'v2' && e.actor === 'admin:admin'),
    );
  });

  test('the decision log keeps denies and sampled allows, filtered by decision, principal and time, paginated', async () => {
    await gh.runtime.policy.log.flush();
    const page = async (query: string) => {
      const res = await call({ method: 'GET', url: `/admin/v1/decisions${query}`, as: 'admin' });
      assert.equal(res.statusCode, 200, res.body);
      return res.json() as {
        decisions: {
          id: string;
          decision: string;
          principal: string;
          policies: string[];
          latency_us: number;
          input: { context: object };
        }[];
        next_cursor: string | null;
      };
    };
    const denies = await page('?decision=deny&principal=' + encodeURIComponent('Gatehouse::User::"eddie"'));
    assert.ok(denies.decisions.length >= 3);
    assert.ok(
      denies.decisions.every((d) => d.decision === 'deny' && d.principal === 'Gatehouse::User::"eddie"'),
    );
    const zoneOf = (d: (typeof denies.decisions)[number]) =>
      (d.input.context as { network?: { zone: string } }).network?.zone;
    const external = denies.decisions.find(
      (d) => d.policies.includes('external-network-read-only') && zoneOf(d) === 'external',
    );
    assert.ok(external, 'the external-network deny is logged with its policy and context');
    assert.ok(external.latency_us >= 0);
    const allows = await page('?decision=allow');
    assert.ok(allows.decisions.length >= 1, 'allow_sample 1 keeps every allow');

    const all = await page('?limit=500');
    const seen: string[] = [];
    let cursor: string | null = '';
    while (cursor !== null) {
      const p = await page(`?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      seen.push(...p.decisions.map((d) => d.id));
      cursor = p.next_cursor;
    }
    assert.deepEqual(
      seen,
      all.decisions.map((d) => d.id),
    );
    const future = await page(`?from=${encodeURIComponent(new Date(clock.nowMs() + 60_000).toISOString())}`);
    assert.deepEqual(future.decisions, []);
    for (const bad of [
      '?decision=maybe',
      '?limit=0',
      '?limit=9999',
      '?cursor=abc',
      '?from=yesterday',
      '?colour=red',
    ]) {
      const res = await call({ method: 'GET', url: `/admin/v1/decisions${bad}`, as: 'admin' });
      assert.equal(res.statusCode, 400, bad);
      assert.equal(problemOf(res).code, 'ERR_POLICY_REQUEST_INVALID', bad);
    }
  });

  test('the admin OpenAPI document and the AuthZEN metadata name the policy endpoints', async () => {
    const openapi = (await gh.app.inject({ method: 'GET', url: '/admin/v1/openapi.json' })).json() as {
      paths: Record<string, object>;
    };
    for (const path of ['/policies', '/policies/versions', '/policies/versions/{version}', '/decisions']) {
      assert.ok(openapi.paths[path], path);
    }
    const metadata = (
      await gh.app.inject({ method: 'GET', url: '/.well-known/authzen-configuration' })
    ).json() as {
      access_evaluation_endpoint: string;
      access_evaluations_endpoint: string;
    };
    assert.match(metadata.access_evaluation_endpoint, /\/access\/v1\/evaluation$/);
    assert.match(metadata.access_evaluations_endpoint, /\/access\/v1\/evaluations$/);
  });

  test('metrics count decisions by outcome and time evaluations', async () => {
    const res = await gh.app.inject({ method: 'GET', url: '/metrics' });
    assert.match(
      res.body,
      /gatehouse_policy_decisions_total\{decision="deny",source="api",cached="false",evaluator="(in-process|cedar|none)"\} \d+/,
    );
    assert.match(res.body, /gatehouse_policy_evaluation_seconds_bucket\{le="0.001",source="api"\} \d+/);
    assert.match(res.body, /gatehouse_policy_version 2/);
  });
});
