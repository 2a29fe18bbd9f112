import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import pg from 'pg';
import { ConfigError, SchemaVersionError, StorageUnavailableError } from '../../src/core/errors.js';
import type { MessageState } from '../../src/core/terms.js';
import { PG_MIGRATIONS } from '../../src/store/postgres/migrations.js';
import { PostgresStore } from '../../src/store/postgres/postgres-store.js';
import type { EnqueueResult, Store } from '../../src/store/store.js';
import { waitUntil } from '../helpers/async.js';
import { freshSchemas, PG_URL, pgUrlWith, requirePostgres } from '../helpers/postgres.js';
import { claim, message, ok, runStoreContract } from './contract.js';

const available = await requirePostgres();
const freshSchema = freshSchemas();

const schemaOf = new Map<Store, string>();

runStoreContract(
  'postgres',
  {
    async create(options) {
      const schema = freshSchema();
      const store = await PostgresStore.open(pgUrlWith({ schema }), options);
      schemaOf.set(store, schema);
      return store;
    },
    async injectStaleGroup(store, route, group, headId) {
      const client = new pg.Client({ connectionString: PG_URL });
      await client.connect();
      try {
        await client.query(
          `INSERT INTO ${schemaOf.get(store)}.groups (route, group_id, head_pk, status, due_at)
           SELECT $1, $2, pk, 'ready', 0 FROM ${schemaOf.get(store)}.messages WHERE id = $3`,
          [route, group, headId],
        );
      } finally {
        await client.end();
      }
    },
  },
  available ? false : `PostgreSQL is not reachable at ${PG_URL}`,
);

/** Work on a connection of its own, outside any store. */
async function admin<T>(work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: PG_URL });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

describe('postgres: opening', {
  skip: available ? false : `PostgreSQL is not reachable at ${PG_URL}`,
}, () => {
  it('migrates once when several instances open a new schema at the same moment', async () => {
    const schema = freshSchema();
    const stores = await Promise.all(
      Array.from({ length: 5 }, () => PostgresStore.open(pgUrlWith({ schema }))),
    );
    for (const store of stores) await store.close();
    const ledger = await admin((c) => c.query(`SELECT version FROM ${schema}.hookq_migrations`));
    assert.deepEqual(
      ledger.rows.map((row) => row.version),
      PG_MIGRATIONS.map((migration) => migration.version),
    );
  });

  it('refuses a schema written by a newer hookq, naming it and changing nothing', async () => {
    const schema = freshSchema();
    await (await PostgresStore.open(pgUrlWith({ schema }))).close();
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
      PostgresStore.open(pgUrlWith({ schema })),
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
    await assert.rejects(PostgresStore.open(pgUrlWith({ schema: 'Bad-Name' })), ConfigError);
  });

  it("connects over the server's Unix socket, given as the host or as ?host=", async (t) => {
    const directory = await admin(async (c) => {
      const { rows } = await c.query<{ d: string }>(
        "SELECT current_setting('unix_socket_directories') AS d",
      );
      return rows[0]!.d.split(',')[0]!.trim();
    });
    // As with an unreachable server, CI must not pass without having run this.
    if (directory === '' && !process.env.CI) return t.skip('the server listens on no Unix socket');
    assert.notEqual(directory, '', 'the server listens on no Unix socket');
    const url = new URL(PG_URL);
    const database = url.pathname;
    for (const socketUrl of [
      `postgres://${url.username}@${encodeURIComponent(directory)}:${url.port || 5432}${database}`,
      pgUrlWith(
        { host: directory },
        `postgres://${url.username}@localhost:${url.port || 5432}${database}`,
      ),
    ]) {
      const schema = freshSchema();
      const store = await PostgresStore.open(pgUrlWith({ schema }, socketUrl));
      try {
        await store.enqueue(message('r', 'g', 'over the socket'));
        assert.equal((await store.claimDue(claim('r'))).length, 1, socketUrl);
        // The connection that waits for other instances' notifications: from a Unix
        // socket, PostgreSQL knows no client address and gives the port as -1.
        const { rows } = await admin((c) =>
          c.query<{ client_port: number }>(
            `SELECT client_port FROM pg_stat_activity WHERE application_name = 'hookq' AND query = $1`,
            [`LISTEN "hookq_work_${schema}"`],
          ),
        );
        assert.deepEqual(rows, [{ client_port: -1 }], socketUrl);
      } finally {
        await store.close();
      }
    }
  });

  it('keeps the password out of its messages', async () => {
    const url = new URL(pgUrlWith({ schema: freshSchema() }));
    url.password = 's3cret';
    const store = await PostgresStore.open(url.toString());
    try {
      assert.ok(!store.capabilities.location.includes('s3cret'));
    } finally {
      await store.close();
    }
  });
});

