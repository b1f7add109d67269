/**
 * @gatehouse/node against a real Gatehouse process: the service's own token is fetched once for
 * many concurrent calls and renewed before it expires; the revocation feed refuses (fail-closed)
 * once it cannot read Gatehouse; the circuit breaker opens, refuses at once, and closes again.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { type JwtPayload, ManualClock } from '@gatehouse/core';
import { readFileSync } from 'node:fs';
import { LocalPolicies } from '../../server/src/policy/local-policies.js';
import {
  AccessError,
  authorize,
  CircuitBreaker,
  identityOf,
  localDecider,
  RevocationFeed,
  ServiceClient,
  ServiceVerifier,
} from '../src/index.js';
import { digestSecret } from '../../server/src/clients/client-secrets.js';
import { type GatehouseProcess, startGatehouse } from '../../server/test/support/gatehouse-process.js';

const SECRET = randomBytes(32).toString('base64url');
let gh: GatehouseProcess;
/** Claims as a verified token would carry them (the registered ones filled in). */
const claimsOf = (c: Record<string, unknown>) => ({ iss: 'x', aud: 'x', exp: 0, iat: 0, ...c }) as JwtPayload;
let tokenRequests = 0;
/** The real fetch, counting what goes to the token endpoint. */
const counting: typeof fetch = (input, init) => {
  if (String(input).endsWith('/oauth2/token')) tokenRequests++;
  return fetch(input, init);
};

before(async () => {
  gh = await startGatehouse({
    clients: [
      {
        id: 'svc',
        secret_digest: digestSecret(SECRET),
        scopes: ['read', 'gatehouse:introspect', 'gatehouse:authz'],
        resources: ['urn:api'],
        access_token_ttl: 60,
      },
      { id: 'plain', secret_digest: digestSecret(SECRET), scopes: ['read'] },
      { id: 'admin', secret_digest: digestSecret(SECRET), scopes: ['gatehouse:admin'] },
    ],
  });
});
after(async () => {
  await gh.stop();
});

test('the own token: one request for many concurrent calls, reused, renewed before expiry', async () => {
  const clock = new ManualClock(Date.now());
  const client = new ServiceClient({
    url: gh.baseUrl,
    clientId: 'svc',
    clientSecret: SECRET,
    fetch: counting,
    clock,
  });
  const before = tokenRequests;
  const tokens = await Promise.all(
    Array.from({ length: 20 }, () => client.tokenFor({ audience: 'urn:api', scope: ['read'] })),
  );
  assert.equal(new Set(tokens).size, 1);
  assert.equal(tokenRequests - before, 1, 'one request in flight at a time');
  await client.tokenFor({ audience: 'urn:api', scope: ['read'] });
  assert.equal(tokenRequests - before, 1, 'reused while fresh');
  clock.advance(50_000); // past 80 % of its 60 s
  const renewed = await client.tokenFor({ audience: 'urn:api', scope: ['read'] });
  assert.equal(tokenRequests - before, 2, 'renewed before it expires');
  // And it is a real token for urn:api.
  const verifier = new ServiceVerifier({ url: gh.baseUrl, audience: 'urn:api' });
  const who = await verifier.verify(renewed);
  assert.equal(who.sub, 'svc');
  assert.deepEqual(who.scopes, ['read']);
  await assert.rejects(
    new ServiceVerifier({ url: gh.baseUrl, audience: 'urn:other' }).verify(renewed),
    (err: unknown) =>
      err instanceof AccessError && err.status === 401 && err.code === 'ERR_JWT_AUDIENCE_INVALID',
  );
  await assert.rejects(
    client.tokenFor({ audience: 'urn:api', scope: ['write'] }),
    (err: unknown) => err instanceof AccessError && err.status === 403,
    'a scope the client does not hold is refused, not narrowed',
  );
});

