import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { z } from 'zod';
import { evaluationSchema, translateEvaluation } from './authzen.js';
import { describedSubjects } from './described-subjects.js';
import { policyError } from './policy-errors.js';
import { PolicyEngine } from './policy-engine.js';
import { compilePolicySources } from './policy-set.js';
import { readPolicyDir } from './policy-dir.js';
import { NetworkZones } from './request-context.js';

/**
 * `gatehouse policy test DIR`: YAML test cases (request → expected decision) run against the
 * policies of DIR, so policy authors can gate their changes in CI. Test files are the
 * `*.test.yaml` files in DIR. Users and clients are described by the case (no store), see
 * described-subjects.ts.
 */

const testFileSchema = z
  .object({
    networks: z.record(z.string(), z.array(z.string())).default({}),
    cases: z
      .array(
        z
          .object({
            name: z.string().min(1),
            request: evaluationSchema,
            expect: z.enum(['allow', 'deny']),
            /** When given, the determining policies must be exactly these (any order). */
            policies: z.array(z.string()).optional(),
          })
          .strict(),
      )
      .min(1),
  })
  .strict();

/** One case's outcome. */
export interface CaseResult {
  file: string;
  name: string;
  passed: boolean;
  expected: 'allow' | 'deny';
  /** What the policies said, or `error`. */
  actual: 'allow' | 'deny' | 'error';
  policies: string[];
  /** Why it failed, when it did. */
  detail?: string;
}

/**
 * Runs every `*.test.yaml` case in DIR against DIR's policies.
 *
 * @throws GatehouseError `ERR_POLICY_INVALID` / `ERR_POLICY_SCHEMA_INVALID` when the policies
 *   do not validate, `ERR_POLICY_TEST_INVALID` when a test file is malformed or missing.
 */
export async function runPolicyTests(dir: string): Promise<CaseResult[]> {
  const set = compilePolicySources(readPolicyDir(dir));
  const engine = new PolicyEngine();
  engine.load(1, set);
  const files = readdirSync(dir)
    .filter((n) => n.endsWith('.test.yaml'))
    .sort();
  if (files.length === 0) throw policyError('ERR_POLICY_TEST_INVALID', `${dir} holds no *.test.yaml file`);
  const results: CaseResult[] = [];
  for (const file of files) {
    let parsed: z.output<typeof testFileSchema>;
    try {
      parsed = testFileSchema.parse(parse(readFileSync(join(dir, file), 'utf8')));
    } catch (error) {
      const detail =
        error instanceof z.ZodError
          ? error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')
          : (error as Error).message;
      throw policyError('ERR_POLICY_TEST_INVALID', `${file}: ${detail}`, error);
    }
    const zones = new NetworkZones(parsed.networks);
    for (const c of parsed.cases) {
      const base = { file, name: c.name, expected: c.expect };
      try {
        const translated = await translateEvaluation(c.request, {
          set,
          resolve: describedSubjects,
          zones,
          nowMs: Date.now(),
        });
        if (!translated) throw new Error('unknown subject');
        const d = engine.evaluate(translated.request);
        const policiesMatch =
          c.policies === undefined || [...c.policies].sort().join(',') === [...d.policies].sort().join(',');
        const passed = d.decision === c.expect && policiesMatch;
        results.push({
          ...base,
          passed,
          actual: d.decision,
          policies: d.policies,
          ...(!passed && {
            detail: policiesMatch
              ? `expected ${c.expect}, got ${d.decision}`
              : `expected policies [${c.policies?.join(', ')}], got [${d.policies.join(', ')}]`,
          }),
        });
      } catch (error) {
        results.push({
          ...base,
          passed: false,
          actual: 'error',
          policies: [],
          detail: (error as Error).message,
        });
      }
    }
  }
  return results;
}