describe('postgres: a value the database refuses in a commit batch', {
  skip: available ? false : `PostgreSQL is not reachable at ${PG_URL}`,
}, () => {
  it('fails only its own enqueue; every other one of the batch is stored and acknowledged', async () => {
    const store = await PostgresStore.open(pgUrlWith({ schema: freshSchema() }));
    try {
      // NUL is refused in PostgreSQL text. Passed to the store directly, as no ingress
      // group would be: any such value must fail alone. All these calls are made in one
      // turn of the event loop, so they share one commit batch.
      const good = Array.from({ length: 40 }, (_, i) =>
        store.enqueue(message('r', `g${i % 4}`, `m${i}`)),
      );
      const bad = store.enqueue(message('r', 'bad\u0000group', 'bad'));
      const repeated = [0, 1].map(() =>
        store.enqueue({ ...message('r', 'd', 'same'), dedupId: 'k' }),
      );
      const [settled, refused, deduplicated] = await Promise.all([
        Promise.allSettled(good),
        bad.then(
          () => assert.fail('a group with NUL was stored'),
          (error: Error) => error,
        ),
        Promise.all(repeated),
      ]);

      const sequences = settled.map((result, i) => {
        assert.equal(result.status, 'fulfilled', `good message ${i} was refused`);
        const value = (result as PromiseFulfilledResult<EnqueueResult>).value;
        assert.ok(!value.duplicate);
        return value.sequence;
      });
      assert.equal(new Set(sequences).size, 40);
      for (let g = 0; g < 4; g++) {
        const ofGroup = sequences.filter((_, i) => i % 4 === g);
        assert.deepEqual(
          ofGroup,
          [...ofGroup].sort((a, b) => a - b),
          `group g${g} keeps call order`,
        );
      }
      assert.match(refused.message, /refused the webhook for route "r", group "bad\\u0000group"/);
      assert.equal((refused.cause as { code?: string }).code, '22021');
      assert.deepEqual(
        deduplicated.map((result) => [result.messageId, result.duplicate]),
        [
          [deduplicated[0]!.messageId, false],
          [deduplicated[0]!.messageId, true],
        ],
        'a repeat within the batch is still a duplicate',
      );

      assert.equal((await store.routeStats(['r']))[0]?.queued, 41);
      await store.ping();
      await assert.rejects(
        store.enqueue(message('r', 'bad\u0000group', 'alone')),
        /refused the webhook for route "r", group "bad\\u0000group"/,
        'alone in its batch, the same clear error',
      );
    } finally {
      await store.close();
    }
  });

  it('fails alone a dedup id too long for its index', async () => {
    const store = await PostgresStore.open(pgUrlWith({ schema: freshSchema() }));
    try {
      // A provider's delivery-id header can be kilobytes long; random text does not
      // compress below the index's limit.
      const long = `header:${randomBytes(6000).toString('base64')}`;
      const good = Array.from({ length: 10 }, (_, i) => store.enqueue(message('r', 'g', `m${i}`)));
      const bad = store.enqueue({ ...message('r', 'g', 'long'), dedupId: long });
      await assert.rejects(bad, /refused the webhook for route "r", group "g": index row size/);
      for (const result of await Promise.all(good)) assert.ok(!result.duplicate);
      assert.equal((await store.routeStats(['r']))[0]?.queued, 10);
    } finally {
      await store.close();
    }
  });
});

