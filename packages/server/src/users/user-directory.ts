import {
  type Bus,
  type Clock,
  epochSeconds,
  GatehouseError,
  RandomIds,
  type Store,
  type UserPatch,
  type UserRecord,
} from '@gatehouse/core';
import type { AuditLog } from '../audit/audit-log.js';
import type { PasswordHasher } from './password-hasher.js';
import {
  type ImportFormat,
  type ImportUser,
  type ImportUsersResult,
  importUserSchema,
  importUsers,
  parseUserImport,
  type RowError,
} from './user-import.js';
import { notFoundError } from '../storage/errors.js';

/** What the directory needs from the session machinery. */
export interface SessionEnder {
  endAllFor(
    sub: string,
    reason: 'password_changed' | 'user_disabled' | 'user_deleted',
    actor: string,
  ): Promise<number>;
}

/** Published when what a user may do changes (roles, groups, attributes, disabled). */
export const PERMISSIONS_CHANGED_TOPIC = 'permissions.changed';

/** A user as the admin API and CLI show them: never the password hash. */
export interface UserView {
  id: string;
  username: string;
  disabled: boolean;
  roles: string[];
  groups: string[];
  attributes: Record<string, string | number | boolean>;
  has_password: boolean;
  created_at: number;
  updated_at: number;
  password_changed_at: number | null;
}

export function userView(user: UserRecord): UserView {
  return {
    id: user.id,
    username: user.username,
    disabled: user.disabled,
    roles: user.roles,
    groups: user.groups,
    attributes: user.attributes,
    has_password: user.passwordHash !== null,
    created_at: user.createdAt,
    updated_at: user.updatedAt,
    password_changed_at: user.passwordChangedAt,
  };
}

/** Case-folded username: `Alice` and `alice` are one account. */
export function usernameKey(username: string): string {
  return username.normalize('NFKC').toLowerCase();
}

/** The outcome of a bulk import: parse problems and refused rows, each by row number. */
export interface UserImportReport extends ImportUsersResult {
  errors: RowError[];
  errorsOmitted: number;
  /** Rows not imported (each counted once, however many errors it had). */
  refused: number;
}

/**
 * The user directory: the one place users are created and changed, whichever door (admin API,
 * CLI, import) a change comes through. Passwords are checked against the policy and hashed with
 * argon2id here; every change is audited; permission changes are announced on the bus.
 */
export class UserDirectory {
  readonly #store: Store;
  readonly #hasher: PasswordHasher;
  readonly #clock: Clock;
  readonly #audit: AuditLog;
  readonly #bus: Bus;
  readonly #sessions: SessionEnder | undefined;
  readonly #ids = new RandomIds();

  constructor(deps: {
    store: Store;
    hasher: PasswordHasher;
    clock: Clock;
    audit: AuditLog;
    bus: Bus;
    /** Ends a user's sessions when their password changes or they are disabled or deleted. */
    sessions?: SessionEnder;
  }) {
    this.#store = deps.store;
    this.#hasher = deps.hasher;
    this.#clock = deps.clock;
    this.#audit = deps.audit;
    this.#bus = deps.bus;
    this.#sessions = deps.sessions;
  }

  /**
   * Checks a login. Undefined for an unknown user, a wrong password, a user without a password
   * and a disabled user alike, after the same argon2 work, so neither answer nor timing tells
   * which. A hash made with older parameters is replaced on success.
   */
  async authenticate(username: string, password: string): Promise<UserRecord | undefined> {
    // biome-ignore lint/suspicious/noControlCharactersInRegex: finding control characters is the point
    const plausible = username.length <= 256 && !/[\u0000-\u001f\u007f]/.test(username);
    const user = plausible ? await this.getByUsername(username) : undefined;
    const ok = user?.passwordHash
      ? await this.#hasher.verify(user.passwordHash, password)
      : await this.#hasher.verifyDummy(password);
    if (!ok || !user || user.disabled) return undefined;
    if (user.passwordHash && this.#hasher.needsRehash(user.passwordHash)) {
      const passwordHash = await this.#hasher.hash(password).catch(() => undefined);
      if (passwordHash) await this.#store.users.update(user.id, { passwordHash });
    }
    return user;
  }

  get(id: string): Promise<UserRecord | undefined> {
    return this.#store.users.get(id);
  }

  /** Finds a user by login name (case-insensitive). */
  getByUsername(username: string): Promise<UserRecord | undefined> {
    return this.#store.users.getByUsernameKey(usernameKey(username));
  }

  list(afterId: string | null, limit: number): Promise<UserRecord[]> {
    return this.#store.users.list(afterId, limit);
  }

