import {
  type Bus,
  type Clock,
  epochSeconds,
  GatehouseError,
  generateSigningKey,
  KeySet,
  type KeyResolver,
  type SigningKey,
  type SigningKeyRecord,
  type SigningKeyState,
  type Store,
  verificationKeyFromJwk,
} from '@gatehouse/core';
import type { Logger } from 'pino';
import type { KeyVault } from './key-vault.js';

/** The event published when the key set changes, so every instance reloads at once. */
export const KEY_ROTATED_TOPIC = 'key.rotated';

export interface KeyManagerOptions {
  algorithm: 'ES256' | 'RS256' | 'EdDSA';
  /** Seconds a new key is published before it signs. */
  activationDelay: number;
  /** Seconds a retired key stays published: the longest token lifetime plus clock skew. */
  retention: number;
  /** How often to re-read the key table (other instances may rotate). */
  reloadIntervalMs?: number;
}

export interface KeyManagerDeps {
  store: Store;
  vault: KeyVault;
  clock: Clock;
  bus: Bus;
  logger: Logger;
}

/** A key as the admin API and CLI show it. */
export interface KeyView {
  kid: string;
  alg: string;
  state: SigningKeyState;
  created_at: number;
  activates_at: number;
  retired_at: number | null;
  expires_at: number | null;
}

interface Loaded {
  record: SigningKeyRecord;
  signing: SigningKey;
}

/**
 * Owns the signing keys. A key's state follows from times alone, so every instance reaches the
 * same answer without coordination: among keys whose `activatesAt` has passed, the latest signs
 * and the earlier ones are retired at the moment their successor activated; a retired key stays
 * in the JWKS for `retention` seconds (until every token it signed has expired), then is removed.
 * A rotated-in key is published at once and signs only after `activationDelay`.
 */
export class KeyManager {
  readonly #deps: KeyManagerDeps;
  readonly #options: KeyManagerOptions;
  #keys: Loaded[] = [];
  #signer: SigningKey | undefined;
  #nextSwitchAt = Number.POSITIVE_INFINITY;
  #verification: KeySet = KeySet.fromKeys([]);
  #jwksJson = '{"keys":[]}';
  #timer: NodeJS.Timeout | undefined;
  #unsubscribe: (() => Promise<void>) | undefined;
  #createdFirstKey = false;

  constructor(deps: KeyManagerDeps, options: KeyManagerOptions) {
    this.#deps = deps;
    this.#options = options;
  }