describe('postgres: enqueues lock their group, not their route', {
  skip: available ? false : `PostgreSQL is not reachable at ${PG_URL}`,
}, () => {
  const webhook = (group: string, body: string) => ({
    route: 'r',
    group,
    dedupId: null,
    dedupWindowMs: 0,
    headers: [] as Array<[string, string]>,
    body: Buffer.from(body),
  });

  it("two instances' enqueues to different groups of one route commit side by side", async () => {
    const schema = freshSchema();
    const url = pgUrlWith({ schema });
    const [a, b] = [await PostgresStore.open(url), await PostgresStore.open(url)];
    const holder = new pg.Client({ connectionString: PG_URL });
    await holder.connect();
    try {
      await a.enqueue(webhook('g1', 'first'));
      // An enqueue of g1 still in flight, as another instance's would be: it holds g1's
      // lock and its sequence number, and also the route's row, until it commits.
      await holder.query(`SET search_path = ${schema}`);
      await holder.query('BEGIN');
      const taken = await holder.query<{ seq: string }>(
        `SELECT hookq_take_sequences(ARRAY['r'], ARRAY['g1']) AS seq`,
      );
      const held = Number(taken.rows[0]?.seq);
      await holder.query(`SELECT 1 FROM routes WHERE name = 'r' FOR UPDATE`);

      // Another group of the route goes through at once, from either instance.
      const other = await Promise.race([
        b.enqueue(webhook('g2', 'other group')),
        new Promise((resolve) => setTimeout(() => resolve('waited'), 5_000)),
      ]);
      assert.notEqual(other, 'waited', 'an enqueue of another group waited for the open one');
      assert.ok(other && typeof other === 'object' && 'sequence' in other);
      assert.ok(Number(other.sequence) > Number(held), 'sequences still increase in the route');

      // The same group waits: its order must follow commit order.
      let sameDone = false;
      const same = a.enqueue(webhook('g1', 'second')).then((result) => {
        sameDone = true;
        return result;
      });
      await new Promise((resolve) => setTimeout(resolve, 500));
      assert.equal(sameDone, false, 'an enqueue of the same group did not wait');
      await holder.query('COMMIT');
      const second = await same;
      assert.ok(!second.duplicate && second.sequence > Number(held));
    } finally {
      await holder.end();
      await a.close();
      await b.close();
    }
  });

  it('gives a role to one instance at a time, and to another once its session ends', async () => {
    const schema = freshSchema();
    const url = pgUrlWith({ schema });
    const a = await PostgresStore.open(url);
    const b = await PostgresStore.open(url);
    const c = await PostgresStore.open(url);
    const other = await PostgresStore.open(pgUrlWith({ schema: freshSchema() }));
    const admin = new pg.Client({ connectionString: PG_URL });
    await admin.connect();
    try {
      assert.equal(await a.holdsRole('alerts'), true, 'the first to ask takes the role');
      assert.deepEqual(
        await Promise.all([b.holdsRole('alerts'), c.holdsRole('alerts'), a.holdsRole('alerts')]),
        [false, false, true],
      );
      assert.equal(await b.holdsRole('another'), true, 'each role has its own holder');
      assert.equal(await other.holdsRole('alerts'), true, 'each schema has its own holders');

      // The holder's session dies (its instance was killed, or lost the database): the
      // lock goes with it, and the next to ask takes the role.
      const killed = await admin.query<{ ended: boolean }>(
        `SELECT pg_terminate_backend(pid) AS ended FROM pg_locks
         WHERE locktype = 'advisory' AND objsubid = 2 AND granted
           AND classid = hashtext($1)::oid AND objid = hashtext('alerts')::oid`,
        [`hookq-role:${schema}`],
      );
      assert.deepEqual(
        killed.rows.map((row) => row.ended),
        [true],
      );
      const takers: boolean[] = [];
      await waitUntil('another instance takes the role over', async () => {
        takers.splice(0, 2, await b.holdsRole('alerts'), await c.holdsRole('alerts'));
        return takers.includes(true);
      });
      assert.equal(takers.filter(Boolean).length, 1, `one instance takes it over: ${takers}`);
      await waitUntil(
        'the instance that lost its session stands by',
        async () => !(await a.holdsRole('alerts')),
      );

      // Closing a store lets its roles go.
      const holder = takers[0] ? b : c;
      await holder.close();
      assert.equal(await a.holdsRole('alerts'), true);
    } finally {
      await admin.end();
      await Promise.all([a, b, c, other].map((store) => store.close()));
    }
  });
});

