import { randomBytes } from 'node:crypto';
import { after } from 'node:test';
import pg from 'pg';

/** The PostgreSQL server tests use: $HOOKQ_TEST_PG_URL, or the local one. */
export const PG_URL = process.env.HOOKQ_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/**
 * PG_URL, or another server's URL, with these parameters (hookq's `schema`, say) added to
 * the query it may have.
 */
export function pgUrlWith(params: Record<string, string>, base = PG_URL): string {
  const url = new URL(base);
  for (const [name, value] of Object.entries(params)) url.searchParams.set(name, value);
  return url.toString();
}

/**
 * Whether PostgreSQL answers. With CI set, an unreachable database is a failure, never
 * a reason to skip: the suite must not pass without having run.
 */
export async function requirePostgres(): Promise<boolean> {
  const client = new pg.Client({
    connectionString: PG_URL,
    connectionTimeoutMillis: 3_000,
  });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return true;
  } catch (error) {
    if (process.env.CI) {
      throw new Error(
        `PostgreSQL at ${PG_URL} is unreachable and CI is set: ${(error as Error).message}`,
      );
    }
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Schemas for a test file: each call names a new one, and all of them are dropped when
 * the file's tests end, so that tests never share state. Call it at the file's top level.
 */
export function freshSchemas(): () => string {
  const schemas: string[] = [];
  after(async () => {
    if (schemas.length === 0) return;
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    } finally {
      await client.end();
    }
  });
  return () => {
    const schema = `hookq_test_${randomBytes(6).toString('hex')}`;
    schemas.push(schema);
    return schema;
  };
}
