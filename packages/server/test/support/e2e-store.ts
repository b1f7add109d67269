import { join } from 'node:path';
import type { Store } from '@gatehouse/core';
import { createEmbeddedStore, createPostgresStore } from '../../src/storage/index.js';

/**
 * Opens, from the test, the store a Gatehouse process under test writes to: its PostgreSQL
 * schema, or the SQLite file in its data directory. For checks behind the API (audit chain,
 * no secret at rest); the caller closes it.
 */
export function storeBehind(storage: Record<string, unknown> | undefined, dataDir: string): Store {
  const store = storage?.store as { kind?: string; url?: string; schema?: string } | undefined;
  if (store?.kind === 'postgres' && store.url) {
    return createPostgresStore({
      url: store.url,
      ...(store.schema !== undefined && { schema: store.schema }),
    });
  }
  return createEmbeddedStore({ path: join(dataDir, 'gatehouse.db') });
}