describe('postgres: the hot functions find rows by key, whatever the statistics say', {
  skip: available ? false : `PostgreSQL is not reachable at ${PG_URL}`,
}, () => {
  /**
   * A store on a new schema whose tables are as right after an install (written to, not
   * yet analyzed by autovacuum), and a connection that gets, as notices, every plan the
   * functions make, nested statements included.
   */
  async function explained(
    use: (client: pg.Client, plans: string[]) => Promise<void>,
  ): Promise<void> {
    const schema = freshSchema();
    const store = await PostgresStore.open(pgUrlWith({ schema }));
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      await Promise.all(
        Array.from({ length: 300 }, (_, i) =>
          store.enqueue(message('r', `g${i % 100}`, `body ${i}`, { dedupId: `d${i}` })),
        ),
      );
      const plans: string[] = [];
      client.on('notice', (notice) => plans.push(notice.message ?? ''));
      await client.query(`SET search_path = ${schema}`);
      await client.query(`LOAD 'auto_explain'`);
      await client.query('SET auto_explain.log_min_duration = 0');
      await client.query('SET auto_explain.log_nested_statements = on');
      await client.query('SET auto_explain.log_level = notice');
      await use(client, plans);
    } finally {
      await client.end();
      await store.close();
    }
  }

  /** One round as under load: 50 enqueues over 20 groups (one a repeat), a claim, its settling. */
  async function hotRound(client: pg.Client, round: number): Promise<void> {
    const now = Date.now();
    const ids = Array.from({ length: 50 }, (_, i) => `e${round}-${i}`);
    const each = <T>(value: T) => ids.map(() => value);
    await client.query('SELECT * FROM hookq_enqueue($1, $2, $3, $4, $5, $6, $7, $8, $9)', [
      each('r'),
      ids.map((_, i) => `g${i % 20}`),
      ids,
      ids.map((id, i) => (i === 0 ? 'd1' : `n${id}`)),
      each(now + 60_000),
      each(null),
      each('[]'),
      ids.map((id) => Buffer.from(id)),
      now,
    ]);
    const claimed = await client.query<{ id: string; total_attempts: number }>(
      `SELECT * FROM hookq_claim($1, 50, 100, $2, $3, NULL)`,
      ['r', now, now + 30_000],
    );
    assert.ok(claimed.rows.length > 0, 'nothing was claimed');
    const fill = <T>(value: T) => claimed.rows.map(() => value);
    await client.query(
      'SELECT * FROM hookq_settle_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)',
      [
        claimed.rows.map((row) => row.id),
        claimed.rows.map((row) => row.total_attempts),
        now,
        fill(now),
        fill(1),
        fill('delivered'),
        fill(200),
        fill(null),
        fill(null),
        fill(null),
        fill(null),
        fill(null),
        fill(0),
        fill(false),
      ],
    );
  }

  it('plans no sequential scan or hash join of a table that was never analyzed', async () => {
    await explained(async (client, plans) => {
      for (let round = 0; round < 8; round++) await hotRound(client, round);
      assert.ok(plans.length > 10, `only ${plans.length} plans were reported`);
      const scans = plans.filter(scansWholeTable);
      assert.deepEqual(scans, [], 'a statement scanned or hashed a whole table');
    });
  });

  it('keeps one generic plan per statement instead of planning each call again', async () => {
    await explained(async (client, plans) => {
      // A plan made for a call's values names them (an array of ids as '{…}'::text[], a
      // time as '…'::bigint); the generic plan, made once per connection, names
      // parameters ($4). The functions choose, not the session.
      await client.query('SET plan_cache_mode = force_custom_plan');
      for (let round = 0; round < 3; round++) await hotRound(client, round);
      const nested = plans.filter((plan) => !/Query Text: SELECT \* FROM hookq_/.test(plan));
      assert.ok(nested.length > 10, `only ${nested.length} plans were reported`);
      assert.deepEqual(
        nested.filter((plan) => /'\{[^}']+\}'::|'\d+'::bigint/.test(plan)),
        [],
        'a statement was planned for the values of its call',
      );
      assert.ok(
        nested.some((plan) => /route = \$\d+/.test(plan)),
        'no plan names the route as a parameter',
      );
    });
  });
});

