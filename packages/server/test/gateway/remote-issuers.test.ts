/**
 * Authenticators against another IdP over real HTTP on loopback: a JWT issuer found by its
 * discovery URL (JWKS fetched, refetched on a new kid) and an RFC 7662 introspection endpoint
 * for opaque tokens (positive answers cached within the cap).
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { ManualClock } from '@gatehouse/core';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { AuthenticatorDeps } from '../../src/gateway/pipeline/authenticate.js';
import { jwtAuthenticator, opaqueAuthenticator } from '../../src/gateway/pipeline/authenticate.js';

let idp: Server;
let issuer: string;
const keys: Record<string, unknown>[] = [];
type PrivateKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
const signers: { kid: string; key: PrivateKey }[] = [];
let introspections = 0;
const clock = new ManualClock(Date.now());

async function addKey(kid: string) {
  const { publicKey, privateKey } = await generateKeyPair('ES256');
  keys.push({ ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' });
  signers.push({ kid, key: privateKey });
}

before(async () => {
  await addKey('k1');
  idp = createServer((req, res) => {
    res.setHeader('content-type', 'application/json');
    if (req.url === '/.well-known/openid-configuration') {
      res.end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }));
    } else if (req.url === '/jwks') {
      res.end(JSON.stringify({ keys }));
    } else if (req.url === '/introspect') {
      introspections++;
      let body = '';
      req.on('data', (c: Buffer) => {
        body += c.toString();
      });
      req.on('end', () => {
        const ok = req.headers.authorization === `Basic ${Buffer.from('gw:s3cret').toString('base64')}`;
        const token = new URLSearchParams(body).get('token');
        const exp = Math.floor(clock.nowMs() / 1000) + 600;
        res.end(
          JSON.stringify(
            ok && token === 'good-opaque'
              ? { active: true, sub: 'ext-user', scope: 'read', client_id: 'ext', exp }
              : { active: false },
          ),
        );
      });
    } else {
      res.statusCode = 404;
      res.end('{}');
    }
  });
  await new Promise<void>((resolve) => idp.listen(0, '127.0.0.1', resolve));
  issuer = `http://127.0.0.1:${(idp.address() as AddressInfo).port}`;
});
after(() => new Promise<void>((resolve) => idp.close(() => resolve())));

const deps = (): AuthenticatorDeps =>
  ({
    issuer: 'http://gatehouse.local',
    keys: () => {
      throw new Error('local keys are not used for another issuer');
    },
    clock,
    clockSkew: 60,
    maxTokenLifetime: 86_400,
  }) as unknown as AuthenticatorDeps;

const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

async function sign(kid: string, claims: Record<string, unknown>, typ = 'at+jwt') {
  const signer = signers.find((s) => s.kid === kid);
  const now = Math.floor(clock.nowMs() / 1000);
  const { aud = 'orders', ...rest } = claims;
  return new SignJWT({ client_id: 'ext', scope: 'read', ...rest })
    .setProtectedHeader({ alg: 'ES256', kid, typ })
    .setIssuer(issuer)
    .setSubject('ext-user')
    .setAudience(String(aud))
    .setIssuedAt(now)
    .setExpirationTime(now + 300)
    .setJti(`j${Math.random()}`)
    .sign(signer?.key as PrivateKey);
}

const orders = { service: 'orders', revocation: 'fail_closed' } as const;

test('jwt from another issuer: discovered, verified with its JWKS, a rotated-in kid fetched on first sight', async () => {
  const auth = jwtAuthenticator({ kind: 'jwt', issuer }, deps());
  const ok = await auth.authenticate(bearer(await sign('k1', {})), orders);
  assert.equal(ok.status, 'accepted');
  if (ok.status === 'accepted') assert.equal(ok.identity.sub, 'ext-user');
  await addKey('k2');
  clock.advance(31_000); // past the refetch interval
  const rotated = await auth.authenticate(bearer(await sign('k2', {})), orders);
  assert.equal(rotated.status, 'accepted', 'new key found by one refetch');
  const wrongAud = await auth.authenticate(bearer(await sign('k1', { aud: 'payments' })), orders);
  assert.equal(wrongAud.status, 'rejected');
  const wrongTyp = await auth.authenticate(bearer(await sign('k1', {}, 'JWT')), orders);
  assert.deepEqual(wrongTyp.status === 'rejected' && wrongTyp.reason, 'wrong_type');
});

test("attack: a verified token's signature on another payload shares its cache slot but is verified afresh and refused", async () => {
  const auth = jwtAuthenticator({ kind: 'jwt', issuer }, deps());
  const token = await sign('k1', {});
  assert.equal((await auth.authenticate(bearer(token), orders)).status, 'accepted');
  // The cache is keyed on the header's tail (the signature's end): this forgery lands in the
  // cached token's slot, claiming more scope under the same signature.
  const [head, , signature] = token.split('.') as [string, string, string];
  const claims = JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString('utf8'));
  const forged = `${head}.${Buffer.from(JSON.stringify({ ...claims, scope: 'read admin' })).toString('base64url')}.${signature}`;
  const outcome = await auth.authenticate(bearer(forged), orders);
  assert.deepEqual(outcome.status === 'rejected' && outcome.reason, 'invalid_signature');
  // The genuine token still hits its entry, and a forged spelling of the header is no hit either.
  const again = await auth.authenticate(bearer(token), orders);
  assert.equal(again.status === 'accepted' && again.identity.scopes.join(' '), 'read');
  assert.equal((await auth.authenticate({ authorization: `bearer ${token}x` }, orders)).status, 'rejected');
});

test('opaque tokens of another IdP: introspected with client auth, positive answers cached, negatives not', async () => {
  process.env.GATEHOUSE_TEST_INTROSPECT_SECRET = 's3cret';
  const auth = opaqueAuthenticator(
    {
      kind: 'opaque',
      introspection: {
        url: `${issuer}/introspect`,
        client_id: 'gw',
        client_secret_env: 'GATEHOUSE_TEST_INTROSPECT_SECRET',
        cache_seconds: 30,
      },
    },
    deps(),
  );
  const before = introspections;
  const first = await auth.authenticate(bearer('good-opaque'), orders);
  assert.equal(first.status, 'accepted');
  if (first.status === 'accepted') assert.deepEqual(first.identity.scopes, ['read']);
  await auth.authenticate(bearer('good-opaque'), orders);
  assert.equal(introspections - before, 1, 'the second use was answered from the cache');
  clock.advance(31_000);
  await auth.authenticate(bearer('good-opaque'), orders);
  assert.equal(introspections - before, 2, 'the cache lasts cache_seconds at most');
  for (let i = 0; i < 2; i++)
    assert.equal((await auth.authenticate(bearer('bad-opaque'), orders)).status, 'rejected');
  assert.equal(introspections - before, 4, 'refusals are asked again every time');
  assert.throws(
    () =>
      opaqueAuthenticator(
        {
          kind: 'opaque',
          introspection: {
            url: `${issuer}/introspect`,
            client_id: 'gw',
            client_secret_env: 'GATEHOUSE_TEST_UNSET_SECRET',
            cache_seconds: 30,
          },
        },
        deps(),
      ),
    /GATEHOUSE_TEST_UNSET_SECRET is not set/,
  );
});
