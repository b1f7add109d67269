/**
 * The production build (`npm run build` → packages/server/dist/gatehouse.mjs, what the Docker
 * image runs) is the same program as the sources: built here from the tree, it runs under plain
 * node without tsx, starts on the embedded default (SQLite's native addon), issues tokens,
 * forwards through the gateway with its internal JWT, asks the Cedar policy set (WebAssembly),
 * refuses a bad config with the loader's message, and exits 0 on SIGTERM.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { request } from 'undici';
import { bundleServer } from '../../../../scripts/bundle.js';
import { digestSecret } from '../../src/clients/client-secrets.js';
import { VERSION } from '../../src/runtime.js';
import { fetchClientToken } from '../support/client-token.js';
import { type Echo, echoServer } from '../support/echo-upstream.js';
import { freePort, type GatehouseProcess, startGatehouse } from '../support/gatehouse-process.js';

const ROOT = new URL('../../../../', import.meta.url).pathname;
const examples = join(ROOT, 'examples/policies');
const KEK = randomBytes(32).toString('base64url');
const SECRET = randomBytes(32).toString('base64url');

describe('the production build (packages/server/dist/gatehouse.mjs)', () => {
  // Beside the real output, so the bundle resolves packages/server/node_modules as it would.
  mkdirSync(join(ROOT, 'packages/server/dist'), { recursive: true });
  const dir = mkdtempSync(join(ROOT, 'packages/server/dist/test-'));
  const bundle = join(dir, 'gatehouse.mjs');
  let gh: GatehouseProcess;
  let gw: string;
  let upstream: Echo;

  before(async () => {
    bundleServer(bundle);
    upstream = await echoServer('docs');
    const gatewayPort = await freePort();
    const route = (id: string, extra: Record<string, unknown>) => ({
      id,
      match: { path: `/${id}` },
      authenticate: ['jwt'],
      upstream: { service: 'urn:docs', targets: [upstream.url] },
      ...extra,
    });
    gh = await startGatehouse(
      {
        keys: { kek: { source: 'env', env: 'GATEHOUSE_KEK' } },
        policy: { dir: examples },
        clients: [{ id: 'reader', secret_digest: digestSecret(SECRET), scopes: ['routes:read'] }],
        gateway: {
          port: gatewayPort,
          routes: [
            route('open', { authorize: { scopes: ['routes:read'] } }),
            route('docs-write', { policy: { action: 'write' } }),
          ],
        },
      },
      { GATEHOUSE_KEK: KEK },
      bundle,
    );
    gw = `http://127.0.0.1:${gatewayPort}`;
  });
  after(async () => {
    await upstream?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('is plain JavaScript: no TypeScript module is imported at run time', () => {
    const text = readFileSync(bundle, 'utf8');
    assert.doesNotMatch(text, /from\s+["'][^"']+\.ts["']/);
    assert.doesNotMatch(text, /["']tsx(\/[^"']*)?["']/);
    const version = spawnSync(process.execPath, [bundle, '--version'], { encoding: 'utf8' });
    assert.equal(version.status, 0, version.stderr);
    assert.equal(version.stdout.trim(), VERSION);
  });

  test('issues a token that the gateway exchanges for an internal JWT on the way upstream', async () => {
    const access = await fetchClientToken(gh.baseUrl, 'reader', SECRET, 'routes:read');
    const res = await request(`${gw}/open/page`, { headers: { authorization: `Bearer ${access}` } });
    const seen = (await res.body.json()) as { headers: Record<string, string> };
    assert.equal(res.statusCode, 200);
    const internal = (seen.headers.authorization ?? '').replace(/^Bearer /, '');
    assert.equal(decodeProtectedHeader(internal).typ, 'gatehouse-internal+jwt');
    const { payload } = await jwtVerify(
      internal,
      createRemoteJWKSet(new URL(`${gh.baseUrl}/.well-known/jwks.json`)),
      { issuer: gh.baseUrl, audience: 'urn:docs', typ: 'gatehouse-internal+jwt' },
    );
    assert.equal(payload.client_id, 'reader');
  });

  test('asks the Cedar policy set: a write the policies do not permit is 403 and never forwarded', async () => {
    const before = upstream.seen.length;
    const access = await fetchClientToken(gh.baseUrl, 'reader', SECRET, 'routes:read');
    const res = await request(`${gw}/docs-write/x`, { headers: { authorization: `Bearer ${access}` } });
    const problem = (await res.body.json()) as { code?: string; detail?: string };
    assert.equal(res.statusCode, 403);
    assert.equal(problem.detail, 'denied: policy_denied');
    assert.equal(upstream.seen.length, before);
  });

  test('refuses a bad config with the loader message and a non-zero exit', () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, 'server: { port: "eighty" }\n');
    const run = spawnSync(process.execPath, [bundle, '--config', file, 'start'], {
      encoding: 'utf8',
      timeout: 30_000,
    });
    assert.notEqual(run.status, 0);
    assert.match(run.stderr + run.stdout, /server\.port/);
  });

  test('drains and exits 0 on SIGTERM', async () => {
    assert.equal(await gh.stop(), 0);
  });
});
