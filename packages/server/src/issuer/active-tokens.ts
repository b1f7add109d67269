import type { ClientRecord } from '@gatehouse/core';
import type { ClientRegistry } from '../clients/client-registry.js';
import type { AccessTokenClaims, AccessTokens } from './access-tokens.js';
import type { Revocations } from './revocations.js';

/** A token that is live now, with the client it was issued to. */
export interface ActiveToken {
  claims: AccessTokenClaims;
  client: ClientRecord;
}

/**
 * The one answer to "is this token live?": issued here, unexpired, not revoked, and its client
 * still registered (deleting a client ends its tokens). Introspection and the admin API share it.
 */
export class ActiveTokens {
  readonly #tokens: AccessTokens;
  readonly #revocations: Revocations;
  readonly #clients: ClientRegistry;

  constructor(deps: { tokens: AccessTokens; revocations: Revocations; clients: ClientRegistry }) {
    this.#tokens = deps.tokens;
    this.#revocations = deps.revocations;
    this.#clients = deps.clients;
  }

  async check(token: string): Promise<ActiveToken | undefined> {
    const claims = await this.#tokens.read(token);
    if (!claims || (await this.#revocations.isRevoked(claims.jti))) return undefined;
    const client = await this.#clients.get(claims.client_id);
    return client ? { claims, client } : undefined;
  }
}
