import { GatehouseError } from '@gatehouse/core';
import { z } from 'zod';
import { checkPasswordPolicy, parsePhc } from './password-hasher.js';

/** Largest import accepted, in UTF-8 bytes (50 MiB). */
export const IMPORT_MAX_BYTES = 50 * 1024 * 1024;
/** Most data rows accepted in one import. */
export const IMPORT_MAX_ROWS = 1_000_000;
/** Most row errors kept in a result; later ones are only counted. */
export const IMPORT_MAX_ERRORS = 10_000;

const MAX_LIST_ITEMS = 256;
const MAX_ATTRIBUTES = 64;
const MAX_ATTRIBUTE_VALUE_LENGTH = 1024;
const MAX_MESSAGE_LENGTH = 500;

/** One user as an import file describes it, after validation. */
export interface ImportUser {
  /** 1–128 characters of `[A-Za-z0-9._@+-]`, case kept; unique case-insensitively. */
  username: string;
  /** A new password that passed {@link checkPasswordPolicy}; the sink hashes it. */
  password?: string;
  /** An existing argon2id PHC string, for migrations. Never given together with `password`. */
  password_hash?: string;
  roles: string[];
  groups: string[];
  attributes: Record<string, string | number | boolean>;
  disabled: boolean;
}

/** A valid user with the 1-based data row it came from. */
export interface ValidImportRow extends ImportUser {
  row: number;
}

/**
 * A problem with one row. `row` is the 1-based data row (the CSV header and blank lines are not
 * counted); `field` is the column or dotted path, or `(row)` for the row as a whole. Messages
 * never quote values, so no password ends up in them.
 */
export interface RowError {
  row: number;
  field: string;
  message: string;
}

/** What {@link parseUserImport} found. */
export interface ParsedUserImport {
  rows: ValidImportRow[];
  /** The first {@link IMPORT_MAX_ERRORS} errors, in row order. */
  errors: RowError[];
  /** Errors beyond the first {@link IMPORT_MAX_ERRORS}, counted but not kept. */
  errorsOmitted: number;
  /** Data rows read, good and bad (a row may have several errors). */
  rowCount: number;
}

export type ImportFormat = 'json' | 'csv' | 'auto';

const USERNAME_RE = /^[A-Za-z0-9._@+-]{1,128}$/;
// Roles and groups: no whitespace, and no `;` or `,` so that every name survives a CSV cell.
const NAME_RE = /^[^\s;,\p{Cc}]{1,128}$/u;
// Starting with a letter keeps out `__proto__` and friends, and names stay usable as claims.
const ATTRIBUTE_NAME_RE = /^[A-Za-z][A-Za-z0-9_.:-]{0,63}$/;

const required = (what: string) => (issue: { input: unknown }) =>
  issue.input === undefined ? 'required' : `must be ${what}`;

const nameList = z
  .array(
    z
      .string({ error: required('a string') })
      .regex(NAME_RE, 'must be 1–128 characters without spaces, ; or ,'),
    {
      error: required('an array of strings'),
    },
  )
  .max(MAX_LIST_ITEMS, `at most ${MAX_LIST_ITEMS} entries`)
  // Repeats are harmless; keep the first of each.
  .transform((names) => [...new Set(names)])
  .default([]);

/**
 * The schema every row passes, whatever the file format. Strict: an unknown field is an error,
 * not something silently dropped.
 */
