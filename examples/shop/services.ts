/**
 * The demo shop: three small services behind the Gatehouse gateway, one per adapter of
 * `@gatehouse/node` (orders on Fastify, inventory on Express, payments on plain node:http).
 *
 * A user's call goes gateway → orders (the gateway's internal token, aud urn:shop:orders) →
 * inventory and payments, each with a token exchanged for that service alone and only the scope
 * the call needs; payments sees who acts for the user (`act`: shop-orders). A refund would need
 * a scope the user's token does not hold: the exchange is refused and so is the refund.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import Fastify from 'fastify';
import {
  AccessError,
  authorize,
  RemotePolicies,
  RevocationFeed,
  ServiceClient,
  ServiceVerifier,
} from '@gatehouse/node';
import { gatehouse, identityOf, requireScopes as expressScopes } from '@gatehouse/node/express';
import { registerGatehouse, requireScopes as fastifyScopes } from '@gatehouse/node/fastify';
import { assertScopes, sendAccessError } from '@gatehouse/node/http';

/** The services' names: the audiences of the tokens each accepts. */
export const SHOP_AUDIENCES = {
  orders: 'urn:shop:orders',
  inventory: 'urn:shop:inventory',
  payments: 'urn:shop:payments',
} as const;

/** The shop's OAuth clients, as Gatehouse must know them (secrets are the caller's to make). */
export const SHOP_CLIENTS = {
  orders: 'shop-orders',
  inventory: 'shop-inventory',
  payments: 'shop-payments',
} as const;

/** Scopes a shop user holds (via the `customer` role) and what each call needs. */
export const SHOP_SCOPES = ['orders:read', 'orders:write', 'inventory:reserve', 'payments:charge'] as const;

/** Options of {@link startShop}. */
export interface ShopOptions {
  /** Where Gatehouse answers. */
  gatehouseUrl: string;
  /** Its issuer, when it differs from the URL. */
  issuer?: string;
  secrets: Record<keyof typeof SHOP_CLIENTS, string>;
  /** Ports; 0 (the default) picks free ones. */
  ports?: Partial<Record<keyof typeof SHOP_CLIENTS, number>>;
  host?: string;
}

/** A running shop. */
export interface Shop {
  urls: Record<keyof typeof SHOP_CLIENTS, string>;
  close(): Promise<void>;
}

interface Order {
  id: string;
  sub: string;
  sku: string;
  quantity: number;
  reservation: unknown;
  payment: unknown;
}