  /** Creates a user; input is validated as an import row is (`ERR_REQUEST_INVALID` naming the field). */
  async create(input: unknown, actor: string): Promise<UserRecord> {
    const parsed = importUserSchema.safeParse(input);
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new GatehouseError(
        'ERR_REQUEST_INVALID',
        `${issue?.path.join('.') || 'user'}: ${issue?.message ?? 'invalid'}`,
        {
          status: 400,
        },
      );
    }
    return this.#insert(parsed.data, actor);
  }

  async #insert(user: ImportUser, actor: string): Promise<UserRecord> {
    const now = epochSeconds(this.#clock);
    const passwordHash =
      user.password !== undefined ? await this.#hasher.hash(user.password) : (user.password_hash ?? null);
    const record: UserRecord = {
      id: `usr_${this.#ids.next(12)}`,
      username: user.username,
      usernameKey: usernameKey(user.username),
      passwordHash,
      disabled: user.disabled,
      roles: user.roles,
      groups: user.groups,
      attributes: user.attributes,
      createdAt: now,
      updatedAt: now,
      passwordChangedAt: passwordHash === null ? null : now,
    };
    await this.#store.users.create(record);
    await this.#audit.record({
      actor,
      action: 'user.created',
      target: record.id,
      details: { roles: record.roles },
    });
    return record;
  }

  /** Changes roles, groups or attributes; announced as a permissions change. */
  async update(
    id: string,
    patch: Pick<UserPatch, 'roles' | 'groups' | 'attributes'>,
    actor: string,
  ): Promise<UserRecord> {
    const user = await this.#change(id, patch, actor, 'user.updated', { fields: Object.keys(patch) });
    await this.#announce(user.id);
    return user;
  }

  /** Sets a new password after the policy check; every session of the user ends. */
  async setPassword(id: string, password: string, actor: string): Promise<UserRecord> {
    const passwordHash = await this.#hasher.hash(password);
    const user = await this.#change(
      id,
      { passwordHash, passwordChangedAt: epochSeconds(this.#clock) },
      actor,
      'user.password_changed',
    );
    await this.#sessions?.endAllFor(id, 'password_changed', actor);
    return user;
  }

  /** Disables or enables login; a disabled user's sessions end (announced). */
  async setDisabled(id: string, disabled: boolean, actor: string): Promise<UserRecord> {
    const user = await this.#change(id, { disabled }, actor, disabled ? 'user.disabled' : 'user.enabled');
    if (disabled) await this.#sessions?.endAllFor(id, 'user_disabled', actor);
    await this.#announce(user.id);
    return user;
  }

  async delete(id: string, actor: string): Promise<void> {
    if (!(await this.#store.users.delete(id))) throw notFoundError(`user "${id}"`);
    await this.#audit.record({ actor, action: 'user.deleted', target: id });
    await this.#sessions?.endAllFor(id, 'user_deleted', actor);
    await this.#announce(id);
  }

  /**
   * Imports users from JSON, JSON Lines or CSV text. Bad rows are reported by row and skipped;
   * the rest are created. `onProgress` is called every 100 rows and at the end.
   */
  async import(
    text: string,
    format: ImportFormat,
    actor: string,
    onProgress?: (done: number, total: number) => void,
  ): Promise<UserImportReport> {
    const parsed = parseUserImport(text, format);
    const result = await importUsers(
      parsed.rows,
      async (row) => {
        const { row: _row, ...user } = row;
        await this.#insert(user, actor);
      },
      onProgress ? { onProgress } : {},
    );
    await this.#audit.record({
      actor,
      action: 'users.imported',
      target: null,
      details: { imported: result.imported, refused: parsed.rowCount - result.imported },
    });
    return {
      ...result,
      errors: parsed.errors,
      errorsOmitted: parsed.errorsOmitted,
      refused: parsed.rowCount - result.imported,
    };
  }

  async #change(
    id: string,
    patch: UserPatch,
    actor: string,
    action: string,
    details: Record<string, unknown> = {},
  ): Promise<UserRecord> {
    const user = await this.#store.users.update(id, { ...patch, updatedAt: epochSeconds(this.#clock) });
    if (!user) throw notFoundError(`user "${id}"`);
    await this.#audit.record({ actor, action, target: id, details });
    return user;
  }

  async #announce(sub: string): Promise<void> {
    // The bus is an accelerator: other instances also re-read users from the store.
    await this.#bus.publish(PERMISSIONS_CHANGED_TOPIC, { sub }).catch(() => undefined);
  }
}
