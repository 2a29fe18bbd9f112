import type Database from 'better-sqlite3';
import type { MessageState } from '../../core/terms.js';
import { lastDeadLetterSql, SQLITE_ENDED } from '../sql.js';

const DEAD = SQLITE_ENDED.only('dead');
const DELIVERED = SQLITE_ENDED.only('delivered');

/**
 * Every SQL statement of the SQLite store, prepared once.
 *
 * Partial indexes serve a query only when its WHERE clause repeats the index's
 * condition word for word, so states appear as literals here, never as parameters.
 */
export function prepareStatements(db: Database.Database) {
  const p = (sql: string) => db.prepare(sql);
  return {
    ping: p('SELECT max(version) FROM hookq_migrations'),
    savepoint: p('SAVEPOINT item'),
    release: p('RELEASE item'),
    rollbackItem: p('ROLLBACK TO item'),

    // routes: sequence counters and pause flags
    routeGet: p('SELECT * FROM routes WHERE name = ?'),
    setPaused: p(
      `INSERT INTO routes (name, paused) VALUES (?, ?)
       ON CONFLICT (name) DO UPDATE SET paused = excluded.paused`,
    ),
    nextSeq: p(
      `INSERT INTO routes (name, last_seq) VALUES (?, 1)
       ON CONFLICT (name) DO UPDATE SET last_seq = last_seq + 1 RETURNING last_seq`,
    ),
    countGet: p('SELECT n FROM route_counts WHERE route = ? AND state = ?'),

    // dedup window: the log of dedup ids, by the key of each (dedup-key.ts), found
    // through the writer thread's index (dedup-index.ts)
    dedupGet: p('SELECT route, key, message_id, expires_at FROM dedup_log WHERE n = ?'),
    dedupPut: p('INSERT INTO dedup_log (route, key, message_id, expires_at) VALUES (?, ?, ?, ?)'),
    dedupLog: p('SELECT n, route, key FROM dedup_log'),
    dedupCount: p('SELECT count(*) AS n FROM dedup_log'),
    dedupExpire: p(
      `DELETE FROM dedup_log WHERE n IN
         (SELECT n FROM dedup_log WHERE route = ? AND expires_at <= ? LIMIT ?)
       RETURNING n, route, key`,
    ),

    // messages and payloads
    insertMessage: p(
      `INSERT INTO messages (id, route, group_id, seq, dedup_id, state, waiting, received_at, enqueued_at, available_at, replay_of)
       VALUES (?, ?, ?, ?, ?, 'queued', 1, ?, ?, ?, ?)`,
    ),
    insertPayload: p('INSERT INTO payloads (message_pk, headers, body) VALUES (?, ?, ?)'),
    payloadGet: p('SELECT headers, body FROM payloads WHERE message_pk = ?'),
    messageById: p('SELECT * FROM messages WHERE id = ?'),
    messageByPk: p('SELECT * FROM messages WHERE pk = ?'),
    stateByPk: p('SELECT state FROM messages WHERE pk = ?'),
    deleteMessage: p('DELETE FROM messages WHERE pk = ?'),

    // groups: the head of each group with undelivered messages
    groupGet: p(
      'SELECT head_pk, status, ahead_pk, ahead2_pk FROM groups WHERE route = ? AND group_id = ?',
    ),
    groupAdd: p(
      `INSERT INTO groups (route, group_id, head_pk, status, due_at) VALUES (?, ?, ?, 'ready', ?)
       ON CONFLICT (route, group_id) DO NOTHING`,
    ),
    groupPut: p(
      `INSERT INTO groups (route, group_id, head_pk, status, due_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (route, group_id) DO UPDATE
       SET head_pk = excluded.head_pk, status = excluded.status, due_at = excluded.due_at,
         ahead_pk = NULL, ahead2_pk = NULL`,
    ),
    groupLeased: p(
      `UPDATE groups SET status = 'inflight', due_at = ? WHERE route = ? AND group_id = ?`,
    ),
    groupDelete: p('DELETE FROM groups WHERE route = ? AND group_id = ?'),
    firstPending: p(
      `SELECT pk, seq, state, available_at, finished_at FROM messages
       WHERE route = ? AND group_id = ? AND (waiting = 1 OR blocking = 1) ORDER BY seq LIMIT 1`,
    ),
    firstQueued: p(
      `SELECT pk, seq, state, available_at, finished_at FROM messages
       WHERE route = ? AND group_id = ? AND (waiting = 1 OR blocking = 1) AND state = 'queued'
       ORDER BY seq LIMIT 1`,
    ),

    // leasing ahead in a strict group: the messages after the head, while the head is in
    // flight (a fifo group's next is its firstQueued)
    pendingAfter: p(
      `SELECT pk, seq, state, available_at, finished_at FROM messages
       WHERE route = ? AND group_id = ? AND (waiting = 1 OR blocking = 1) AND seq > ? ORDER BY seq LIMIT 1`,
    ),
    // The lease's times are set when the message is started (aheadStarted): until then
    // only its group's head has a lease that can run out.
    leaseAhead: p(
      `UPDATE messages SET state = 'inflight', attempts = attempts + 1, total_attempts = total_attempts + 1
       WHERE pk = ? AND state = 'queued' AND available_at <= ?
       RETURNING pk, id, route, group_id, seq, attempts, total_attempts, received_at, charged,
         coalesce(tried_at, enqueued_at) AS charge_since`,
    ),
    aheadCount: p(
      `SELECT count(ahead_pk) + count(ahead2_pk) AS n FROM groups WHERE route = ? AND status = 'inflight'`,
    ),
    groupAhead: p('UPDATE groups SET ahead_pk = ?, ahead2_pk = ? WHERE route = ? AND group_id = ?'),
    seqByPk: p('SELECT seq FROM messages WHERE pk = ?'),
    aheadStarted: p(
      `UPDATE messages SET leased_at = ?, lease_expires_at = ?
       WHERE pk = ? AND id = ? AND total_attempts = ? AND state = 'inflight' RETURNING pk, seq`,
    ),
    groupStarted: p(
      `UPDATE groups SET head_pk = ?, status = 'inflight', due_at = ?, ahead_pk = ahead2_pk, ahead2_pk = NULL
       WHERE route = ? AND group_id = ?`,
    ),
    aheadGiveBack: p(
      `UPDATE messages SET state = 'queued', attempts = attempts - 1, total_attempts = total_attempts - 1
       WHERE pk = ? AND state = 'inflight'`,
    ),
    aheadLost: p(
      `UPDATE messages SET state = 'queued', available_at = ?, tried_at = ?
       WHERE pk = ? AND state = 'inflight' RETURNING pk, total_attempts`,
    ),

    // claiming and completing
    dueHeads: p(
      `SELECT group_id, head_pk FROM groups WHERE route = ? AND status = 'ready' AND due_at <= ?
       ORDER BY due_at LIMIT ?`,
    ),
    lease: p(
      `UPDATE messages SET state = 'inflight', attempts = attempts + 1, total_attempts = total_attempts + 1,
         leased_at = ?, lease_expires_at = ?
       WHERE pk = ? AND state = 'queued'
       RETURNING pk, id, route, group_id, seq, attempts, total_attempts, received_at, charged,
         coalesce(tried_at, enqueued_at) AS charge_since`,
    ),
    deliver: p(
      `UPDATE messages SET state = 'delivered', waiting = 0, finished_at = ?, lease_expires_at = NULL, last_error = NULL
       WHERE id = ? AND state = 'inflight' AND total_attempts = ? RETURNING pk, route, group_id`,
    ),
    retryLater: p(
      `UPDATE messages SET state = 'queued', available_at = ?, lease_expires_at = NULL, last_error = ?,
         charged = charged + ?, held = ?, tried_at = ?
       WHERE id = ? AND state = 'inflight' AND total_attempts = ? RETURNING pk, route, group_id`,
    ),
    deadLetter: p(
      `UPDATE messages SET state = 'dead', waiting = 0, finished_at = ?, dead_reason = ?, last_error = ?, lease_expires_at = NULL,
         charged = charged + 1, held = 0
       WHERE id = ? AND state = 'inflight' AND total_attempts = ? RETURNING pk, route, group_id`,
    ),
    markBlocking: p('UPDATE messages SET blocking = 1 WHERE pk = ?'),
    insertAttempt: p(
      `INSERT INTO attempts (message_pk, number, started_at, duration_ms, outcome, status, response_excerpt, error)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    attemptsOf: p('SELECT * FROM attempts WHERE message_pk = ? ORDER BY number'),
    expiredLeases: p(
      `SELECT m.id, m.group_id, m.attempts, m.total_attempts, m.leased_at, m.charged
       FROM groups g JOIN messages m ON m.pk = g.head_pk
       WHERE g.route = ? AND g.status = 'inflight' AND g.due_at <= ? ORDER BY g.due_at LIMIT ?`,
    ),
    // While the target is down: the probe is the earliest due head, or one waiting only
    // for the outage (its backoff is moot while nothing else goes out).
    probeHead: p(
      `SELECT g.group_id, g.head_pk FROM groups g JOIN messages m ON m.pk = g.head_pk
       WHERE g.route = ? AND g.status = 'ready' AND (g.due_at <= ? OR m.held = 1) ORDER BY g.due_at LIMIT 1`,
    ),
    probeLeased: p('UPDATE routes SET probe_until = ? WHERE name = ?'),
    rateTaken: p('UPDATE routes SET rate_next_at = ? WHERE name = ?'),
    /** A stale group row, found by its head (its group id may not read back as written). */
    groupDeleteByHead: p('DELETE FROM groups WHERE route = ? AND head_pk = ?'),
    nextDue: p(`SELECT min(due_at) AS at FROM groups WHERE route = ? AND status = 'ready'`),
    nextLease: p(`SELECT min(due_at) AS at FROM groups WHERE route = ? AND status = 'inflight'`),

    // target health
    healthPut: p(
      `INSERT INTO routes (name, target_state, target_since, target_failures, target_error, probe_at, probe_interval_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?)
       ON CONFLICT (name) DO UPDATE SET target_state = excluded.target_state, target_since = excluded.target_since,
         target_failures = excluded.target_failures, target_error = excluded.target_error,
         probe_at = excluded.probe_at, probe_interval_ms = excluded.probe_interval_ms, probe_until = NULL`,
    ),
    lastDelivered: p(
      `SELECT max(finished_at) AS at FROM messages WHERE ${DELIVERED} AND route = ?`,
    ),
    // Heal: heads that waited only for the outage are due now (messages first: the
    // groups update reads their new time).
    healHeads: p(
      `UPDATE messages SET available_at = ? WHERE held = 1 AND pk IN
         (SELECT head_pk FROM groups WHERE route = ? AND status = 'ready' AND due_at > ?)`,
    ),
    // retry-now: waiting heads of a route, or of one group, or one message, are due now.
    retryNowHeads: p(
      `UPDATE messages SET available_at = @now WHERE pk IN
         (SELECT head_pk FROM groups WHERE route = @route AND status = 'ready' AND due_at > @now
            AND (@group IS NULL OR group_id = @group))
         AND (@id IS NULL OR id = @id)`,
    ),
    groupsDueAgain: p(
      `UPDATE groups SET due_at = @now WHERE route = @route AND status = 'ready' AND due_at > @now
         AND (SELECT available_at FROM messages WHERE pk = head_pk) <= @now`,
    ),
    probeNow: p(`UPDATE routes SET probe_at = ? WHERE name = ? AND target_state = 'down'`),
    activeCount: p(
      `SELECT count(*) AS n FROM groups WHERE route = ? AND status IN ('ready', 'inflight')`,
    ),

    // dead letters
    deadById: p(`SELECT pk FROM messages WHERE id = ? AND state = 'dead'`),
    deadOfRoute: p(
      `SELECT pk FROM messages WHERE ${DEAD} AND route = ?
       ORDER BY seq LIMIT ?`,
    ),
    deadOfGroup: p(
      `SELECT pk FROM messages WHERE ${DEAD} AND route = ? AND group_id = ?
       ORDER BY seq LIMIT ?`,
    ),
    deadAll: p(
      `SELECT pk FROM messages WHERE ${DEAD}
       ORDER BY route, seq LIMIT ?`,
    ),
    redrive: p(
      `UPDATE messages SET state = 'queued', waiting = 1, attempts = 0, available_at = ?, enqueued_at = ?,
         finished_at = NULL, dead_reason = NULL, blocking = 0, redrives = redrives + 1,
         charged = 0, held = 0, tried_at = NULL
       WHERE pk = ? AND state = 'dead' RETURNING route, group_id`,
    ),
    deadCountOfGroup: p(
      `SELECT count(*) AS n FROM messages
       WHERE ${DEAD} AND route = ? AND group_id = ?`,
    ),
    deadCountAll: p(`SELECT coalesce(sum(n), 0) AS n FROM route_counts WHERE state = 'dead'`),
    blockedCount: p(`SELECT count(*) AS n FROM groups WHERE route = ? AND status = 'blocked'`),
    // Oldest blocked first: a blocked group's due_at is when its head was dead-lettered,
    // and groups_claim (route, status, due_at, then the key's group_id) holds that order.
    blockedPage: p(
      `SELECT group_id, due_at, head_pk FROM groups WHERE route = ? AND status = 'blocked'
       AND (due_at, group_id) > (?, ?) ORDER BY due_at, group_id LIMIT ?`,
    ),
    // The messages waiting behind a blocked group's head, through the group-heads index
    // (messages_pending) and only up to the limit given: never a scan of the route.
    waitingInGroup: p(
      `SELECT count(*) AS n FROM (SELECT 1 FROM messages
       WHERE route = ? AND group_id = ? AND waiting = 1 LIMIT ?)`,
    ),

    // retention
    lastDeadLetter: p(lastDeadLetterSql('?', SQLITE_ENDED)),
    oldestWaiting: p(`SELECT min(enqueued_at) AS at FROM messages WHERE route = ? AND waiting = 1`),
    queuedOlderThan: p(
      `SELECT pk FROM messages WHERE route = ? AND waiting = 1 AND enqueued_at < ?
       AND state = 'queued' ORDER BY enqueued_at LIMIT ?`,
    ),
    expire: p(
      `UPDATE messages SET state = 'dead', waiting = 0, finished_at = ?, dead_reason = ?, blocking = ? WHERE pk = ? RETURNING *`,
    ),
    deadOlderThan: p(
      `SELECT * FROM messages WHERE ${DEAD} AND route = ?
       AND finished_at < ? ORDER BY finished_at LIMIT ?`,
    ),
    deliveredOlderThan: p(
      `SELECT pk FROM messages WHERE ${DELIVERED} AND route = ?
       AND finished_at < ? ORDER BY finished_at LIMIT ?`,
    ),
  };
}

export type Statements = ReturnType<typeof prepareStatements>;

/** How many messages of a route are in a state (from the counts the triggers keep). */
export function countOf(sql: Statements, route: string, state: MessageState): number {
  return (sql.countGet.get(route, state) as { n: number } | undefined)?.n ?? 0;
}