export const importUserSchema = z.strictObject(
  {
    username: z
      .string({ error: required('a string') })
      .regex(USERNAME_RE, 'must be 1–128 characters of A–Z, a–z, 0–9 and . _ @ + -'),
    password: z
      .string({ error: required('a string') })
      .superRefine((password, ctx) => {
        const policy = checkPasswordPolicy(password);
        if (!policy.ok) ctx.addIssue({ code: 'custom', message: policy.reason });
      })
      .optional(),
    password_hash: z
      .string({ error: required('a string') })
      .refine(
        (phc) => parsePhc(phc)?.algorithm === 'argon2id',
        'must be an argon2id PHC string ($argon2id$v=19$m=…,t=…,p=…$salt$hash)',
      )
      .optional(),
    roles: nameList,
    groups: nameList,
    attributes: z
      .record(
        z
          .string()
          .regex(
            ATTRIBUTE_NAME_RE,
            'names are 1–64 characters of A–Z a–z 0–9 _ . : -, starting with a letter',
          ),
        z.union([z.string().max(MAX_ATTRIBUTE_VALUE_LENGTH), z.number(), z.boolean()], {
          error: `must be a string (at most ${MAX_ATTRIBUTE_VALUE_LENGTH} characters), number or boolean`,
        }),
        { error: required('an object') },
      )
      .refine(
        (attributes) => Object.keys(attributes).length <= MAX_ATTRIBUTES,
        `at most ${MAX_ATTRIBUTES} attributes`,
      )
      .default({}),
    disabled: z.boolean({ error: required('true or false') }).default(false),
  },
  { error: (issue) => (issue.code === 'invalid_type' ? 'must be an object' : undefined) },
);

/** Keeps the first {@link IMPORT_MAX_ERRORS} errors and counts the rest. */
class ErrorList {
  readonly kept: RowError[] = [];
  omitted = 0;

  add(row: number, field: string, message: string): void {
    if (this.kept.length < IMPORT_MAX_ERRORS) {
      this.kept.push({ row, field, message: message.slice(0, MAX_MESSAGE_LENGTH) });
    } else this.omitted++;
  }
}

/** Validates one row and tracks usernames across rows. */
class RowValidator {
  readonly rows: ValidImportRow[] = [];
  readonly errors = new ErrorList();
  // lower-cased username → first row that used it
  readonly #seen = new Map<string, number>();
  #count = 0;

  constructor(readonly fieldName: (path: string) => string = (path) => path) {}

