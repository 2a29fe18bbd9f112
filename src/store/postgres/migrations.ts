import type { Migration } from '../migration.js';

/**
 * PostgreSQL schema, as append-only numbered migrations, applied inside the store's
 * own schema (search_path). Never edit a released entry: add a new one.
 */
export const PG_MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'messages, payloads, attempts, groups, dedup, routes, counts',
    sql: `
-- One row per route: its sequence counter, whether deliveries are paused, and its
-- ordering (written by each instance from its configuration at start-up). Enqueues
-- lock this row to take sequence numbers, so sequences follow commit order.
CREATE TABLE routes (
  name     text PRIMARY KEY,
  last_seq bigint NOT NULL DEFAULT 0,
  paused   boolean NOT NULL DEFAULT false,
  ordering text NOT NULL DEFAULT 'strict' CHECK (ordering IN ('strict', 'fifo'))
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

-- The state changes of delivery run as functions: one round trip each instead of one
-- per statement, with their plans kept by the session.

-- Whether a route's dead letters hold their groups.
CREATE FUNCTION hookq_strict(p_route text) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT coalesce((SELECT ordering = 'strict' FROM routes WHERE name = p_route), true)
$$;

-- Recompute a group's head (the rule of the SQLite store): while a message of the group
-- is in flight it stays the head; otherwise the first waiting message in sequence order,
-- or in strict ordering a dead letter that holds the group. Locks the group's row first.
CREATE FUNCTION hookq_refresh_group(p_route text, p_group text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  current_status text;
  head_state text;
  head record;
BEGIN
  SELECT g.status, m.state INTO current_status, head_state
  FROM groups g LEFT JOIN messages m ON m.pk = g.head_pk
  WHERE g.route = p_route AND g.group_id = p_group FOR UPDATE OF g;
  IF current_status = 'inflight' AND head_state = 'inflight' THEN
    RETURN;
  END IF;
  IF hookq_strict(p_route) THEN
    SELECT pk, state, available_at, finished_at INTO head FROM messages
    WHERE route = p_route AND group_id = p_group AND (state IN ('queued', 'inflight') OR blocking)
    ORDER BY seq LIMIT 1;
  ELSE
    SELECT pk, state, available_at, finished_at INTO head FROM messages
    WHERE route = p_route AND group_id = p_group AND (state IN ('queued', 'inflight') OR blocking)
      AND state = 'queued'
    ORDER BY seq LIMIT 1;
  END IF;
  IF head.pk IS NULL THEN
    DELETE FROM groups WHERE route = p_route AND group_id = p_group;
    RETURN;
  END IF;
  INSERT INTO groups (route, group_id, head_pk, status, due_at)
  VALUES (p_route, p_group, head.pk,
          CASE WHEN head.state = 'dead' THEN 'blocked' ELSE 'ready' END,
          CASE WHEN head.state = 'dead' THEN head.finished_at ELSE head.available_at END)
  ON CONFLICT (route, group_id) DO UPDATE
  SET head_pk = excluded.head_pk, status = excluded.status, due_at = excluded.due_at;
END $$;

-- Record the outcome of a lease: delivered, retry at p_retry_at, or dead letter
-- (p_dead_reason). False when the lease was lost (expired and taken over). Commits
-- without waiting for the disk: a lost outcome only means a repeat delivery.
CREATE FUNCTION hookq_settle(
  p_id text, p_lease integer, p_now bigint,
  p_started_at bigint, p_duration_ms integer, p_outcome text, p_status integer,
  p_excerpt text, p_error text, p_last_error text,
  p_retry_at bigint, p_dead_reason text
) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  settled record;
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  -- The group's row first, as every transaction does: no lock cycles.
  PERFORM 1 FROM groups g JOIN messages m ON g.route = m.route AND g.group_id = m.group_id
  WHERE m.id = p_id FOR UPDATE OF g;
  IF p_outcome = 'delivered' THEN
    UPDATE messages SET state = 'delivered', finished_at = p_now, lease_expires_at = NULL, last_error = NULL
    WHERE id = p_id AND state = 'inflight' AND total_attempts = p_lease
    RETURNING pk, route, group_id INTO settled;
  ELSIF p_retry_at IS NOT NULL THEN
    UPDATE messages SET state = 'queued', available_at = p_retry_at, lease_expires_at = NULL, last_error = p_last_error
    WHERE id = p_id AND state = 'inflight' AND total_attempts = p_lease
    RETURNING pk, route, group_id INTO settled;
  ELSE
    UPDATE messages SET state = 'dead', finished_at = p_now, dead_reason = p_dead_reason,
      last_error = p_last_error, lease_expires_at = NULL, blocking = hookq_strict(route)
    WHERE id = p_id AND state = 'inflight' AND total_attempts = p_lease
    RETURNING pk, route, group_id INTO settled;
  END IF;
  IF settled.pk IS NULL THEN
    RETURN false;
  END IF;
  INSERT INTO attempts (message_pk, number, started_at, duration_ms, outcome, status, response_excerpt, error)
  VALUES (settled.pk, p_lease, p_started_at, p_duration_ms, p_outcome, p_status, p_excerpt, p_error);
  PERFORM hookq_refresh_group(settled.route, settled.group_id);
  RETURN true;
END $$;

-- Lease the due heads of a route: never more than p_max in flight for the route on all
-- instances (an advisory lock serialises claims of a route), skipping groups another
-- transaction holds.
CREATE FUNCTION hookq_claim(p_route text, p_limit integer, p_max integer, p_now bigint, p_expires bigint)
RETURNS TABLE (id text, group_id text, seq bigint, attempts integer, total_attempts integer,
               received_at bigint, headers text, body bytea)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  room integer;
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  PERFORM pg_advisory_xact_lock(hashtext('hookq-claim:' || current_schema() || ':' || p_route));
  IF coalesce((SELECT paused FROM routes WHERE name = p_route), false) THEN
    RETURN;
  END IF;
  room := least(p_limit, p_max - (SELECT count(*) FROM groups WHERE route = p_route AND status = 'inflight'));
  IF room <= 0 THEN
    RETURN;
  END IF;
  RETURN QUERY
  WITH heads AS (
    SELECT g.group_id, g.head_pk FROM groups g
    WHERE g.route = p_route AND g.status = 'ready' AND g.due_at <= p_now
    ORDER BY g.due_at LIMIT room FOR UPDATE SKIP LOCKED
  ), leased AS (
    UPDATE messages m SET state = 'inflight', attempts = m.attempts + 1, total_attempts = m.total_attempts + 1,
      leased_at = p_now, lease_expires_at = p_expires
    FROM heads h WHERE m.pk = h.head_pk AND m.state = 'queued'
    RETURNING m.pk, m.id, m.group_id, m.seq, m.attempts, m.total_attempts, m.received_at
  ), marked AS (
    UPDATE groups g SET status = 'inflight', due_at = p_expires
    FROM leased l WHERE g.route = p_route AND g.group_id = l.group_id
  )
  SELECT l.id, l.group_id, l.seq, l.attempts, l.total_attempts, l.received_at, p.headers, p.body
  FROM leased l JOIN payloads p ON p.message_pk = l.pk
  ORDER BY l.seq;
END $$;
`,
  },
  {
    version: 2,
    name: 'target health, charged attempts, rate',
    sql: `
-- The route's target health, shared by the instances (see the SQLite schema).
ALTER TABLE routes
  ADD COLUMN target_state text NOT NULL DEFAULT 'up' CHECK (target_state IN ('up', 'down')),
  ADD COLUMN target_since bigint,
  ADD COLUMN target_failures integer NOT NULL DEFAULT 0,
  ADD COLUMN target_error text,
  ADD COLUMN probe_at bigint,
  ADD COLUMN probe_interval_ms bigint,
  ADD COLUMN probe_until bigint,
  ADD COLUMN rate_next_at double precision;
ALTER TABLE messages
  ADD COLUMN charged integer NOT NULL DEFAULT 0,
  ADD COLUMN tried_at bigint,
  ADD COLUMN held boolean NOT NULL DEFAULT false;

DROP FUNCTION hookq_settle(text, integer, bigint, bigint, integer, text, integer, text, text, text, bigint, text);
-- As before, plus: a retry records whether the attempt was charged and whether the
-- message now waits only for an outage (p_held).
CREATE FUNCTION hookq_settle(
  p_id text, p_lease integer, p_now bigint,
  p_started_at bigint, p_duration_ms integer, p_outcome text, p_status integer,
  p_excerpt text, p_error text, p_last_error text,
  p_retry_at bigint, p_dead_reason text, p_charged integer, p_held boolean
) RETURNS boolean LANGUAGE plpgsql AS $$
DECLARE
  settled record;
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  PERFORM 1 FROM groups g JOIN messages m ON g.route = m.route AND g.group_id = m.group_id
  WHERE m.id = p_id FOR UPDATE OF g;
  IF p_outcome = 'delivered' THEN
    UPDATE messages SET state = 'delivered', finished_at = p_now, lease_expires_at = NULL, last_error = NULL
    WHERE id = p_id AND state = 'inflight' AND total_attempts = p_lease
    RETURNING pk, route, group_id INTO settled;
  ELSIF p_retry_at IS NOT NULL THEN
    UPDATE messages SET state = 'queued', available_at = p_retry_at, lease_expires_at = NULL, last_error = p_last_error,
      charged = charged + p_charged, held = p_held, tried_at = p_now
    WHERE id = p_id AND state = 'inflight' AND total_attempts = p_lease
    RETURNING pk, route, group_id INTO settled;
  ELSE
    UPDATE messages SET state = 'dead', finished_at = p_now, dead_reason = p_dead_reason,
      last_error = p_last_error, lease_expires_at = NULL, blocking = hookq_strict(route),
      charged = charged + 1, held = false
    WHERE id = p_id AND state = 'inflight' AND total_attempts = p_lease
    RETURNING pk, route, group_id INTO settled;
  END IF;
  IF settled.pk IS NULL THEN
    RETURN false;
  END IF;
  INSERT INTO attempts (message_pk, number, started_at, duration_ms, outcome, status, response_excerpt, error)
  VALUES (settled.pk, p_lease, p_started_at, p_duration_ms, p_outcome, p_status, p_excerpt, p_error);
  PERFORM hookq_refresh_group(settled.route, settled.group_id);
  RETURN true;
END $$;

DROP FUNCTION hookq_claim(text, integer, integer, bigint, bigint);
-- As before, plus the target's health and the rate, on all instances: while the target
-- is down only one probe at a time once probe_at has come (the earliest due head, or
-- one waiting only for the outage); with p_interval_ms, starts at least that far apart.
-- The route's row is written before any group row is locked, the order enqueues use.
CREATE FUNCTION hookq_claim(p_route text, p_limit integer, p_max integer, p_now bigint, p_expires bigint,
                            p_interval_ms double precision)
RETURNS TABLE (id text, group_id text, seq bigint, attempts integer, total_attempts integer,
               received_at bigint, headers text, body bytea, charged integer, charge_since bigint, probe boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  room integer;
  r record;
  is_probe boolean;
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  PERFORM pg_advisory_xact_lock(hashtext('hookq-claim:' || current_schema() || ':' || p_route));
  SELECT * INTO r FROM routes WHERE name = p_route;
  IF NOT FOUND OR r.paused THEN
    RETURN;
  END IF;
  room := least(p_limit, p_max - (SELECT count(*) FROM groups WHERE route = p_route AND status = 'inflight'));
  IF room <= 0 THEN
    RETURN;
  END IF;
  is_probe := r.target_state = 'down';
  IF is_probe THEN
    IF coalesce(r.probe_at, 0) > p_now OR coalesce(r.probe_until, 0) > p_now THEN
      RETURN;
    END IF;
    room := 1;
  END IF;
  IF p_interval_ms IS NOT NULL THEN
    IF coalesce(r.rate_next_at, 0) > p_now THEN
      RETURN;
    END IF;
    room := 1;
  END IF;
  IF is_probe OR p_interval_ms IS NOT NULL THEN
    UPDATE routes SET
      probe_until = CASE WHEN is_probe THEN p_expires ELSE probe_until END,
      rate_next_at = CASE WHEN p_interval_ms IS NULL THEN rate_next_at ELSE p_now + p_interval_ms END
    WHERE name = p_route;
  END IF;
  RETURN QUERY
  WITH heads AS (
    SELECT g.group_id, g.head_pk FROM groups g
    WHERE g.route = p_route AND g.status = 'ready'
      AND (g.due_at <= p_now OR (is_probe AND EXISTS (SELECT 1 FROM messages h WHERE h.pk = g.head_pk AND h.held)))
    ORDER BY g.due_at LIMIT room FOR UPDATE SKIP LOCKED
  ), leased AS (
    UPDATE messages m SET state = 'inflight', attempts = m.attempts + 1, total_attempts = m.total_attempts + 1,
      leased_at = p_now, lease_expires_at = p_expires
    FROM heads h WHERE m.pk = h.head_pk AND m.state = 'queued'
    RETURNING m.pk, m.id, m.group_id, m.seq, m.attempts, m.total_attempts, m.received_at, m.charged,
      coalesce(m.tried_at, m.enqueued_at) AS charge_since
  ), marked AS (
    UPDATE groups g SET status = 'inflight', due_at = p_expires
    FROM leased l WHERE g.route = p_route AND g.group_id = l.group_id
  )
  SELECT l.id, l.group_id, l.seq, l.attempts, l.total_attempts, l.received_at, p.headers, p.body,
    l.charged, l.charge_since, is_probe
  FROM leased l JOIN payloads p ON p.message_pk = l.pk
  ORDER BY l.seq;
  IF NOT FOUND AND (is_probe OR p_interval_ms IS NOT NULL) THEN
    -- Nothing went out: no probe is in flight and no start was spent.
    UPDATE routes SET probe_until = r.probe_until, rate_next_at = r.rate_next_at WHERE name = p_route;
  END IF;
END $$;
`,
  },
  {
    version: 3,
    name: 'enqueues lock their groups, not their route',
    sql: `
-- Sequence numbers come from one sequence per route (routes.last_seq is no longer
-- written): taking one locks nothing until commit, so enqueues of different groups
-- commit side by side. Within a group, commit order is kept by a transaction-scoped
-- advisory lock on the group, taken before its numbers: an enqueue waits only for an
-- earlier one of the same group, so message N+1 of a group is never visible before N.
CREATE FUNCTION hookq_sequence_of(p_route text) RETURNS regclass LANGUAGE sql STABLE AS $$
  SELECT ('hookq_seq_' || md5(p_route))::regclass
$$;

-- Give a route its row and its sequence (continuing from last_seq, for routes that
-- had one). Instances may race to create it: the loser finds it made.
CREATE FUNCTION hookq_ensure_route(p_route text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  next bigint;
BEGIN
  INSERT INTO routes (name) VALUES (p_route) ON CONFLICT (name) DO NOTHING;
  IF to_regclass('hookq_seq_' || md5(p_route)) IS NOT NULL THEN
    RETURN;
  END IF;
  SELECT last_seq + 1 INTO next FROM routes WHERE name = p_route;
  BEGIN
    EXECUTE format('CREATE SEQUENCE %I START %s', 'hookq_seq_' || md5(p_route), next);
  EXCEPTION WHEN duplicate_table OR unique_violation THEN
    NULL;
  END;
END $$;

SELECT hookq_ensure_route(name) FROM routes;

-- Lock the groups of a batch (in one order, so batches cannot deadlock), then number
-- its items, in item order, from their routes' sequences.
CREATE FUNCTION hookq_take_sequences(p_routes text[], p_groups text[]) RETURNS SETOF bigint
LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_advisory_xact_lock(k.r, k.g) FROM (
    SELECT DISTINCT hashtext('hookq-group:' || current_schema() || ':' || u.r) AS r, hashtext(u.g) AS g
    FROM unnest(p_routes, p_groups) AS u(r, g) ORDER BY 1, 2
  ) k;
  FOR i IN 1 .. coalesce(array_length(p_routes, 1), 0) LOOP
    RETURN NEXT nextval(hookq_sequence_of(p_routes[i]));
  END LOOP;
END $$;

-- Counts of arriving messages are appended, one row per statement, rather than added
-- to a shard row: an enqueue, which waits for a durable commit, then holds no counter
-- row that another one needs. The sweeper folds them into route_counts (shard 16).
CREATE TABLE route_count_deltas (
  route text NOT NULL,
  state text NOT NULL,
  n     bigint NOT NULL
);
CREATE INDEX route_count_deltas_route ON route_count_deltas (route, state);

CREATE FUNCTION count_message_inserts() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO route_count_deltas (route, state, n)
  SELECT route, state, count(*) FROM new_rows GROUP BY route, state;
  RETURN NULL;
END $$;
DROP TRIGGER messages_counted_insert ON messages;
CREATE TRIGGER messages_counted_insert AFTER INSERT ON messages
  REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION count_message_inserts();

-- A route's counts: its shard rows and the appended ones not yet folded in.
CREATE VIEW route_totals AS
  SELECT route, state, sum(n)::bigint AS n FROM (
    SELECT route, state, n FROM route_counts
    UNION ALL
    SELECT route, state, n FROM route_count_deltas
  ) parts GROUP BY route, state;
`,
  },
  {
    version: 4,
    name: 'claims drop stale group rows and report them, and count their wait for the claim lock',
    sql: `
-- As before, but a group row whose head is not a queued message of that group (a row
-- from a database written before group ids were cleaned) no longer takes a claim's room
-- for ever: it is deleted, the group of the message it pointed at is rebuilt, and it
-- comes back as a row with stale = true (id: that message, if any), for the log and the
-- metric. The earliest due row is such a row, so with room for one (a probe, a rate) the
-- route would otherwise never move again. Time spent waiting for another instance's
-- claim counts towards the rate.
DROP FUNCTION hookq_claim(text, integer, integer, bigint, bigint, double precision);
CREATE FUNCTION hookq_claim(p_route text, p_limit integer, p_max integer, p_now bigint, p_expires bigint,
                            p_interval_ms double precision)
RETURNS TABLE (id text, group_id text, seq bigint, attempts integer, total_attempts integer,
               received_at bigint, headers text, body bytea, charged integer, charge_since bigint, probe boolean,
               stale boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  room integer;
  r record;
  is_probe boolean;
  bad record;
  asked timestamptz := clock_timestamp();
  waited bigint;
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  PERFORM pg_advisory_xact_lock(hashtext('hookq-claim:' || current_schema() || ':' || p_route));
  -- The caller read its clock before this wait for another instance's claim: the wait
  -- counts, or a start delayed here could come closer than the rate allows after that
  -- claim's.
  waited := floor(extract(epoch FROM clock_timestamp() - asked) * 1000);
  p_now := p_now + waited;
  p_expires := p_expires + waited;
  SELECT * INTO r FROM routes WHERE name = p_route;
  IF NOT FOUND OR r.paused THEN
    RETURN;
  END IF;
  room := least(p_limit, p_max - (SELECT count(*) FROM groups WHERE route = p_route AND status = 'inflight'));
  IF room <= 0 THEN
    RETURN;
  END IF;
  is_probe := r.target_state = 'down';
  IF is_probe THEN
    IF coalesce(r.probe_at, 0) > p_now OR coalesce(r.probe_until, 0) > p_now THEN
      RETURN;
    END IF;
    room := 1;
  END IF;
  IF p_interval_ms IS NOT NULL THEN
    IF coalesce(r.rate_next_at, 0) > p_now THEN
      RETURN;
    END IF;
    room := 1;
  END IF;
  -- Stale rows among the ones this claim would take (only those: a look at every ready
  -- group would cost a scan per claim), dropped before it takes them.
  FOR bad IN
    SELECT c.group_id, h.id AS message_id, h.group_id AS message_group FROM (
      SELECT g.group_id, g.head_pk FROM groups g
      WHERE g.route = p_route AND g.status = 'ready' AND g.due_at <= p_now
      ORDER BY g.due_at LIMIT room FOR UPDATE SKIP LOCKED
    ) c LEFT JOIN messages h ON h.pk = c.head_pk
    WHERE h.pk IS NULL OR h.state <> 'queued' OR h.group_id <> c.group_id OR h.route <> p_route
  LOOP
    DELETE FROM groups WHERE route = p_route AND group_id = bad.group_id;
    IF bad.message_group IS NOT NULL THEN
      PERFORM hookq_refresh_group(p_route, bad.message_group);
    END IF;
    id := bad.message_id; group_id := bad.group_id; seq := NULL; attempts := NULL;
    total_attempts := NULL; received_at := NULL; headers := NULL; body := NULL; charged := NULL;
    charge_since := NULL; probe := false; stale := true;
    RETURN NEXT;
  END LOOP;
  IF is_probe OR p_interval_ms IS NOT NULL THEN
    UPDATE routes SET
      probe_until = CASE WHEN is_probe THEN p_expires ELSE probe_until END,
      rate_next_at = CASE WHEN p_interval_ms IS NULL THEN rate_next_at ELSE p_now + p_interval_ms END
    WHERE name = p_route;
  END IF;
  RETURN QUERY
  WITH heads AS (
    SELECT g.group_id, g.head_pk FROM groups g
    WHERE g.route = p_route AND g.status = 'ready'
      AND (g.due_at <= p_now OR (is_probe AND EXISTS (SELECT 1 FROM messages h WHERE h.pk = g.head_pk AND h.held)))
    ORDER BY g.due_at LIMIT room FOR UPDATE SKIP LOCKED
  ), leased AS (
    UPDATE messages m SET state = 'inflight', attempts = m.attempts + 1, total_attempts = m.total_attempts + 1,
      leased_at = p_now, lease_expires_at = p_expires
    FROM heads h WHERE m.pk = h.head_pk AND m.state = 'queued'
    RETURNING m.pk, m.id, m.group_id, m.seq, m.attempts, m.total_attempts, m.received_at, m.charged,
      coalesce(m.tried_at, m.enqueued_at) AS charge_since
  ), marked AS (
    UPDATE groups g SET status = 'inflight', due_at = p_expires
    FROM leased l WHERE g.route = p_route AND g.group_id = l.group_id
  )
  SELECT l.id, l.group_id, l.seq, l.attempts, l.total_attempts, l.received_at, p.headers, p.body,
    l.charged, l.charge_since, is_probe, false
  FROM leased l JOIN payloads p ON p.message_pk = l.pk
  ORDER BY l.seq;
  IF NOT FOUND AND (is_probe OR p_interval_ms IS NOT NULL) THEN
    -- Nothing went out: no probe is in flight and no start was spent.
    UPDATE routes SET probe_until = r.probe_until, rate_next_at = r.rate_next_at WHERE name = p_route;
  END IF;
END $$;
`,
  },
  {
    version: 5,
    name: 'an enqueue batch in one statement, a batch of settles, counts only appended',
    sql: `
-- A batch of enqueues as one statement, so that it costs one round trip and commits on
-- its own (autocommit), instead of eight statements between BEGIN and COMMIT, each of
-- which waits for the event loop of a busy instance. Item i of the arrays is the i-th
-- enqueue; one row comes back per item, in order: the new message and its sequence, or
-- the live message that holds its dedup id. The steps and their lock order are those of
-- the statements it replaces: dedup ids (sorted), the groups' advisory locks and
-- sequence numbers (hookq_take_sequences), the group rows (sorted), then the new rows.
CREATE FUNCTION hookq_enqueue(p_routes text[], p_groups text[], p_ids text[], p_dedup text[],
                              p_dedup_expires bigint[], p_replay_of text[], p_headers text[],
                              p_bodies bytea[], p_now bigint)
RETURNS TABLE (message_id text, seq bigint, duplicate boolean)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  n integer := coalesce(array_length(p_routes, 1), 0);
  -- Per item: the first item of the batch with its dedup id (itself, if it is the first).
  owner integer[];
  won_routes text[];
  won_ids text[];
  -- Per item: the message that already holds its dedup id; null for a new message.
  holder text[];
  fresh integer[];
  seqs bigint[];
  seq_of bigint[] := array_fill(NULL::bigint, ARRAY[n]);
  pks bigint[];
BEGIN
  IF n = 0 THEN
    RETURN;
  END IF;
  SELECT array_agg(o ORDER BY i) INTO owner FROM (
    SELECT i, CASE WHEN p_dedup[i] IS NOT NULL THEN min(i) OVER (PARTITION BY p_routes[i], p_dedup[i]) END AS o
    FROM generate_series(1, n) AS i
  ) t;
  -- Claim the owned ids; an id a live message holds is not taken. A concurrent batch
  -- claiming the same id waits here for our commit, then sees ours.
  WITH claimed AS (
    INSERT INTO dedup AS d (route, dedup_id, message_id, expires_at)
    SELECT p_routes[i], p_dedup[i], p_ids[i], p_dedup_expires[i]
    FROM generate_series(1, n) AS i WHERE owner[i] = i ORDER BY 1, 2
    ON CONFLICT (route, dedup_id) DO UPDATE SET message_id = excluded.message_id, expires_at = excluded.expires_at
      WHERE d.expires_at <= p_now
    RETURNING d.route, d.dedup_id
  )
  SELECT array_agg(route), array_agg(dedup_id) INTO won_routes, won_ids FROM claimed;
  -- A statement of its own, with a snapshot that sees what a concurrent batch committed
  -- while this one waited for its id.
  SELECT array_agg(CASE WHEN owner[t.i] = t.i AND w.r IS NULL THEN h.message_id END ORDER BY t.i) INTO holder
  FROM generate_series(1, n) AS t(i)
  LEFT JOIN unnest(won_routes, won_ids) AS w(r, d) ON w.r = p_routes[t.i] AND w.d = p_dedup[t.i]
  LEFT JOIN dedup h ON owner[t.i] = t.i AND w.r IS NULL AND h.route = p_routes[t.i] AND h.dedup_id = p_dedup[t.i];
  -- An item that repeats an id of its batch repeats the owner: its message, or the holder.
  FOR i IN 1 .. n LOOP
    IF owner[i] <> i THEN
      holder[i] := coalesce(holder[owner[i]], p_ids[owner[i]]);
    END IF;
  END LOOP;
  SELECT array_agg(i ORDER BY i) INTO fresh FROM generate_series(1, n) AS i WHERE holder[i] IS NULL;
  IF fresh IS NOT NULL THEN
    SELECT array_agg(s.v ORDER BY s.k) INTO seqs
    FROM hookq_take_sequences(ARRAY(SELECT p_routes[i] FROM unnest(fresh) WITH ORDINALITY AS f(i, k) ORDER BY k),
                              ARRAY(SELECT p_groups[i] FROM unnest(fresh) WITH ORDINALITY AS f(i, k) ORDER BY k))
      WITH ORDINALITY AS s(v, k);
    FOR k IN 1 .. array_length(fresh, 1) LOOP
      seq_of[fresh[k]] := seqs[k];
    END LOOP;
    PERFORM 1 FROM groups g
      JOIN (SELECT DISTINCT p_routes[i] AS route, p_groups[i] AS group_id FROM unnest(fresh) AS i) k
        ON g.route = k.route AND g.group_id = k.group_id
      ORDER BY g.route, g.group_id FOR UPDATE OF g;
    WITH inserted AS (
      INSERT INTO messages (id, route, group_id, seq, dedup_id, state, received_at, enqueued_at, available_at, replay_of)
      SELECT p_ids[i], p_routes[i], p_groups[i], seq_of[i], p_dedup[i], 'queued', p_now, p_now, p_now, p_replay_of[i]
      FROM unnest(fresh) AS i
      RETURNING pk, id
    )
    SELECT array_agg(x.pk ORDER BY f.k) INTO pks
    FROM unnest(fresh) WITH ORDINALITY AS f(i, k) JOIN inserted x ON x.id = p_ids[f.i];
    INSERT INTO payloads (message_pk, headers, body)
    SELECT pks[k], p_headers[i], p_bodies[i] FROM unnest(fresh) WITH ORDINALITY AS f(i, k);
    -- A new message heads its group only when the group has nothing pending; an
    -- existing row is locked, not written (DO UPDATE ... WHERE false).
    INSERT INTO groups AS g (route, group_id, head_pk, status, due_at)
    SELECT DISTINCT ON (p_routes[i], p_groups[i]) p_routes[i], p_groups[i], pks[k], 'ready', p_now
    FROM unnest(fresh) WITH ORDINALITY AS f(i, k)
    ORDER BY p_routes[i], p_groups[i], k
    ON CONFLICT (route, group_id) DO UPDATE SET head_pk = g.head_pk WHERE false;
  END IF;
  RETURN QUERY
  SELECT coalesce(holder[i], p_ids[i]), seq_of[i], holder[i] IS NOT NULL
  FROM generate_series(1, n) AS i ORDER BY i;
END $$;

-- The outcomes of many attempts in one statement (hookq_settle for each): under load an
-- instance settles hundreds of attempts a second, and one round trip each would take
-- more of its time than the attempts themselves. Groups are taken in one order (route,
-- group), so that two batches, or a batch and an enqueue, never wait on each other in a
-- cycle. One row per item: whether its lease was still held.
CREATE FUNCTION hookq_settle_batch(
  p_ids text[], p_leases integer[], p_now bigint,
  p_started_at bigint[], p_duration_ms integer[], p_outcomes text[], p_statuses integer[],
  p_excerpts text[], p_errors text[], p_last_errors text[],
  p_retry_at bigint[], p_dead_reasons text[], p_charged integer[], p_held boolean[]
) RETURNS TABLE (item integer, kept boolean) LANGUAGE plpgsql AS $$
DECLARE
  r record;
BEGIN
  FOR r IN
    SELECT u.i FROM unnest(p_ids) WITH ORDINALITY AS u(id, i)
    LEFT JOIN messages m ON m.id = u.id
    ORDER BY m.route, m.group_id, u.i
  LOOP
    item := r.i;
    kept := hookq_settle(p_ids[r.i], p_leases[r.i], p_now, p_started_at[r.i], p_duration_ms[r.i],
      p_outcomes[r.i], p_statuses[r.i], p_excerpts[r.i], p_errors[r.i], p_last_errors[r.i],
      p_retry_at[r.i], p_dead_reasons[r.i], p_charged[r.i], p_held[r.i]);
    RETURN NEXT;
  END LOOP;
END $$;

-- State changes and deletions append their counts too, as arrivals do since migration 3,
-- instead of adding them to shard rows: a batch of settles would otherwise hold shard
-- rows from one settle to the next, and claims and other batches that need the same
-- rows could wait on it in a cycle. Every instance folds the appended rows into
-- route_counts (shard 16) once a second.
CREATE OR REPLACE FUNCTION count_message_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    INSERT INTO route_count_deltas (route, state, n)
    SELECT route, state, -count(*) FROM old_rows GROUP BY route, state;
  ELSE
    INSERT INTO route_count_deltas (route, state, n)
    SELECT route, state, sum(delta) FROM (
      SELECT o.route, o.state, -1 AS delta FROM old_rows o JOIN new_rows n USING (pk) WHERE o.state <> n.state
      UNION ALL
      SELECT n.route, n.state, 1 FROM old_rows o JOIN new_rows n USING (pk) WHERE o.state <> n.state
    ) changes
    GROUP BY route, state;
  END IF;
  RETURN NULL;
END $$;
`,
  },
  {
    version: 6,
    name: 'delivered outcomes settled as a set; a claim counts only a real wait for the lock',
    sql: `
-- A batch of outcomes, most of them deliveries, used to run hookq_settle once per item:
-- a lookup, an UPDATE (and its count trigger), an INSERT and a group refresh each, about
-- half of the database's time under load. Deliveries are now settled together: one
-- statement locks every item's group (route, group order, as before), one marks them
-- delivered and records their attempts, one moves their groups on. Retries and dead
-- letters, which are rare, still go through hookq_settle one by one.
CREATE OR REPLACE FUNCTION hookq_settle_batch(
  p_ids text[], p_leases integer[], p_now bigint,
  p_started_at bigint[], p_duration_ms integer[], p_outcomes text[], p_statuses integer[],
  p_excerpts text[], p_errors text[], p_last_errors text[],
  p_retry_at bigint[], p_dead_reasons text[], p_charged integer[], p_held boolean[]
) RETURNS TABLE (item integer, kept boolean) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  r record;
  done_items integer[];
  done_routes text[];
  done_groups text[];
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  PERFORM 1 FROM groups g JOIN messages m ON g.route = m.route AND g.group_id = m.group_id
  WHERE m.id = ANY (p_ids) ORDER BY g.route, g.group_id FOR UPDATE OF g;
  WITH done AS (
    UPDATE messages m SET state = 'delivered', finished_at = p_now, lease_expires_at = NULL, last_error = NULL
    FROM unnest(p_ids, p_leases, p_outcomes) WITH ORDINALITY AS u(id, lease, outcome, i)
    WHERE u.outcome = 'delivered' AND m.id = u.id AND m.state = 'inflight' AND m.total_attempts = u.lease
    RETURNING m.pk, m.route, m.group_id, u.i
  ), recorded AS (
    INSERT INTO attempts (message_pk, number, started_at, duration_ms, outcome, status, response_excerpt, error)
    SELECT d.pk, p_leases[d.i], p_started_at[d.i], p_duration_ms[d.i], p_outcomes[d.i], p_statuses[d.i],
      p_excerpts[d.i], p_errors[d.i]
    FROM done d
  )
  SELECT array_agg(d.i), array_agg(d.route), array_agg(d.group_id) INTO done_items, done_routes, done_groups
  FROM done d;
  IF done_items IS NOT NULL THEN
    -- hookq_refresh_group for each of their groups, as one statement: the first waiting
    -- message (in strict ordering, or a dead letter that holds the group) heads it, or
    -- the group's row goes. A group whose head is in flight again is left alone.
    WITH touched AS (
      SELECT DISTINCT t.route, t.group_id FROM unnest(done_routes, done_groups) AS t(route, group_id)
      LEFT JOIN groups g ON g.route = t.route AND g.group_id = t.group_id
      LEFT JOIN messages c ON c.pk = g.head_pk
      WHERE (g.status = 'inflight' AND c.state = 'inflight') IS NOT TRUE
    ), heads AS (
      SELECT t.route, t.group_id, h.pk, h.state, h.available_at, h.finished_at
      FROM touched t LEFT JOIN LATERAL (
        SELECT pk, state, available_at, finished_at FROM messages
        WHERE route = t.route AND group_id = t.group_id AND (state IN ('queued', 'inflight') OR blocking)
          AND (state = 'queued' OR hookq_strict(t.route))
        ORDER BY seq LIMIT 1
      ) h ON true
    ), gone AS (
      DELETE FROM groups g USING heads h
      WHERE h.pk IS NULL AND g.route = h.route AND g.group_id = h.group_id
    )
    INSERT INTO groups AS g (route, group_id, head_pk, status, due_at)
    SELECT route, group_id, pk, CASE WHEN state = 'dead' THEN 'blocked' ELSE 'ready' END,
      CASE WHEN state = 'dead' THEN finished_at ELSE available_at END
    FROM heads WHERE pk IS NOT NULL
    ON CONFLICT (route, group_id) DO UPDATE
    SET head_pk = excluded.head_pk, status = excluded.status, due_at = excluded.due_at;
  END IF;
  FOR r IN
    SELECT u.i FROM unnest(p_ids, p_outcomes) WITH ORDINALITY AS u(id, outcome, i)
    LEFT JOIN messages m ON m.id = u.id
    ORDER BY m.route, m.group_id, u.i
  LOOP
    item := r.i;
    IF p_outcomes[r.i] = 'delivered' THEN
      kept := r.i = ANY (coalesce(done_items, '{}'));
    ELSE
      kept := hookq_settle(p_ids[r.i], p_leases[r.i], p_now, p_started_at[r.i], p_duration_ms[r.i],
        p_outcomes[r.i], p_statuses[r.i], p_excerpts[r.i], p_errors[r.i], p_last_errors[r.i],
        p_retry_at[r.i], p_dead_reasons[r.i], p_charged[r.i], p_held[r.i]);
    END IF;
    RETURN NEXT;
  END LOOP;
END $$;
`,
  },
  {
    version: 7,
    name: 'the hot functions plan by key, whatever the statistics say',
    sql: `
-- Every statement in these functions reaches a batch's rows by key (message id, dedup id,
-- group). PostgreSQL plans them from table statistics, and those lag behind: a new or
-- just-emptied table is analyzed by autovacuum a minute or more after it fills, and its
-- cost model takes an index probe for a random read from disk. So, under a burst into a
-- table of some thousands of rows, it read all of dedup, groups or messages on every call
-- (a sequential or full index scan into a hash join) to find a batch's 50 rows: most of
-- the server's CPU went there, and a release window took 2,700 req/s instead of 5,500.
-- - These functions go without sequential scans, hash joins and merge joins: every row
--   is found through its index. Functions they call (hookq_settle, hookq_refresh_group,
--   hookq_take_sequences) run with the same settings.
-- - An enqueue joined its own arrays (up to 500 items) with the rows it had just
--   written and the dedup ids it had just won; as nested loops those joins would take
--   quadratic time. It now draws the new messages' keys before inserting them, and
--   tells a won dedup id by the message id it holds, so that it joins nothing; its
--   lookups are LATERAL subqueries, whose LIMIT keeps the planner from making them joins.
CREATE OR REPLACE FUNCTION hookq_enqueue(p_routes text[], p_groups text[], p_ids text[], p_dedup text[],
                              p_dedup_expires bigint[], p_replay_of text[], p_headers text[],
                              p_bodies bytea[], p_now bigint)
RETURNS TABLE (message_id text, seq bigint, duplicate boolean)
LANGUAGE plpgsql SET enable_seqscan = off SET enable_hashjoin = off SET enable_mergejoin = off AS $$
#variable_conflict use_column
DECLARE
  n integer := coalesce(array_length(p_routes, 1), 0);
  -- Per item: the first item of the batch with its dedup id (itself, if it is the first).
  owner integer[];
  -- Per item: the message that already holds its dedup id; null for a new message.
  holder text[];
  fresh integer[];
  seqs bigint[];
  seq_of bigint[] := array_fill(NULL::bigint, ARRAY[n]);
  pks bigint[];
BEGIN
  IF n = 0 THEN
    RETURN;
  END IF;
  SELECT array_agg(o ORDER BY i) INTO owner FROM (
    SELECT i, CASE WHEN p_dedup[i] IS NOT NULL THEN min(i) OVER (PARTITION BY p_routes[i], p_dedup[i]) END AS o
    FROM generate_series(1, n) AS i
  ) t;
  -- Claim the owned ids; an id a live message holds is not taken. A concurrent batch
  -- claiming the same id waits here for our commit, then sees ours.
  INSERT INTO dedup AS d (route, dedup_id, message_id, expires_at)
  SELECT p_routes[i], p_dedup[i], p_ids[i], p_dedup_expires[i]
  FROM generate_series(1, n) AS i WHERE owner[i] = i ORDER BY 1, 2
  ON CONFLICT (route, dedup_id) DO UPDATE SET message_id = excluded.message_id, expires_at = excluded.expires_at
    WHERE d.expires_at <= p_now;
  -- A statement of its own, with a snapshot that sees what a concurrent batch committed
  -- while this one waited for its id. An id that names another message than the item's
  -- is held by that message.
  SELECT array_agg(h.message_id ORDER BY t.i) INTO holder
  FROM generate_series(1, n) AS t(i)
  LEFT JOIN LATERAL (
    SELECT d.message_id FROM dedup d
    WHERE owner[t.i] = t.i AND d.route = p_routes[t.i] AND d.dedup_id = p_dedup[t.i] AND d.message_id <> p_ids[t.i]
    LIMIT 1
  ) h ON true;
  -- An item that repeats an id of its batch repeats the owner: its message, or the holder.
  FOR i IN 1 .. n LOOP
    IF owner[i] <> i THEN
      holder[i] := coalesce(holder[owner[i]], p_ids[owner[i]]);
    END IF;
  END LOOP;
  SELECT array_agg(i ORDER BY i) INTO fresh FROM generate_series(1, n) AS i WHERE holder[i] IS NULL;
  IF fresh IS NOT NULL THEN
    SELECT array_agg(s.v ORDER BY s.k) INTO seqs
    FROM hookq_take_sequences(ARRAY(SELECT p_routes[i] FROM unnest(fresh) WITH ORDINALITY AS f(i, k) ORDER BY k),
                              ARRAY(SELECT p_groups[i] FROM unnest(fresh) WITH ORDINALITY AS f(i, k) ORDER BY k))
      WITH ORDINALITY AS s(v, k);
    FOR k IN 1 .. array_length(fresh, 1) LOOP
      seq_of[fresh[k]] := seqs[k];
    END LOOP;
    PERFORM 1 FROM (
      SELECT DISTINCT p_routes[i] AS route, p_groups[i] AS group_id FROM unnest(fresh) AS i ORDER BY 1, 2
    ) k CROSS JOIN LATERAL (
      SELECT 1 FROM groups g WHERE g.route = k.route AND g.group_id = k.group_id LIMIT 1 FOR UPDATE
    ) g;
    -- Keys drawn first, so that the payloads and groups below need not find the new
    -- rows again by id.
    pks := ARRAY(SELECT nextval(pg_get_serial_sequence('messages', 'pk')::regclass)
                 FROM generate_series(1, array_length(fresh, 1)));
    INSERT INTO messages (pk, id, route, group_id, seq, dedup_id, state, received_at, enqueued_at, available_at, replay_of)
    OVERRIDING SYSTEM VALUE
    SELECT pks[k], p_ids[i], p_routes[i], p_groups[i], seq_of[i], p_dedup[i], 'queued', p_now, p_now, p_now, p_replay_of[i]
    FROM unnest(fresh) WITH ORDINALITY AS f(i, k);
    INSERT INTO payloads (message_pk, headers, body)
    SELECT pks[k], p_headers[i], p_bodies[i] FROM unnest(fresh) WITH ORDINALITY AS f(i, k);
    -- A new message heads its group only when the group has nothing pending; an
    -- existing row is locked, not written (DO UPDATE ... WHERE false).
    INSERT INTO groups AS g (route, group_id, head_pk, status, due_at)
    SELECT DISTINCT ON (p_routes[i], p_groups[i]) p_routes[i], p_groups[i], pks[k], 'ready', p_now
    FROM unnest(fresh) WITH ORDINALITY AS f(i, k)
    ORDER BY p_routes[i], p_groups[i], k
    ON CONFLICT (route, group_id) DO UPDATE SET head_pk = g.head_pk WHERE false;
  END IF;
  RETURN QUERY
  SELECT coalesce(holder[i], p_ids[i]), seq_of[i], holder[i] IS NOT NULL
  FROM generate_series(1, n) AS i ORDER BY i;
END $$;

ALTER FUNCTION hookq_settle_batch SET enable_seqscan = off;
ALTER FUNCTION hookq_settle_batch SET enable_hashjoin = off;
ALTER FUNCTION hookq_settle_batch SET enable_mergejoin = off;
ALTER FUNCTION hookq_claim SET enable_seqscan = off;
ALTER FUNCTION hookq_claim SET enable_hashjoin = off;
ALTER FUNCTION hookq_claim SET enable_mergejoin = off;
`,
  },
  {
    version: 8,
    name: 'state changes counted without joining a batch to itself',
    sql: `
-- The counts of a batch of state changes, as before, without joining its old rows to its
-- new ones: inside the hot functions, which go without hash joins (migration 7), that
-- join compared every old row with every new one (625 comparisons, twice, for a claim of
-- 25). Each old row takes one from its state, each new row adds one to its own, and a row
-- whose state did not change adds nothing in all.
CREATE OR REPLACE FUNCTION count_message_changes() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' THEN
    INSERT INTO route_count_deltas (route, state, n)
    SELECT route, state, -count(*) FROM old_rows GROUP BY route, state;
  ELSE
    INSERT INTO route_count_deltas (route, state, n)
    SELECT route, state, sum(delta) FROM (
      SELECT route, state, -1 AS delta FROM old_rows
      UNION ALL
      SELECT route, state, 1 FROM new_rows
    ) changes
    GROUP BY route, state
    HAVING sum(delta) <> 0;
  END IF;
  RETURN NULL;
END $$;
`,
  },
  {
    version: 9,
    name: 'a lease rewrites its message in place (heap-only), not into every index',
    sql: `
-- A claim (queued to inflight) and a retry (inflight to queued) changed state, which every
-- partial index of messages named, so each wrote a new row version with an entry in each
-- of the five indexes it matched. PostgreSQL rewrites a row in place, on its own page and
-- in no index (a heap-only update), when no indexed column changes. So the indexes now
-- name two columns computed from state whose values a lease leaves alone: waiting (queued
-- or in flight) and ended (the state of a delivered message or a dead letter, else null).
-- Only arriving and ending still write index entries. Pages keep a fifth free for those
-- rewrites (fillfactor, set first so that the rewrite below leaves the room too).
-- Adding a stored column rewrites the table once, under a lock that stops every other
-- instance meanwhile: upgrade a large queue while little arrives.
ALTER TABLE messages SET (fillfactor = 80);
ALTER TABLE messages
  ADD COLUMN waiting boolean GENERATED ALWAYS AS (state IN ('queued', 'inflight')) STORED,
  ADD COLUMN ended text GENERATED ALWAYS AS (CASE WHEN state IN ('dead', 'delivered') THEN state END) STORED;
DROP INDEX messages_pending;
DROP INDEX messages_waiting;
DROP INDEX messages_ended;
DROP INDEX messages_ended_at;
CREATE INDEX messages_pending ON messages (route, group_id, seq) WHERE waiting OR blocking;
CREATE INDEX messages_waiting ON messages (route, enqueued_at) WHERE waiting;
CREATE INDEX messages_ended ON messages (ended, route, seq) WHERE ended IS NOT NULL;
CREATE INDEX messages_ended_at ON messages (ended, route, finished_at) WHERE ended IS NOT NULL;

-- The two functions that look up a group's next head, as before, through the new
-- condition of messages_pending.
CREATE OR REPLACE FUNCTION hookq_refresh_group(p_route text, p_group text) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  current_status text;
  head_state text;
  head record;
BEGIN
  SELECT g.status, m.state INTO current_status, head_state
  FROM groups g LEFT JOIN messages m ON m.pk = g.head_pk
  WHERE g.route = p_route AND g.group_id = p_group FOR UPDATE OF g;
  IF current_status = 'inflight' AND head_state = 'inflight' THEN
    RETURN;
  END IF;
  IF hookq_strict(p_route) THEN
    SELECT pk, state, available_at, finished_at INTO head FROM messages
    WHERE route = p_route AND group_id = p_group AND (waiting OR blocking)
    ORDER BY seq LIMIT 1;
  ELSE
    SELECT pk, state, available_at, finished_at INTO head FROM messages
    WHERE route = p_route AND group_id = p_group AND (waiting OR blocking)
      AND state = 'queued'
    ORDER BY seq LIMIT 1;
  END IF;
  IF head.pk IS NULL THEN
    DELETE FROM groups WHERE route = p_route AND group_id = p_group;
    RETURN;
  END IF;
  INSERT INTO groups (route, group_id, head_pk, status, due_at)
  VALUES (p_route, p_group, head.pk,
          CASE WHEN head.state = 'dead' THEN 'blocked' ELSE 'ready' END,
          CASE WHEN head.state = 'dead' THEN head.finished_at ELSE head.available_at END)
  ON CONFLICT (route, group_id) DO UPDATE
  SET head_pk = excluded.head_pk, status = excluded.status, due_at = excluded.due_at;
END $$;

CREATE OR REPLACE FUNCTION hookq_settle_batch(
  p_ids text[], p_leases integer[], p_now bigint,
  p_started_at bigint[], p_duration_ms integer[], p_outcomes text[], p_statuses integer[],
  p_excerpts text[], p_errors text[], p_last_errors text[],
  p_retry_at bigint[], p_dead_reasons text[], p_charged integer[], p_held boolean[]
) RETURNS TABLE (item integer, kept boolean) LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
  r record;
  done_items integer[];
  done_routes text[];
  done_groups text[];
BEGIN
  PERFORM set_config('synchronous_commit', 'off', true);
  PERFORM 1 FROM groups g JOIN messages m ON g.route = m.route AND g.group_id = m.group_id
  WHERE m.id = ANY (p_ids) ORDER BY g.route, g.group_id FOR UPDATE OF g;
  WITH done AS (
    UPDATE messages m SET state = 'delivered', finished_at = p_now, lease_expires_at = NULL, last_error = NULL
    FROM unnest(p_ids, p_leases, p_outcomes) WITH ORDINALITY AS u(id, lease, outcome, i)
    WHERE u.outcome = 'delivered' AND m.id = u.id AND m.state = 'inflight' AND m.total_attempts = u.lease
    RETURNING m.pk, m.route, m.group_id, u.i
  ), recorded AS (
    INSERT INTO attempts (message_pk, number, started_at, duration_ms, outcome, status, response_excerpt, error)
    SELECT d.pk, p_leases[d.i], p_started_at[d.i], p_duration_ms[d.i], p_outcomes[d.i], p_statuses[d.i],
      p_excerpts[d.i], p_errors[d.i]
    FROM done d
  )
  SELECT array_agg(d.i), array_agg(d.route), array_agg(d.group_id) INTO done_items, done_routes, done_groups
  FROM done d;
  IF done_items IS NOT NULL THEN
    -- hookq_refresh_group for each of their groups, as one statement: the first waiting
    -- message (in strict ordering, or a dead letter that holds the group) heads it, or
    -- the group's row goes. A group whose head is in flight again is left alone.
    WITH touched AS (
      SELECT DISTINCT t.route, t.group_id FROM unnest(done_routes, done_groups) AS t(route, group_id)
      LEFT JOIN groups g ON g.route = t.route AND g.group_id = t.group_id
      LEFT JOIN messages c ON c.pk = g.head_pk
      WHERE (g.status = 'inflight' AND c.state = 'inflight') IS NOT TRUE
    ), heads AS (
      SELECT t.route, t.group_id, h.pk, h.state, h.available_at, h.finished_at
      FROM touched t LEFT JOIN LATERAL (
        SELECT pk, state, available_at, finished_at FROM messages
        WHERE route = t.route AND group_id = t.group_id AND (waiting OR blocking)
          AND (state = 'queued' OR hookq_strict(t.route))
        ORDER BY seq LIMIT 1
      ) h ON true
    ), gone AS (
      DELETE FROM groups g USING heads h
      WHERE h.pk IS NULL AND g.route = h.route AND g.group_id = h.group_id
    )
    INSERT INTO groups AS g (route, group_id, head_pk, status, due_at)
    SELECT route, group_id, pk, CASE WHEN state = 'dead' THEN 'blocked' ELSE 'ready' END,
      CASE WHEN state = 'dead' THEN finished_at ELSE available_at END
    FROM heads WHERE pk IS NOT NULL
    ON CONFLICT (route, group_id) DO UPDATE
    SET head_pk = excluded.head_pk, status = excluded.status, due_at = excluded.due_at;
  END IF;
  FOR r IN
    SELECT u.i FROM unnest(p_ids, p_outcomes) WITH ORDINALITY AS u(id, outcome, i)
    LEFT JOIN messages m ON m.id = u.id
    ORDER BY m.route, m.group_id, u.i
  LOOP
    item := r.i;
    IF p_outcomes[r.i] = 'delivered' THEN
      kept := r.i = ANY (coalesce(done_items, '{}'));
    ELSE
      kept := hookq_settle(p_ids[r.i], p_leases[r.i], p_now, p_started_at[r.i], p_duration_ms[r.i],
        p_outcomes[r.i], p_statuses[r.i], p_excerpts[r.i], p_errors[r.i], p_last_errors[r.i],
        p_retry_at[r.i], p_dead_reasons[r.i], p_charged[r.i], p_held[r.i]);
    END IF;
    RETURN NEXT;
  END LOOP;
END $$;
ALTER FUNCTION hookq_settle_batch SET enable_seqscan = off;
ALTER FUNCTION hookq_settle_batch SET enable_hashjoin = off;
ALTER FUNCTION hookq_settle_batch SET enable_mergejoin = off;
`,
  },
  {
    version: 10,
    name: 'the hot functions plan without bitmap scans too',
    sql: `
-- Migration 7 left bitmap scans allowed, and on a new schema's groups table (a hundred
-- rows, not yet analyzed) a claim marked its leased groups through one: for each leased
-- group it read every group of the route through groups_claim and kept the one that
-- matched, 40 leased groups meaning 4,000 rows, where groups_pkey finds each in one
-- probe. Without bitmap scans the planner takes that probe; every other statement of
-- these functions already found its rows through an index scan.
ALTER FUNCTION hookq_claim SET enable_bitmapscan = off;
ALTER FUNCTION hookq_settle_batch SET enable_bitmapscan = off;
ALTER FUNCTION hookq_enqueue SET enable_bitmapscan = off;
`,
  },
  {
    version: 11,
    name: 'the hot functions keep their plans',
    sql: `
-- PostgreSQL plans a function's statement afresh on each call, for that call's values (a
-- custom plan), until a generic plan made once is estimated to cost no more; with array
-- arguments and statistics that lag behind a queue's tables that estimate rarely comes.
-- Sampled with perf while enqueues, claims and settles of one message each ran in turn, a
-- third of the server's CPU went to planning. Every statement of these functions finds
-- its rows by key through an index (migrations 7 and 10), so the generic plan is the one
-- a custom plan would be: they keep it. Functions they call run with the same setting.
ALTER FUNCTION hookq_claim SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION hookq_settle_batch SET plan_cache_mode = force_generic_plan;
ALTER FUNCTION hookq_enqueue SET plan_cache_mode = force_generic_plan;
`,
  },
];

export const PG_LATEST_VERSION = PG_MIGRATIONS.at(-1)!.version;