describe('postgres: a lease rewrites its message in place', {
  skip: available ? false : `PostgreSQL is not reachable at ${PG_URL}`,
}, () => {
  it('claims and retries as heap-only updates, since no index names the state', async () => {
    const schema = freshSchema();
    const store = await PostgresStore.open(pgUrlWith({ schema }));
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      const indexes = await client.query<{ name: string; definition: string }>(
        `SELECT indexrelid::regclass::text AS name, pg_get_indexdef(indexrelid) AS definition
         FROM pg_index WHERE indrelid = $1::regclass`,
        [`${schema}.messages`],
      );
      assert.ok(indexes.rows.length >= 6, 'the indexes of messages were not found');
      for (const { name, definition } of indexes.rows) {
        assert.doesNotMatch(definition, /\bstate\b/, `${name} names the state`);
      }

      await Promise.all(
        Array.from({ length: 20 }, (_, i) => store.enqueue(message('r', `g${i}`, `body ${i}`))),
      );
      // Rows of messages this connection rewrote, in all and in place (counted as it goes,
      // until its counts are flushed: so differences of two readings).
      await client.query(`SET search_path = ${schema}`);
      const rewritten = async () => {
        const { rows } = await client.query<{ all: string; inPlace: string }>(
          `SELECT pg_stat_get_xact_tuples_updated('messages'::regclass) AS all,
             pg_stat_get_xact_tuples_hot_updated('messages'::regclass) AS "inPlace"`,
        );
        return { all: Number(rows[0]!.all), inPlace: Number(rows[0]!.inPlace) };
      };
      const since = async (before: { all: number; inPlace: number }) => {
        const after = await rewritten();
        return { all: after.all - before.all, inPlace: after.inPlace - before.inPlace };
      };
      await client.query('BEGIN');
      const beforeClaim = await rewritten();
      const now = Date.now();
      const claimed = await client.query<{ id: string; total_attempts: number }>(
        `SELECT * FROM hookq_claim('r', 50, 100, $1, $2, NULL)`,
        [now, now + 30_000],
      );
      assert.equal(claimed.rows.length, 20);
      assert.deepEqual(await since(beforeClaim), { all: 20, inPlace: 20 });
      await client.query('COMMIT');

      // A failed attempt puts its message back to wait for a retry: in place too.
      const [first] = claimed.rows;
      await client.query('BEGIN');
      const beforeRetry = await rewritten();
      await client.query(
        `SELECT hookq_settle($1, $2, $3, $3, 5, 'failed', 500, NULL, NULL, 'HTTP 500', $4, NULL, 1, false)`,
        [first!.id, first!.total_attempts, now, now + 1_000],
      );
      assert.deepEqual(await since(beforeRetry), { all: 1, inPlace: 1 });
      await client.query('COMMIT');
      const [row] = (
        await client.query<{ state: string; waiting: boolean }>(
          'SELECT state, waiting FROM messages WHERE id = $1',
          [first!.id],
        )
      ).rows;
      assert.deepEqual(row, { state: 'queued', waiting: true });
    } finally {
      await client.end();
      await store.close();
    }
  });
});