  /** Reserves the next row number; throws once the file has too many rows. */
  nextRow(): number {
    if (++this.#count > IMPORT_MAX_ROWS) this.tooManyRows();
    return this.#count;
  }

  tooManyRows(): never {
    throw new GatehouseError('ERR_IMPORT_TOO_LARGE', `the import has more than ${IMPORT_MAX_ROWS} rows`, {
      status: 413,
    });
  }

  add(row: number, raw: unknown, preErrors: readonly { field: string; message: string }[] = []): void {
    let failed = preErrors.length > 0;
    for (const e of preErrors) this.errors.add(row, e.field, e.message);
    const result = importUserSchema.safeParse(raw);
    if (!result.success) {
      failed = true;
      for (const issue of result.error.issues) {
        if (issue.code === 'unrecognized_keys') {
          for (const key of issue.keys) this.errors.add(row, key.slice(0, 64), 'unknown field');
        } else {
          const path = issue.path.map(String).join('.');
          this.errors.add(row, path === '' ? '(row)' : this.fieldName(path), issueMessage(issue));
        }
      }
    }
    if (isRecord(raw)) {
      if (raw.password !== undefined && raw.password_hash !== undefined) {
        failed = true;
        this.errors.add(row, 'password_hash', 'give either password or password_hash, not both');
      }
      // zod drops a `__proto__` record key without a word; say so instead.
      if (isRecord(raw.attributes) && Object.hasOwn(raw.attributes, '__proto__')) {
        failed = true;
        this.errors.add(row, this.fieldName('attributes.__proto__'), 'reserved attribute name');
      }
      // Any row with a usable username claims it, so a later row with the same name is reported
      // even when the earlier one had other errors: the file is ambiguous either way.
      if (typeof raw.username === 'string' && USERNAME_RE.test(raw.username)) {
        const key = raw.username.toLowerCase();
        const first = this.#seen.get(key);
        if (first === undefined) this.#seen.set(key, row);
        else {
          failed = true;
          this.errors.add(
            row,
            'username',
            `duplicate of row ${first} (usernames compare case-insensitively)`,
          );
        }
      }
    }
    if (!failed && result.success) this.rows.push({ row, ...result.data });
  }

  result(): ParsedUserImport {
    return {
      rows: this.rows,
      errors: this.errors.kept,
      errorsOmitted: this.errors.omitted,
      rowCount: this.#count,
    };
  }
}

function issueMessage(issue: z.core.$ZodIssue): string {
  if (issue.code === 'invalid_key') return 'invalid attribute name: ' + (issue.issues[0]?.message ?? '');
  return issue.message;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function invalid(message: string): GatehouseError {
  return new GatehouseError('ERR_IMPORT_INVALID', message, { status: 400 });
}

/**
 * Parses and validates a bulk user import.
 *
 * - JSON: an array of objects, or JSON Lines (one object per line; blank lines skipped).
 * - CSV (RFC 4180): a header row, then one user per record. Columns `username`, `password`,
 *   `password_hash`, `roles` and `groups` (`;`-separated), `disabled` (`true`/`false`/`1`/`0`/
 *   `yes`/`no`, empty = false) and `attr.<name>` (a string attribute; empty = absent). An empty
 *   `password` or `password_hash` cell means none.
 * - `auto`: JSON when the first non-blank character is `[` or `{`, CSV otherwise.
 *
 * Every row is checked; problems are collected per row and the row is left out of `rows`.
 *
 * @throws {GatehouseError} `ERR_IMPORT_TOO_LARGE` (413) over {@link IMPORT_MAX_BYTES} or
 * {@link IMPORT_MAX_ROWS}; `ERR_IMPORT_INVALID` (400) when the file as a whole cannot be read.
 * @example
 * ```ts
 * const { rows, errors } = parseUserImport('username,roles,attr.dept\nada,admin;ops,R&D\n', 'auto');
 * // rows: [{ row: 1, username: 'ada', roles: ['admin', 'ops'], groups: [],
 * //          attributes: { dept: 'R&D' }, disabled: false }], errors: []
 * ```
 */
export function parseUserImport(text: string, format: ImportFormat): ParsedUserImport {
  // UTF-8 never takes fewer bytes than UTF-16 code units, so the cheap check can come first.
  if (text.length > IMPORT_MAX_BYTES || Buffer.byteLength(text, 'utf8') > IMPORT_MAX_BYTES) {
    throw new GatehouseError('ERR_IMPORT_TOO_LARGE', `the import is larger than ${IMPORT_MAX_BYTES} bytes`, {
      status: 413,
    });
  }
  const body = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
  const first = /\S/.exec(body)?.[0];
  if (first === undefined) throw invalid('the import is empty');
  const kind = format === 'auto' ? (first === '[' || first === '{' ? 'json' : 'csv') : format;
  if (kind === 'csv') return parseCsvImport(body);
  if (kind === 'json') return first === '[' ? parseJsonArray(body) : parseJsonLines(body);
  throw invalid(`unknown format ${JSON.stringify(String(format).slice(0, 20))}`);
}

function parseJsonArray(text: string): ParsedUserImport {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    // V8's message quotes the text around the error, which may be someone's password.
    throw invalid('the import is not valid JSON');
  }
  if (!Array.isArray(data)) throw invalid('a JSON import must be an array of objects or JSON Lines');
  const validator = new RowValidator();
  // Refused before validating anything; nextRow would only notice at the end.
  if (data.length > IMPORT_MAX_ROWS) validator.tooManyRows();
  for (const item of data) validator.add(validator.nextRow(), item);
  return validator.result();
}

function parseJsonLines(text: string): ParsedUserImport {
  const validator = new RowValidator();
  // Walked with indexOf rather than split: a file of blank lines would otherwise be millions of
  // strings at once.
  for (let start = 0; start < text.length; ) {
    let end = text.indexOf('\n', start);
    if (end === -1) end = text.length;
    const line = text.slice(start, end).trim();
    start = end + 1;
    if (line === '') continue;
    const row = validator.nextRow();
    let item: unknown;
    try {
      item = JSON.parse(line);
    } catch {
      validator.errors.add(row, '(row)', 'not valid JSON');
      continue;
    }
    validator.add(row, item);
  }
  return validator.result();
}

const CSV_COLUMNS = new Set(['username', 'password', 'password_hash', 'roles', 'groups', 'disabled']);
const ATTR_PREFIX = 'attr.';
const TRUE_WORDS = new Set(['true', '1', 'yes']);
const FALSE_WORDS = new Set(['false', '0', 'no', '']);

function parseCsvImport(text: string): ParsedUserImport {
  const records = csvRecords(text);
  const header = records.next();
  if (header.done) throw invalid('the CSV import has no header row');
  if (header.value.error !== undefined)
    throw invalid(`the CSV header row is malformed: ${header.value.error}`);
  const columns = header.value.fields.map((name) => name.trim());
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const name of columns) {
    if (seen.has(name)) problems.push(`column ${JSON.stringify(name)} appears twice`);
    seen.add(name);
    const known = CSV_COLUMNS.has(name) || (name.startsWith(ATTR_PREFIX) && name.length > ATTR_PREFIX.length);
    if (!known) problems.push(`unknown column ${JSON.stringify(name.slice(0, 64))}`);
  }
  if (!seen.has('username')) problems.push('no username column');
  if (problems.length > 0) {
    throw invalid(
      `the CSV header is not usable: ${problems.slice(0, 10).join('; ')} (columns: ${[...CSV_COLUMNS].join(', ')}, attr.<name>)`,
    );
  }

