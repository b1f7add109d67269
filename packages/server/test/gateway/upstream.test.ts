/** The forwarding unit on its own: balancing, active health checks, body limits, the breaker. */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, test } from 'node:test';
import { systemClock } from '@gatehouse/core';
import { Readable } from 'node:stream';
import { request } from 'undici';
import { Upstream, type UpstreamOptions } from '../../src/gateway/pipeline/forward.js';
import { sleep } from '../support/servers.js';

const servers: Server[] = [];
after(async () => {
  for (const s of servers) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

async function listen(handler: Parameters<typeof createServer>[1]): Promise<string> {
  const server = createServer(handler);
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

/** A front server that forwards everything through `upstream`, answering 599 when it could not. */
async function front(upstream: Upstream): Promise<string> {
  return listen(async (req, res) => {
    const outcome = await upstream.forward(req, res, req.url ?? '/', ['x-test', '1']);
    if (!outcome.ok && !res.headersSent) {
      res.writeHead(599, { 'x-reason': outcome.reason });
      res.end();
    }
  });
}

const base: Omit<UpstreamOptions, 'balance' | 'healthCheck'> = {
  timeoutMs: 2000,
  retries: 0,
  clock: systemClock,
  onState: () => undefined,
  bodyLimit: 1024,
};

test('active health checks keep traffic off an unhealthy target until it recovers', async () => {
  let sickHealthy = false;
  const hits = { well: 0, sick: 0 };
  const well = await listen((req, res) => {
    if (req.url !== '/health') hits.well++;
    res.end('well');
  });
  const sick = await listen((req, res) => {
    if (req.url === '/health') {
      res.statusCode = sickHealthy ? 200 : 503;
      res.end();
      return;
    }
    hits.sick++;
    res.end('sick');
  });
  const upstream = new Upstream([well, sick], {
    ...base,
    healthCheck: { path: '/health', intervalMs: 100, timeoutMs: 500 },
  });
  const url = await front(upstream);
  await sleep(300);
  for (let i = 0; i < 10; i++) await (await request(`${url}/x`)).body.dump();
  assert.deepEqual(hits, { well: 10, sick: 0 });
  sickHealthy = true;
  await sleep(300);
  for (let i = 0; i < 10; i++) await (await request(`${url}/x`)).body.dump();
  assert.equal(hits.sick, 5, 'round-robin again once healthy');
  await upstream.close();
});

test('least connections sends new requests to the target with fewer in flight', async () => {
  const hits = { slow: 0, fast: 0 };
  const slow = await listen((_req, res) => {
    hits.slow++;
    setTimeout(() => res.end('slow'), 400);
  });
  const fast = await listen((_req, res) => {
    hits.fast++;
    res.end('fast');
  });
  const upstream = new Upstream([slow, fast], { ...base, balance: 'least_connections' });
  const url = await front(upstream);
  const first = request(`${url}/x`); // occupies the slow target
  await sleep(50);
  for (let i = 0; i < 6; i++) await (await request(`${url}/x`)).body.dump();
  await (await first).body.dump();
  assert.equal(hits.slow, 1);
  assert.equal(hits.fast, 6);
  await upstream.close();
});

test('a chunked body over the limit is refused as too large; one within it streams through', async () => {
  const target = await listen((req, res) => {
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
    });
    req.on('end', () => res.end(String(n)));
  });
  const upstream = new Upstream([target], base);
  const url = await front(upstream);
  const small = await request(`${url}/x`, {
    method: 'POST',
    body: Readable.from([Buffer.alloc(500)]),
  });
  assert.equal(await small.body.text(), '500');
  const big = await request(`${url}/x`, {
    method: 'POST',
    body: Readable.from([1, 2, 3, 4].map(() => Buffer.alloc(500))),
  });
  assert.equal(big.statusCode, 599);
  assert.equal(big.headers['x-reason'], 'too_large');
  await big.body.dump();
  await upstream.close();
});

/** One target behind a front server, on a clock the test moves, recording the breaker's changes. */
async function watchedBreaker(target: string) {
  const states: string[] = [];
  const clock = { now: Date.now() };
  const upstream = new Upstream([target], {
    ...base,
    clock: { nowMs: () => clock.now },
    onState: (_url, state) => states.push(state),
  });
  return { upstream, url: await front(upstream), states, clock };
}

test('the breaker opens after five failures, refuses at once, and a half-open probe closes it', async () => {
  let failing = true;
  const target = await listen((_req, res) => {
    res.statusCode = failing ? 502 : 200;
    res.end();
  });
  const { upstream, url, states, clock } = await watchedBreaker(target);
  for (let i = 0; i < 5; i++) assert.equal((await request(`${url}/x`)).statusCode, 502);
  const refused = await request(`${url}/x`);
  assert.equal(refused.statusCode, 599);
  assert.equal(refused.headers['x-reason'], 'circuit_open');
  await refused.body.dump();
  failing = false;
  clock.now += 10_001;
  assert.equal((await request(`${url}/x`)).statusCode, 200, 'the probe passes');
  assert.deepEqual(states, ['open', 'half_open', 'closed']);
  await upstream.close();
});

test('a client that leaves while the answer streams is not an upstream failure; a body that breaks is', async () => {
  let breakBody = false;
  const target = await listen((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' });
    res.write('first chunk\n');
    if (breakBody) {
      setTimeout(() => res.destroy(), 20);
      return;
    }
    const timer = setInterval(() => res.write('more\n'), 20);
    res.on('close', () => clearInterval(timer));
  });
  const states: string[] = [];
  const upstream = new Upstream([target], { ...base, onState: (_url, state) => states.push(state) });
  const url = await front(upstream);
  for (let i = 0; i < 6; i++) {
    const answer = await request(`${url}/stream`);
    assert.equal(answer.statusCode, 200);
    for await (const chunk of answer.body) {
      assert.match(String(chunk), /first chunk/);
      break; // leaves: undici destroys the body, the connection closes
    }
  }
  await sleep(100);
  assert.deepEqual(states, [], 'six clients leaving did not open the circuit');
  assert.equal(upstream.states()[0]?.state, 'closed');
  // An upstream that breaks its body mid-answer does count, and the client's answer is cut short.
  breakBody = true;
  for (let i = 0; i < 5; i++) {
    const answer = await request(`${url}/stream`);
    assert.equal(answer.statusCode, 200);
    await assert.rejects(answer.body.text());
  }
  await sleep(50);
  assert.deepEqual(states, ['open']);
  await upstream.close();
});

test('clients that hang up before any answer do not open the circuit; a probe they held is freed', async () => {
  let failing = false;
  const target = await listen((_req, res) => {
    // Slow enough that every client below leaves first.
    setTimeout(() => {
      res.statusCode = failing ? 502 : 200;
      res.end('late');
    }, 150);
  });
  const { upstream, url, states, clock } = await watchedBreaker(target);
  const hangUp = () =>
    assert.rejects(request(`${url}/x`, { signal: AbortSignal.timeout(30) }), { name: 'TimeoutError' });
  for (let i = 0; i < 10; i++) await hangUp();
  await sleep(200);
  assert.deepEqual(states, [], 'ten clients hanging up did not open the circuit');
  assert.equal((await request(`${url}/x`)).statusCode, 200);
  // Open it for real, then let a half-open probe's client hang up: the next request still probes.
  failing = true;
  for (let i = 0; i < 5; i++) assert.equal((await request(`${url}/x`)).statusCode, 502);
  failing = false;
  clock.now += 10_001;
  await hangUp();
  await sleep(200);
  assert.equal((await request(`${url}/x`)).statusCode, 200, 'the next request is the probe, and passes');
  assert.deepEqual(states, ['open', 'half_open', 'closed']);
  await upstream.close();
});

test('idempotent requests without a body are retried on the next target; others are not', async () => {
  const hits = { bad: 0, good: 0 };
  const bad = await listen((_req, res) => {
    hits.bad++;
    res.statusCode = 503;
    res.end();
  });
  const good = await listen((_req, res) => {
    hits.good++;
    res.end('ok');
  });
  const upstream = new Upstream([bad, good], { ...base, retries: 1 });
  const url = await front(upstream);
  const get = await request(`${url}/x`);
  assert.equal(get.statusCode, 200, 'GET retried on the other target');
  await get.body.dump();
  // round-robin now points at `good`; make the POST start at `bad` again
  await (await request(`${url}/x`)).body.dump();
  const post = await request(`${url}/x`, { method: 'POST', body: 'x' });
  const statuses = [post.statusCode];
  await post.body.dump();
  const second = await request(`${url}/x`, { method: 'POST', body: 'x' });
  statuses.push(second.statusCode);
  await second.body.dump();
  assert.ok(statuses.includes(503), `a POST that hit the failing target was answered as is (${statuses})`);
  await upstream.close();
});
