import { createHmac, hkdfSync } from 'node:crypto';
import type { AuditEntry, AuditRecord } from '@gatehouse/core';

/** `prevHash` of the first record. */
export const AUDIT_GENESIS = '0'.repeat(64);

/**
 * The key that seals the chain, derived from the key-encryption key. A plain hash chain can be
 * recomputed by anyone who can edit the table; a keyed one cannot, so an edit stays detectable.
 */
export function auditChainKey(kek: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', kek, Buffer.alloc(0), 'gatehouse audit chain v1', 32));
}

/** HMAC-SHA256 (hex) over every field of the record and the previous record's hash. */
export function chainHash(key: Buffer, record: Omit<AuditRecord, 'hash'>): string {
  const fields = [
    record.seq,
    record.at,
    record.actor,
    record.action,
    record.target,
    record.outcome,
    record.details,
    record.prevHash,
  ];
  return createHmac('sha256', key).update(JSON.stringify(fields)).digest('hex');
}

/** JSON with object keys sorted at every depth, so equal details always hash the same. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(sortKeys(value));
}

function sortKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sortKeys);
  if (value !== null && typeof value === 'object') {
    return Object.fromEntries(
      Object.keys(value as Record<string, unknown>)
        .sort()
        .map((k) => [k, sortKeys((value as Record<string, unknown>)[k])]),
    );
  }
  return value;
}

/** Chains `entries` onto `previous` (undefined: the log is empty). */
export function chainEntries(
  key: Buffer,
  previous: { seq: number; hash: string } | undefined,
  entries: readonly AuditEntry[],
): AuditRecord[] {
  let seq = previous?.seq ?? 0;
  let prevHash = previous?.hash ?? AUDIT_GENESIS;
  return entries.map((entry) => {
    seq += 1;
    const unsealed = { ...entry, seq, prevHash };
    const record = { ...unsealed, hash: chainHash(key, unsealed) };
    prevHash = record.hash;
    return record;
  });
}
