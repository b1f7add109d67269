import { createHmac, hkdfSync, timingSafeEqual } from 'node:crypto';
import {
  type Bus,
  type Clock,
  epochSeconds,
  type FamilyEndReason,
  RandomIds,
  type RefreshFamilyRecord,
  type Store,
} from '@gatehouse/core';
import type { Logger } from 'pino';
import type { AuditLog } from '../audit/audit-log.js';
import { tokenDigest } from '../issuer/access-tokens.js';
import type { Revocations } from '../issuer/revocations.js';
import type { Metrics } from '../observability/metrics.js';

/** Prefix of refresh tokens, so secret scanners and people can recognise them. */
export const REFRESH_PREFIX = 'gatehouse_rt_';
const REFRESH_PATTERN = /^gatehouse_rt_[A-Za-z0-9_-]{43}$/;

/** Bus topics this module publishes. */
export const REUSE_DETECTED_TOPIC = 'refresh.reuse_detected';
export const SESSION_ENDED_TOPIC = 'session.ended';
export const USER_LOGGED_OUT_TOPIC = 'user.logged_out';

/** Binding of a family refreshed at the token endpoint by the client it belongs to. */
export const CLIENT_BINDING = 'client';
const CSRF_BINDING_PREFIX = 'csrf:';

/** The binding value for a browser family: the digest of its CSRF token. */
export function csrfBinding(csrfToken: string): string {
  return CSRF_BINDING_PREFIX + tokenDigest(csrfToken);
}

