import { randomFillSync } from 'node:crypto';

/**
 * Random identifiers from a CSPRNG, drawn from a pre-filled buffer: one `randomFillSync` per
 * 4 KiB instead of one `randomBytes` call per id (a measured 7 % of token issuance).
 * Bytes are never handed out twice. Hang one pool off each instance; it is not shared.
 *
 * @example
 * ```ts
 * const ids = new RandomIds();
 * const jti = ids.next(16); // 22 base64url characters, 128 bits
 * ```
 */
export class RandomIds {
  readonly #pool: Buffer;
  #offset: number;

  constructor(poolBytes = 4096) {
    this.#pool = Buffer.allocUnsafe(poolBytes);
    this.#offset = poolBytes;
  }

  /** `bytes` fresh random bytes as base64url. */
  next(bytes: number): string {
    if (bytes > this.#pool.length) throw new RangeError('id larger than the pool');
    if (this.#offset + bytes > this.#pool.length) {
      randomFillSync(this.#pool);
      this.#offset = 0;
    }
    const id = this.#pool.toString('base64url', this.#offset, this.#offset + bytes);
    // Wipe what was handed out so no later reader of the pool sees it.
    this.#pool.fill(0, this.#offset, this.#offset + bytes);
    this.#offset += bytes;
    return id;
  }
}
