import { GatehouseError } from '@gatehouse/core';

/**
 * Wraps a failure to reach a backing server (database, Redis, NATS) so callers can tell "the
 * dependency is down" (503, retry later or fail open/closed) from a bug. The cause keeps the
 * driver's error for logs; the message never includes connection strings.
 */
export function unavailableError(what: string, cause?: unknown): GatehouseError {
  return new GatehouseError('ERR_STORE_UNAVAILABLE', `${what} is unavailable`, { status: 503, cause });
}

/** A uniqueness violation: the record already exists. */
export function conflictError(what: string, cause?: unknown): GatehouseError {
  return new GatehouseError('ERR_STORE_CONFLICT', `${what} already exists`, { status: 409, cause });
}

/** The record to change does not exist. */
export function notFoundError(what: string): GatehouseError {
  return new GatehouseError('ERR_STORE_NOT_FOUND', `${what} does not exist`, { status: 404 });
}

/** Reads `code` from a driver error without trusting its shape. */
export function errorCode(error: unknown): string | undefined {
  if (typeof error !== 'object' || error === null || !('code' in error)) return undefined;
  const { code } = error as { code: unknown };
  return typeof code === 'string' ? code : undefined;
}

/** Node socket errors meaning the server cannot be reached right now. */
const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EPIPE',
]);

/** True for socket-level failures reported by any client library through `code`. */
export function isNetworkError(error: unknown): boolean {
  const code = errorCode(error);
  return code !== undefined && NETWORK_CODES.has(code);
}

/**
 * Runs `op` and rethrows its failure as `translate` maps it; the one place adapters turn driver
 * errors into the port's codes.
 */
export async function translateFailure<T>(
  op: () => T | Promise<T>,
  translate: (error: unknown) => unknown,
): Promise<T> {
  try {
    return await op();
  } catch (error) {
    throw translate(error);
  }
}
