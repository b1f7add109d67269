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
import { ManualClock } from '@gatehouse/core';
import { AccessError, CircuitBreaker, RevocationFeed, ServiceClient, ServiceVerifier } from '../src/index.js';
import { digestSecret } from '../../server/src/clients/client-secrets.js';
import { type GatehouseProcess, startGatehouse } from '../../server/test/support/gatehouse-process.js';

const SECRET = randomBytes(32).toString('base64url');
let gh: GatehouseProcess;
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
        scopes: ['read', 'gatehouse:introspect'],
        resources: ['urn:api'],
        access_token_ttl: 60,
      },
      { id: 'plain', secret_digest: digestSecret(SECRET), scopes: ['read'] },
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

test('the circuit breaker: opens after five failures, refuses at once, a half-open probe closes it', async () => {
  let failing = true;
  let served = 0;
  const downstream = createServer((_req, res) => {
    served++;
    res.writeHead(failing ? 503 : 200).end();
  });
  await new Promise<void>((resolve) => downstream.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(downstream.address() as AddressInfo).port}/x`;
  const clock = new ManualClock(Date.now());
  const client = new ServiceClient({
    url: gh.baseUrl,
    clientId: 'svc',
    clientSecret: SECRET,
    clock,
    breaker: { clock },
  });
  try {
    for (let i = 0; i < 5; i++)
      assert.equal((await client.fetch(url, { audience: 'urn:api', scope: ['read'] })).status, 503);
    await assert.rejects(
      client.fetch(url, { audience: 'urn:api', scope: ['read'] }),
      (err: unknown) => err instanceof AccessError && err.code === 'ERR_UPSTREAM_UNAVAILABLE',
    );
    assert.equal(served, 5, 'the open circuit never called the downstream');
    failing = false;
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
