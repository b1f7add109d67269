import type { AuditRecord, Store } from '@gatehouse/core';
import { AUDIT_GENESIS, chainHash } from './audit-chain.js';

/** Outcome of {@link verifyAuditChain}. */
export type AuditVerification =
  | { ok: true; entries: number; headSeq: number }
  | {
      ok: false;
      entries: number;
      /** The first entry where the chain fails. */
      seq: number;
      problem: 'altered' | 'missing' | 'inserted';
      detail: string;
    };

const PAGE = 1000;

/**
 * Walks the whole log from seq 1 and reports the first entry that was altered (its keyed hash
 * or link does not match), missing (a gap in the numbering) or inserted (numbering that goes
 * backwards or repeats). `expectedHeadSeq`, when known from outside (metrics, a previous run),
 * also catches entries cut from the end, which a chain alone cannot see.
 */
export async function verifyAuditChain(
  store: Store,
  key: Buffer,
  options: { onProgress?: (checked: number) => void; expectedHeadSeq?: number } = {},
): Promise<AuditVerification> {
  let previous: Pick<AuditRecord, 'seq' | 'hash'> = { seq: 0, hash: AUDIT_GENESIS };
  let checked = 0;
  for (;;) {
    const page = await store.audit.list(previous.seq, PAGE);
    for (const record of page) {
      if (record.seq <= previous.seq) {
        return fail(
          checked,
          record.seq,
          'inserted',
          `entry ${record.seq} repeats or precedes entry ${previous.seq}`,
        );
      }
      if (record.seq !== previous.seq + 1) {
        return fail(
          checked,
          previous.seq + 1,
          'missing',
          `entries ${previous.seq + 1}–${record.seq - 1} are missing`,
        );
      }
      const { hash, ...unsealed } = record;
      if (chainHash(key, unsealed) !== hash) {
        return fail(
          checked,
          record.seq,
          'altered',
          `entry ${record.seq} was altered or forged: its hash does not match`,
        );
      }
      if (record.prevHash !== previous.hash) {
        return fail(
          checked,
          record.seq,
          'inserted',
          `entry ${record.seq} does not link to entry ${previous.seq}`,
        );
      }
      previous = record;
      checked += 1;
    }
    options.onProgress?.(checked);
    if (page.length < PAGE) break;
  }
  if (options.expectedHeadSeq !== undefined && previous.seq < options.expectedHeadSeq) {
    return fail(
      checked,
      previous.seq + 1,
      'missing',
      `entries ${previous.seq + 1}–${options.expectedHeadSeq} were cut from the end`,
    );
  }
  return { ok: true, entries: checked, headSeq: previous.seq };
}

function fail(
  entries: number,
  seq: number,
  problem: 'altered' | 'missing' | 'inserted',
  detail: string,
): AuditVerification {
  return { ok: false, entries, seq, problem, detail };
}
