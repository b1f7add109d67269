import type { ClientRecord } from '@gatehouse/core';
import type { ClientRegistry } from '../clients/client-registry.js';
import type { AccessTokenClaims, AccessTokens, ReadOptions } from './access-tokens.js';
import type { RevocationFailureMode, Revocations } from './revocations.js';

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

  readonly #builtin: ReadonlyMap<string, ClientRecord>;

  constructor(deps: {
    tokens: AccessTokens;
    revocations: Revocations;
    clients: ClientRegistry;
    /** Clients that are part of Gatehouse itself (the first-party login client), not registered. */
    builtinClients?: readonly ClientRecord[];
  }) {
    this.#tokens = deps.tokens;
    this.#revocations = deps.revocations;
    this.#clients = deps.clients;
    this.#builtin = new Map((deps.builtinClients ?? []).map((c) => [c.id, c]));
  }

  /** The token's claims and client while it is live; `mode` as {@link Revocations.isTokenRevoked}. */
  async check(
    token: string,
    mode: RevocationFailureMode = 'fail_closed',
    options: ReadOptions = {},
  ): Promise<ActiveToken | undefined> {
    const claims = await this.#tokens.read(token, options);
    if (!claims || (await this.#revocations.isTokenRevoked(claims, mode))) return undefined;
    const client = this.#builtin.get(claims.client_id) ?? (await this.#clients.get(claims.client_id));
    return client ? { claims, client } : undefined;
  }
}
