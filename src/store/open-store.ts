import { ConfigError } from '../core/errors.js';
import { PostgresStore } from './postgres/postgres-store.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import type { Store, StoreOptions } from './store.js';

/**
 * Open the store that `storage.url` names: `sqlite:PATH` (the embedded default) or
 * `postgres://user@host:port/database`.
 */
export async function openStore(url: string, options: StoreOptions = {}): Promise<Store> {
  if (url.startsWith('sqlite:')) {
    const path = url.slice('sqlite:'.length).replace(/^\/\/(?=\/)/, '');
    if (path === '')
      throw new ConfigError(
        'storage.url',
        'sqlite: needs a file path, as in sqlite:./data/hookq.db',
      );
    return SqliteStore.open(path, options);
  }
  if (url.startsWith('postgres://') || url.startsWith('postgresql://')) {
    return PostgresStore.open(url, options);
  }
  throw new ConfigError(
    'storage.url',
    `storage.url: unsupported storage "${url.split(':')[0]}"; use sqlite:PATH or postgres://user@host:5432/database`,
  );
}
