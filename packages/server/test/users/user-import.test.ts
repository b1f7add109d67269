import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { describe, test } from 'node:test';
import { GatehouseError } from '@gatehouse/core';
import { PasswordHasher } from '../../src/users/password-hasher.js';
import {
  IMPORT_MAX_BYTES,
  IMPORT_MAX_ERRORS,
  IMPORT_MAX_ROWS,
  importUsers,
  parseUserImport,
  type RowError,
  type ValidImportRow,
} from '../../src/users/user-import.js';

const cheap = new PasswordHasher({ memoryCost: 64, timeCost: 1, parallelism: 1 });

/** The errors as `row:field` pairs, for compact assertions. */
const where = (errors: readonly RowError[]) => errors.map((e) => `${e.row}:${e.field}`);

const user = (username: string, extra: Partial<ValidImportRow> = {}) => ({
  username,
  roles: [],
  groups: [],
  attributes: {},
  disabled: false,
  ...extra,
});

describe('parseUserImport: CSV', () => {
  test('quoted fields with commas, doubled quotes, embedded line breaks, CRLF and LF', () => {
    const csv =
      'username,password,attr.note\r\n' +
      'ada,"pass,word ""quoted""","line one\r\nline two"\r\n' +
      'bob,,"a\nb"\n' +
      'carol,"plain password",\r\n';
    const { rows, errors } = parseUserImport(csv, 'csv');
    assert.deepEqual(errors, []);
    assert.deepEqual(rows, [
      {
        row: 1,
        ...user('ada', { password: 'pass,word "quoted"', attributes: { note: 'line one\r\nline two' } }),
      },
      { row: 2, ...user('bob', { attributes: { note: 'a\nb' } }) },
      { row: 3, ...user('carol', { password: 'plain password' }) },
    ]);
  });

  test('`;` lists for roles and groups, attr.<name> columns, disabled words, BOM and trailing blank lines', () => {
    const csv =
      '\ufeffusername,roles,groups,disabled,attr.department,attr.employee_id\n' +
      'Ada.Lovelace@example.com,admin; auditor;;admin,eng;ops,yes,R&D,1042\n' +
      'bob,,,FALSE,,\n' +
      'carol,viewer,,1,"Sales, EMEA",\n' +
      '\n\n';
    const { rows, errors } = parseUserImport(csv, 'auto');
    assert.deepEqual(errors, []);
    assert.deepEqual(rows, [
      {
        row: 1,
        ...user('Ada.Lovelace@example.com', {
          roles: ['admin', 'auditor'],
          groups: ['eng', 'ops'],
          disabled: true,
          attributes: { department: 'R&D', employee_id: '1042' },
        }),
      },
      { row: 2, ...user('bob') },
      {
        row: 3,
        ...user('carol', { roles: ['viewer'], disabled: true, attributes: { department: 'Sales, EMEA' } }),
      },
    ]);
  });

  test('a row with a stray quote or the wrong field count is an error; later rows still parse', () => {
    const csv = 'username,roles\n"ada"x,admin\nbob,a"b\ncarol\ndave,a,b\nerin,admin\n';
    const { rows, errors } = parseUserImport(csv, 'csv');
    assert.deepEqual(where(errors), ['1:(row)', '2:(row)', '3:(row)', '4:(row)']);
    assert.match(errors[0]?.message ?? '', /closing quote/);
    assert.match(errors[1]?.message ?? '', /quote inside an unquoted field/);
    assert.equal(errors[2]?.message, 'has 1 fields, the header has 2');
    assert.deepEqual(
      rows.map((r) => [r.row, r.username]),
      [[5, 'erin']],
    );
  });

  test('an unclosed quote marks its row', () => {
    const { rows, errors } = parseUserImport(
      'username,password\nada,"never closed\nbob,secret password\n',
      'csv',
    );
    assert.deepEqual(rows, []);
    assert.deepEqual(errors, [{ row: 1, field: '(row)', message: 'a quoted field is not closed' }]);
  });

  test('header problems stop the whole import with ERR_IMPORT_INVALID', () => {
    const cases: [string, RegExp][] = [
      ['user,roles\nada,admin\n', /unknown column "user".*no username column/],
      ['username,username\nada,ada\n', /appears twice/],
      ['username,attr.\nada,x\n', /unknown column "attr\."/],
      ['"username\nada\n', /header row is malformed/],
      [' \n\t', /empty/],
    ];
    for (const [csv, message] of cases) {
      assert.throws(
        () => parseUserImport(csv, 'csv'),
        (error: unknown) =>
          error instanceof GatehouseError &&
          error.code === 'ERR_IMPORT_INVALID' &&
          error.status === 400 &&
          message.test(error.message),
        csv,
      );
    }
  });

  test('a header-only file has no rows', () => {
    assert.deepEqual(parseUserImport('username,password\r\n', 'csv'), {
      rows: [],
      errors: [],
      errorsOmitted: 0,
      rowCount: 0,
    });
  });

  test('attribute errors name the CSV column; a bad disabled word names its field', () => {
    const { errors } = parseUserImport(`username,attr.note,disabled\nada,${'x'.repeat(1025)},maybe\n`, 'csv');
    assert.deepEqual(where(errors), ['1:disabled', '1:attr.note']);
  });
});

