import {
  type ApiKeyRecord,
  type Clock,
  epochSeconds,
  GatehouseError,
  RandomIds,
  type Store,
} from '@gatehouse/core';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log.js';
import { digestSecret, secretMatches } from '../clients/client-secrets.js';
import { notFoundError } from '../storage/errors.js';

/** `sk_` lets secret scanners (and people) recognise a leaked key; the id is public, the secret is not. */
export const API_KEY_PATTERN = /^sk_([A-Za-z0-9_-]{16})\.([A-Za-z0-9_-]{43})$/;
/** Default overlap during which a rotated key keeps working: 7 days. */
export const DEFAULT_ROTATION_OVERLAP = 7 * 86_400;
const LAST_USED_FLUSH_MS = 30_000;

/** An API key as the admin API shows it: never the secret or its digest. */
export interface ApiKeyView {
  id: string;
  name: string;
  owner: string;
  scopes: string[];
  created_at: number;
  expires_at: number | null;
  revoked_at: number | null;
  grace_until: number | null;
  replaced_by: string | null;
  last_used_at: number | null;
}

export function apiKeyView(key: ApiKeyRecord): ApiKeyView {
  return {
    id: key.id,
    name: key.name,
    owner: key.owner,
    scopes: key.scopes,
    created_at: key.createdAt,
    expires_at: key.expiresAt,
    revoked_at: key.revokedAt,
    grace_until: key.graceUntil,
    replaced_by: key.replacedBy,
    last_used_at: key.lastUsedAt,
  };
}

/** A key that checked out, with the moment it stops being valid (null: no end). */
export interface ValidApiKey {
  key: ApiKeyRecord;
  validUntil: number | null;
}

/**
 * API keys for services: generated (id 96 bits, secret 256 bits), stored as a digest, compared in
 * constant time, with expiry, revocation and rotation that keeps the old key valid for an overlap.
 * `last_used_at` is collected in memory and written in batches, not once per request.
 */
export class ApiKeys {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #audit: AuditLog;
  readonly #logger: Logger;
  readonly #ids = new RandomIds();
  readonly #lastUsed = new Map<string, number>();
  #timer: NodeJS.Timeout | undefined;

  constructor(deps: { store: Store; clock: Clock; audit: AuditLog; logger: Logger }) {
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#audit = deps.audit;
    this.#logger = deps.logger;
  }

  start(): void {
    this.#timer = setInterval(() => {
      this.flushLastUsed().catch((err: unknown) =>
        this.#logger.warn({ err }, 'could not record API key use'),
      );
    }, LAST_USED_FLUSH_MS);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.flushLastUsed();
  }

  list(): Promise<ApiKeyRecord[]> {
    return this.#store.apiKeys.list();
  }

  /** Creates a key; the full key text is returned here and never again. */
  async create(
    input: { name: string; owner: string; scopes: string[]; expiresIn?: number | null },
    actor: string,
  ): Promise<{ record: ApiKeyRecord; key: string }> {
    const { record, key } = await this.#insert(
      input.name,
      input.owner,
      input.scopes,
      this.#expiry(input.expiresIn),
    );
    await this.#audit.record({
      actor,
      action: 'api_key.created',
      target: record.id,
      details: { owner: record.owner, scopes: record.scopes },
    });
    return { record, key };
  }

  /**
   * Replaces a key: the new one works at once, the old one until `overlap` seconds from now
   * (default 7 days), so deployments can roll over without downtime.
   */
  async rotate(
    id: string,
    actor: string,
    overlap = DEFAULT_ROTATION_OVERLAP,
  ): Promise<{ record: ApiKeyRecord; key: string }> {
    const old = await this.#store.apiKeys.get(id);
    if (!old || old.revokedAt !== null) throw notFoundError(`active API key "${id}"`);
    if (old.replacedBy !== null) {
      throw new GatehouseError(
        'ERR_STORE_CONFLICT',
        `API key ${id} was already rotated; rotate ${old.replacedBy}`,
        { status: 409 },
      );
    }
    const now = epochSeconds(this.#clock);
    const created = await this.#insert(old.name, old.owner, old.scopes, old.expiresAt);
    const graceUntil = old.expiresAt === null ? now + overlap : Math.min(old.expiresAt, now + overlap);
    await this.#store.apiKeys.update(id, { graceUntil, replacedBy: created.record.id });
    await this.#audit.record({
      actor,
      action: 'api_key.rotated',
      target: id,
      details: { replaced_by: created.record.id, grace_until: graceUntil },
    });
    return created;
  }

  /** Revokes at once (rotation overlap included). */
  async revoke(id: string, actor: string): Promise<void> {
    const key = await this.#store.apiKeys.get(id);
    if (!key) throw notFoundError(`active API key "${id}"`);
    if (key.revokedAt === null)
      await this.#store.apiKeys.update(id, { revokedAt: epochSeconds(this.#clock) });
    await this.#audit.record({ actor, action: 'api_key.revoked', target: id });
  }

  /**
   * Checks a presented key. Undefined for anything malformed, unknown, wrong, revoked, expired or
   * past its rotation overlap — one answer for all, so nothing leaks about which it was.
   */
  async verify(presented: string): Promise<ValidApiKey | undefined> {
    const match = API_KEY_PATTERN.exec(presented);
    if (!match) return undefined;
    const [, id, secret] = match as unknown as [string, string, string];
    const key = await this.#store.apiKeys.get(id);
    if (!secretMatches(secret, key?.secretDigest) || !key) return undefined;
    const now = epochSeconds(this.#clock);
    if (key.revokedAt !== null) return undefined;
    const ends = [key.expiresAt, key.graceUntil].filter((t): t is number => t !== null);
    const validUntil = ends.length > 0 ? Math.min(...ends) : null;
    if (validUntil !== null && now >= validUntil) return undefined;
    this.#lastUsed.set(key.id, now);
    return { key, validUntil };
  }

  /** Writes the collected `last_used_at` values (called on a timer and at shutdown). */
  async flushLastUsed(): Promise<void> {
    const batch = [...this.#lastUsed];
    this.#lastUsed.clear();
    for (const [id, at] of batch) await this.#store.apiKeys.update(id, { lastUsedAt: at });
  }

  async #insert(
    name: string,
    owner: string,
    scopes: string[],
    expiresAt: number | null,
  ): Promise<{ record: ApiKeyRecord; key: string }> {
    // base64url of 12 bytes never contains '.', so the key splits unambiguously.
    const id = this.#ids.next(12);
    const secret = this.#ids.next(32);
    const record: ApiKeyRecord = {
      id,
      name,
      owner,
      secretDigest: digestSecret(secret),
      scopes,
      createdAt: epochSeconds(this.#clock),
      expiresAt,
      revokedAt: null,
      graceUntil: null,
      replacedBy: null,
      lastUsedAt: null,
    };
    await this.#store.apiKeys.create(record);
    return { record, key: `sk_${id}.${secret}` };
  }

  #expiry(expiresIn: number | null | undefined): number | null {
    return expiresIn === undefined || expiresIn === null ? null : epochSeconds(this.#clock) + expiresIn;
  }
}
