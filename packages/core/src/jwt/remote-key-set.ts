import { type Clock, systemClock } from '../clock.js';
import { ConfigError } from '../errors.js';
import { parseStrictJson } from './internal/strict-json.js';
import { KeySet } from './key-set.js';
import type { KeyResolver, VerificationKey } from './types.js';

/**
 * Options of {@link RemoteKeySet}.
 *
 * @example
 * ```ts
 * const options: RemoteKeySetOptions = { jwksUri: 'https://id.example/jwks.json', timeoutMs: 2000 };
 * ```
 */
export interface RemoteKeySetOptions {
  /** Where the JWKS lives: https, or http on a loopback host (development only). */
  jwksUri: string;
  /** Default {@link systemClock}. */
  clock?: Clock;
  /** Unknown-kid refetches happen at most once per this many seconds. Default 30. */
  minRefetchIntervalSeconds?: number;
  /** Default the global fetch (undici). */
  fetch?: typeof fetch;
  /** Per-request timeout. Default 5000. */
  timeoutMs?: number;
  /**
   * A set last fetched longer ago than this is no longer trusted: lookups miss, which makes
   * {@link verifyJwtWithRemote} refetch, and fail with ERR_JWKS_UNAVAILABLE if that fails too.
   * Default 86400 (one day).
   */
  maxStalenessSeconds?: number;
}

/**
 * What {@link RemoteKeySet.status} reports, e.g. for `/readyz`.
 *
 * @example
 * ```ts
 * const ready = !remote.status().stale;
 * ```
 */
export interface RemoteKeySetStatus {
  lastSuccessMs: number | null;
  lastError: string | null;
  /** The last fetch failed and the previous good set is still served. */
  usingLastKnownGood: boolean;
  keys: number;
  /** No set, or the set is older than `maxStalenessSeconds`: lookups miss. */
  stale: boolean;
}

/** A JWKS larger than this is refused without being read to the end. */
const MAX_JWKS_BYTES = 512 * 1024;
const LOOPBACK_HOSTS = new Set(['localhost', '127.0.0.1', '[::1]']);

/**
 * A JWKS fetched over HTTPS and kept in memory: synchronous lookups for {@link verifyJwt},
 * explicit asynchronous refreshes. A fetched set passes the full {@link KeySet.fromJwks} policy
 * or is refused whole; on any failure the last known good set stays in use.
 *
 * @example
 * ```ts
 * const keys = new RemoteKeySet({ jwksUri: 'https://id.example/.well-known/jwks.json' });
 * await keys.refresh('startup');
 * setInterval(() => void keys.refresh('interval'), 300_000).unref();
 * const { payload } = await verifyJwtWithRemote(token, keys, options);
 * ```
 */
export class RemoteKeySet implements KeyResolver {
  readonly #uri: string;
  readonly #clock: Clock;
  readonly #minIntervalMs: number;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;
  readonly #maxStalenessMs: number;
  #set: KeySet | undefined;
  #lastSuccessMs: number | null = null;
  #lastAttemptMs: number | null = null;
  #lastError: string | null = null;
  #inflight: Promise<void> | undefined;

  constructor(options: RemoteKeySetOptions) {
    this.#uri = checkJwksUri(options.jwksUri);
    this.#clock = options.clock ?? systemClock;
    this.#minIntervalMs =
      1000 * positive('minRefetchIntervalSeconds', options.minRefetchIntervalSeconds ?? 30, true);
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#timeoutMs = positive('timeoutMs', options.timeoutMs ?? 5000);
    this.#maxStalenessMs = 1000 * positive('maxStalenessSeconds', options.maxStalenessSeconds ?? 86_400);
  }

  /**
   * The key with exactly this `kid` from the current set; `undefined` when absent, when no set
   * was ever fetched or when the set is stale.
   *
   * @example
   * ```ts
   * keys.resolve('k1');
   * ```
   */
  resolve(kid: string): VerificationKey | undefined {
    return this.#isStale() ? undefined : this.#set?.resolve(kid);
  }