describe('parseUserImport: JSON', () => {
  test('an array of objects keeps types of attribute values', async () => {
    const hash = await cheap.hash('migrated password');
    const json = JSON.stringify([
      {
        username: 'ada',
        password: 'correct horse',
        roles: ['admin'],
        attributes: { level: 3, vip: true, team: 'x' },
      },
      { username: 'bob', password_hash: hash, groups: ['ops'], disabled: true },
    ]);
    const { rows, errors } = parseUserImport(json, 'json');
    assert.deepEqual(errors, []);
    assert.deepEqual(rows, [
      {
        row: 1,
        ...user('ada', {
          password: 'correct horse',
          roles: ['admin'],
          attributes: { level: 3, vip: true, team: 'x' },
        }),
      },
      { row: 2, ...user('bob', { password_hash: hash, groups: ['ops'], disabled: true }) },
    ]);
  });

  test('JSON Lines: one object per line, blank lines skipped, a bad line is that row’s error', () => {
    const jsonl = '{"username":"ada"}\r\n\n{"username":"bob", "password": "broken\n{"username":"carol"}\n';
    const { rows, errors } = parseUserImport(jsonl, 'auto');
    assert.deepEqual(
      rows.map((r) => [r.row, r.username]),
      [
        [1, 'ada'],
        [3, 'carol'],
      ],
    );
    assert.deepEqual(errors, [{ row: 2, field: '(row)', message: 'not valid JSON' }]);
  });

  test('JSON that cannot be read as a whole is ERR_IMPORT_INVALID and never quotes the text', () => {
    for (const text of [
      '[{"username":"ada","password":"hunter2-secret"',
      '[{"password":"hunter2-secret"}] trailing',
    ]) {
      assert.throws(
        () => parseUserImport(text, 'json'),
        (error: unknown) =>
          error instanceof GatehouseError &&
          error.code === 'ERR_IMPORT_INVALID' &&
          !error.message.includes('hunter2'),
      );
    }
  });

  test('per-row errors carry the row number and field name, and the import goes on', () => {
    const json = JSON.stringify([
      { username: 'good-1' },
      { username: 'bad name!' },
      { password: 'no username here' },
      { username: 'both', password: 'correct horse', password_hash: '$argon2id$v=19$m=64,t=1,p=1$x$y' },
      { username: 'badhash', password_hash: '$2b$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy' },
      { username: 'GOOD-1' },
      { username: 'x'.repeat(129) },
      { username: '' },
      { username: 'weak', password: 'short' },
      { username: 'extra', admin: true },
      { username: 'roles', roles: ['ok', 'has space', 7], attributes: { 'bad key': 1, nested: { a: 1 } } },
      'not an object',
      { username: 'good-2', roles: ['a', 'a'] },
    ]);
    const { rows, errors, errorsOmitted } = parseUserImport(json, 'json');
    assert.deepEqual(
      rows.map((r) => [r.row, r.username, r.roles]),
      [
        [1, 'good-1', []],
        [13, 'good-2', ['a']],
      ],
    );
    assert.equal(errorsOmitted, 0);
    assert.deepEqual(where(errors), [
      '2:username',
      '3:username',
      '4:password_hash',
      '4:password_hash',
      '5:password_hash',
      '6:username',
      '7:username',
      '8:username',
      '9:password',
      '10:admin',
      '11:roles.1',
      '11:roles.2',
      '11:attributes.bad key',
      '11:attributes.nested',
      '12:(row)',
    ]);
    const byWhere = new Map(errors.map((e) => [`${e.row}:${e.field}`, e.message]));
    assert.equal(byWhere.get('3:username'), 'required');
    assert.equal(byWhere.get('6:username'), 'duplicate of row 1 (usernames compare case-insensitively)');
    assert.equal(byWhere.get('9:password'), 'must be at least 8 characters');
    assert.equal(byWhere.get('10:admin'), 'unknown field');
    assert.equal(byWhere.get('12:(row)'), 'must be an object');
    assert.ok(errors.some((e) => e.row === 4 && /either password or password_hash/.test(e.message)));
    assert.ok(errors.some((e) => e.row === 5 && /argon2id PHC/.test(e.message)));
    // No message repeats a submitted password.
    assert.ok(errors.every((e) => !e.message.includes('short') && !e.message.includes('correct horse')));
  });

  test('a duplicate is reported on the later row even when the first row had other errors', () => {
    const { rows, errors } = parseUserImport(
      '{"username":"Ada","password":"short"}\n{"username":"aDA"}\n{"username":"ada"}\n',
      'json',
    );
    assert.deepEqual(rows, []);
    assert.deepEqual(where(errors), ['1:password', '2:username', '3:username']);
    assert.match(errors[2]?.message ?? '', /row 1/);
  });

  test('an attribute named __proto__ is refused, not silently dropped', () => {
    const { rows, errors } = parseUserImport(
      '[{"username":"ada","attributes":{"__proto__":{"admin":true}}}]',
      'json',
    );
    assert.deepEqual(rows, []);
    assert.deepEqual(where(errors), ['1:attributes.__proto__']);
    assert.equal(({} as Record<string, unknown>).admin, undefined);
  });
});

