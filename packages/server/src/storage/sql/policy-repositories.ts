import type { DecisionLogRepository, PolicyRepository } from '@gatehouse/core';
import type { Kysely } from 'kysely';
import { decisionFromRow, decisionToRow, policyVersionFromRow, policyVersionToRow, toEpoch } from './rows.js';
import type { Database } from './tables.js';

/** Runs a query, translating driver errors into the port's error codes (see sql-store.ts). */
export type Guard = <T>(subject: string, op: () => Promise<T>) => Promise<T>;

/** The policy versions and the decision log over one SQL database. */
export function createPolicyRepositories(
  db: Kysely<Database>,
  guard: Guard,
): { policies: PolicyRepository; decisions: DecisionLogRepository } {
  const policies: PolicyRepository = {
    append: (record) =>
      guard('a policy version with this number', async () => {
        await db.insertInto('policy_versions').values(policyVersionToRow(record)).execute();
      }),
    current: () =>
      guard('policy version', async () => {
        const row = await db
          .selectFrom('policy_versions')
          .selectAll()
          .orderBy('version', 'desc')
          .limit(1)
          .executeTakeFirst();
        return row === undefined ? undefined : policyVersionFromRow(row);
      }),
    get: (version) =>
      guard('policy version', async () => {
        const row = await db
          .selectFrom('policy_versions')
          .selectAll()
          .where('version', '=', version)
          .executeTakeFirst();
        return row === undefined ? undefined : policyVersionFromRow(row);
      }),
    list: (beforeVersion, limit) =>
      guard('policy version', async () => {
        let query = db
          .selectFrom('policy_versions')
          .select(['version', 'created_by', 'created_at', 'digest'])
          .orderBy('version', 'desc')
          .limit(limit);
        if (beforeVersion !== null) query = query.where('version', '<', beforeVersion);
        return (await query.execute()).map((row) => ({
          version: toEpoch(row.version),
          createdBy: row.created_by,
          createdAt: toEpoch(row.created_at),
          digest: row.digest,
        }));
      }),
  };

  const decisions: DecisionLogRepository = {
    append: (records) =>
      guard('a decision with this id', async () => {
        if (records.length === 0) return;
        await db.insertInto('policy_decisions').values(records.map(decisionToRow)).execute();
      }),
    query: (q) =>
      guard('decision', async () => {
        let query = db
          .selectFrom('policy_decisions')
          .selectAll()
          .orderBy('at', 'desc')
          .orderBy('id', 'desc')
          .limit(q.limit);
        if (q.decision !== undefined) query = query.where('decision', '=', q.decision);
        if (q.principal !== undefined) query = query.where('principal', '=', q.principal);
        if (q.from !== undefined) query = query.where('at', '>=', q.from);
        if (q.to !== undefined) query = query.where('at', '<', q.to);
        const after = q.after;
        if (after !== undefined) {
          // Keyset pagination: strictly older than the last row of the previous page.
          query = query.where((eb) =>
            eb.or([eb('at', '<', after.at), eb.and([eb('at', '=', after.at), eb('id', '<', after.id)])]),
          );
        }
        return (await query.execute()).map(decisionFromRow);
      }),
  };

  return { policies, decisions };
}