  /**
   * Fetches the JWKS. Concurrent calls share one request; `'unknown-kid'` refreshes are skipped
   * when any fetch started less than `minRefetchIntervalSeconds` ago, so a flood of made-up kids
   * costs the issuer at most one request per interval. Never rejects: failures are recorded in
   * {@link status} and the last known good set stays in use.
   *
   * @example
   * ```ts
   * await keys.refresh('startup');
   * if (keys.status().lastError) log.warn({ err: keys.status().lastError }, 'JWKS unavailable');
   * ```
   */
  refresh(reason: 'unknown-kid' | 'startup' | 'interval'): Promise<void> {
    if (this.#inflight !== undefined) return this.#inflight;
    const now = this.#clock.nowMs();
    if (
      reason === 'unknown-kid' &&
      this.#lastAttemptMs !== null &&
      now - this.#lastAttemptMs < this.#minIntervalMs
    ) {
      return Promise.resolve();
    }
    this.#lastAttemptMs = now;
    const inflight = this.#load().finally(() => {
      this.#inflight = undefined;
    });
    this.#inflight = inflight;
    return inflight;
  }

  /**
   * Health of the set, for readiness probes and logs. Never contains key material or the URL.
   *
   * @example
   * ```ts
   * const { keys, usingLastKnownGood } = remote.status();
   * ```
   */
  status(): RemoteKeySetStatus {
    return {
      lastSuccessMs: this.#lastSuccessMs,
      lastError: this.#lastError,
      usingLastKnownGood: this.#set !== undefined && this.#lastError !== null,
      keys: this.#set?.size ?? 0,
      stale: this.#isStale(),
    };
  }

  #isStale(): boolean {
    return this.#lastSuccessMs === null || this.#clock.nowMs() - this.#lastSuccessMs > this.#maxStalenessMs;
  }

  async #load(): Promise<void> {
    // Our own timer rather than AbortSignal.timeout(): that one is unref'd, so a hung request
    // would neither time out nor keep the process alive until it does.
    const abort = new AbortController();
    const timer = setTimeout(
      () => abort.abort(new DOMException('JWKS request timed out', 'TimeoutError')),
      this.#timeoutMs,
    );
    try {
      const fetchJwks = this.#fetch; // called unbound, as the global fetch expects
      const response = await fetchJwks(this.#uri, {
        headers: { accept: 'application/jwk-set+json, application/json' },
        signal: abort.signal,
      });
      if (response.redirected && response.url !== '' && !isAllowedUrl(new URL(response.url))) {
        throw new Error('JWKS redirect left https');
      }
      if (!response.ok) throw new Error(`JWKS endpoint answered HTTP ${response.status}`);
      const set = KeySet.fromJwks(parseStrictJson(await readCapped(response)));
      this.#set = set;
      this.#lastSuccessMs = this.#clock.nowMs();
      this.#lastError = null;
    } catch (error) {
      this.#lastError = describe(error);
    } finally {
      clearTimeout(timer);
    }
  }
}

async function readCapped(response: Response): Promise<string> {
  if (Number(response.headers.get('content-length') ?? 0) > MAX_JWKS_BYTES)
    throw new Error('JWKS response too large');
  if (response.body === null) return '';
  const chunks: Uint8Array[] = [];
  let total = 0;
  for await (const chunk of response.body) {
    total += chunk.byteLength;
    if (total > MAX_JWKS_BYTES) throw new Error('JWKS response too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** A short reason for `status().lastError`: the error's name, message and low-level code, no URL. */
function describe(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error.cause as { code?: unknown } | undefined)?.code;
  return `${error.name}: ${error.message}${typeof code === 'string' ? ` (${code})` : ''}`;
}

function isAllowedUrl(url: URL): boolean {
  return url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK_HOSTS.has(url.hostname));
}

function checkJwksUri(value: unknown): string {
  let url: URL | undefined;
  try {
    url = typeof value === 'string' ? new URL(value) : undefined;
  } catch {
    url = undefined;
  }
  if (url === undefined || !isAllowedUrl(url) || url.username !== '' || url.password !== '') {
    throw new ConfigError([
      { path: 'jwksUri', message: 'must be an https URL (http only on a loopback host)' },
    ]);
  }
  return url.href;
}

function positive(path: string, value: number, zeroAllowed = false): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || (value === 0 && !zeroAllowed)) {
    throw new ConfigError([
      { path, message: `must be a ${zeroAllowed ? 'non-negative' : 'positive'} number` },
    ]);
  }
  return value;
}
