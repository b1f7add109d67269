import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { pino } from 'pino';
import { RouteSource } from '../../src/gateway/routing/route-source.js';
import { sleep } from '../support/servers.js';

const dir = mkdtempSync(join(tmpdir(), 'gatehouse-routes-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const route = (id: string, path: string) =>
  `  - id: ${id}\n    match: { path: ${path} }\n    authenticate: [jwt]\n    upstream: { service: ${id}, targets: ['http://127.0.0.1:9'] }\n`;

test('a routes file is watched: a change applies, a bad file keeps the old routes and says why', async () => {
  const file = join(dir, 'routes.yaml');
  writeFileSync(file, `routes:\n${route('orders', '/orders')}`);
  const lines: { msg: string; reason?: string }[] = [];
  const logger = pino({ level: 'info' }, { write: (line: string) => lines.push(JSON.parse(line)) });
  const outcomes: string[] = [];
  const source = new RouteSource({ inline: [], file, logger, onReload: (o) => outcomes.push(o) });
  source.watch();
  try {
    assert.equal(source.table.match('GET', undefined, '/orders/1')?.config.id, 'orders');

    writeFileSync(file, `routes:\n${route('orders', '/orders')}${route('payments', '/payments')}`);
    for (let i = 0; i < 40 && outcomes.length < 1; i++) await sleep(100);
    assert.deepEqual(outcomes, ['applied']);
    assert.equal(source.table.match('GET', undefined, '/payments')?.config.id, 'payments');

    writeFileSync(file, `routes:\n  - id: broken\n    match: { path: '/a/../b' }\n`);
    for (let i = 0; i < 40 && outcomes.length < 2; i++) await sleep(100);
    assert.deepEqual(outcomes, ['applied', 'rejected']);
    assert.equal(source.table.match('GET', undefined, '/payments')?.config.id, 'payments', 'old routes kept');
    const warning = lines.find((l) => l.msg.startsWith('gateway routes file rejected'));
    assert.match(String(warning?.reason), /^routes\[0\]\./, 'the log names the bad key');
  } finally {
    source.stop();
  }
});

test('a bad routes file at start fails the start with the dotted path', () => {
  const file = join(dir, 'bad.yaml');
  writeFileSync(
    file,
    `routes:\n  - id: x\n    match: { path: /x }\n    authenticate: [magic]\n    upstream: { service: x, targets: ['http://127.0.0.1:9'] }\n`,
  );
  assert.throws(
    () => new RouteSource({ inline: [], file, logger: pino({ level: 'silent' }) }),
    /routes\[0\]\.authenticate/,
  );
});
