import type { Migration } from '../migration.js';

/**
 * SQLite schema, as append-only numbered migrations. Never edit a released entry:
 * add a new one. Each runs in one transaction and leaves a row in `hookq_migrations`.
 */
export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'messages, payloads, attempts, groups, dedup, routes',
    sql: `
-- One row per route: its sequence counter and whether deliveries are paused.
CREATE TABLE routes (
  name     TEXT PRIMARY KEY,
  last_seq INTEGER NOT NULL DEFAULT 0,
  paused   INTEGER NOT NULL DEFAULT 0
);

-- The payload lives apart so that state changes rewrite a small row, not the body.
CREATE TABLE messages (
  pk               INTEGER PRIMARY KEY,
  id               TEXT NOT NULL UNIQUE,
  route            TEXT NOT NULL,
  group_id         TEXT NOT NULL,
  seq              INTEGER NOT NULL,
  dedup_id         TEXT,
  state            TEXT NOT NULL CHECK (state IN ('queued', 'inflight', 'delivered', 'dead')),
  attempts         INTEGER NOT NULL DEFAULT 0,
  total_attempts   INTEGER NOT NULL DEFAULT 0,
  received_at      INTEGER NOT NULL,
  enqueued_at      INTEGER NOT NULL,
  available_at     INTEGER NOT NULL,
  leased_at        INTEGER,
  lease_expires_at INTEGER,
  finished_at      INTEGER,
  last_error       TEXT,
  dead_reason      TEXT,
  -- 1 for a dead letter of a strict route: it holds its group, so it counts as pending.
  blocking         INTEGER NOT NULL DEFAULT 0,
  redrives         INTEGER NOT NULL DEFAULT 0,
  replay_of        TEXT,
  UNIQUE (route, seq)
);
-- Indexes are chosen so that a claim or a retry leaves every entry where it is: only
-- arriving and ending (delivered, dead) add or remove entries. (SQLite still rewrites,
-- in place, the entries of a partial index whose condition names a changed column.)
-- Each partial index names the states it holds.
-- Group heads: the messages of a group that are waiting or hold it, in sequence order.
-- Dead letters of fifo routes are left out, so a group that has many does not slow
-- every head lookup down.
CREATE INDEX messages_pending ON messages (route, group_id, seq)
  WHERE state IN ('queued', 'inflight') OR blocking = 1;
-- Queue retention and the age of the oldest waiting message.
CREATE INDEX messages_waiting ON messages (route, enqueued_at) WHERE state IN ('queued', 'inflight');
-- Listing dead letters and delivered history in sequence order.
CREATE INDEX messages_ended ON messages (state, route, seq) WHERE state IN ('dead', 'delivered');
-- Retention of dead letters and delivered history.
CREATE INDEX messages_ended_at ON messages (state, route, finished_at) WHERE state IN ('dead', 'delivered');

CREATE TABLE payloads (
  message_pk INTEGER PRIMARY KEY,
  headers    TEXT NOT NULL,
  body       BLOB NOT NULL
);

CREATE TABLE attempts (
  message_pk       INTEGER NOT NULL,
  number           INTEGER NOT NULL,
  started_at       INTEGER NOT NULL,
  duration_ms      INTEGER NOT NULL,
  outcome          TEXT NOT NULL,
  status           INTEGER,
  response_excerpt TEXT,
  error            TEXT,
  PRIMARY KEY (message_pk, number)
) WITHOUT ROWID;

-- One row per group that has undelivered messages: its head and whether it can be
-- claimed. Claiming reads this table only, so a deep backlog does not slow it down.
-- status and due_at: ready (head queued; due_at: when it may be attempted), inflight
-- (head leased; due_at: when the lease expires), blocked (head is a dead letter in
-- strict ordering; due_at: when it was dead-lettered).
CREATE TABLE groups (
  route    TEXT NOT NULL,
  group_id TEXT NOT NULL,
  head_pk  INTEGER NOT NULL,
  status   TEXT NOT NULL CHECK (status IN ('ready', 'inflight', 'blocked')),
  due_at   INTEGER,
  PRIMARY KEY (route, group_id)
) WITHOUT ROWID;
CREATE INDEX groups_claim ON groups (route, status, due_at);

-- Dedup ids seen within their window; independent of message retention.
CREATE TABLE dedup (
  route      TEXT NOT NULL,
  dedup_id   TEXT NOT NULL,
  message_id TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (route, dedup_id)
) WITHOUT ROWID;
CREATE INDEX dedup_expiry ON dedup (route, expires_at);

-- Message counts per route and state, kept by triggers so stats never count rows.
CREATE TABLE route_counts (
  route TEXT NOT NULL,
  state TEXT NOT NULL,
  n     INTEGER NOT NULL,
  PRIMARY KEY (route, state)
) WITHOUT ROWID;

CREATE TRIGGER messages_counted_insert AFTER INSERT ON messages BEGIN
  INSERT INTO route_counts (route, state, n) VALUES (new.route, new.state, 1)
    ON CONFLICT (route, state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER messages_counted_update AFTER UPDATE OF state ON messages
  WHEN old.state <> new.state BEGIN
  UPDATE route_counts SET n = n - 1 WHERE route = old.route AND state = old.state;
  INSERT INTO route_counts (route, state, n) VALUES (new.route, new.state, 1)
    ON CONFLICT (route, state) DO UPDATE SET n = n + 1;
END;
CREATE TRIGGER messages_cascade_delete AFTER DELETE ON messages BEGIN
  UPDATE route_counts SET n = n - 1 WHERE route = old.route AND state = old.state;
  DELETE FROM payloads WHERE message_pk = old.pk;
  DELETE FROM attempts WHERE message_pk = old.pk;
END;
`,
  },
  {
    version: 2,
    name: 'target health, charged attempts, rate',
    sql: `
-- The route's target health (SPEC §5a): up, or down since target_since with one probe at
-- a time (probe_until: the lease of the probe in flight) from probe_at on.
ALTER TABLE routes ADD COLUMN target_state TEXT NOT NULL DEFAULT 'up' CHECK (target_state IN ('up', 'down'));
ALTER TABLE routes ADD COLUMN target_since INTEGER;
ALTER TABLE routes ADD COLUMN target_failures INTEGER NOT NULL DEFAULT 0;
ALTER TABLE routes ADD COLUMN target_error TEXT;
ALTER TABLE routes ADD COLUMN probe_at INTEGER;
ALTER TABLE routes ADD COLUMN probe_interval_ms INTEGER;
ALTER TABLE routes ADD COLUMN probe_until INTEGER;
-- delivery.maxPerSecond: the earliest time the next attempt may start.
ALTER TABLE routes ADD COLUMN rate_next_at INTEGER;
-- Failed attempts that count toward maxAttempts; an attempt made while the target was
-- unavailable counts only if another message of the route was delivered since tried_at.
ALTER TABLE messages ADD COLUMN charged INTEGER NOT NULL DEFAULT 0;
-- When the previous attempt ended (null before the first one).
ALTER TABLE messages ADD COLUMN tried_at INTEGER;
-- 1 while the message waits only because the target was unavailable: due at once on heal.
ALTER TABLE messages ADD COLUMN held INTEGER NOT NULL DEFAULT 0;
`,
  },
  {
    version: 3,
    name: 'dedup keyed by 16 bytes',
    sql: `
-- Each dedup id under the first 16 bytes of its SHA-256 (see dedup-key.ts), computed by
-- the function hookq_dedup_key, which the migration's connection defines.
CREATE TABLE dedup_by_key (
  route      TEXT NOT NULL,
  key        BLOB NOT NULL,
  message_id TEXT NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (route, key)
) WITHOUT ROWID;
INSERT INTO dedup_by_key (route, key, message_id, expires_at)
  SELECT route, hookq_dedup_key(dedup_id), message_id, expires_at FROM dedup;
DROP TABLE dedup;
ALTER TABLE dedup_by_key RENAME TO dedup;
CREATE INDEX dedup_expiry ON dedup (route, expires_at);
`,
  },
  {
    version: 4,
    name: 'waiting messages indexed by a column of their own',
    sql: `
-- 1 while the message is queued or in flight. The indexes of waiting messages name this
-- column rather than state: leasing a message (queued to inflight) and putting it back
-- for a retry (inflight to queued) then rewrite only its row, not an entry in each of
-- them, and a delivery writes about a page less. Queries repeat the indexes' conditions
-- word for word, as before.
ALTER TABLE messages ADD COLUMN waiting INTEGER NOT NULL DEFAULT 0;
UPDATE messages SET waiting = 1 WHERE state IN ('queued', 'inflight');
DROP INDEX messages_pending;
DROP INDEX messages_waiting;
CREATE INDEX messages_pending ON messages (route, group_id, seq) WHERE waiting = 1 OR blocking = 1;
CREATE INDEX messages_waiting ON messages (route, enqueued_at) WHERE waiting = 1;
`,
  },
  {
    version: 5,
    name: 'dedup ids appended to a log',
    sql: `
-- Each dedup id in its window, in the order they arrived. Keyed by dedup id, each new
-- one landed on a random page of the table, which every commit then wrote to the WAL and
-- every checkpoint copied back: half of what an enqueue wrote. Appended, they share the
-- last page; the writer thread finds them through a table in memory (dedup-index.ts),
-- filled from this one when it starts.
CREATE TABLE dedup_log (
  n          INTEGER PRIMARY KEY,
  route      TEXT NOT NULL,
  key        BLOB NOT NULL,
  message_id TEXT NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE INDEX dedup_log_expiry ON dedup_log (route, expires_at);
INSERT INTO dedup_log (route, key, message_id, expires_at)
  SELECT route, key, message_id, expires_at FROM dedup ORDER BY expires_at;
DROP TABLE dedup;
`,
  },
  {
    version: 6,
    name: 'the next messages of a group leased ahead',
    sql: `
-- The two messages leased ahead of the group's head while the head is in flight, in order
-- (writes.ts, leaseAhead): each is sent the moment the one before it is delivered, before
-- that outcome commits. Kept in the group's row so that whatever ends the head's attempt
-- finds them in one look-up.
ALTER TABLE groups ADD COLUMN ahead_pk INTEGER;
ALTER TABLE groups ADD COLUMN ahead2_pk INTEGER;
`,
  },
];

export const LATEST_VERSION = MIGRATIONS.at(-1)!.version;
