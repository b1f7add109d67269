import { type ErrorCode, GatehouseError } from '@gatehouse/core';
import type { z } from 'zod';

/** A caller's mistake about policies or a decision request: always a 400 with Cedar's sentence. */
export function policyError(
  code: Extract<ErrorCode, `ERR_POLICY_${string}`>,
  detail: string,
  cause?: unknown,
): GatehouseError {
  return new GatehouseError(code, detail, { status: code === 'ERR_POLICY_UNAVAILABLE' ? 503 : 400, cause });
}

/**
 * Validates outside input (a body, query or path parameters) with a schema; a mismatch is a
 * 400 `ERR_POLICY_REQUEST_INVALID` naming every bad field after `what`.
 */
export function parseInput<T>(schema: z.ZodType<T>, value: unknown, what: string): T {
  const parsed = schema.safeParse(value);
  if (parsed.success) return parsed.data;
  const detail = parsed.error.issues
    .slice(0, 10)
    .map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`)
    .join('; ');
  throw policyError('ERR_POLICY_REQUEST_INVALID', `${what}: ${detail}`);
}
