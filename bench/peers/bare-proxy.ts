/**
 * The proxy baseline of `npm run bench:gateway`: node:http in front of an undici Pool (keep-alive,
 * the same pool settings as the Gatehouse gateway: 64 connections, pipelining 1), forwarding every
 * request to the upstream and streaming the answer back, hop-by-hop headers dropped both ways. No
 * authentication, no rate limit, no headers added: what any Node proxy pays at the least, so the
 * gateway's req/s is read against it.
 *
 * With BENCH_GATEWAY_HEADERS=1 it also makes the header changes the Gatehouse gateway makes on an
 * allowed request, with values of the same kind and size (an X-Request-ID and a traceparent made
 * per request by the gateway's own functions, X-Forwarded-*, the identity headers; RateLimit-* and
 * X-Request-ID on the answer), but keeps the client's Authorization: what those mutations alone
 * cost a proxy, apart from authentication, rate limiting and the rest of the gateway.
 *
 * Env: BENCH_PORT (required), BENCH_UPSTREAM (required; http://127.0.0.1:<port>), BENCH_GATEWAY_HEADERS.
 * Run: node --import tsx bench/peers/bare-proxy.ts
 */
import {
  createServer,
  type IncomingHttpHeaders,
  type IncomingMessage,
  type OutgoingHttpHeaders,
} from 'node:http';
import { type Dispatcher, Pool } from 'undici';
// The gateway's own list (RFC 9110 §7.6.1), so both proxies drop exactly the same fields.
import { HOP_BY_HOP, requestIdOf, traceparentOf } from '../../packages/server/src/gateway/pipeline/mutate.js';
import { peerPort, requiredEnv, serveUntilSignal } from './peer-env.js';

const port = peerPort();
const upstream = new Pool(requiredEnv('BENCH_UPSTREAM'), {
  connections: 64,
  keepAliveTimeout: 4_000,
  pipelining: 1,
});

function endToEnd(headers: IncomingHttpHeaders | Record<string, string | string[] | undefined>) {
  const out: OutgoingHttpHeaders = {};
  for (const [name, value] of Object.entries(headers)) {
    if (value !== undefined && !HOP_BY_HOP.has(name) && name !== 'host') out[name] = value;
  }
  return out;
}

const gatewayHeaders = process.env.BENCH_GATEWAY_HEADERS === '1';
let remaining = 1_000_000;

/** The gateway's additions to an allowed request (packages/server/src/gateway/gateway-server.ts). */
function upstreamHeaders(req: IncomingMessage, requestId: string): OutgoingHttpHeaders {
  const out = endToEnd(req.headers);
  if (!gatewayHeaders) return out;
  if (req.headers.host !== undefined) out['x-forwarded-host'] = req.headers.host;
  out['x-forwarded-proto'] = 'http';
  out['x-request-id'] = requestId;
  out.traceparent = traceparentOf(req.headers);
  out['x-forwarded-for'] = req.socket.remoteAddress ?? '';
  out['x-gatehouse-sub'] = 'bench';
  out['x-gatehouse-client-id'] = 'bench';
  out['x-gatehouse-scopes'] = 'read';
  return out;
}

/** The gateway's additions to the answer: the request id and the rate-limit state. */
function answerHeaders(headers: Record<string, string | string[] | undefined>, requestId: string) {
  const out = endToEnd(headers);
  if (!gatewayHeaders) return out;
  out['x-request-id'] = requestId;
  out['ratelimit-limit'] = '1000000';
  out['ratelimit-remaining'] = String(--remaining);
  out['ratelimit-reset'] = '60';
  return out;
}

const server = createServer({ keepAliveTimeout: 65_000 }, async (req, res) => {
  const requestId = gatewayHeaders ? requestIdOf(req.headers) : '';
  const bodiless =
    req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined;
  try {
    const answer = await upstream.request({
      path: req.url ?? '/',
      method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
      headers: upstreamHeaders(req, requestId) as Record<string, string>,
      body: bodiless ? null : req,
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
    res.writeHead(answer.statusCode, answerHeaders(answer.headers, requestId));
    for await (const chunk of answer.body) {
      if (!res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve));
    }
    res.end();
  } catch {
    if (res.headersSent) res.destroy();
    else {
      res.writeHead(502, { 'content-type': 'text/plain' });
      res.end('upstream unreachable');
    }
  }
});

serveUntilSignal(server, port, `bare node:http + undici proxy listening on http://127.0.0.1:${port}`);