  // Errors about attributes name the CSV column the user wrote.
  const validator = new RowValidator((path) =>
    path.startsWith('attributes.') ? ATTR_PREFIX + path.slice('attributes.'.length) : path,
  );
  for (const record of records) {
    // A blank line is one empty field; RFC 4180 has none, but files end with them often.
    if (record.fields.length === 1 && record.fields[0] === '' && record.error === undefined) continue;
    const row = validator.nextRow();
    const preErrors: { field: string; message: string }[] = [];
    if (record.error !== undefined) preErrors.push({ field: '(row)', message: record.error });
    if (record.fields.length !== columns.length) {
      preErrors.push({
        field: '(row)',
        message: `has ${record.fields.length} fields, the header has ${columns.length}`,
      });
    }
    const raw: Record<string, unknown> = {};
    const attributes: Record<string, string> = {};
    columns.forEach((column, index) => {
      const cell = record.fields[index] ?? '';
      if (column.startsWith(ATTR_PREFIX)) {
        if (cell !== '') attributes[column.slice(ATTR_PREFIX.length)] = cell;
      } else if (column === 'roles' || column === 'groups') {
        raw[column] = cell
          .split(';')
          .map((name) => name.trim())
          .filter((name) => name !== '');
      } else if (column === 'disabled') {
        const word = cell.trim().toLowerCase();
        if (TRUE_WORDS.has(word)) raw.disabled = true;
        else if (FALSE_WORDS.has(word)) raw.disabled = false;
        else preErrors.push({ field: 'disabled', message: 'must be true, false, 1, 0, yes, no or empty' });
      } else if (column === 'username' || cell !== '') {
        raw[column] = cell;
      }
    });
    raw.attributes = attributes;
    validator.add(row, raw, preErrors);
  }
  return validator.result();
}

interface CsvRecord {
  fields: string[];
  /** Why the record breaks RFC 4180; parsing goes on from the next line ending. */
  error?: string;
}

const QUOTE = 0x22;
const COMMA = 0x2c;
const CR = 0x0d;
const LF = 0x0a;

function fieldEnd(text: string, from: number): number {
  let i = from;
  for (; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === COMMA || c === CR || c === LF) break;
  }
  return i;
}

/**
 * RFC 4180 records: fields split by `,`, records by CRLF (LF or a lone CR too); a field in double
 * quotes may hold commas, line breaks and `""` for a quote. A stray quote or an unterminated
 * quoted field marks the record instead of stopping the parse.
 */