test('the revocation feed: revoked ids and watermarks apply; fail-closed once Gatehouse cannot be read', async () => {
  const feed = new RevocationFeed(
    { url: gh.baseUrl, clientId: 'svc', clientSecret: SECRET },
    { intervalMs: 100, maxStalenessSeconds: 1 },
  );
  await feed.start();
  try {
    const client = new ServiceClient({ url: gh.baseUrl, clientId: 'svc', clientSecret: SECRET });
    const token = await client.tokenFor({ audience: 'urn:api', scope: ['read'] });
    const claims = JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()) as Record<
      string,
      unknown
    >;
    assert.equal(feed.isRevoked(claims), false);
    const revoked = await fetch(`${gh.baseUrl}/oauth2/revoke`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`svc:${SECRET}`).toString('base64')}`,
      },
      body: new URLSearchParams({ token }).toString(),
    });
    assert.equal(revoked.status, 200);
    await feed.read();
    assert.equal(feed.isRevoked(claims), true);
    assert.equal(feed.isRevoked({ ...claims, jti: 'another' }), false);
    // A feed whose Gatehouse is gone: after max staleness it refuses to answer.
    const orphan = new RevocationFeed({ url: 'http://127.0.0.1:1', clientId: 'svc', clientSecret: SECRET });
    await assert.rejects(orphan.start());
    assert.throws(() => orphan.isRevoked(claims), /stale/);
    const open = new RevocationFeed(
      { url: 'http://127.0.0.1:1', clientId: 'svc', clientSecret: SECRET },
      { failOpen: true },
    );
    assert.equal(open.isRevoked(claims), false, 'fail-open goes on with what it knows');
  } finally {
    feed.stop();
  }
});

/** A downstream that answers 503 while `state.failing`, counting what reaches it. */
async function flakyDownstream() {
  const state = { failing: true, served: 0 };
  const downstream = createServer((_req, res) => {
    state.served++;
    res.writeHead(state.failing ? 503 : 200).end();
  });
  await new Promise<void>((resolve) => downstream.listen(0, '127.0.0.1', resolve));
  return { downstream, state, url: `http://127.0.0.1:${(downstream.address() as AddressInfo).port}/x` };
}

/** A service client whose breaker runs on a clock the test moves. */
function breakerClient() {
  const clock = new ManualClock(Date.now());
  return {
    clock,
    client: new ServiceClient({
      url: gh.baseUrl,
      clientId: 'svc',
      clientSecret: SECRET,
      clock,
      breaker: { clock },
    }),
  };
}

test('the circuit breaker: opens after five failures, refuses at once, a half-open probe closes it', async () => {
  const { downstream, url, state } = await flakyDownstream();
  const { clock, client } = breakerClient();
  try {
    for (let i = 0; i < 5; i++)
      assert.equal((await client.fetch(url, { audience: 'urn:api', scope: ['read'] })).status, 503);
    await assert.rejects(
      client.fetch(url, { audience: 'urn:api', scope: ['read'] }),
      (err: unknown) => err instanceof AccessError && err.code === 'ERR_UPSTREAM_UNAVAILABLE',
    );
    assert.equal(state.served, 5, 'the open circuit never called the downstream');
    state.failing = false;
    clock.advance(10_000);
    assert.equal(
      (await client.fetch(url, { audience: 'urn:api', scope: ['read'] })).status,
      200,
      'the probe',
    );
    assert.equal(
      (await client.fetch(url, { audience: 'urn:api', scope: ['read'] })).status,
      200,
      'closed again',
    );
  } finally {
    downstream.close();
  }
  const breaker = new CircuitBreaker({ failures: 2, clock });
  breaker.failed();
  breaker.failed();
  assert.equal(breaker.state, 'open');
  clock.advance(10_000);
  assert.equal(breaker.admit(), true);
  assert.equal(breaker.admit(), false, 'one probe at a time');
});

