/**
 * The proxy baseline of `npm run bench:gateway`: node:http in front of an undici Pool (keep-alive,
 * the same pool settings as the Gatehouse gateway: 64 connections, pipelining 1), forwarding every
 * request to the upstream and streaming the answer back, hop-by-hop headers dropped both ways. No
 * authentication, no rate limit, no headers added: what any Node proxy pays at the least, so the
 * gateway's req/s is read against it.
 *
 * Env: BENCH_PORT (required), BENCH_UPSTREAM (required; http://127.0.0.1:<port>).
 * Run: node --import tsx bench/peers/bare-proxy.ts
 */
import { createServer, type IncomingHttpHeaders, type OutgoingHttpHeaders } from 'node:http';
import { type Dispatcher, Pool } from 'undici';
// The gateway's own list (RFC 9110 §7.6.1), so both proxies drop exactly the same fields.
import { HOP_BY_HOP } from '../../packages/server/src/gateway/pipeline/mutate.js';
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

const server = createServer({ keepAliveTimeout: 65_000 }, async (req, res) => {
  const bodiless =
    req.headers['content-length'] === undefined && req.headers['transfer-encoding'] === undefined;
  try {
    const answer = await upstream.request({
      path: req.url ?? '/',
      method: (req.method ?? 'GET') as Dispatcher.HttpMethod,
      headers: endToEnd(req.headers) as Record<string, string>,
      body: bodiless ? null : req,
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
    res.writeHead(answer.statusCode, endToEnd(answer.headers));
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
