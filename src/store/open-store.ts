import { type StorageLocation, storageLocationOf } from './location.js';
import { PostgresStore } from './postgres/postgres-store.js';
import { SqliteStore } from './sqlite/sqlite-store.js';
import type { Store, StoreOptions } from './store.js';

/**
 * Open the store at a location: the one `storage.url` named, or such a URL (for callers
 * outside a configuration file, such as the benchmark).
 */
export async function openStore(
  where: StorageLocation | string,
  options: StoreOptions = {},
): Promise<Store> {
  const location = typeof where === 'string' ? storageLocationOf(where) : where;
  return location.kind === 'sqlite'
    ? SqliteStore.open(location.path, options)
    : PostgresStore.open(location, options);
}