/** Constant-time check of a presented CSRF token against a family's binding. */
export function csrfMatches(binding: string, presented: string | undefined): boolean {
  if (!binding.startsWith(CSRF_BINDING_PREFIX) || presented === undefined || presented.length > 256) {
    return false;
  }
  const expected = Buffer.from(binding, 'utf8');
  const actual = Buffer.from(csrfBinding(presented), 'utf8');
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** Key that derives a successor token from its predecessor; from the KEK, like the audit key. */
export function refreshDerivationKey(kek: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', kek, Buffer.alloc(0), 'gatehouse refresh successor v1', 32));
}

export interface RefreshFamilyOptions {
  /** Seconds from login to the family's hard end. */
  absoluteLifetime: number;
  /** Seconds without a rotation after which the family ends. */
  idleTimeout: number;
  /** Milliseconds in which the immediately previous token gets the already-issued successor back. */
  reuseGraceMs: number;
  /** Longest access token lifetime: a session revocation must outlive every token of the session. */
  maxAccessTokenTtl: number;
}

/** Who is asking to rotate: the client, and the CSRF token for a browser family. */
export interface RotationCaller {
  clientId: string;
  /**
   * Present at the browser door (/auth/refresh), which serves only CSRF-bound families; absent
   * at the token endpoint, which serves only client-bound ones. A family works at one door only.
   */
  csrfToken?: string | undefined;
}

/** Why a presented refresh token did not rotate. */
export type RotationRefusal =
  /** Malformed or never issued here (no state change). */
  | 'unknown'
  /** Issued to another client, or presented at the wrong door (no state change). */
  | 'wrong_binding'
  /** Browser family without a matching CSRF token (no state change: the request is forged). */
  | 'csrf'
  /** The family ended earlier (logout, password change, earlier reuse). */
  | 'revoked'
  /** Past the absolute lifetime or the idle timeout. */
  | 'expired'
  /** A rotated token was replayed: the family is ended now. */
  | 'reused';

export type RotationResult =
  | {
      ok: true;
      family: RefreshFamilyRecord;
      refreshToken: string;
      /** True when this answered a replay inside the grace window with the existing successor. */
      replayed: boolean;
    }
  | { ok: false; reason: RotationRefusal; family?: RefreshFamilyRecord };

/** How many times a rotation re-reads the family after losing a compare-and-set. */
const MAX_CAS_ATTEMPTS = 4;
/** Rotations remembered for catching up (those of the grace window, at most this many). */
const MAX_RECENT_ROTATIONS = 32;

/**
 * Refresh token families: one per login, rotated on every use, with reuse detection that keeps
 * working under concurrency. The store holds only digests. A successor token is derived from its
 * predecessor (HMAC with a key from the KEK and a per-rotation salt), so a parallel request that
 * replays a token superseded inside the grace window, from the same binding, gets the family's
 * current token — the very successor already issued — without it ever being stored. Any other
 * replay of a rotated token ends the family, and with it every access token minted from it (`sid`).
 */
export class RefreshFamilies {
  readonly #store: Store;
  readonly #clock: Clock;
  readonly #key: Buffer;
  readonly #audit: AuditLog;
  readonly #bus: Bus;
  readonly #revocations: Revocations;
  readonly #logger: Logger;
  readonly #metrics: Metrics;
  readonly #options: RefreshFamilyOptions;
  readonly #ids = new RandomIds();
  #sweep: NodeJS.Timeout | undefined;

  constructor(
    deps: {
      store: Store;
      clock: Clock;
      key: Buffer;
      audit: AuditLog;
      bus: Bus;
      revocations: Revocations;
      logger: Logger;
      metrics: Metrics;
    },
    options: RefreshFamilyOptions,
  ) {
    this.#metrics = deps.metrics;
    this.#store = deps.store;
    this.#clock = deps.clock;
    this.#key = deps.key;
    this.#audit = deps.audit;
    this.#bus = deps.bus;
    this.#revocations = deps.revocations;
    this.#logger = deps.logger;
    this.#options = options;
  }

  /** Purges expired families hourly. */
  start(): void {
    this.#sweep = setInterval(() => {
      this.#store.refreshTokens
        .purgeExpired(epochSeconds(this.#clock))
        .catch((err: unknown) => this.#logger.warn({ err }, 'purging expired refresh families failed'));
    }, 3_600_000);
    this.#sweep.unref();
  }

  stop(): void {
    if (this.#sweep) clearInterval(this.#sweep);
  }

  /** Starts a family (at login) and returns its first refresh token. */
  async begin(input: {
    clientId: string;
    sub: string;
    scope: string[];
    aud: string[];
    binding: string;
  }): Promise<{ family: RefreshFamilyRecord; refreshToken: string }> {
    const nowMs = this.#clock.nowMs();
    const now = Math.floor(nowMs / 1000);
    const refreshToken = REFRESH_PREFIX + this.#ids.next(32);
    const family: RefreshFamilyRecord = {
      id: `fam_${this.#ids.next(16)}`,
      clientId: input.clientId,
      sub: input.sub,
      scope: input.scope.join(' '),
      aud: input.aud,
      binding: input.binding,
      createdAt: now,
      expiresAt: now + this.#options.absoluteLifetime,
      lastUsedAt: now,
      generation: 0,
      rotatedAtMs: nowMs,
      recentRotations: [],
      revokedAt: null,
      revokedReason: null,
    };
    await this.#store.refreshTokens.createFamily(family, tokenDigest(refreshToken));
    return { family, refreshToken };
  }

  /** The family a presented token belongs to, whatever its state; undefined when unknown. */
  async familyOf(presented: string): Promise<RefreshFamilyRecord | undefined> {
    if (!REFRESH_PATTERN.test(presented)) return undefined;
    return (await this.#store.refreshTokens.find(tokenDigest(presented)))?.family;
  }

  /**
   * Rotates a presented refresh token. Checks in order: known token → same binding (client and,
   * for a browser family, CSRF token) → family live → current generation (rotate by
   * compare-and-set) → a token superseded inside the grace window (the current token again) →
   * anything else, including a rotated token from another binding, is reuse and ends the family.
   */
  async rotate(presented: string, caller: RotationCaller): Promise<RotationResult> {
    const result = await this.#rotate(presented, caller);
    this.#metrics.refreshes.inc({
      outcome: result.ok ? (result.replayed ? 'caught_up' : 'rotated') : result.reason,
    });
    return result;
  }

  async #rotate(presented: string, caller: RotationCaller): Promise<RotationResult> {
    if (!REFRESH_PATTERN.test(presented)) return { ok: false, reason: 'unknown' };
    const found = await this.#store.refreshTokens.find(tokenDigest(presented));
    if (!found) return { ok: false, reason: 'unknown' };
    const { token } = found;
    let { family } = found;
    const sameBinding =
      family.clientId === caller.clientId &&
      (caller.csrfToken === undefined
        ? family.binding === CLIENT_BINDING
        : csrfMatches(family.binding, caller.csrfToken));
    if (!sameBinding) {
      // A rotated token from elsewhere is a stolen one in use: end the family. The current
      // token at the wrong door (or a forged browser request) is refused and changes nothing.
      if (token.generation < family.generation && family.revokedAt === null) {
        await this.end(family, 'reuse_detected', 'system');
        return { ok: false, reason: 'reused', family };
      }
      const csrfFailed =
        family.clientId === caller.clientId &&
        caller.csrfToken !== undefined &&
        family.binding !== CLIENT_BINDING;
      return { ok: false, reason: csrfFailed ? 'csrf' : 'wrong_binding', family };
    }
    for (let attempt = 0; attempt < MAX_CAS_ATTEMPTS; attempt++) {
      if (family.revokedAt !== null) return { ok: false, reason: 'revoked', family };
      const nowMs = this.#clock.nowMs();
      const now = Math.floor(nowMs / 1000);
      if (now >= family.expiresAt || now >= family.lastUsedAt + this.#options.idleTimeout) {
        return { ok: false, reason: 'expired', family };
      }
      if (token.generation === family.generation) {
        const salt = this.#ids.next(16);
        const successor = this.#derive(presented, salt);
        const recentRotations = [
          ...family.recentRotations.filter((r) => nowMs - r.atMs <= this.#options.reuseGraceMs),
          { generation: family.generation + 1, salt, atMs: nowMs },
        ].slice(-MAX_RECENT_ROTATIONS);
        const rotated = await this.#store.refreshTokens.rotate(family.id, {
          fromGeneration: family.generation,
          digest: tokenDigest(successor),
          recentRotations,
          rotatedAtMs: nowMs,
          lastUsedAt: now,
        });
        if (rotated) {
          const next: RefreshFamilyRecord = {
            ...family,
            generation: family.generation + 1,
            rotatedAtMs: nowMs,
            recentRotations,
            lastUsedAt: now,
          };
          return { ok: true, family: next, refreshToken: successor, replayed: false };
        }
        // Lost the race: someone rotated (or ended) the family meanwhile. Look again.
        const latest = await this.#store.refreshTokens.getFamily(family.id);
        if (!latest) return { ok: false, reason: 'unknown' };
        family = latest;
        continue;
      }
      const current = this.#catchUp(presented, token.generation, family, nowMs);
      if (current !== undefined) return { ok: true, family, refreshToken: current, replayed: true };
      await this.end(family, 'reuse_detected', 'system');
      return { ok: false, reason: 'reused', family };
    }
    // Not reached: after a lost compare-and-set the family is ahead of the token, so the next
    // pass catches up or detects reuse. Kept as a bound on the loop.
    return { ok: false, reason: 'unknown' };
  }

  /**
   * Ends a family: durable first, then the session's access tokens are revoked (by `sid`), the
   * end is audited and announced. Ending an ended family changes nothing.
   */
  async end(family: RefreshFamilyRecord, reason: FamilyEndReason, actor: string): Promise<boolean> {
    const now = epochSeconds(this.#clock);
    if (!(await this.#store.refreshTokens.revokeFamily(family.id, now, reason))) return false;
    await this.#afterEnd(family, reason, actor);
    return true;
  }

  /** Ends every live family of a subject (password change, disable, delete); returns how many. */
  async endAllFor(sub: string, reason: FamilyEndReason, actor: string): Promise<number> {
    const ended = await this.#store.refreshTokens.revokeSubject(sub, epochSeconds(this.#clock), reason);
    for (const family of ended) await this.#afterEnd(family, reason, actor);
    // And every other token of the user (exchanged, from other grants): one watermark for all.
    await this.#revocations.revokeAllOf('sub', sub);
    return ended.length;
  }

  /** Ends one family by id (admin API); false when unknown or already ended. */
  async endById(id: string, reason: FamilyEndReason, actor: string): Promise<boolean> {
    const family = await this.#store.refreshTokens.getFamily(id);
    return family ? this.end(family, reason, actor) : false;
  }

  /** Live families of a subject (admin API): unrevoked, within both the absolute and the idle limit. */
  async listLive(sub: string): Promise<RefreshFamilyRecord[]> {
    const now = epochSeconds(this.#clock);
    const families = await this.#store.refreshTokens.listLive(sub, now);
    return families.filter((f) => now < f.lastUsedAt + this.#options.idleTimeout);
  }

  /**
   * Ends the family a presented token belongs to at its holder's request (logout, RFC 7009
   * revocation). A token rotated longer ago than the grace window is a stolen one being used:
   * the family ends as reuse, not as a logout. Undefined when the token is unknown.
   */
  async endByToken(presented: string): Promise<RefreshFamilyRecord | undefined> {
    if (!REFRESH_PATTERN.test(presented)) return undefined;
    const found = await this.#store.refreshTokens.find(tokenDigest(presented));
    if (!found) return undefined;
    const { token, family } = found;
    const stale =
      token.generation < family.generation &&
      this.#catchUp(presented, token.generation, family, this.#clock.nowMs()) === undefined;
    await this.end(family, stale ? 'reuse_detected' : 'logout', stale ? 'system' : `user:${family.sub}`);
    return family;
  }

  async #afterEnd(family: RefreshFamilyRecord, reason: FamilyEndReason, actor: string): Promise<void> {
    this.#metrics.sessionsEnded.inc({ reason });
    await this.#revocations.revokeSession(family.id, family.expiresAt + this.#options.maxAccessTokenTtl);
    const reused = reason === 'reuse_detected';
    await this.#audit.record({
      actor,
      action: reused ? 'refresh.reuse_detected' : 'session.ended',
      target: family.id,
      outcome: reused ? 'failure' : 'success',
      details: { sub: family.sub, client_id: family.clientId, reason, generation: family.generation },
    });
    const message = { family_id: family.id, sub: family.sub, client_id: family.clientId, reason };
    await this.#bus.publish(SESSION_ENDED_TOPIC, message).catch(() => undefined);
    if (reason === 'logout') await this.#bus.publish(USER_LOGGED_OUT_TOPIC, message).catch(() => undefined);
    if (reused) {
      this.#logger.warn({ family_id: family.id, sub: family.sub }, 'refresh token reuse detected');
      await this.#bus.publish(REUSE_DETECTED_TOPIC, message).catch(() => undefined);
    }
  }

  /**
   * The family's current token, re-derived from an older one, when that older token was
   * superseded within the grace window: browser tabs share one cookie jar, so a request in flight
   * with a token can arrive after its successor has itself been rotated by another tab. Undefined
   * when the token was superseded earlier than that: then its replay is reuse.
   */
  #catchUp(presented: string, generation: number, family: RefreshFamilyRecord, nowMs: number) {
    const superseding = family.recentRotations.find((r) => r.generation === generation + 1);
    if (!superseding || nowMs - superseding.atMs > this.#options.reuseGraceMs) return undefined;
    let token = presented;
    for (let g = generation + 1; g <= family.generation; g++) {
      const rotation = family.recentRotations.find((r) => r.generation === g);
      if (!rotation) return undefined;
      token = this.#derive(token, rotation.salt);
    }
    return token;
  }

  #derive(presented: string, salt: string): string {
    return (
      REFRESH_PREFIX + createHmac('sha256', this.#key).update(`${presented}.${salt}`).digest('base64url')
    );
  }
}
