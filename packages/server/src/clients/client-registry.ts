import {
  type Bus,
  type ClientConfig,
  type ClientPatch,
  clientConfigSchema,
  type ClientRecord,
  type Clock,
  epochSeconds,
  GatehouseError,
  type MayActConfig,
  type MayActRule,
  type Store,
  TOKEN_EXCHANGE_GRANT,
} from '@gatehouse/core';
import type { Logger } from 'pino';
import { digestSecret, generateClientSecret } from './client-secrets.js';
import { notFoundError } from '../storage/errors.js';
import { makeRoom } from '../internal/bounded-map.js';

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
  mayAct?: MayActRule | null;
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
  may_act: { subject_audiences: string[]; scopes: string[] } | null;
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
    may_act: record.mayAct && {
      subject_audiences: record.mayAct.subjectAudiences,
      scopes: record.mayAct.scopes,
    },
  };
}

/** The config file's spelling of a may_act rule, as the record holds it. */
export function mayActFromConfig(rule: MayActConfig | undefined): MayActRule | null {
  return rule ? { subjectAudiences: rule.subject_audiences, scopes: rule.scopes } : null;
}

const CACHE_ENTRIES = 10_000;

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
  /** Ids no registered client may take (the first-party login client's). */
  readonly #reservedIds: Set<string>;
  readonly #cache = new Map<string, CacheEntry>();
  /** Bumped on every change to an id, so a read that raced a change never caches the old record. */
  readonly #generation = new Map<string, number>();
  #unsubscribe: (() => Promise<void>) | undefined;

  constructor(
    deps: { store: Store; bus: Bus; clock: Clock; logger: Logger },
    options: { cacheTtlMs?: number; reservedIds?: readonly string[] } = {},
  ) {
    this.#reservedIds = new Set(options.reservedIds ?? []);
    this.#store = deps.store;
    this.#bus = deps.bus;
    this.#clock = deps.clock;
    this.#logger = deps.logger;
    this.#cacheTtlMs = options.cacheTtlMs ?? 5_000;
  }

  async start(): Promise<void> {
    this.#unsubscribe = await this.#bus.subscribe(CLIENT_CHANGED_TOPIC, (message) => {
      if (typeof message.id !== 'string') return;
      this.#generation.set(message.id, (this.#generation.get(message.id) ?? 0) + 1);
      this.#cache.delete(message.id);
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
    const generation = this.#generation.get(id) ?? 0;
    const record = await this.#store.clients.get(id);
    if ((this.#generation.get(id) ?? 0) !== generation) return record;
    makeRoom(this.#cache, CACHE_ENTRIES);
    this.#cache.set(id, { record, loadedAtMs: now });
    return record;
  }

  list(): Promise<ClientRecord[]> {
    return this.#store.clients.list();
  }

  /** Creates a client with a generated secret; the secret is returned here and nowhere else. */
  async create(input: NewClient): Promise<{ record: ClientRecord; secret: string }> {
    assertValidClient(input);
    const secret = generateClientSecret();
    const now = epochSeconds(this.#clock);
    const id = input.id ?? `client-${generateClientSecret().slice(0, 12)}`;
    if (this.#reservedIds.has(id)) throw invalidClient(`client_id: "${id}" is reserved for the login client`);
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
      mayAct: input.mayAct ?? null,
    };
    await this.#store.clients.create(record);
    await this.#announce(id);
    return { record, secret };
  }

  /** Changes an API-managed client; a client declared in the config file is changed there. */
  async update(id: string, patch: ClientPatch): Promise<ClientRecord> {
    const current = await this.#assertApiManaged(id);
    // Checked as the client will be after the change: a grant and its may_act rule go together.
    assertValidClient({
      ...(patch.scopes !== undefined && { scopes: patch.scopes }),
      ...(patch.resources !== undefined && { resources: patch.resources }),
      ...(patch.defaultAudience !== undefined && { audience: patch.defaultAudience }),
      grantTypes: patch.grantTypes ?? current.grantTypes,
      mayAct: patch.mayAct !== undefined ? patch.mayAct : current.mayAct,
    });
    const record = await this.#store.clients.update(id, { ...patch, updatedAt: epochSeconds(this.#clock) });
    if (!record) throw notFoundError(`client "${id}"`);
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
    await this.#assertApiManaged(id);
    if (!(await this.#store.clients.delete(id))) throw notFoundError(`client "${id}"`);
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
        mayAct: mayActFromConfig(client.may_act),
      };
      if (existing.has(client.id)) {
        await this.#store.clients.update(client.id, { ...fields, updatedAt: now });
      } else {
        await this.#store.clients.create({ id: client.id, ...fields, createdAt: now, updatedAt: now });
      }
      await this.#announce(client.id);
    }
    const declaredIds = new Set(declared.map((c) => c.id));
    for (const record of existing.values()) {
      if (record.source === 'config' && !declaredIds.has(record.id)) {
        await this.#store.clients.delete(record.id);
        await this.#announce(record.id);
        this.#logger.info({ client_id: record.id }, 'removed client no longer declared in the config file');
      }
    }
  }

  async #assertApiManaged(id: string): Promise<ClientRecord> {
    const record = await this.#store.clients.get(id);
    if (!record) throw notFoundError(`client "${id}"`);
    if (record.source === 'config') {
      throw new GatehouseError(
        'ERR_CLIENT_MANAGED_BY_CONFIG',
        `client "${id}" is declared in the config file; change it there`,
        { status: 409 },
      );
    }
    return record;
  }

  async #announce(id: string): Promise<void> {
    this.#generation.set(id, (this.#generation.get(id) ?? 0) + 1);
    if (this.#generation.size > CACHE_ENTRIES * 4) this.#generation.clear();
    this.#cache.delete(id);
    await this.#bus.publish(CLIENT_CHANGED_TOPIC, { id }).catch((err: unknown) => {
      this.#logger.warn(
        { err },
        'could not publish client change; other instances refresh within the cache TTL',
      );
    });
  }
}

/** The same rules as a client declared in the config file, whichever door (API, CLI) it comes through. */
const clientFields = clientConfigSchema.pick({
  id: true,
  scopes: true,
  resources: true,
  audience: true,
  grant_types: true,
  may_act: true,
});

function assertValidClient(input: NewClient): void {
  const parsed = clientFields.partial().safeParse({
    id: input.id,
    scopes: input.scopes,
    resources: input.resources,
    audience: input.audience ?? undefined,
    grant_types: input.grantTypes,
    may_act: input.mayAct
      ? { subject_audiences: input.mayAct.subjectAudiences, scopes: input.mayAct.scopes }
      : undefined,
  });
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue?.path.join('.') ?? 'client';
    throw invalidClient(`${where}: ${issue?.message ?? 'invalid'}`);
  }
  if (input.grantTypes?.includes(TOKEN_EXCHANGE_GRANT) && !input.mayAct) {
    throw invalidClient('may_act: the token-exchange grant needs a may_act rule');
  }
}

function invalidClient(message: string): GatehouseError {
  return new GatehouseError('ERR_REQUEST_INVALID', message, { status: 400 });
}
