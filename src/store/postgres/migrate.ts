import type pg from 'pg';
import { SchemaVersionError } from '../../core/errors.js';
import type { PgLocation } from '../location.js';
import { PG_LATEST_VERSION, PG_MIGRATIONS } from './migrations.js';

/**
 * Bring the schema up to date: each migration in one transaction under an advisory
 * lock, so that instances starting together migrate once. A schema written by a newer
 * hookq is refused before anything is changed.
 */
export async function migratePg(pool: pg.Pool, location: PgLocation): Promise<void> {
  const client = await pool.connect();
  // A dropped connection is also an 'error' event on the checked-out client; the failed
  // query reports it, so the event itself must not end the process.
  const ignore = () => undefined;
  client.on('error', ignore);
  try {
    const current = await schemaVersion(client, location.schema);
    if (current > PG_LATEST_VERSION) {
      throw new SchemaVersionError(
        `${location.display} (schema ${location.schema})`,
        current,
        PG_LATEST_VERSION,
      );
    }
    for (const migration of PG_MIGRATIONS) {
      if (migration.version <= current) continue;
      await client.query('BEGIN');
      try {
        await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [
          `hookq-migrate:${location.schema}`,
        ]);
        await client.query(`CREATE SCHEMA IF NOT EXISTS ${location.schema}`);
        await client.query(
          'CREATE TABLE IF NOT EXISTS hookq_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)',
        );
        // Read again under the lock: another instance may have applied it meanwhile.
        const applied = await client.query('SELECT 1 FROM hookq_migrations WHERE version = $1', [
          migration.version,
        ]);
        if (applied.rowCount === 0) {
          await client.query(migration.sql);
          await client.query(
            'INSERT INTO hookq_migrations (version, name, applied_at) VALUES ($1, $2, $3)',
            [migration.version, migration.name, Date.now()],
          );
        }
        await client.query('COMMIT');
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
    }
  } finally {
    client.removeListener('error', ignore);
    client.release();
  }
}

async function schemaVersion(client: pg.PoolClient, schema: string): Promise<number> {
  const table = await client.query<{ exists: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'hookq_migrations') AS exists`,
    [schema],
  );
  if (!table.rows[0]?.exists) return 0;
  const result = await client.query<{ v: number | null }>(
    `SELECT max(version) AS v FROM ${schema}.hookq_migrations`,
  );
  return result.rows[0]?.v ?? 0;
}
