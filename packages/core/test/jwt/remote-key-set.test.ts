import assert from 'node:assert/strict';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/clock.js';
import { ConfigError, JwtError } from '../../src/errors.js';
import { generateSigningKey } from '../../src/jwt/generate-signing-key.js';
import { RemoteKeySet } from '../../src/jwt/remote-key-set.js';
import type { PublicJwk } from '../../src/jwt/types.js';
import { verifyJwt } from '../../src/jwt/verify.js';
import { verifyJwtWithRemote } from '../../src/jwt/verify-with-remote.js';
import { claims, eddsa, es256, NOW, options, throwsJwt, token } from './fixtures.js';

const URI = 'https://id.example/.well-known/jwks.json';

/** A fake JWKS endpoint: serves `jwks` (or fails) and counts requests. */
function endpoint(initial: { keys: PublicJwk[] } | string) {
  const state = { body: initial as { keys: PublicJwk[] } | string, fail: false, status: 200, calls: 0 };
  const fakeFetch: typeof globalThis.fetch = async (_url, init) => {
    state.calls++;
    if (state.fail) throw new TypeError('fetch failed', { cause: { code: 'ECONNREFUSED' } });
    const text = typeof state.body === 'string' ? state.body : JSON.stringify(state.body);
    assert.ok(init?.signal, 'every request carries a timeout signal');
    return new Response(text, { status: state.status, headers: { 'content-type': 'application/json' } });
  };
  return { state, fetch: fakeFetch };
}

function remote(fetch: typeof globalThis.fetch, clock = new ManualClock(NOW * 1000), extra = {}) {
  return { clock, keys: new RemoteKeySet({ jwksUri: URI, clock, fetch, ...extra }) };
}

/** An endpoint serving the ES256 key, and a set over it that has done its startup fetch. */
async function started(extra = {}) {
  const { state, fetch } = endpoint({ keys: [es256.publicJwk] });
  const { keys, clock } = remote(fetch, undefined, extra);
  await keys.refresh('startup');
  return { state, keys, clock };
}