  /** Loads the keys, creating the first one when the store has none; starts watching for rotations. */
  async start(): Promise<void> {
    await this.reload();
    if (!this.#signer) {
      await this.#insertNewKey(0);
      await this.reload();
      this.#createdFirstKey = true;
    }
    this.#unsubscribe = await this.#deps.bus.subscribe(KEY_ROTATED_TOPIC, () => {
      this.reload().catch((err: unknown) =>
        this.#deps.logger.error({ err }, 'key reload after rotation event failed'),
      );
    });
    this.#timer = setInterval(() => {
      this.reload().catch((err: unknown) => this.#deps.logger.warn({ err }, 'periodic key reload failed'));
    }, this.#reloadIntervalSeconds() * 1000);
    this.#timer.unref();
  }

  async stop(): Promise<void> {
    if (this.#timer) clearInterval(this.#timer);
    await this.#unsubscribe?.();
  }

  /** True when this start found no key and made the first one: a brand-new installation. */
  get createdFirstKey(): boolean {
    return this.#createdFirstKey;
  }

  /** True once a signing key is loaded (readiness). */
  get ready(): boolean {
    return this.#signer !== undefined;
  }

  /** The key that signs now. Synchronous: the hot path must not wait on storage. */
  signingKey(): SigningKey {
    if (epochSeconds(this.#deps.clock) >= this.#nextSwitchAt) this.#recompute();
    if (!this.#signer) throw new GatehouseError('ERR_KEY_NOT_FOUND', 'no signing key is loaded');
    return this.#signer;
  }

  /** Every published key (next, active and retired), for verifying our own tokens. */
  verificationKeys(): KeyResolver {
    return this.#verification;
  }

  /** The JWKS document as JSON text; public members only. */
  jwksJson(): string {
    return this.#jwksJson;
  }

  /** Keys with their effective state. */
  list(): KeyView[] {
    const now = epochSeconds(this.#deps.clock);
    return this.#effective(now).map(({ record, state, retiredAt, expiresAt }) => ({
      kid: record.kid,
      alg: record.alg,
      state,
      created_at: record.createdAt,
      activates_at: record.activatesAt,
      retired_at: retiredAt,
      expires_at: expiresAt,
    }));
  }

  /**
   * Publishes a new key that signs after `activationDelay` seconds (default: the configured
   * delay; 0 for an emergency switch). Every instance is told over the bus.
   */
  async rotate(activationDelay = this.#options.activationDelay): Promise<KeyView> {
    const kid = await this.#insertNewKey(activationDelay);
    await this.reload();
    await this.#deps.bus.publish(KEY_ROTATED_TOPIC, { kid }).catch((err: unknown) => {
      // Other instances still pick the key up on their periodic reload.
      this.#deps.logger.warn({ err }, 'could not publish key rotation event');
    });
    const view = this.list().find((k) => k.kid === kid);
    if (!view) throw new GatehouseError('ERR_KEY_NOT_FOUND', `rotated key ${kid} vanished`);
    return view;
  }

  /** Re-reads the key table, persists state transitions and removes expired keys. */
  async reload(): Promise<void> {
    const records = await this.#deps.store.keys.list();
    const known = new Map(this.#keys.map((k) => [k.record.kid, k]));
    this.#keys = records.map((record) => {
      const cached = known.get(record.kid);
      if (cached && cached.record.sealedPrivateKey === record.sealedPrivateKey)
        return { record, signing: cached.signing };
      const privateKey = this.#deps.vault.open(record.kid, record.sealedPrivateKey);
      return { record, signing: { kid: record.kid, alg: record.alg as SigningKey['alg'], privateKey } };
    });
    const now = epochSeconds(this.#deps.clock);
    const removed = new Set<string>();
    for (const entry of this.#effective(now)) {
      const { record } = entry;
      if (entry.expiresAt !== null && entry.expiresAt <= now) {
        await this.#deps.store.keys.delete(record.kid);
        removed.add(record.kid);
        this.#deps.logger.info({ kid: record.kid }, 'removed expired signing key from the JWKS');
        continue;
      }
      if (
        record.state !== entry.state ||
        record.retiredAt !== entry.retiredAt ||
        record.expiresAt !== entry.expiresAt
      ) {
        await this.#deps.store.keys.update(record.kid, {
          state: entry.state,
          retiredAt: entry.retiredAt,
          expiresAt: entry.expiresAt,
        });
        record.state = entry.state;
        record.retiredAt = entry.retiredAt;
        record.expiresAt = entry.expiresAt;
      }
    }
    if (removed.size > 0) this.#keys = this.#keys.filter((k) => !removed.has(k.record.kid));
    this.#recompute();
  }

  #effective(now: number): {
    record: SigningKeyRecord;
    state: SigningKeyState;
    retiredAt: number | null;
    expiresAt: number | null;
  }[] {
    const sorted = [...this.#keys]
      .map((k) => k.record)
      .sort((a, b) => a.activatesAt - b.activatesAt || (a.kid < b.kid ? -1 : 1));
    const activated = sorted.filter((r) => r.activatesAt <= now);
    return sorted.map((record) => {
      const index = activated.indexOf(record);
      if (index === -1) return { record, state: 'next' as const, retiredAt: null, expiresAt: null };
      const successor = activated[index + 1];
      if (!successor) return { record, state: 'active' as const, retiredAt: null, expiresAt: null };
      return {
        record,
        state: 'retired' as const,
        retiredAt: successor.activatesAt,
        // An instance may keep signing with this key until its next reload, so those tokens
        // must still find the key published for their whole lifetime.
        expiresAt: successor.activatesAt + this.#options.retention + this.#reloadIntervalSeconds(),
      };
    });
  }

  #reloadIntervalSeconds(): number {
    return Math.ceil((this.#options.reloadIntervalMs ?? 30_000) / 1000);
  }

  #recompute(): void {
    const now = epochSeconds(this.#deps.clock);
    const effective = this.#effective(now).filter((e) => e.expiresAt === null || e.expiresAt > now);
    const byKid = new Map(this.#keys.map((k) => [k.record.kid, k]));
    const active = effective.find((e) => e.state === 'active');
    this.#signer = active ? byKid.get(active.record.kid)?.signing : undefined;
    const pending = effective.filter((e) => e.state === 'next').map((e) => e.record.activatesAt);
    this.#nextSwitchAt = pending.length > 0 ? Math.min(...pending) : Number.POSITIVE_INFINITY;
    const jwks = effective.map((e) => JSON.parse(e.record.publicJwk) as Record<string, unknown>);
    this.#verification = KeySet.fromKeys(jwks.map((jwk) => verificationKeyFromJwk(jwk)));
    this.#jwksJson = JSON.stringify({ keys: jwks });
  }

  async #insertNewKey(activationDelay: number): Promise<string> {
    const now = epochSeconds(this.#deps.clock);
    // A new key always activates after every existing one, so "latest activated signs" holds
    // even for an emergency rotation in the same second as the previous one.
    // Only keys already signing count: an emergency rotation (delay 0) must not queue behind a
    // key scheduled for later.
    const latest = Math.max(-1, ...this.#keys.map((k) => k.record.activatesAt).filter((t) => t <= now));
    const activatesAt = Math.max(now + activationDelay, latest + 1);
    const { signingKey, publicJwk } = generateSigningKey(this.#options.algorithm);
    await this.#deps.store.keys.insert({
      kid: signingKey.kid,
      alg: signingKey.alg,
      publicJwk: JSON.stringify(publicJwk),
      sealedPrivateKey: this.#deps.vault.seal(signingKey.kid, signingKey.privateKey),
      state: activatesAt <= now ? 'active' : 'next',
      createdAt: now,
      activatesAt,
      retiredAt: null,
      expiresAt: null,
    });
    this.#deps.logger.info(
      { kid: signingKey.kid, alg: signingKey.alg, activatesAt },
      'new signing key published',
    );
    return signingKey.kid;
  }
}
