import { randomBytes } from 'node:crypto';

/**
 * A Bloom filter of revoked token ids: "no" is final (the token was never revoked), "maybe" sends
 * the check on to the exact stores. Sized from the expected count and the false-positive rate
 * (m = −n·ln p / ln²2 bits, k = m/n·ln 2 hashes); 10 million ids at 0.1 % take 18 MB.
 *
 * Positions come from two seeded 32-bit hashes of the id (Kirsch–Mitzenmacher double hashing:
 * g_i = h1 + i·h2). SHA-256 per check made the clean-token p99 7 µs at 10 M entries; seeded
 * FNV-1a with a murmur finalizer is a fraction of that, and the per-filter secret seeds keep ids
 * from being chosen to collide.
 */
export class BloomFilter {
  readonly bits: number;
  readonly hashes: number;
  readonly #words: Uint32Array;
  // Secret per filter (filters live in one process and are rebuilt at start, never shared), so
  // nobody can pick ids that pile onto the same bits.
  readonly #seed1 = randomBytes(4).readUInt32BE(0);
  readonly #seed2 = randomBytes(4).readUInt32BE(0);
  #count = 0;
  // The last id's two hashes, left in fields rather than returned as a pair (no array per check).
  #h1 = 0;
  #h2 = 0;

  constructor(expected: number, falsePositiveRate: number) {
    if (!(expected > 0) || !(falsePositiveRate > 0 && falsePositiveRate < 1)) {
      throw new RangeError('BloomFilter needs expected > 0 and 0 < falsePositiveRate < 1');
    }
    const bits = Math.ceil((-expected * Math.log(falsePositiveRate)) / Math.LN2 ** 2);
    this.bits = Math.ceil(bits / 32) * 32;
    this.hashes = Math.max(1, Math.round((this.bits / expected) * Math.LN2));
    this.#words = new Uint32Array(this.bits / 32);
  }

  /** Ids added so far (an id added twice counts twice). */
  get count(): number {
    return this.#count;
  }

  /** Bytes held by the bit array. */
  get byteLength(): number {
    return this.#words.byteLength;
  }

  /**
   * Adds `id` in `namespace` (e.g. "jti:"): hashed as if the two were one string, without
   * making it, so a check of a token's id builds no string per request.
   */
  add(id: string, namespace = ''): void {
    this.#hash(namespace, id);
    for (let i = 0; i < this.hashes; i++) {
      const bit = (this.#h1 + i * this.#h2) % this.bits;
      this.#words[bit >>> 5] = (this.#words[bit >>> 5] as number) | (1 << (bit & 31));
    }
    this.#count++;
  }

  /** False: certainly never added (in `namespace`). True: probably added. */
  mightContain(id: string, namespace = ''): boolean {
    this.#hash(namespace, id);
    for (let i = 0; i < this.hashes; i++) {
      const bit = (this.#h1 + i * this.#h2) % this.bits;
      if (((this.#words[bit >>> 5] as number) & (1 << (bit & 31))) === 0) return false;
    }
    return true;
  }

  /** Both seeded hashes of `namespace` + `id` in one pass over the characters. */
  #hash(namespace: string, id: string): void {
    let a = (this.#seed1 ^ FNV_OFFSET) >>> 0;
    let b = (this.#seed2 ^ FNV_OFFSET) >>> 0;
    for (let i = 0; i < namespace.length; i++) {
      const c = namespace.charCodeAt(i);
      a = Math.imul(a ^ c, FNV_PRIME);
      b = Math.imul(b ^ c, FNV_PRIME);
    }
    for (let i = 0; i < id.length; i++) {
      const c = id.charCodeAt(i);
      a = Math.imul(a ^ c, FNV_PRIME);
      b = Math.imul(b ^ c, FNV_PRIME);
    }
    this.#h1 = avalanche(a);
    // Odd, so successive probes never collapse onto one bit.
    this.#h2 = (avalanche(b) | 1) >>> 0;
  }
}

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** murmur3's 32-bit finalizer over an FNV-1a state, for avalanche. */
function avalanche(state: number): number {
  let h = state;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}