describe('RemoteKeySet', () => {
  it('fetches at startup and resolves synchronously afterwards', async () => {
    const { state, fetch } = endpoint({ keys: [es256.publicJwk] });
    const { keys } = remote(fetch);
    assert.equal(keys.resolve(es256.signingKey.kid), undefined);
    assert.equal(keys.status().stale, true);
    await keys.refresh('startup');
    assert.equal(keys.resolve(es256.signingKey.kid)?.alg, 'ES256');
    assert.deepEqual(keys.status(), {
      lastSuccessMs: NOW * 1000,
      lastError: null,
      usingLastKnownGood: false,
      keys: 1,
      stale: false,
    });
    assert.equal(state.calls, 1);
  });

  it('refetches on an unknown kid at most once per minRefetchIntervalSeconds', async () => {
    const { state, keys, clock } = await started();
    for (let i = 0; i < 5; i++) await keys.refresh('unknown-kid');
    assert.equal(state.calls, 1, 'within 30 s of the last fetch nothing is refetched');
    clock.advance(30_000);
    await keys.refresh('unknown-kid');
    await keys.refresh('unknown-kid');
    assert.equal(state.calls, 2);
    await keys.refresh('interval'); // the caller's timer decides; not rate limited
    assert.equal(state.calls, 3);
  });

  it('shares one request among concurrent refreshes', async () => {
    const { state, fetch } = endpoint({ keys: [es256.publicJwk] });
    const { keys } = remote(fetch);
    await Promise.all([keys.refresh('startup'), keys.refresh('interval'), keys.refresh('unknown-kid')]);
    assert.equal(state.calls, 1);
  });

  it('keeps the last known good set when the endpoint fails, is invalid or serves a weak key', async () => {
    const { state, keys, clock } = await started();
    type Patch = Partial<typeof state>;
    const failures: [Patch, RegExp][] = [
      [{ fail: true }, /ECONNREFUSED/],
      [{ fail: false, status: 503 }, /HTTP 503/],
      [{ status: 200, body: '{"keys":[' }, /JSON/],
      [{ body: `{"keys":[],"keys":[${JSON.stringify(eddsa.publicJwk)}]}` }, /duplicate member/],
      [{ body: { keys: [{ ...es256.publicJwk, alg: 'HS256' } as unknown as PublicJwk] } }, /unsupported alg/],
      [{ body: { keys: [es256.publicJwk, es256.publicJwk] } }, /duplicate kid/],
      [{ body: `{"keys":[],"pad":"${'x'.repeat(600 * 1024)}"}` }, /too large/],
    ];
    for (const [patch, reason] of failures) {
      Object.assign(state, patch);
      clock.advance(1000);
      await keys.refresh('interval');
      const status = keys.status();
      assert.match(status.lastError ?? '', reason);
      assert.equal(status.usingLastKnownGood, true);
      assert.equal(status.lastSuccessMs, NOW * 1000);
      assert.ok(keys.resolve(es256.signingKey.kid), 'old key still served');
    }
    state.body = { keys: [eddsa.publicJwk] };
    await keys.refresh('interval');
    assert.equal(keys.status().lastError, null);
    assert.equal(keys.resolve(es256.signingKey.kid), undefined, 'a removed key is gone after a good fetch');
    assert.ok(keys.resolve(eddsa.signingKey.kid));
  });

  it('times out a hanging endpoint', async () => {
    const hanging: typeof globalThis.fetch = (_url, init) =>
      new Promise((_resolve, reject) => {
        init?.signal?.addEventListener('abort', () => reject(init.signal?.reason));
      });
    const { keys } = remote(hanging, undefined, { timeoutMs: 20 });
    await keys.refresh('startup');
    assert.match(keys.status().lastError ?? '', /TimeoutError/);
  });

  it('works against a real HTTP server with the global fetch (loopback)', async () => {
    let body = JSON.stringify({ keys: [es256.publicJwk] });
    const server = createServer((_request, response) => {
      response.writeHead(200, { 'content-type': 'application/jwk-set+json' }).end(body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const keys = new RemoteKeySet({ jwksUri: `http://127.0.0.1:${port}/jwks` });
      await keys.refresh('startup');
      assert.equal(keys.status().lastError, null);
      assert.equal(keys.resolve(es256.signingKey.kid)?.alg, 'ES256');
      body = JSON.stringify({ keys: [es256.publicJwk], pad: 'x'.repeat(600 * 1024) });
      await keys.refresh('interval');
      assert.match(keys.status().lastError ?? '', /too large/);
      assert.equal(keys.status().usingLastKnownGood, true);
    } finally {
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('refuses a non-https jwksUri and bad numbers at construction', () => {
    for (const jwksUri of [
      'http://id.example/jwks',
      'ftp://id.example/jwks',
      'not a url',
      'https://user:pw@id.example/jwks',
    ]) {
      assert.throws(() => new RemoteKeySet({ jwksUri }), ConfigError, jwksUri);
    }
    assert.ok(new RemoteKeySet({ jwksUri: 'http://127.0.0.1:8080/jwks' }));
    assert.throws(() => new RemoteKeySet({ jwksUri: URI, timeoutMs: 0 }), ConfigError);
    assert.throws(() => new RemoteKeySet({ jwksUri: URI, minRefetchIntervalSeconds: -1 }), ConfigError);
    assert.throws(() => new RemoteKeySet({ jwksUri: URI, maxStalenessSeconds: Number.NaN }), ConfigError);
  });
});

describe('verifyJwtWithRemote', () => {
  it('verifies, and picks up a rotated key with one refetch', async () => {
    const { state, keys, clock } = await started();
    assert.equal(
      (await verifyJwtWithRemote(token(), keys, options({ clock }))).key.kid,
      es256.signingKey.kid,
    );
    clock.advance(60_000);
    const rotated = generateSigningKey('ES256');
    state.body = { keys: [es256.publicJwk, rotated.publicJwk] };
    const fresh = token({}, claims({ iat: NOW + 60, exp: NOW + 660 }), rotated.signingKey);
    assert.equal(
      (await verifyJwtWithRemote(fresh, keys, options({ clock }))).key.kid,
      rotated.signingKey.kid,
    );
    assert.equal(state.calls, 2);
  });

  it('loads lazily when startup was skipped', async () => {
    const { state, fetch } = endpoint({ keys: [es256.publicJwk] });
    const { keys, clock } = remote(fetch);
    assert.ok(await verifyJwtWithRemote(token(), keys, options({ clock })));
    assert.equal(state.calls, 1);
  });

  it('rate-limits refetches caused by made-up kids and reports them as unknown keys', async () => {
    const { state, keys, clock } = await started();
    for (let i = 0; i < 20; i++) {
      await assert.rejects(
        verifyJwtWithRemote(token({ kid: `made-up-${i}` }), keys, options({ clock })),
        (e: unknown) => {
          return e instanceof JwtError && e.code === 'ERR_JWT_KEY_UNKNOWN';
        },
      );
    }
    assert.equal(state.calls, 1);
  });

  it('does not refetch for tokens that fail for other reasons', async () => {
    const { state, keys, clock } = await started();
    clock.advance(60_000);
    await assert.rejects(verifyJwtWithRemote(token({ kid: '../x' }), keys, options({ clock })), JwtError);
    await assert.rejects(verifyJwtWithRemote(token({ alg: 'none' }), keys, options({ clock })), JwtError);
    assert.equal(state.calls, 1);
  });

  it('fails with ERR_JWKS_UNAVAILABLE when there never was a set, or it went stale and cannot be refreshed', async () => {
    const down = endpoint({ keys: [es256.publicJwk] });
    down.state.fail = true;
    const never = remote(down.fetch);
    await assert.rejects(
      verifyJwtWithRemote(token(), never.keys, options({ clock: never.clock })),
      (e: unknown) => {
        return e instanceof JwtError && e.code === 'ERR_JWKS_UNAVAILABLE';
      },
    );

    const { state, fetch } = endpoint({ keys: [es256.publicJwk] });
    const { keys, clock } = remote(fetch, undefined, { maxStalenessSeconds: 600 });
    await keys.refresh('startup');
    state.fail = true;
    clock.advance(601_000);
    assert.equal(keys.status().stale, true);
    assert.equal(keys.resolve(es256.signingKey.kid), undefined, 'a stale set is not trusted');
    throwsJwt(() => verifyJwt(token(), keys, options({ clock })), 'ERR_JWT_KEY_UNKNOWN');
    const late = token({}, claims({ iat: NOW + 601, exp: NOW + 1200 }));
    await assert.rejects(verifyJwtWithRemote(late, keys, options({ clock })), (e: unknown) => {
      return e instanceof JwtError && e.code === 'ERR_JWKS_UNAVAILABLE';
    });
    // The endpoint recovers: the next request past the rate limit refetches and succeeds.
    state.fail = false;
    clock.advance(30_000);
    const later = token({}, claims({ iat: NOW + 631, exp: NOW + 1200 }));
    assert.ok(await verifyJwtWithRemote(later, keys, options({ clock })));
    assert.equal(keys.status().stale, false);
  });
});
