/** `gatehouse policy test DIR`: YAML cases against a policy directory. */
import assert from 'node:assert/strict';
import { cpSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { main } from '../../src/cli/main.js';

const examples = new URL('../../../../examples/policies/', import.meta.url).pathname;
const dir = mkdtempSync(join(tmpdir(), 'gatehouse-policy-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

async function run(...args: string[]) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(args, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { code, out, err: err.join('\n') };
}

test('the example policies pass their own test cases; each case and a summary are printed', async () => {
  const { code, out } = await run('policy', 'test', examples);
  assert.equal(code, 0, out.join('\n'));
  assert.equal(out.at(-1), '16 passed, 0 failed');
  assert.ok(
    out.includes(
      'ok   least-privilege.test.yaml: deny above a risk score, even for an admin (deny by deny-high-risk)',
    ),
    out.join('\n'),
  );
});

test("the demo shop's policies pass their cases (a bulk order is denied by no-bulk-orders)", async () => {
  const shop = new URL('../../../../examples/shop/policies/', import.meta.url).pathname;
  const { code, out } = await run('policy', 'test', shop);
  assert.equal(code, 0, out.join('\n'));
  assert.equal(out.at(-1), '3 passed, 0 failed');
  assert.ok(out.some((l) => l.includes('(deny by no-bulk-orders)')));
});

test('a failing case makes the run fail and says what was expected', async () => {
  const copy = join(dir, 'failing');
  cpSync(examples, copy, { recursive: true });
  writeFileSync(
    join(copy, 'wrong.test.yaml'),
    `cases:
  - name: a reader may not delete
    request:
      subject: { type: user, id: rita, properties: { roles: [reader] } }
      action: { name: delete }
      resource: { type: Document, id: d1 }
    expect: allow
  - name: an unknown action is an error, not a pass
    request:
      subject: { type: user, id: rita }
      action: { name: fly }
      resource: { type: Document, id: d1 }
    expect: deny
`,
  );
  const { code, out } = await run('policy', 'test', copy);
  assert.equal(code, 1);
  assert.equal(out.at(-1), '16 passed, 2 failed');
  assert.ok(
    out.some((l) =>
      /^FAIL wrong\.test\.yaml: a reader may not delete \(deny by .*\) — expected allow, got deny$/.test(l),
    ),
  );
  assert.ok(
    out.some(
      (l) => l.startsWith('FAIL wrong.test.yaml: an unknown action is an error') && l.includes('"fly"'),
    ),
  );
});

test('a malformed test file or an invalid policy is reported with its code and exits non-zero', async () => {
  const bad = join(dir, 'bad');
  cpSync(examples, bad, { recursive: true });
  writeFileSync(join(bad, 'broken.test.yaml'), 'cases:\n  - name: no request\n    expect: maybe\n');
  const malformed = await run('policy', 'test', bad);
  assert.equal(malformed.code, 1);
  assert.match(malformed.err, /^error ERR_POLICY_TEST_INVALID: broken\.test\.yaml: cases\.0\./);

  const invalid = join(dir, 'invalid');
  cpSync(examples, invalid, { recursive: true });
  writeFileSync(
    join(invalid, 'typo.cedar'),
    'permit (principal, action, resource) when { context.risc > 1 };',
  );
  const rejected = await run('policy', 'test', invalid);
  assert.equal(rejected.code, 1);
  assert.match(rejected.err, /^error ERR_POLICY_INVALID: typo\.cedar: .*attribute `risc`/);

  const missing = await run('policy', 'test', join(dir, 'nowhere'));
  assert.equal(missing.code, 1);
  assert.match(missing.err, /ERR_POLICY_INVALID: policy directory .* cannot be read/);
});
