/**
 * The issuance ceiling: the leanest correct client_credentials endpoint on bare node:http. One
 * client (`bench`, client_secret_basic, SHA-256 secret digest compared in constant time), ES256
 * JWT access tokens (RFC 9068 header and claims) signed with node:crypto's async `sign()` on the
 * libuv threadpool, as Gatehouse does. No framework, no store, no config, no logging: what any
 * Node token endpoint would have to do at the least, so its req/s bounds all of them on this machine.
 *
 * Routes: POST /oauth2/token; GET /.well-known/jwks.json (readiness, and for the harness to check
 * signatures).
 *
 * Env: BENCH_PORT (required), BENCH_SECRET (required; client `bench`'s secret).
 * Run: node --import tsx bench/peers/bare-node-http.ts
 */
import { createHash, generateKeyPairSync, randomBytes, sign, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { peerEnv, serveUntilSignal } from './peer-env.js';

const { port, secret } = peerEnv();

const CLIENT_ID = 'bench';
const ALLOWED_SCOPES = new Set(['read']);
const AUDIENCE = 'https://api.bench';
const TTL_SECONDS = 900;
const KID = 'bench-es256';
const MAX_BODY = 4096;

const issuer = `http://127.0.0.1:${port}`;
const secretDigest = createHash('sha256').update(secret).digest();
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const signKey = { key: privateKey, dsaEncoding: 'ieee-p1363' as const };
const encodedHeader = Buffer.from(JSON.stringify({ alg: 'ES256', typ: 'at+jwt', kid: KID })).toString(
  'base64url',
);
const jwks = JSON.stringify({
  keys: [{ ...publicKey.export({ format: 'jwk' }), kid: KID, alg: 'ES256', use: 'sig' }],
});

function send(res: ServerResponse, status: number, body: string, extra?: Record<string, string>): void {
  res.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
    ...extra,
  });
  res.end(body);
}

const oauthError = (res: ServerResponse, status: number, error: string, extra?: Record<string, string>) =>
  send(res, status, JSON.stringify({ error }), extra);

/** RFC 6749 §2.3.1: id and secret are form-urlencoded inside the Basic credentials. */
const formDecode = (s: string) => decodeURIComponent(s.replace(/\+/g, ' '));

/** The client id when `authorization` holds this client's valid Basic credentials, else undefined. */
function authenticate(authorization: string | undefined): string | undefined {
  if (!authorization || authorization.length < 7 || authorization.slice(0, 6).toLowerCase() !== 'basic ')
    return undefined;
  const decoded = Buffer.from(authorization.slice(6).trim(), 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  if (colon < 0) return undefined;
  let clientId: string;
  let presented: string;
  try {
    clientId = formDecode(decoded.slice(0, colon));
    presented = formDecode(decoded.slice(colon + 1));
  } catch {
    return undefined;
  }
  const digest = createHash('sha256').update(presented).digest();
  const ok = timingSafeEqual(digest, secretDigest);
  return ok && clientId === CLIENT_ID ? clientId : undefined;
}

function issue(res: ServerResponse, body: string, authorization: string | undefined): void {
  const params = new URLSearchParams(body);
  if (params.get('grant_type') !== 'client_credentials') {
    oauthError(res, 400, 'unsupported_grant_type');
    return;
  }
  const clientId = authenticate(authorization);
  if (!clientId) {
    oauthError(res, 401, 'invalid_client', { 'www-authenticate': 'Basic' });
    return;
  }
  const requested = params.get('scope');
  const scopes = requested ? requested.split(' ').filter((s) => s !== '') : [...ALLOWED_SCOPES];
  if (scopes.some((s) => !ALLOWED_SCOPES.has(s))) {
    oauthError(res, 400, 'invalid_scope');
    return;
  }
  const scope = scopes.join(' ');

  const iat = Math.floor(Date.now() / 1000);
  const payload = {
    iss: issuer,
    sub: clientId,
    aud: AUDIENCE,
    exp: iat + TTL_SECONDS,
    iat,
    jti: randomBytes(16).toString('base64url'),
    client_id: clientId,
    scope,
  };
  const input = `${encodedHeader}.${Buffer.from(JSON.stringify(payload)).toString('base64url')}`;
  sign('sha256', Buffer.from(input, 'latin1'), signKey, (err, signature) => {
    if (err) {
      oauthError(res, 500, 'server_error');
      return;
    }
    const accessToken = `${input}.${signature.toString('base64url')}`;
    send(
      res,
      200,
      JSON.stringify({ access_token: accessToken, token_type: 'Bearer', expires_in: TTL_SECONDS, scope }),
    );
  });
}

function handle(req: IncomingMessage, res: ServerResponse): void {
  const path = req.url?.split('?', 1)[0];
  if (path === '/.well-known/jwks.json' && req.method === 'GET') {
    send(res, 200, jwks);
    return;
  }
  if (path !== '/oauth2/token') {
    oauthError(res, 404, 'not_found');
    return;
  }
  if (req.method !== 'POST') {
    oauthError(res, 405, 'method_not_allowed', { allow: 'POST' });
    return;
  }
  if (!req.headers['content-type']?.toLowerCase().startsWith('application/x-www-form-urlencoded')) {
    oauthError(res, 400, 'invalid_request');
    return;
  }
  const chunks: Buffer[] = [];
  let size = 0;
  req.on('data', (chunk: Buffer) => {
    size += chunk.length;
    if (size > MAX_BODY) {
      oauthError(res, 413, 'invalid_request', { connection: 'close' });
      req.destroy();
      return;
    }
    chunks.push(chunk);
  });
  req.on('end', () => {
    if (size <= MAX_BODY) issue(res, Buffer.concat(chunks, size).toString('utf8'), req.headers.authorization);
  });
}

serveUntilSignal(createServer(handle), port, `bare node:http token endpoint listening on ${issuer}`);
