import {
  type Bus,
  type ClientConfig,
  type ClientPatch,
  type ClientRecord,
  type Clock,
  epochSeconds,
  GatehouseError,
  type Store,
} from '@gatehouse/core';
import type { Logger } from 'pino';
import { digestSecret, generateClientSecret } from './client-secrets.js';

export const CLIENT_CHANGED_TOPIC = 'client.changed';

/** What an admin may set when creating a client. */
export interface NewClient {
  id?: string;
  name?: string;
  scopes?: string[];
  resources?: string[];
  audience?: string | null;
  grantTypes?: string[];
  accessTokenFormat?: ClientRecord['accessTokenFormat'];
  accessTokenTtl?: number | null;
}

/** The public view of a client (never a secret or digest). */
export interface ClientView {
  client_id: string;
  name: string;
  scopes: string[];
  resources: string[];
  audience: string | null;
  grant_types: string[];
  access_token_format: string;
  access_token_ttl: number | null;
  source: string;
  created_at: number;
  updated_at: number;
}

export function clientView(record: ClientRecord): ClientView {
  return {
    client_id: record.id,
    name: record.name,
    scopes: record.scopes,
    resources: record.resources,
    audience: record.defaultAudience,
    grant_types: record.grantTypes,
    access_token_format: record.accessTokenFormat,
    access_token_ttl: record.accessTokenTtl,
    source: record.source,
    created_at: record.createdAt,
    updated_at: record.updatedAt,
  };
}

interface CacheEntry {
  record: ClientRecord | undefined;
  loadedAtMs: number;
}

/**
 * The client registry: the store is the truth; a small in-process cache keeps the token
 * endpoint off the database. Changes are announced on the bus so other instances drop their
 * copy at once; the TTL bounds staleness if an event is lost.
 */
export class ClientRegistry {
  readonly #store: Store;
  readonly #bus: Bus;
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #cacheTtlMs: number;
  readonly #cache = new Map<string, CacheEntry>();
  #unsubscribe: (() => Promise<void>) | undefined;

  constructor(
    deps: { store: Store; bus: Bus; clock: Clock; logger: Logger },
    options: { cacheTtlMs?: number } = {},
  ) {
    this.#store = deps.store;
    this.#bus = deps.bus;
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    this.#cacheTtlMs = options.cacheTtlMs ?? 5_000;
  }

  async start(): Promise<void> {
    this.#unsubscribe = await this.#bus.subscribe(CLIENT_CHANGED_TOPIC, (message) => {
      if (typeof message.id === 'string') this.#cache.delete(message.id);
    });
  }

  async stop(): Promise<void> {
    await this.#unsubscribe?.();
  }

  /** Looks a client up, through the cache. */
  async get(id: string): Promise<ClientRecord | undefined> {
    const now = this.#clock.nowMs();
    const hit = this.#cache.get(id);
    if (hit && now - hit.loadedAtMs < this.#cacheTtlMs) return hit.record;
    const record = await this.#store.clients.get(id);
    if (this.#cache.size > 10_000) this.#cache.clear();
    this.#cache.set(id, { record, loadedAtMs: now });
    return record;
  }

  list(): Promise<ClientRecord[]> {
    return this.#store.clients.list();
  }

  /** Creates a client with a generated secret; the secret is returned here and nowhere else. */
  async create(input: NewClient): Promise<{ record: ClientRecord; secret: string }> {
    const secret = generateClientSecret();
    const now = epochSeconds(this.#clock);
    const id = input.id ?? `client-${generateClientSecret().slice(0, 12)}`;
    const record: ClientRecord = {
      id,
      name: input.name ?? id,
      secretDigest: digestSecret(secret),
      scopes: input.scopes ?? [],
      resources: input.resources ?? [],
      defaultAudience: input.audience ?? null,
      grantTypes: input.grantTypes ?? ['client_credentials'],
      accessTokenFormat: input.accessTokenFormat ?? 'jwt',
      accessTokenTtl: input.accessTokenTtl ?? null,
      source: 'api',
      createdAt: now,
      updatedAt: now,
    };
    await this.#store.clients.create(record);
    await this.#announce(id);
    return { record, secret };
  }

  async update(id: string, patch: ClientPatch): Promise<ClientRecord> {
    const record = await this.#store.clients.update(id, { ...patch, updatedAt: epochSeconds(this.#clock) });
    if (!record) throw notFound(id);
    await this.#announce(id);
    return record;
  }

  /** Replaces the secret; the old one stops working at once. */
  async resetSecret(id: string): Promise<{ record: ClientRecord; secret: string }> {
    const secret = generateClientSecret();
    const record = await this.update(id, { secretDigest: digestSecret(secret) });
    return { record, secret };
  }

  async delete(id: string): Promise<void> {
    if (!(await this.#store.clients.delete(id))) throw notFound(id);
    await this.#announce(id);
  }

  /**
   * Makes the store match the clients declared in the config file: declared ones are created or
   * updated, ones that came from an earlier file and are gone are deleted. API clients are left alone.
   */
  async syncFromConfig(declared: readonly ClientConfig[]): Promise<void> {
    const now = epochSeconds(this.#clock);
    const existing = new Map((await this.#store.clients.list()).map((c) => [c.id, c]));
    for (const client of declared) {
      const fields = {
        name: client.name ?? client.id,
        secretDigest: client.secret_digest,
        scopes: client.scopes,
        resources: client.resources,
        defaultAudience: client.audience ?? null,
        grantTypes: client.grant_types,
        accessTokenFormat: client.access_token_format,
        accessTokenTtl: client.access_token_ttl ?? null,
        source: 'config' as const,
      };
      if (existing.has(client.id)) {
        await this.#store.clients.update(client.id, { ...fields, updatedAt: now });
      } else {
        await this.#store.clients.create({ id: client.id, ...fields, createdAt: now, updatedAt: now });
      }
      this.#cache.delete(client.id);
    }
    const declaredIds = new Set(declared.map((c) => c.id));
    for (const record of existing.values()) {
      if (record.source === 'config' && !declaredIds.has(record.id)) {
        await this.#store.clients.delete(record.id);
        this.#logger.info({ client_id: record.id }, 'removed client no longer declared in the config file');
      }
    }
  }

  async #announce(id: string): Promise<void> {
    this.#cache.delete(id);
    await this.#bus.publish(CLIENT_CHANGED_TOPIC, { id }).catch((err: unknown) => {
      this.#logger.warn(
        { err },
        'could not publish client change; other instances refresh within the cache TTL',
      );
    });
  }
}

function notFound(id: string): GatehouseError {
  return new GatehouseError('ERR_STORE_NOT_FOUND', `no client with id "${id}"`, { status: 404 });
}
