import { randomBytes } from 'node:crypto';
import { ConfigError, GatehouseError } from '@gatehouse/core';
import { type Algorithm, hash as argon2Hash, verify as argon2Verify } from '@node-rs/argon2';

/** Argon2 cost parameters, in the units of the PHC string (`m` in KiB, `t` passes, `p` lanes). */
export interface Argon2Params {
  /** Memory per hash in KiB (`m=`). */
  memoryCost: number;
  /** Number of passes over memory (`t=`). */
  timeCost: number;
  /** Lanes (`p=`). */
  parallelism: number;
}

/**
 * OWASP Password Storage Cheat Sheet's first argon2id configuration: 19 MiB, 2 passes, 1 lane.
 * It is the cheapest of its equivalent options in memory, which matters when many logins run
 * at once.
 */
export const OWASP_ARGON2ID: Readonly<Argon2Params> = Object.freeze({
  memoryCost: 19_456,
  timeCost: 2,
  parallelism: 1,
});

/** Shortest password {@link checkPasswordPolicy} accepts, in Unicode code points (NIST 800-63B). */
export const PASSWORD_MIN_LENGTH = 8;
/**
 * Longest password accepted, in code points. NIST asks for at least 64; a cap keeps a caller
 * from making the server hash megabytes per request.
 */
export const PASSWORD_MAX_LENGTH = 256;

// `Algorithm` is a `const enum` in the typings, which `isolatedModules` may not read as a value;
// 2 is its documented Argon2id member.
const ARGON2ID = 2 as Algorithm;
const OUTPUT_BYTES = 32;
const MIN_SALT_BYTES = 16;

/** The parts of an argon2 PHC string (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`). */
export interface PhcArgon2 {
  algorithm: 'argon2id' | 'argon2i' | 'argon2d';
  version: number;
  params: Argon2Params;
  /** Decoded salt length in bytes. */
  saltBytes: number;
  /** Decoded hash length in bytes. */
  hashBytes: number;
}

// PHC strings use standard base64 without padding; decimals without leading zeros, as the
// reference encoder writes them. Anything else is not a hash we made or accept for import.
const PHC_RE =
  /^\$(argon2id|argon2i|argon2d)\$v=(16|19)\$m=([1-9][0-9]{0,9}),t=([1-9][0-9]{0,9}),p=([1-9][0-9]{0,2})\$([A-Za-z0-9+/]+)\$([A-Za-z0-9+/]+)$/;

function base64Bytes(text: string): number | undefined {
  // A length of 1 mod 4 cannot come from any byte string.
  if (text.length % 4 === 1) return undefined;
  return Math.floor((text.length * 3) / 4);
}

/**
 * Parses an argon2 PHC string without touching the native library. Returns `undefined` for
 * anything malformed (including the optional `keyid`/`data` fields, which Gatehouse never
 * writes).
 *
 * @example
 * ```ts
 * parsePhc('$argon2id$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$...')?.params.memoryCost; // 19456
 * ```
 */
export function parsePhc(phc: string): PhcArgon2 | undefined {
  if (typeof phc !== 'string' || phc.length > 512) return undefined;
  const m = PHC_RE.exec(phc);
  if (!m) return undefined;
  const [, algorithm, version, memory, time, lanes, salt, digest] = m;
  const saltBytes = base64Bytes(salt ?? '');
  const hashBytes = base64Bytes(digest ?? '');
  const params = { memoryCost: Number(memory), timeCost: Number(time), parallelism: Number(lanes) };
  if (saltBytes === undefined || hashBytes === undefined) return undefined;
  // Limits from the argon2 specification (RFC 9106 §3.1).
  if (saltBytes < 8 || hashBytes < 4 || params.memoryCost > 0xffff_ffff) return undefined;
  if (params.parallelism > 255 || params.memoryCost < 8 * params.parallelism) return undefined;
  return {
    algorithm: algorithm as PhcArgon2['algorithm'],
    version: Number(version),
    params,
    saltBytes,
    hashBytes,
  };
}

/** Result of {@link checkPasswordPolicy}; `reason` never contains the password. */
export type PasswordPolicyResult = { ok: true } | { ok: false; reason: string };

/**
 * Checks a new password against the NIST SP 800-63B rules: 8 to 256 Unicode code points, not
 * only whitespace, no unpaired surrogates. No composition rules (NIST advises against them).
 * Blocklist checks (breached or context-specific passwords) are left to the caller.
 *
 * @example
 * ```ts
 * checkPasswordPolicy('correct horse'); // { ok: true }
 * checkPasswordPolicy('short');         // { ok: false, reason: 'must be at least 8 characters' }
 * ```
 */
export function checkPasswordPolicy(password: string): PasswordPolicyResult {
  if (typeof password !== 'string') return { ok: false, reason: 'must be a string' };
  // Each code point takes at most two UTF-16 units, so this refuses huge input before counting.
  if (password.length > 2 * PASSWORD_MAX_LENGTH) {
    return { ok: false, reason: `must be at most ${PASSWORD_MAX_LENGTH} characters` };
  }
  let codePoints = 0;
  for (const _ of password) codePoints++;
  if (codePoints < PASSWORD_MIN_LENGTH) {
    return { ok: false, reason: `must be at least ${PASSWORD_MIN_LENGTH} characters` };
  }
  if (codePoints > PASSWORD_MAX_LENGTH) {
    return { ok: false, reason: `must be at most ${PASSWORD_MAX_LENGTH} characters` };
  }
  if (/^\s+$/u.test(password)) return { ok: false, reason: 'must not be only whitespace' };
  // A lone surrogate encodes to U+FFFD in UTF-8, so two different passwords would hash the same.
  if (/\p{Cs}/u.test(password)) return { ok: false, reason: 'must be valid Unicode text' };
  return { ok: true };
}