describe('parseUserImport: limits', () => {
  test('over 50 MiB is ERR_IMPORT_TOO_LARGE, counted in UTF-8 bytes', () => {
    const tooLarge = (text: string) =>
      assert.throws(
        () => parseUserImport(text, 'auto'),
        (error: unknown) =>
          error instanceof GatehouseError && error.code === 'ERR_IMPORT_TOO_LARGE' && error.status === 413,
      );
    tooLarge('a'.repeat(IMPORT_MAX_BYTES + 1));
    // Fewer UTF-16 units than the limit, more bytes (3 each).
    const euros = '€'.repeat(Math.floor(IMPORT_MAX_BYTES / 3) + 1);
    assert.ok(euros.length < IMPORT_MAX_BYTES);
    tooLarge(`username\n${euros}`);
  });

  test('over 1,000,000 rows is ERR_IMPORT_TOO_LARGE', () => {
    assert.throws(() => parseUserImport(`username\n${'a\n'.repeat(IMPORT_MAX_ROWS + 1)}`, 'csv'), {
      code: 'ERR_IMPORT_TOO_LARGE',
      message: /more than 1000000 rows/,
    });
    assert.throws(() => parseUserImport(`[${'0,'.repeat(IMPORT_MAX_ROWS)}0]`, 'json'), {
      code: 'ERR_IMPORT_TOO_LARGE',
    });
  });

  test('keeps the first 10,000 errors and counts the rest', () => {
    const extra = 37;
    const csv = `username\n${'bad name\n'.repeat(IMPORT_MAX_ERRORS + extra)}`;
    const { rows, errors, errorsOmitted } = parseUserImport(csv, 'csv');
    assert.equal(rows.length, 0);
    assert.equal(errors.length, IMPORT_MAX_ERRORS);
    assert.equal(errorsOmitted, extra);
    assert.equal(errors.at(-1)?.row, IMPORT_MAX_ERRORS);
  });
});

