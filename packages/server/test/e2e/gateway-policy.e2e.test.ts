/**
 * Black-box: the gateway asks the Cedar policy set in process. A real Gatehouse process (issuer,
 * gateway, PDP on the example policies) in front of a real upstream that records what reaches
 * it: routes denied by policy answer 403 with the reason code and the upstream never sees them.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { digestSecret } from '../../src/clients/client-secrets.js';
import { fetchClientToken } from '../support/client-token.js';
import { freePort, type GatehouseProcess, startGatehouse } from '../support/gatehouse-process.js';

const examples = new URL('../../../../examples/policies/', import.meta.url).pathname;
const KEK = randomBytes(32).toString('base64url');
const SECRETS = {
  reader: randomBytes(32).toString('base64url'),
  stranger: randomBytes(32).toString('base64url'),
  admin: randomBytes(32).toString('base64url'),
};

describe('gateway routes decided by the policy set', () => {
  let gh: GatehouseProcess;
  let gw: string;
  let upstream: Server;
  const seen: string[] = [];

  before(async () => {
    upstream = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
    const upstreamPort = await freePort();
    await new Promise<void>((resolve) => upstream.listen(upstreamPort, '127.0.0.1', resolve));
    const target = `http://127.0.0.1:${upstreamPort}`;
    const gatewayPort = await freePort();
    const route = (id: string, action: string) => ({
      id,
      match: { path: `/${id}` },
      authenticate: ['jwt'],
      policy: { action },
      upstream: { service: 'docs', targets: [target] },
    });
    gh = await startGatehouse(
      {
        keys: { kek: { source: 'env', env: 'GATEHOUSE_KEK' } },
        policy: { dir: examples, allow_sample: 1 },
        clients: [
          { id: 'reader', secret_digest: digestSecret(SECRETS.reader), scopes: ['routes:read'] },
          { id: 'stranger', secret_digest: digestSecret(SECRETS.stranger), scopes: ['other'] },
          { id: 'admin', secret_digest: digestSecret(SECRETS.admin), scopes: ['gatehouse:admin'] },
        ],
        gateway: {
          port: gatewayPort,
          routes: [
            route('docs', 'read'),
            route('docs-write', 'write'),
            route('docs-fly', 'fly'),
            {
              id: 'open',
              match: { path: '/open' },
              authenticate: ['jwt'],
              upstream: { service: 'docs', targets: [target] },
            },
          ],
        },
      },
      { GATEHOUSE_KEK: KEK },
    );
    gw = `http://127.0.0.1:${gatewayPort}`;
  });
  after(async () => {
    assert.equal(await gh.stop(), 0);
    await new Promise<void>((resolve) => upstream.close(() => resolve()));
  });

  const token = (client: keyof typeof SECRETS, scope: string) =>
    fetchClientToken(gh.baseUrl, client, SECRETS[client], scope);
  const get = async (path: string, access: string) => {
    const res = await request(`${gw}${path}`, { headers: { authorization: `Bearer ${access}` } });
    const text = await res.body.text();
    return { status: res.statusCode, json: JSON.parse(text) as Record<string, unknown> };
  };

  test('a route the policy permits is forwarded', async () => {
    const res = await get('/docs/1', await token('reader', 'routes:read'));
    assert.equal(res.status, 200, JSON.stringify(res.json));
    assert.deepEqual(seen, ['GET /docs/1']);
  });

  test('a route denied by policy is 403 with the reason code, and the upstream is never called', async () => {
    seen.length = 0;
    const stranger = await get('/docs/1', await token('stranger', 'other'));
    assert.equal(stranger.status, 403);
    assert.equal(stranger.json.code, 'ERR_FORBIDDEN');
    assert.equal(stranger.json.detail, 'denied: policy_denied');
    // Permitted to read, not to write: the action comes from the route's mapping.
    const write = await get('/docs-write/1', await token('reader', 'routes:read'));
    assert.equal(write.status, 403);
    assert.equal(write.json.detail, 'denied: policy_denied');
    // A mapping the schema does not know is a deny too (fail closed), with its own reason.
    const fly = await get('/docs-fly/1', await token('reader', 'routes:read'));
    assert.equal(fly.status, 403);
    assert.equal(fly.json.detail, 'denied: policy_error');
    assert.deepEqual(seen, [], 'no denied request reached the upstream');
    // A route without a policy mapping is not asked about.
    assert.equal((await get('/open/1', await token('stranger', 'other'))).status, 200);
  });

  test('gateway decisions are in the decision log with their source and policies', async () => {
    const admin = await token('admin', 'gatehouse:admin');
    const res = await request(`${gh.baseUrl}/admin/v1/decisions?decision=deny`, {
      headers: { authorization: `Bearer ${admin}` },
    });
    const { decisions } = (await res.body.json()) as {
      decisions: { source: string; principal: string; resource: string; policies: string[] }[];
    };
    const denied = decisions.filter((d) => d.source === 'gateway');
    assert.ok(
      denied.some(
        (d) => d.principal === 'Gatehouse::Client::"stranger"' && d.resource === 'Gatehouse::Route::"docs"',
      ),
      JSON.stringify(denied),
    );
    assert.ok(
      denied.some(
        (d) =>
          d.resource === 'Gatehouse::Route::"docs-write"' &&
          d.policies.includes('external-network-read-only'),
      ),
      JSON.stringify(denied),
    );
  });
});