function checkParams(params: Argon2Params): void {
  const issues: { path: string; message: string }[] = [];
  const check = (key: keyof Argon2Params, min: number, max: number) => {
    const value = params[key];
    if (!Number.isInteger(value) || value < min || value > max) {
      issues.push({ path: key, message: `must be an integer from ${min} to ${max}` });
    }
  };
  check('parallelism', 1, 255);
  check('timeCost', 1, 0xffff_ffff);
  // argon2 needs 8 KiB per lane.
  check('memoryCost', 8 * (Number.isInteger(params.parallelism) ? params.parallelism : 1), 0xffff_ffff);
  if (issues.length > 0) throw new ConfigError(issues);
}

/**
 * Hashes and verifies user passwords with argon2id.
 *
 * @example
 * ```ts
 * const hasher = new PasswordHasher(); // OWASP defaults: m=19456, t=2, p=1
 * const stored = await hasher.hash('correct horse battery');
 * const user = await users.find(name);
 * const ok = user ? await hasher.verify(user.passwordHash, password) : await hasher.verifyDummy(password);
 * if (ok && hasher.needsRehash(user.passwordHash)) await users.setHash(name, await hasher.hash(password));
 * ```
 */
export class PasswordHasher {
  readonly params: Readonly<Argon2Params>;
  readonly #dummy: Promise<string>;

  /** @throws {ConfigError} when a parameter is out of argon2's range. */
  constructor(params: Partial<Argon2Params> = {}) {
    this.params = Object.freeze({ ...OWASP_ARGON2ID, ...params });
    checkParams(this.params);
    // Made now, with the configured cost, so that verifyDummy costs what a real verify costs.
    this.#dummy = argon2Hash(randomBytes(24).toString('base64url'), this.#options());
    // Keeps a failure from being an unhandled rejection before anyone awaits it; verifyDummy
    // still sees it.
    this.#dummy.catch(() => {});
  }

  #options() {
    return {
      algorithm: ARGON2ID,
      memoryCost: this.params.memoryCost,
      timeCost: this.params.timeCost,
      parallelism: this.params.parallelism,
      outputLen: OUTPUT_BYTES,
    };
  }

  /**
   * Hashes a new password into a PHC string with a fresh 16-byte salt.
   *
   * @throws {GatehouseError} `ERR_PASSWORD_POLICY` (400) when the password fails
   * {@link checkPasswordPolicy}, so no weak or oversized password is ever stored.
   * @example
   * ```ts
   * await new PasswordHasher().hash('correct horse battery'); // '$argon2id$v=19$m=19456,t=2,p=1$…'
   * ```
   */
  async hash(password: string): Promise<string> {
    const policy = checkPasswordPolicy(password);
    if (!policy.ok) {
      throw new GatehouseError('ERR_PASSWORD_POLICY', `password ${policy.reason}`, { status: 400 });
    }
    return argon2Hash(password, this.#options());
  }

  /**
   * Checks a password against a stored PHC string. Never throws: a malformed or non-argon2 hash
   * answers false (after the same work as {@link verifyDummy}), as does a password over the
   * maximum length (refused before hashing; that refusal does not depend on the user).
   *
   * @example
   * ```ts
   * await hasher.verify(stored, 'correct horse battery'); // true
   * ```
   */
  async verify(hash: string, password: string): Promise<boolean> {
    if (!withinMaxLength(password)) return false;
    if (parsePhc(hash) === undefined) return this.verifyDummy(password);
    try {
      return await argon2Verify(hash, password);
    } catch {
      return false;
    }
  }

  /**
   * True when a stored hash should be replaced at the next successful login: another algorithm
   * or version, other cost parameters, a short salt or output, or an unparseable string.
   *
   * @example
   * ```ts
   * new PasswordHasher().needsRehash('$argon2id$v=19$m=4096,t=3,p=1$…'); // true
   * ```
   */
  needsRehash(hash: string): boolean {
    const phc = parsePhc(hash);
    if (phc === undefined) return true;
    return (
      phc.algorithm !== 'argon2id' ||
      phc.version !== 19 ||
      phc.params.memoryCost !== this.params.memoryCost ||
      phc.params.timeCost !== this.params.timeCost ||
      phc.params.parallelism !== this.params.parallelism ||
      phc.saltBytes < MIN_SALT_BYTES ||
      phc.hashBytes !== OUTPUT_BYTES
    );
  }

  /**
   * Verifies the password against a hash made at construction and answers false: call it for
   * unknown users so that a login takes as long whether or not the user exists.
   *
   * @example
   * ```ts
   * const ok = user ? await hasher.verify(user.passwordHash, pw) : await hasher.verifyDummy(pw);
   * ```
   */
  async verifyDummy(password: string): Promise<false> {
    if (!withinMaxLength(password)) return false;
    try {
      await argon2Verify(await this.#dummy, password);
    } catch {
      // The answer is false either way; only the time spent matters here.
    }
    return false;
  }
}

function withinMaxLength(password: string): boolean {
  if (typeof password !== 'string' || password.length > 2 * PASSWORD_MAX_LENGTH) return false;
  let codePoints = 0;
  for (const _ of password) if (++codePoints > PASSWORD_MAX_LENGTH) return false;
  return true;
}
