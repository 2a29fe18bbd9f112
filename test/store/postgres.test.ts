import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, describe, it } from 'node:test';
import pg from 'pg';
import { ConfigError, SchemaVersionError, StorageUnavailableError } from '../../src/core/errors.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import { PG_URL, requirePostgres } from '../helpers/postgres.js';
import { runStoreContract } from './contract.js';

const available = await requirePostgres();
const schemas: string[] = [];

runStoreContract(
  'postgres',
  {
    async create(options) {
      // A schema per test: tests never share state.
      const schema = `hookq_test_${randomBytes(6).toString('hex')}`;
      schemas.push(schema);
      return PostgresStore.open(`${PG_URL}?schema=${schema}`, options);
    },
  },
  available ? false : `PostgreSQL is not reachable at ${PG_URL}`,
);

after(async () => {
  if (!available) return;
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  for (const schema of schemas) await client.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  await client.end();
});

describe('postgres: opening', {
  skip: available ? false : `PostgreSQL is not reachable at ${PG_URL}`,
}, () => {
  async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  }

  function freshSchema(): string {
    const schema = `hookq_test_${randomBytes(6).toString('hex')}`;
    schemas.push(schema);
    return schema;
  }

  it('migrates once when several instances open a new schema at the same moment', async () => {
    const schema = freshSchema();
    const stores = await Promise.all(
      Array.from({ length: 5 }, () => PostgresStore.open(`${PG_URL}?schema=${schema}`)),
    );
    for (const store of stores) await store.close();
    const ledger = await admin((c) => c.query(`SELECT version FROM ${schema}.hookq_migrations`));
    assert.deepEqual(
      ledger.rows.map((row) => row.version),
      [1],
    );
  });

  it('refuses a schema written by a newer hookq, naming it and changing nothing', async () => {
    const schema = freshSchema();
    await (await PostgresStore.open(`${PG_URL}?schema=${schema}`)).close();
    await admin((c) =>
      c.query(
        `INSERT INTO ${schema}.hookq_migrations (version, name, applied_at) VALUES (999, 'future', 0)`,
      ),
    );
    const tables = () =>
      admin((c) =>
        c.query(
          `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`,
          [schema],
        ),
      );
    const before = (await tables()).rows;
    await assert.rejects(
      PostgresStore.open(`${PG_URL}?schema=${schema}`),
      (error: Error) =>
        error instanceof SchemaVersionError &&
        error.message.includes(schema) &&
        /999/.test(error.message),
    );
    assert.deepEqual((await tables()).rows, before);
  });

  it('says clearly when the database cannot be reached', async () => {
    await assert.rejects(
      PostgresStore.open('postgres://postgres@127.0.0.1:1/test?schema=hookq_unreachable'),
      (error: Error) =>
        error instanceof StorageUnavailableError && /127\.0\.0\.1:1/.test(error.message),
    );
  });

  it('refuses a schema name it would have to quote', async () => {
    await assert.rejects(PostgresStore.open(`${PG_URL}?schema=Bad-Name`), ConfigError);
  });

  it('keeps the password out of its messages', async () => {
    const store = await PostgresStore.open(
      `${PG_URL.replace('postgres@', 'postgres:s3cret@')}?schema=${freshSchema()}`,
    );
    try {
      assert.ok(!store.capabilities.location.includes('s3cret'));
    } finally {
      await store.close();
    }
  });
});
