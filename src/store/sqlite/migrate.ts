import type Database from 'better-sqlite3';
import { CorruptDatabaseError, SchemaVersionError } from '../../core/errors.js';
import { dedupKey } from './dedup-key.js';
import { LATEST_VERSION, MIGRATIONS } from './migrations.js';

/** Refuse, before any write, a file that is not a hookq database or is from a newer hookq. */
export function checkBeforeWriting(db: Database.Database, location: string): void {
  const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as Array<{
    name: string;
  }>;
  const names = new Set(tables.map((table) => table.name));
  if (!names.has('hookq_migrations')) {
    if (names.size > 0) {
      throw new CorruptDatabaseError(
        location,
        `it holds other tables (${[...names].slice(0, 3).join(', ')}) and no hookq schema`,
      );
    }
    return;
  }
  const row = db.prepare('SELECT max(version) AS v FROM hookq_migrations').get() as {
    v: number | null;
  };
  const found = row.v ?? 0;
  if (found > LATEST_VERSION) throw new SchemaVersionError(location, found, LATEST_VERSION);
}

/**
 * Apply pending migrations up to `version` (the latest unless told), one exclusive
 * transaction each. The version is read again inside the lock, so two processes opening
 * one new file do not both migrate it.
 */
export function migrate(db: Database.Database, version = LATEST_VERSION): void {
  // What migrations compute that SQL cannot.
  db.function('hookq_dedup_key', { deterministic: true }, (id) => dedupKey(String(id)));
  db.exec(
    'CREATE TABLE IF NOT EXISTS hookq_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
  );
  for (const migration of MIGRATIONS.filter((m) => m.version <= version)) {
    db.transaction(() => {
      const applied = db
        .prepare('SELECT 1 FROM hookq_migrations WHERE version = ?')
        .get(migration.version);
      if (applied) return;
      db.exec(migration.sql);
      db.prepare('INSERT INTO hookq_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
        migration.version,
        migration.name,
        Date.now(),
      );
    }).exclusive();
  }
}
