import type { Migration } from '../sqlite/migrations.js';

/**
 * PostgreSQL schema, as append-only numbered migrations, applied inside the store's
 * own schema (search_path). Never edit a released entry: add a new one.
 */
export const PG_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'messages, payloads, attempts, groups, dedup, routes, counts',
    sql: `
-- One row per route: its sequence counter and whether deliveries are paused. Enqueues
-- lock this row to take sequence numbers, so sequences follow commit order.
CREATE TABLE routes (
  name     text PRIMARY KEY,
  last_seq bigint NOT NULL DEFAULT 0,
  paused   boolean NOT NULL DEFAULT false
);

-- The payload lives apart so that state changes write a small new row version, not the body.
CREATE TABLE messages (
  pk               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  id               text NOT NULL UNIQUE,
  route            text NOT NULL,
  group_id         text NOT NULL,
  seq              bigint NOT NULL,
  dedup_id         text,
  state            text NOT NULL CHECK (state IN ('queued', 'inflight', 'delivered', 'dead')),
  attempts         integer NOT NULL DEFAULT 0,
  total_attempts   integer NOT NULL DEFAULT 0,
  received_at      bigint NOT NULL,
  enqueued_at      bigint NOT NULL,
  available_at     bigint NOT NULL,
  leased_at        bigint,
  lease_expires_at bigint,
  finished_at      bigint,
  last_error       text,
  dead_reason      text,
  -- true for a dead letter of a strict route: it holds its group, so it counts as pending.
  blocking         boolean NOT NULL DEFAULT false,
  redrives         integer NOT NULL DEFAULT 0,
  replay_of        text,
  UNIQUE (route, seq)
);
-- Partial indexes, keyed so that a claim or a retry changes none of them (see the
-- SQLite schema, which has the same ones).
CREATE INDEX messages_pending ON messages (route, group_id, seq)
  WHERE state IN ('queued', 'inflight') OR blocking;
CREATE INDEX messages_waiting ON messages (route, enqueued_at) WHERE state IN ('queued', 'inflight');
CREATE INDEX messages_ended ON messages (state, route, seq) WHERE state IN ('dead', 'delivered');
CREATE INDEX messages_ended_at ON messages (state, route, finished_at) WHERE state IN ('dead', 'delivered');

CREATE TABLE payloads (
  message_pk bigint PRIMARY KEY REFERENCES messages (pk) ON DELETE CASCADE,
  headers    text NOT NULL,
  body       bytea NOT NULL
);

CREATE TABLE attempts (
  message_pk       bigint NOT NULL REFERENCES messages (pk) ON DELETE CASCADE,
  number           integer NOT NULL,
  started_at       bigint NOT NULL,
  duration_ms      integer NOT NULL,
  outcome          text NOT NULL,
  status           integer,
  response_excerpt text,
  error            text,
  PRIMARY KEY (message_pk, number)
);

-- The head of each group with undelivered messages (see the SQLite schema). Every
-- change to a group's messages locks its row here first, so that instances never
-- disagree about a group's head.
CREATE TABLE groups (
  route    text NOT NULL,
  group_id text NOT NULL,
  head_pk  bigint NOT NULL,
  status   text NOT NULL CHECK (status IN ('ready', 'inflight', 'blocked')),
  due_at   bigint,
  PRIMARY KEY (route, group_id)
);
CREATE INDEX groups_claim ON groups (route, status, due_at);

CREATE TABLE dedup (
  route      text NOT NULL,
  dedup_id   text NOT NULL,
  message_id text NOT NULL,
  expires_at bigint NOT NULL,
  PRIMARY KEY (route, dedup_id)
);
CREATE INDEX dedup_expiry ON dedup (route, expires_at);

-- Message counts per route and state, in a few shards per key: every transaction
-- adds its changes to the shard of its own backend, so concurrent instances do not
-- queue up behind one counter row. A count is the sum of its shards. Inserts (enqueues)
-- and changes (claims, outcomes) use separate shards: an enqueue counts before it locks
-- group rows and a claim after, so sharing a counter row could deadlock them.
CREATE TABLE route_counts (
  route text NOT NULL,
  state text NOT NULL,
  shard smallint NOT NULL,
  n     bigint NOT NULL,
  PRIMARY KEY (route, state, shard)
);

-- Each branch names only the transition tables its operation has (PL/pgSQL plans a
-- statement when it first runs it).
CREATE FUNCTION count_message_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'INSERT' THEN
    INSERT INTO route_counts AS c (route, state, shard, n)
    SELECT route, state, pg_backend_pid() % 8, count(*) FROM new_rows GROUP BY route, state
    ON CONFLICT (route, state, shard) DO UPDATE SET n = c.n + excluded.n;
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO route_counts AS c (route, state, shard, n)
    SELECT route, state, 8 + pg_backend_pid() % 8, -count(*) FROM old_rows GROUP BY route, state
    ON CONFLICT (route, state, shard) DO UPDATE SET n = c.n + excluded.n;
  ELSE
    INSERT INTO route_counts AS c (route, state, shard, n)
    SELECT route, state, 8 + pg_backend_pid() % 8, sum(delta) FROM (
      SELECT o.route, o.state, -1 AS delta FROM old_rows o JOIN new_rows n USING (pk) WHERE o.state <> n.state
      UNION ALL
      SELECT n.route, n.state, 1 FROM old_rows o JOIN new_rows n USING (pk) WHERE o.state <> n.state
    ) changes
    GROUP BY route, state
    ON CONFLICT (route, state, shard) DO UPDATE SET n = c.n + excluded.n;
  END IF;
  RETURN NULL;
END $$;

-- Statement triggers see all rows a statement changed at once: one counter write per
-- statement, not per row.
CREATE TRIGGER messages_counted_insert AFTER INSERT ON messages
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION count_message_changes();
CREATE TRIGGER messages_counted_update AFTER UPDATE ON messages
  REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION count_message_changes();
CREATE TRIGGER messages_counted_delete AFTER DELETE ON messages
  REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION count_message_changes();
`,
  },
];

export const PG_LATEST_VERSION = PG_MIGRATIONS.at(-1)!.version;
