/**
 * `npm start`: Gatehouse on its embedded default (SQLite + in-memory, nothing else to run) with
 * the demo shop behind its gateway, in one process, on loopback ports.
 *
 *   Gatehouse  http://127.0.0.1:8080 (issuer, admin API)   gateway  http://127.0.0.1:8081
 *   orders     http://127.0.0.1:8091   inventory  :8092   payments  :8093
 *
 * Env: GATEHOUSE_DATA_DIR (default .data), SHOP_PORT (first of the three shop ports, default 8091).
 * The shop clients get fresh secrets at every start (Gatehouse keeps only their digests), and the
 * demo user `carol` (role customer) a fresh password, printed below with the tour.
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { stringify } from 'yaml';
import { digestSecret } from '../../packages/server/src/clients/client-secrets.js';
import { main } from '../../packages/server/src/cli/main.js';
import { loadConfig } from '../../packages/server/src/config/load-config.js';
import { createRuntime } from '../../packages/server/src/runtime.js';
import { pino } from 'pino';
import { SHOP_CLIENTS, startShop } from './services.js';
import { shopGatehouseConfig } from './shop-config.js';

const dataDir = resolve(process.env.GATEHOUSE_DATA_DIR ?? '.data');
const firstPort = Number(process.env.SHOP_PORT ?? 8091);
const ports = { orders: firstPort, inventory: firstPort + 1, payments: firstPort + 2 };
const secret = () => randomBytes(32).toString('base64url');
const secrets = { orders: secret(), inventory: secret(), payments: secret() };
const digests = {
  orders: digestSecret(secrets.orders),
  inventory: digestSecret(secrets.inventory),
  payments: digestSecret(secrets.payments),
};

mkdirSync(dataDir, { recursive: true, mode: 0o700 });
const file = join(dataDir, 'shop.gatehouse.yaml');
const shop = shopGatehouseConfig({
  digests,
  ordersUrl: `http://127.0.0.1:${ports.orders}`,
  gatewayPort: 8081,
});
writeFileSync(file, stringify({ data_dir: dataDir, ...shop }), { mode: 0o600 });
// The same without the shop's clients, opened first: a brand-new installation still gets its
// example client (made only when no client is declared) for the README's tour.
const baseFile = join(dataDir, 'shop.base.yaml');
writeFileSync(baseFile, stringify({ data_dir: dataDir, ...shop, clients: [], example_client: true }), {
  mode: 0o600,
});

// The demo user, before Gatehouse opens its store for serving.
const password = randomBytes(12).toString('base64url');
let exampleSecret: string | undefined;
{
  const runtime = await createRuntime(loadConfig({ file: baseFile }), {
    logger: pino({ level: 'warn' }),
    defaultMetrics: false,
  });
  exampleSecret = runtime.exampleClientSecret;
  try {
    const carol = await runtime.users.getByUsername('carol');
    if (carol) await runtime.users.setPassword(carol.id, password, 'shop-demo');
    else await runtime.users.create({ username: 'carol', password, roles: ['customer'] }, 'shop-demo');
  } finally {
    await runtime.close();
  }
}

const served = main(['--config', file, 'start']);
const base = 'http://127.0.0.1:8080';
for (let i = 0; ; i++) {
  const ready = await fetch(`${base}/readyz`).then(
    (r) => r.ok,
    () => false,
  );
  if (ready) break;
  if (i > 100) throw new Error('Gatehouse did not become ready');
  await new Promise((r) => setTimeout(r, 100));
}
const running = await startShop({ gatehouseUrl: base, secrets, ports });
if (exampleSecret) {
  console.log('Example client "example" created (first start). Its secret is shown this once:');
  console.log(`  ${exampleSecret}`);
  console.log('');
}
console.log(`Demo shop (clients ${Object.values(SHOP_CLIENTS).join(', ')}):`);
console.log(
  `  orders ${running.urls.orders}  inventory ${running.urls.inventory}  payments ${running.urls.payments}`,
);
console.log('Tour (user carol, role customer):');
console.log(
  `  TOKEN=$(curl -s -d '{"username":"carol","password":"${password}","delivery":"body"}' -H 'content-type: application/json' ${base}/auth/login | sed -E 's/.*"access_token":"([^"]+)".*/\\1/')`,
);
console.log(
  `  curl -s -H "authorization: Bearer $TOKEN" -H 'content-type: application/json' -d '{"sku":"tea","quantity":2}' http://127.0.0.1:8081/shop/orders`,
);
console.log(`  curl -s -H "authorization: Bearer $TOKEN" http://127.0.0.1:8081/shop/orders`);
console.log('');

process.exitCode = await served;
await running.close();