test('the revocation feed endpoint: 401 without client auth, 403 without the scope, 400 on a bad position', async () => {
  const post = (auth: string | undefined, body: string) =>
    fetch(`${gh.baseUrl}/oauth2/revocation-feed`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', ...(auth && { authorization: auth }) },
      body,
    });
  const svc = `Basic ${Buffer.from(`svc:${SECRET}`).toString('base64')}`;
  assert.equal((await post(undefined, 'after=0')).status, 401);
  assert.equal((await post(`Basic ${Buffer.from('svc:wrong').toString('base64')}`, 'after=0')).status, 401);
  for (const after of ['-1', 'abc', '1e3', '9999999999999999']) {
    const res = await post(svc, `after=${after}`);
    assert.equal(res.status, 400, after);
    assert.equal(((await res.json()) as { error: string }).error, 'invalid_request');
  }
  const plain = await post(`Basic ${Buffer.from(`plain:${SECRET}`).toString('base64')}`, 'after=0');
  assert.equal(plain.status, 403, 'a client without gatehouse:introspect');
  assert.equal(((await plain.json()) as { error: string }).error, 'insufficient_scope');
  const ok = await post(svc, 'after=0');
  assert.equal(ok.status, 200);
  const page = (await ok.json()) as { records: unknown[]; next: number; more: boolean };
  assert.equal(Array.isArray(page.records), true);
  assert.equal(typeof page.next, 'number');
});

test('authorize with the central policies evaluated in process (LocalPolicies): users by roles, clients by scopes, no answer shared between them', async () => {
  const admin = new ServiceClient({ url: gh.baseUrl, clientId: 'admin', clientSecret: SECRET });
  const schema = readFileSync(
    new URL('../../../examples/policies/schema.cedarschema', import.meta.url),
    'utf8',
  );
  const put = await fetch(`${gh.baseUrl}/admin/v1/policies`, {
    method: 'PUT',
    headers: {
      authorization: `Bearer ${await admin.tokenFor({ scope: ['gatehouse:admin'] })}`,
      'content-type': 'application/json',
    },
    body: JSON.stringify({
      schema,
      policies: {
        'sdk.cedar': `@id("readers-read")
permit (principal in Gatehouse::Role::"reader", action == Gatehouse::Action::"read", resource);
@id("admin-clients")
permit (principal is Gatehouse::Client, action == Gatehouse::Action::"admin", resource)
when { principal.scopes.contains("admin") };`,
      },
    }),
  });
  assert.ok(put.status === 201 || put.status === 200, await put.text());
  const svc = new ServiceClient({ url: gh.baseUrl, clientId: 'svc', clientSecret: SECRET });
  const local = new LocalPolicies({
    url: gh.baseUrl,
    token: () => svc.tokenFor({ scope: ['gatehouse:authz'] }),
  });
  await local.start();
  const decider = localDecider(local);
  const doc = { type: 'Document', id: 'd1' };
  const reader = identityOf(
    't',
    claimsOf({ sub: 'usr_1', client_id: 'web', scope: 'read', roles: ['reader'] }),
  );
  await authorize(decider, reader, 'read', doc);
  await assert.rejects(
    authorize(decider, reader, 'write', doc),
    (e: unknown) => e instanceof AccessError && e.status === 403,
  );
  const adminClient = identityOf('t', claimsOf({ sub: 'svc2', client_id: 'svc2', scope: 'admin' }));
  const readClient = identityOf('t', claimsOf({ sub: 'svc2', client_id: 'svc2', scope: 'read' }));
  await authorize(decider, adminClient, 'admin', doc);
  await assert.rejects(
    authorize(decider, readClient, 'admin', doc),
    (e: unknown) => e instanceof AccessError && e.status === 403,
    'the same client id with other scopes gets its own answer, not the cached one',
  );
});

test('a refused exchange does not hold the half-open circuit: the origin is usable again once it is back', async () => {
  const { downstream, url, state } = await flakyDownstream();
  const { clock, client } = breakerClient();
  try {
    for (let i = 0; i < 5; i++) await client.fetch(url, { audience: 'urn:api', scope: ['read'] });
    clock.advance(10_000); // half-open
    const stranger = identityOf('not-a-token', claimsOf({ sub: 'usr_x' }));
    await assert.rejects(
      client.fetch(url, { as: stranger, audience: 'urn:api', scope: ['read'] }),
      (e: unknown) => e instanceof AccessError && e.status === 403,
    );
    state.failing = false;
    assert.equal(
      (await client.fetch(url, { audience: 'urn:api', scope: ['read'] })).status,
      200,
      'the probe was still free',
    );
  } finally {
    downstream.close();
  }
});