/** Starts the three services (on loopback by default) and resolves once all listen. */
export async function startShop(options: ShopOptions): Promise<Shop> {
  const host = options.host ?? '127.0.0.1';
  const endpoint = (service: keyof typeof SHOP_CLIENTS) => ({
    url: options.gatehouseUrl,
    ...(options.issuer !== undefined && { issuer: options.issuer }),
    clientId: SHOP_CLIENTS[service],
    clientSecret: options.secrets[service],
  });
  const feeds = (Object.keys(SHOP_CLIENTS) as (keyof typeof SHOP_CLIENTS)[]).map(
    (service) => [service, new RevocationFeed(endpoint(service))] as const,
  );
  await Promise.all(feeds.map(([, feed]) => feed.start()));
  const feedOf = (service: keyof typeof SHOP_CLIENTS) =>
    feeds.find(([s]) => s === service)?.[1] as RevocationFeed;
  const verifier = (service: keyof typeof SHOP_CLIENTS) =>
    new ServiceVerifier({
      ...endpoint(service),
      audience: SHOP_AUDIENCES[service],
      revocations: feedOf(service),
    });

  // payments: plain node:http.
  const charges: unknown[] = [];
  const paymentsVerifier = verifier('payments');
  const payments = createServer(async (req, res) => {
    try {
      const who = await paymentsVerifier.verifyRequest(req.headers);
      if (req.method !== 'POST' || req.url !== '/charge') {
        res.writeHead(404, { 'content-type': 'application/json' }).end('{"error":"not_found"}');
        return;
      }
      assertScopes(who, ['payments:charge']);
      const body = await readJson(req);
      const charge = {
        id: `ch_${charges.length + 1}`,
        amount: Number(body.amount ?? 0),
        for: who.sub,
        // Who is acting for the user: the delegation chain of the token (RFC 8693 act).
        actors: who.actors,
        act: who.act,
        scopes: who.scopes,
        request_id: who.requestId,
        traceparent: who.traceparent,
      };
      charges.push(charge);
      res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify(charge));
    } catch (err) {
      if (!sendAccessError(res, err)) {
        res.writeHead(400, { 'content-type': 'application/json' }).end('{"error":"bad_request"}');
      }
    }
  });

  // inventory: Express.
  const stock = new Map<string, number>([
    ['tea', 100],
    ['mug', 20],
  ]);
  const inventoryApp = express();
  inventoryApp.use(gatehouse(verifier('inventory')));
  inventoryApp.use(express.json({ limit: '16kb' }));
  inventoryApp.get('/stock', (_req, res) => {
    res.json(Object.fromEntries(stock));
  });
  inventoryApp.post('/reserve', expressScopes('inventory:reserve'), (req, res) => {
    const { sku, quantity } = req.body as { sku?: unknown; quantity?: unknown };
    const left = typeof sku === 'string' ? stock.get(sku) : undefined;
    if (left === undefined || typeof quantity !== 'number' || !Number.isInteger(quantity) || quantity < 1) {
      res
        .status(400)
        .json({ error: 'invalid_request', detail: 'a known sku and a positive integer quantity' });
      return;
    }
    if (quantity > left) {
      res.status(409).json({ error: 'out_of_stock', detail: `only ${left} left` });
      return;
    }
    stock.set(sku as string, left - quantity);
    const who = identityOf(res);
    res.status(201).json({ sku, quantity, for: who.sub, actors: who.actors, scopes: who.scopes });
  });
  const inventory = createServer(inventoryApp);

  // orders: Fastify; calls on as the user.
  const calls = new ServiceClient({
    ...endpoint('orders'),
    clientSecret: options.secrets.orders,
    clientId: SHOP_CLIENTS.orders,
  });
  // The central policies, asked over AuthZEN with the service's own gatehouse:authz token.
  const policies = new RemotePolicies({
    url: options.gatehouseUrl,
    token: () => calls.tokenFor({ scope: ['gatehouse:authz'] }),
  });
  const orders = Fastify({ logger: false, bodyLimit: 16_384 });
  registerGatehouse(orders, verifier('orders'));
  const placed: Order[] = [];
  orders.setErrorHandler((err, _request, reply) => {
    if (err instanceof AccessError) {
      return reply.code(err.status).type('application/problem+json').send(err.toProblem());
    }
    const status = (err as { statusCode?: number }).statusCode ?? 500;
    return reply
      .code(status >= 400 && status < 500 ? status : 502)
      .send({ error: 'order_failed', detail: err instanceof Error ? err.message : 'the order failed' });
  });
  orders.get('/shop/orders', { preHandler: fastifyScopes('orders:read') }, async (request) => {
    const who = request.gatehouse;
    return { orders: placed.filter((o) => o.sub === who?.sub) };
  });
  orders.post<{ Body: { sku?: unknown; quantity?: unknown } }>(
    '/shop/orders',
    { preHandler: fastifyScopes('orders:write') },
    async (request, reply) => {
      const who = request.gatehouse;
      if (!who) throw new AccessError('ERR_AUTH_REQUIRED', 401, 'no verified identity');
      const { sku, quantity } = request.body ?? {};
      if (
        typeof sku !== 'string' ||
        typeof quantity !== 'number' ||
        !Number.isInteger(quantity) ||
        quantity < 1
      ) {
        return reply
          .code(400)
          .send({ error: 'invalid_request', detail: 'an order needs a sku and a positive integer quantity' });
      }
      // May this user place this order? (examples/shop/policies: customers may, bulk orders may not.)
      await authorize(policies, who, 'place', { type: 'Order', id: 'new', properties: { sku, quantity } });
      const reserved = await calls.fetch(`${urls.inventory}/reserve`, {
        as: who,
        audience: SHOP_AUDIENCES.inventory,
        scope: ['inventory:reserve'],
        json: { sku, quantity },
      });
      const reservation = await reserved.json();
      if (reserved.status !== 201) return reply.code(reserved.status).send(reservation);
      const charged = await calls.fetch(`${urls.payments}/charge`, {
        as: who,
        audience: SHOP_AUDIENCES.payments,
        scope: ['payments:charge'],
        json: { amount: 3 * Number(quantity) },
      });
      const payment = await charged.json();
      if (charged.status !== 201) return reply.code(charged.status).send(payment);
      const order: Order = {
        id: `ord_${placed.length + 1}`,
        sub: who.sub,
        sku: String(sku),
        quantity: Number(quantity),
        reservation,
        payment,
      };
      placed.push(order);
      return reply.code(201).send(order);
    },
  );
  // A refund needs payments:refund, which no shop user holds: the exchange must refuse to widen.
  orders.post<{ Params: { id: string } }>(
    '/shop/orders/:id/refund',
    { preHandler: fastifyScopes('orders:write') },
    async (request) => {
      const who = request.gatehouse;
      if (!who) throw new AccessError('ERR_AUTH_REQUIRED', 401, 'no verified identity');
      const res = await calls.fetch(`${urls.payments}/refund`, {
        as: who,
        audience: SHOP_AUDIENCES.payments,
        scope: ['payments:refund'],
        json: { order: request.params.id },
      });
      return res.json();
    },
  );

  const listen = async (server: Server, port: number) => {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(port, host, resolve);
    });
    return `http://${host}:${(server.address() as AddressInfo).port}`;
  };
  await orders.ready();
  const urls = {
    orders: await listen(orders.server, options.ports?.orders ?? 0),
    inventory: await listen(inventory, options.ports?.inventory ?? 0),
    payments: await listen(payments, options.ports?.payments ?? 0),
  };
  return {
    urls,
    async close() {
      for (const [, feed] of feeds) feed.stop();
      await orders.close();
      for (const server of [inventory, payments]) {
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      }
    },
  };
}

async function readJson(req: import('node:http').IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 16_384) throw new Error('body too large');
    chunks.push(chunk);
  }
  const value = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}') as unknown;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new Error('not an object');
  return value as Record<string, unknown>;
}
