import pg from 'pg';
import {
  ConfigError,
  HookqError,
  SchemaVersionError,
  StorageUnavailableError,
} from '../../core/errors.js';
import { PG_LATEST_VERSION, PG_MIGRATIONS } from './migrations.js';

/** Where a PostgreSQL store lives: the connection settings and hookq's schema in it. */
export interface PgLocation {
  /** The URL without hookq's own parameters, for the driver. */
  connectionString: string;
  schema: string;
  /** The URL with any password masked, for messages. */
  display: string;
}

const SCHEMA_NAME = /^[a-z_][a-z0-9_]{0,47}$/;

/**
 * `postgres://user@host:5432/db?schema=hookq`: the schema (default `hookq`) holds
 * hookq's tables, so hookq can share a database with other applications.
 */
export function parsePgUrl(url: string): PgLocation {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(
      'storage.url',
      `storage.url: "${mask(url)}" is not a valid postgres:// URL`,
    );
  }
  const schema = parsed.searchParams.get('schema') ?? 'hookq';
  if (!SCHEMA_NAME.test(schema)) {
    throw new ConfigError(
      'storage.url',
      `storage.url: schema "${schema}" must be lower-case letters, digits and _ (at most 48), starting with a letter or _`,
    );
  }
  parsed.searchParams.delete('schema');
  const display = new URL(parsed.toString());
  if (display.password) display.password = '***';
  return {
    connectionString: parsed.toString(),
    schema,
    display: display.toString(),
  };
}

function mask(url: string): string {
  return url.replace(/\/\/([^:/@]*):[^@/]*@/, '//$1:***@');
}

/**
 * BIGINT columns hold millisecond times and sequences, all below 2^53: read them as
 * numbers rather than the driver's default strings.
 */
export const PG_TYPES = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === pg.types.builtins.INT8) return (value: string) => Number(value);
    return pg.types.getTypeParser(oid, format);
  },
};

export function clientConfig(location: PgLocation): pg.ClientConfig {
  return {
    connectionString: location.connectionString,
    // Every connection works inside hookq's schema.
    options: `-c search_path=${location.schema}`,
    application_name: 'hookq',
    connectionTimeoutMillis: 5_000,
    types: PG_TYPES,
  };
}

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

/** SQLSTATE classes and codes that mean "the database cannot serve us right now". */
const UNAVAILABLE = /^(08|53|57P0|58|25006|3D000)/;
const RETRYABLE = new Set(['40001', '40P01']);

export function isRetryable(error: unknown): boolean {
  return RETRYABLE.has(String((error as { code?: unknown })?.code));
}

/**
 * Whether the connection the error came from should be thrown away: the server ended
 * it, or the driver lost it. hookq's own errors and ordinary SQL errors leave it usable.
 */
export function isConnectionLost(error: unknown): boolean {
  if (error instanceof HookqError) return false;
  if (error instanceof pg.DatabaseError) return /^(08|57P0)/.test(error.code ?? '');
  return true;
}

/** Map driver errors to hookq's: a database that is down, full or read-only is "unavailable". */
export function translatePgError(error: unknown, location: PgLocation): Error {
  if (error instanceof HookqError) return error;
  const code = String((error as { code?: unknown })?.code ?? '');
  const message = error instanceof Error ? error.message : String(error);
  if (
    UNAVAILABLE.test(code) ||
    /^E[A-Z]+$/.test(code) ||
    /Connection terminated|timeout exceeded|connect/i.test(message)
  ) {
    return new StorageUnavailableError(`${location.display}: ${message}`, {
      cause: error,
    });
  }
  return error instanceof Error ? error : new Error(message);
}
