/**
 * A real nginx (Debian's) in front of an upstream, asking the gateway's forward-auth endpoint
 * with `auth_request` before each request, as a platform team would deploy it.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { request } from 'undici';
import { digestSecret } from '../../src/clients/client-secrets.js';
import { freePort, type GatehouseProcess, startGatehouse } from '../support/gatehouse-process.js';
import { sleep } from '../support/servers.js';

const NGINX = process.env.GATEHOUSE_TEST_NGINX ?? '/usr/sbin/nginx';
const SECRET = randomBytes(32).toString('base64url');
const available = existsSync(NGINX);
if (!available) {
  const message = `nginx not found at ${NGINX}; apt-get install nginx (or run .ci/run)`;
  if (process.env.CI === 'true') throw new Error(`${message} (CI=true: the nginx suite must not be skipped)`);
  console.warn(`\n!!! SKIPPING the nginx forward-auth suite: ${message}\n`);
}

describe('nginx auth_request with the gateway forward-auth endpoint', { skip: !available }, () => {
  let gh: GatehouseProcess;
  let nginx: ChildProcess;
  let upstream: Server;
  let base: string;
  let prefix: string;
  const seen: IncomingHttpHeaders[] = [];

  before(async () => {
    const upstreamPort = await freePort();
    upstream = createServer((req, res) => {
      seen.push(req.headers);
      res.end(JSON.stringify({ url: req.url, headers: req.headers }));
    });
    await new Promise<void>((resolve) => upstream.listen(upstreamPort, '127.0.0.1', resolve));
    const gatewayPort = await freePort();
    gh = await startGatehouse({
      keys: { kek: { source: 'env', env: 'GATEHOUSE_KEK' } },
      clients: [
        { id: 'svc', secret_digest: digestSecret(SECRET), scopes: ['orders:read'] },
        { id: 'other', secret_digest: digestSecret(SECRET), scopes: ['reports:read'] },
      ],
      gateway: {
        port: gatewayPort,
        routes: [
          {
            id: 'orders',
            match: { path: '/orders' },
            authenticate: ['jwt'],
            authorize: { scopes: ['orders:read'] },
            // Only its service name matters here: nginx does the proxying.
            upstream: { service: 'orders', targets: [`http://127.0.0.1:${upstreamPort}`] },
          },
        ],
      },
    });
    const nginxPort = await freePort();
    prefix = mkdtempSync(join(tmpdir(), 'gatehouse-nginx-'));
    mkdirSync(join(prefix, 'logs'));
    writeFileSync(
      join(prefix, 'nginx.conf'),
      `daemon off;
worker_processes 1;
pid ${prefix}/nginx.pid;
error_log ${prefix}/logs/error.log warn;
events { worker_connections 64; }
http {
  access_log off;
  client_body_temp_path ${prefix}/body; proxy_temp_path ${prefix}/proxy;
  fastcgi_temp_path ${prefix}/fastcgi; uwsgi_temp_path ${prefix}/uwsgi; scgi_temp_path ${prefix}/scgi;
  server {
    listen 127.0.0.1:${nginxPort};
    location = /_gatehouse {
      internal;
      proxy_pass http://127.0.0.1:${gatewayPort}/.gatehouse/authz;
      proxy_pass_request_body off;
      proxy_set_header Content-Length "";
      proxy_set_header X-Original-URI $request_uri;
      proxy_set_header X-Original-Method $request_method;
    }
    location / {
      auth_request /_gatehouse;
      auth_request_set $gh_token $upstream_http_authorization;
      auth_request_set $gh_sub $upstream_http_x_gatehouse_sub;
      proxy_set_header Authorization $gh_token;
      proxy_set_header X-Gatehouse-Sub $gh_sub;
      proxy_pass http://127.0.0.1:${upstreamPort};
    }
  }
}
`,
    );
    nginx = spawn(NGINX, ['-p', prefix, '-c', join(prefix, 'nginx.conf')], { stdio: 'ignore' });
    base = `http://127.0.0.1:${nginxPort}`;
    for (let i = 0; i < 50; i++) {
      try {
        await (await request(`${base}/`)).body.dump();
        break;
      } catch {
        await sleep(100);
      }
    }
  });
  after(async () => {
    nginx?.kill('SIGQUIT');
    await new Promise((resolve) => upstream?.close(resolve));
    await gh?.stop();
    rmSync(prefix, { recursive: true, force: true });
  });

  const tokenFor = async (scope: string, client = 'svc') => {
    const res = await request(`${gh.baseUrl}/oauth2/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${client}:${SECRET}`).toString('base64')}`,
      },
      body: `grant_type=client_credentials&scope=${scope}`,
    });
    return ((await res.body.json()) as { access_token: string }).access_token;
  };

  test('an allowed request reaches the upstream with the internal JWT and identity headers set by nginx', async () => {
    const token = await tokenFor('orders:read');
    const res = await request(`${base}/orders/9`, {
      headers: { authorization: `Bearer ${token}`, 'x-gatehouse-sub': 'spoofed' },
    });
    assert.equal(res.statusCode, 200);
    const body = (await res.body.json()) as { headers: Record<string, string> };
    assert.equal(
      body.headers['x-gatehouse-sub'],
      'svc',
      'nginx overwrote the spoofed header with the answer',
    );
    const internal = (body.headers.authorization ?? '').replace(/^Bearer /, '');
    assert.notEqual(internal, token);
    const header = JSON.parse(Buffer.from(internal.split('.')[0] ?? '', 'base64url').toString()) as {
      typ: string;
    };
    assert.equal(header.typ, 'gatehouse-internal+jwt');
  });

  test('no token → 401, wrong scope or an ambiguous path → 403; the upstream sees none of them', async () => {
    const before = seen.length;
    const none = await request(`${base}/orders/9`);
    assert.equal(none.statusCode, 401);
    await none.body.dump();
    const scoped = await request(`${base}/orders/9`, {
      headers: { authorization: `Bearer ${await tokenFor('reports:read', 'other')}` },
    });
    assert.equal(scoped.statusCode, 403);
    await scoped.body.dump();
    const bad = await request(`${base}/orders/9`, { headers: { authorization: 'Bearer a.b.c' } });
    assert.equal(bad.statusCode, 401);
    await bad.body.dump();
    const tricky = await request(`${base}/orders/%2e%2e/admin`);
    assert.ok([400, 403].includes(tricky.statusCode), `ambiguous path refused (${tricky.statusCode})`);
    await tricky.body.dump();
    assert.equal(seen.length, before);
  });
});
