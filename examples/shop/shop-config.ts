/**
 * What Gatehouse must know of the shop: its three clients (the orders service may exchange the
 * tokens the gateway sends it, for inventory and payments only), the `customer` role's scopes,
 * and the gateway routes in front of the orders service.
 */
import { fileURLToPath } from 'node:url';
import { TOKEN_EXCHANGE_GRANT } from '@gatehouse/core';
import { SHOP_AUDIENCES, SHOP_CLIENTS, SHOP_SCOPES } from './services.js';

/** The Gatehouse config keys for the shop; merge into a config object. */
export function shopGatehouseConfig(options: {
  /** SHA-256 digests of the clients' secrets (see `digestSecret`). */
  digests: Record<keyof typeof SHOP_CLIENTS, string>;
  ordersUrl: string;
  gatewayPort: number;
}) {
  const route = (id: string, method: 'GET' | 'POST', scope: string) => ({
    id,
    match: { path: '/shop/orders', methods: [method] },
    authenticate: ['jwt'],
    authorize: { scopes: [scope] },
    rate_limit: { key: 'sub', limit: 120, window: 60 },
    upstream: { service: SHOP_AUDIENCES.orders, targets: [options.ordersUrl], timeout_ms: 10_000 },
  });
  return {
    login: { role_scopes: { customer: [...SHOP_SCOPES] } },
    // The shop's Cedar policies (who may place which order), asked by the orders service.
    policy: { dir: fileURLToPath(new URL('./policies', import.meta.url)) },
    clients: [
      {
        id: SHOP_CLIENTS.orders,
        name: 'Shop: orders service',
        secret_digest: options.digests.orders,
        // gatehouse:introspect lets the service read the revocation feed; gatehouse:authz ask the PDP.
        scopes: ['gatehouse:introspect', 'gatehouse:authz'],
        resources: [SHOP_AUDIENCES.inventory, SHOP_AUDIENCES.payments],
        grant_types: ['client_credentials', TOKEN_EXCHANGE_GRANT],
        may_act: {
          subject_audiences: [SHOP_AUDIENCES.orders],
          // The most orders may ever pass on; what a user's token lacks it still cannot get.
          scopes: ['inventory:reserve', 'payments:charge', 'payments:refund'],
        },
      },
      {
        id: SHOP_CLIENTS.inventory,
        name: 'Shop: inventory service',
        secret_digest: options.digests.inventory,
        scopes: ['gatehouse:introspect'],
      },
      {
        id: SHOP_CLIENTS.payments,
        name: 'Shop: payments service',
        secret_digest: options.digests.payments,
        scopes: ['gatehouse:introspect'],
      },
    ],
    gateway: {
      port: options.gatewayPort,
      routes: [
        route('shop-orders-list', 'GET', 'orders:read'),
        route('shop-orders-place', 'POST', 'orders:write'),
      ],
    },
  };
}
