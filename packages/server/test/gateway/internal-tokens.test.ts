/** The gateway's internal tokens: reused per identity and service, never beyond what the credential allows. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { generateSigningKey, ManualClock } from '@gatehouse/core';
import type { Identity } from '../../src/gateway/pipeline/identity.js';
import { InternalTokens } from '../../src/gateway/pipeline/mutate.js';

const clock = new ManualClock(1_800_000_000_000);
const now = () => Math.floor(clock.nowMs() / 1000);
const { signingKey } = generateSigningKey('ES256');
const tokens = new InternalTokens({
  issuer: 'https://gh.test',
  ttl: 30,
  clock,
  signingKey: () => signingKey,
});
/** The token minted for `who` at `service`, checked to travel as `Bearer <token>`. */
async function mint(who: Identity, service: string): Promise<string> {
  const minted = await tokens.mint(who, service);
  assert.equal(minted.authorization, `Bearer ${minted.token}`);
  return minted.token;
}

function identity(claims: { iat: number; exp: number; sid?: string }): Identity {
  return {
    credential: 'jwt',
    sub: 'usr_1',
    clientId: 'web',
    scopes: ['read'],
    roles: [],
    claims: { sub: 'usr_1', ...claims },
    sid: claims.sid,
  };
}
const payload = (token: string) =>
  JSON.parse(Buffer.from(token.split('.')[1] as string, 'base64url').toString()) as Record<string, unknown>;

test('one internal token per identity and service while more than half its life remains', async () => {
  const first = await mint(identity({ iat: now(), exp: now() + 300 }), 'orders');
  // Another credential of the same identity, as old: the same claims, so the same token.
  assert.equal(await mint(identity({ iat: now(), exp: now() + 300 }), 'orders'), first);
  assert.notEqual(await mint(identity({ iat: now(), exp: now() + 300 }), 'payments'), first, 'per service');
  assert.notEqual(
    await mint(identity({ iat: now(), exp: now() + 300, sid: 's2' }), 'orders'),
    first,
    'another session is another identity',
  );
  clock.advance(16_000);
  const renewed = await mint(identity({ iat: now() - 16, exp: now() + 300 }), 'orders');
  assert.notEqual(renewed, first, 'renewed past half its life');
  assert.equal(payload(renewed).aud, 'orders');
});

test('never past the credential: not beyond its exp, not minted before its iat (watermarks)', async () => {
  const issued = now();
  const long = await mint(identity({ iat: issued, exp: issued + 3600 }), 'inventory');
  assert.equal(payload(long).exp, issued + 30);
  const short = await mint(identity({ iat: issued, exp: issued + 10 }), 'inventory');
  assert.notEqual(short, long, 'a credential expiring sooner gets its own token');
  assert.equal(payload(short).exp, issued + 10);
  clock.advance(2000);
  // A fresh credential after a subject watermark: its internal token must be newer than it.
  const fresh = await mint(identity({ iat: now(), exp: now() + 3600 }), 'inventory');
  assert.notEqual(fresh, long);
  assert.ok((payload(fresh).iat as number) >= now());
});

test("another IdP's user: marked with src_iss (never exchangeable), and never sharing a local user's token", async () => {
  const local = { ...identity({ iat: now(), exp: now() + 300 }), issuer: 'https://gh.test' };
  const remote = { ...identity({ iat: now(), exp: now() + 300 }), issuer: 'https://idp.example' };
  const ours = await mint(local, 'orders');
  const theirs = await mint(remote, 'orders');
  assert.notEqual(theirs, ours, 'the same sub at another issuer is another identity');
  assert.equal(payload(ours).src_iss, undefined);
  assert.equal(payload(theirs).src_iss, 'https://idp.example');
});