describe('importUsers', () => {
  const rowsOf = (count: number): ValidImportRow[] =>
    Array.from({ length: count }, (_, i) => ({ row: i + 1, ...user(`user${i + 1}`) }));

  test('turns sink rejections into row errors and keeps going', async () => {
    const seen: number[] = [];
    const result = await importUsers(rowsOf(10), async (row) => {
      seen.push(row.row);
      if (row.row === 3) throw new GatehouseError('ERR_STORE_CONFLICT', 'a user with this name exists');
      if (row.row === 7) throw 'not an Error';
    });
    assert.deepEqual(
      seen.sort((a, b) => a - b),
      [1, 2, 3, 4, 5, 6, 7, 8, 9, 10],
    );
    assert.deepEqual(result, {
      imported: 8,
      failed: [
        { row: 3, field: '(row)', message: 'a user with this name exists' },
        { row: 7, field: '(row)', message: 'not an Error' },
      ],
      failedOmitted: 0,
    });
  });

  test('reports progress every 100 rows and once at the end', async () => {
    const calls: [number, number][] = [];
    const onProgress = (done: number, total: number) => calls.push([done, total]);
    await importUsers(rowsOf(250), async () => {}, { onProgress });
    assert.deepEqual(calls, [
      [100, 250],
      [200, 250],
      [250, 250],
    ]);

    calls.length = 0;
    await importUsers(rowsOf(200), async () => {}, { onProgress });
    assert.deepEqual(calls, [
      [100, 200],
      [200, 200],
    ]);

    calls.length = 0;
    assert.deepEqual(await importUsers([], async () => {}, { onProgress }), {
      imported: 0,
      failed: [],
      failedOmitted: 0,
    });
    assert.deepEqual(calls, [[0, 0]]);
  });

  test('never has more than `concurrency` rows in flight (default 4)', async () => {
    for (const [concurrency, expected] of [
      [undefined, 4],
      [1, 1],
      [3, 3],
      [50, 20],
    ] as const) {
      let inFlight = 0;
      let max = 0;
      const result = await importUsers(
        rowsOf(20),
        async (row) => {
          inFlight++;
          max = Math.max(max, inFlight);
          await sleep(row.row % 3);
          inFlight--;
          if (row.row % 5 === 0) throw new Error('refused');
        },
        concurrency === undefined ? {} : { concurrency },
      );
      // Equal, not just at most: the pool must also actually run rows side by side.
      assert.equal(max, expected, `concurrency ${concurrency}`);
      assert.equal(result.imported, 16);
      assert.deepEqual(
        result.failed.map((f) => f.row),
        [5, 10, 15, 20],
      );
    }
  });

  test('refuses a concurrency that is not a positive integer', async () => {
    for (const concurrency of [0, -1, 1.5, Number.NaN]) {
      await assert.rejects(
        importUsers(rowsOf(1), async () => {}, { concurrency }),
        RangeError,
      );
    }
  });

  test('an exception from onProgress stops the import', async () => {
    let calls = 0;
    await assert.rejects(
      importUsers(
        rowsOf(1000),
        async () => {
          calls++;
        },
        {
          concurrency: 1,
          onProgress: () => {
            throw new Error('client went away');
          },
        },
      ),
      /client went away/,
    );
    assert.equal(calls, 100);
  });

  test('parsed rows feed straight into importUsers', async () => {
    const { rows } = parseUserImport('username,roles\nada,admin\nbob,\n', 'csv');
    const stored: string[] = [];
    const result = await importUsers(rows, async (row) => {
      stored.push(row.username);
    });
    assert.deepEqual(stored.sort(), ['ada', 'bob']);
    assert.equal(result.imported, 2);
  });
});