describe('postgres: upgrading a schema that holds messages', {
  skip: available ? false : `PostgreSQL is not reachable at ${PG_URL}`,
}, () => {
  it('migrates messages of every state to the in-place leases (8 to 9), and delivery goes on', async () => {
    const schema = freshSchema();
    const client = new pg.Client({ connectionString: PG_URL });
    await client.connect();
    try {
      // The schema as the release before migration 9 left it, applied as migratePg does.
      await client.query(`CREATE SCHEMA ${schema}`);
      await client.query(`SET search_path = ${schema}`);
      await client.query(
        'CREATE TABLE hookq_migrations (version integer PRIMARY KEY, name text NOT NULL, applied_at bigint NOT NULL)',
      );
      for (const migration of PG_MIGRATIONS.filter(({ version }) => version <= 8)) {
        await client.query('BEGIN');
        await client.query(migration.sql);
        await client.query('INSERT INTO hookq_migrations VALUES ($1, $2, 0)', [
          migration.version,
          migration.name,
        ]);
        await client.query('COMMIT');
      }

      // Messages in every state, written by that release's own functions: one delivered
      // and one behind it (g1), one in flight (g2), a dead letter holding one (g3).
      const now = Date.now();
      await client.query(`SELECT hookq_ensure_route('r')`);
      const enqueue = (ids: string[], groups: string[]) =>
        client.query('SELECT * FROM hookq_enqueue($1, $2, $3, $4, $5, $6, $7, $8, $9)', [
          ids.map(() => 'r'),
          groups,
          ids,
          ids.map(() => null),
          ids.map(() => now),
          ids.map(() => null),
          ids.map(() => '[]'),
          ids.map((id) => Buffer.from(id)),
          now,
        ]);
      await enqueue(['a1', 'b1', 'c1'], ['g1', 'g2', 'g3']);
      const claimed = await client.query<{ id: string; total_attempts: number }>(
        `SELECT * FROM hookq_claim('r', 10, 10, $1, $2, NULL)`,
        [now, now + 600_000],
      );
      const lease = new Map(claimed.rows.map((row) => [row.id, row.total_attempts]));
      assert.deepEqual([...lease.keys()].sort(), ['a1', 'b1', 'c1']);
      await client.query(
        `SELECT hookq_settle('a1', $1, $2, $2, 5, 'delivered', 200, 'ok', NULL, NULL, NULL, NULL, 0, false)`,
        [lease.get('a1'), now],
      );
      await client.query(
        `SELECT hookq_settle('c1', $1, $2, $2, 5, 'http_error', 500, NULL, NULL, 'HTTP 500', NULL, 'attempts exhausted', 1, false)`,
        [lease.get('c1'), now],
      );
      await enqueue(['a2', 'c2'], ['g1', 'g3']);
    } finally {
      await client.end();
    }

    const store = await PostgresStore.open(pgUrlWith({ schema }));
    try {
      const rows = await admin((c) =>
        c.query(`SELECT id, state, waiting, ended FROM ${schema}.messages ORDER BY seq`),
      );
      assert.deepEqual(rows.rows, [
        { id: 'a1', state: 'delivered', waiting: false, ended: 'delivered' },
        { id: 'b1', state: 'inflight', waiting: true, ended: null },
        { id: 'c1', state: 'dead', waiting: false, ended: 'dead' },
        { id: 'a2', state: 'queued', waiting: true, ended: null },
        { id: 'c2', state: 'queued', waiting: true, ended: null },
      ]);

      const listed = async (state: MessageState) =>
        (await store.listMessages({ route: 'r', state, limit: 10 })).items
          .map(({ id }) => id)
          .sort();
      assert.deepEqual(await listed('delivered'), ['a1']);
      assert.deepEqual(await listed('dead'), ['c1']);
      assert.deepEqual(await listed('queued'), ['a2', 'c2']);
      assert.equal(await store.countDead({ route: 'r' }), 1);
      const [stats] = await store.routeStats(['r']);
      assert.deepEqual(
        [stats!.queued, stats!.inflight, stats!.dead, stats!.delivered, stats!.blockedGroups],
        [2, 1, 1, 1, 1],
      );
      const [blocked] = (await store.blockedGroups('r', 10)).items;
      assert.deepEqual([blocked!.group, blocked!.heldBy.id, blocked!.waiting], ['g3', 'c1', 1]);

      // Only g1's next message is due: g2's lease, taken before the upgrade, still holds,
      // and it is settled after it; the dead letter still holds g3 until it is redriven.
      assert.deepEqual(
        (await store.claimDue(claim('r'))).map(({ messageId }) => messageId),
        ['a2'],
      );
      assert.equal(await store.markDelivered({ messageId: 'b1', lease: 1 }, ok(Date.now())), true);
      assert.equal(await store.redrive({ route: 'r', group: 'g3' }), 1);
      assert.deepEqual(
        (await store.claimDue(claim('r'))).map(({ messageId }) => messageId),
        ['c1'],
      );
      assert.deepEqual(await listed('delivered'), ['a1', 'b1']);
    } finally {
      await store.close();
    }
  });
});

/** hookq's tables, as a plan names them. */
const TABLES = '(messages|dedup|groups|payloads|attempts)\\b';
const SEQUENTIAL_SCAN = new RegExp(`Seq Scan on ${TABLES}`);
const ANY_SCAN = new RegExp(`Scan (using \\w+ )?on ${TABLES}`);

/**
 * Whether a plan reads a whole table: a sequential scan of one, a hash or merge join
 * with a table below it (it reads every row that passes its filter, rather than looking
 * each one up), or a join that filters what it pairs with a table's rows (the inner side
 * read the rows of more than the outer row's key, once for every outer row). Joins of
 * the batch's own arrays and CTEs with each other are fine.
 */
function scansWholeTable(plan: string): boolean {
  const lines = plan.split('\n');
  const indent = (line: string) => line.length - line.trimStart().length;
  return lines.some((line, i) => {
    if (SEQUENTIAL_SCAN.test(line)) return true;
    const filtered =
      /^\s*(->\s*)?Nested Loop/.test(line) && /^\s*Join Filter:/.test(lines[i + 1] ?? '');
    if (!filtered && !/(Hash|Merge)( Right| Left| Anti| Semi| Full)? Join/.test(line)) return false;
    const depth = indent(line);
    for (const below of lines.slice(i + 1)) {
      if (indent(below) <= depth) break;
      if (ANY_SCAN.test(below)) return true;
    }
    return false;
  });
}
