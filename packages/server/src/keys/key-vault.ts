import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { createCipheriv, createDecipheriv, createPrivateKey, type KeyObject, randomBytes } from 'node:crypto';
import { GatehouseError } from '@gatehouse/core';

const SEAL_VERSION = 'v1';

/** Where the key-encryption key comes from. */
export type KekSource = { source: 'env'; env: string } | { source: 'file'; path: string };

/**
 * Seals private keys at rest with AES-256-GCM under a key-encryption key (KEK). The key id is
 * bound as additional authenticated data, so a sealed key cannot be swapped onto another kid.
 */
export class KeyVault {
  readonly #kek: Buffer;

  constructor(kek: Buffer) {
    if (kek.length !== 32) {
      throw new GatehouseError('ERR_KEY_INVALID', 'the key-encryption key must be exactly 32 bytes');
    }
    this.#kek = kek;
  }

  /** Seals a private key; returns `v1.<iv>.<ciphertext>.<tag>` in base64url. */
  seal(kid: string, privateKey: KeyObject): string {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', this.#kek, iv);
    cipher.setAAD(Buffer.from(kid, 'utf8'));
    const der = privateKey.export({ format: 'der', type: 'pkcs8' });
    const body = Buffer.concat([cipher.update(der), cipher.final()]);
    der.fill(0);
    return [SEAL_VERSION, iv, body, cipher.getAuthTag()]
      .map((p) => (typeof p === 'string' ? p : p.toString('base64url')))
      .join('.');
  }

  /** Opens a sealed private key; throws `ERR_KEY_DECRYPT_FAILED` on a wrong KEK or tampering. */
  open(kid: string, sealed: string): KeyObject {
    const [version, iv, body, tag] = sealed.split('.');
    if (version !== SEAL_VERSION || !iv || !body || !tag) {
      throw new GatehouseError('ERR_KEY_DECRYPT_FAILED', `sealed key ${kid} has an unknown format`);
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#kek, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(kid, 'utf8'));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      const der = Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]);
      const key = createPrivateKey({ key: der, format: 'der', type: 'pkcs8' });
      der.fill(0);
      return key;
    } catch (cause) {
      throw new GatehouseError(
        'ERR_KEY_DECRYPT_FAILED',
        `cannot open sealed key ${kid}: wrong key-encryption key or altered data`,
        { cause },
      );
    }
  }
}

/** Parses 32 bytes given as base64, base64url or hex. */
export function parseKek(text: string, where: string): Buffer {
  const trimmed = text.trim();
  const bytes = /^[0-9a-fA-F]{64}$/.test(trimmed)
    ? Buffer.from(trimmed, 'hex')
    : Buffer.from(trimmed, 'base64url');
  if (bytes.length !== 32) {
    throw new GatehouseError(
      'ERR_KEY_INVALID',
      `${where}: expected a 32-byte key as 64 hex or 43 base64url characters`,
    );
  }
  return bytes;
}

/**
 * Loads the KEK. With no explicit source the embedded default keeps one in `defaultFile`,
 * creating it with mode 0600 on first start; `created` tells the caller to warn.
 */
export function loadKek(
  source: KekSource | undefined,
  defaultFile: string,
  env: NodeJS.ProcessEnv = process.env,
): { kek: Buffer; created: boolean; where: string; looseFileMode: boolean } {
  if (source?.source === 'env') {
    const value = env[source.env];
    if (!value)
      throw new GatehouseError(
        'ERR_KEY_INVALID',
        `environment variable ${source.env} (keys.kek.env) is not set`,
      );
    return {
      kek: parseKek(value, source.env),
      created: false,
      where: `env ${source.env}`,
      looseFileMode: false,
    };
  }
  const path = source?.path ?? defaultFile;
  if (existsSync(path)) {
    const looseFileMode = (statSync(path).mode & 0o077) !== 0;
    return { kek: parseKek(readFileSync(path, 'utf8'), path), created: false, where: path, looseFileMode };
  }
  if (source)
    throw new GatehouseError(
      'ERR_KEY_INVALID',
      `key-encryption key file ${path} (keys.kek.path) does not exist`,
    );
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const kek = randomBytes(32);
  writeFileSync(path, `${kek.toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
  chmodSync(path, 0o600);
  return { kek, created: true, where: path, looseFileMode: false };
}
