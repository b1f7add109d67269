/**
 * The upstream every proxy of `npm run bench:gateway` forwards to: node:http on loopback with
 * keep-alive, answering every request with the same small JSON body (no work of its own, so a
 * proxy's req/s is bounded by the proxy). One diagnostic path, GET /api/__headers, answers the
 * request headers it received instead, for the harness to check what a proxy sends upstream.
 *
 * Env: BENCH_PORT (required). Run: node --import tsx bench/peers/upstream.ts
 */
import { createServer } from 'node:http';
import { peerPort, serveUntilSignal } from './peer-env.js';
import { UPSTREAM_BODY, UPSTREAM_HEADERS_PATH } from './upstream-contract.js';

const port = peerPort();

const body = Buffer.from(UPSTREAM_BODY);
const server = createServer({ keepAliveTimeout: 65_000 }, (req, res) => {
  if (req.url === UPSTREAM_HEADERS_PATH) {
    const echo = JSON.stringify(req.headers);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(echo) });
    res.end(echo);
    return;
  }
  // Drain any request body before answering, as a real service would read it.
  req.resume();
  res.writeHead(200, { 'content-type': 'application/json', 'content-length': body.length });
  res.end(body);
});

serveUntilSignal(server, port, `bench upstream listening on http://127.0.0.1:${port}`);