function* csvRecords(text: string): Generator<CsvRecord, void, undefined> {
  const n = text.length;
  let i = 0;
  while (i < n) {
    const fields: string[] = [];
    let error: string | undefined;
    for (;;) {
      let value: string;
      if (text.charCodeAt(i) === QUOTE) {
        let start = ++i;
        let closed = false;
        value = '';
        while (i < n) {
          const q = text.indexOf('"', i);
          if (q === -1) break;
          if (text.charCodeAt(q + 1) === QUOTE) {
            value += text.slice(start, q + 1);
            i = start = q + 2;
            continue;
          }
          value += text.slice(start, q);
          i = q + 1;
          closed = true;
          break;
        }
        if (!closed) {
          value += text.slice(start);
          i = n;
          error ??= 'a quoted field is not closed';
        } else if (i < n && fieldEnd(text, i) !== i) {
          error ??= 'text after the closing quote of a field';
          const end = fieldEnd(text, i);
          value += text.slice(i, end);
          i = end;
        }
      } else {
        const end = fieldEnd(text, i);
        value = text.slice(i, end);
        if (value.includes('"'))
          error ??= 'a quote inside an unquoted field (quote the field, double the quote)';
        i = end;
      }
      fields.push(value);
      if (i >= n) break;
      const c = text.charCodeAt(i++);
      if (c === COMMA) continue;
      if (c === CR && text.charCodeAt(i) === LF) i++;
      break;
    }
    yield error === undefined ? { fields } : { fields, error };
  }
}

/** Options of {@link importUsers}. */
export interface ImportUsersOptions {
  /** Called after every 100th row and once at the end (also for an empty import). */
  onProgress?: (done: number, total: number) => void;
  /** Rows handed to the sink at once; default 4. */
  concurrency?: number;
}

/** What {@link importUsers} did. */
export interface ImportUsersResult {
  imported: number;
  /** Rows the sink refused, by row, at most {@link IMPORT_MAX_ERRORS}. */
  failed: RowError[];
  /** Refused rows beyond the first {@link IMPORT_MAX_ERRORS}. */
  failedOmitted: number;
}

const PROGRESS_EVERY = 100;

/**
 * Hands each valid row to `sink` with bounded concurrency. A sink rejection becomes a row error
 * (its message) and the import goes on. An exception from `onProgress` stops the import and
 * rejects.
 *
 * @example
 * ```ts
 * const { rows } = parseUserImport(text, 'auto');
 * const result = await importUsers(rows, (row) => users.create(row), {
 *   onProgress: (done, total) => log.info({ done, total }, 'user import'),
 * });
 * ```
 */
export async function importUsers(
  rows: readonly ValidImportRow[],
  sink: (row: ValidImportRow) => Promise<void>,
  options: ImportUsersOptions = {},
): Promise<ImportUsersResult> {
  const concurrency = options.concurrency ?? 4;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new RangeError('importUsers: concurrency must be a positive integer');
  }
  const total = rows.length;
  const failed = new ErrorList();
  let next = 0;
  let done = 0;
  let imported = 0;
  let stopped = false;

  const worker = async () => {
    while (!stopped && next < total) {
      const row = rows[next++];
      if (row === undefined) break;
      try {
        await sink(row);
        imported++;
      } catch (error) {
        failed.add(row.row, '(row)', error instanceof Error ? error.message : String(error));
      }
      done++;
      if (done % PROGRESS_EVERY === 0 && done !== total) report();
    }
  };
  const report = () => {
    try {
      options.onProgress?.(done, total);
    } catch (error) {
      stopped = true;
      throw error;
    }
  };

  await Promise.all(Array.from({ length: Math.min(concurrency, total) }, worker));
  report();
  // Rows finish out of order when several are in flight.
  failed.kept.sort((a, b) => a.row - b.row);
  return { imported, failed: failed.kept, failedOmitted: failed.omitted };
}
