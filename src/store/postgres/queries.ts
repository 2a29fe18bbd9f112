/**
 * The SQL of the PostgreSQL store's hot paths (enqueue, claim, settle). The state changes
 * of delivery are functions installed by the migrations (see migrations.ts); these call
 * them, or are the statements an enqueue batch runs.
 */
export const SQL = {
  /**
   * Claim each dedup id of a batch, in one order; an id held by a live message is not
   * taken.
   */
  CLAIM_DEDUP_IDS: `INSERT INTO dedup (route, dedup_id, message_id, expires_at)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) ORDER BY 1, 2
         ON CONFLICT (route, dedup_id) DO UPDATE SET message_id = excluded.message_id, expires_at = excluded.expires_at
           WHERE dedup.expires_at <= $5
         RETURNING route, dedup_id`,
  /** The messages that hold the dedup ids a batch could not claim. */
  DEDUP_HOLDERS: `SELECT d.route, d.dedup_id, d.message_id FROM dedup d
           JOIN unnest($1::text[], $2::text[]) AS k(route, dedup_id) USING (route, dedup_id)`,
  /** The new messages of a batch, queued as they arrive. */
  INSERT_MESSAGES: `INSERT INTO messages (id, route, group_id, seq, dedup_id, state, received_at, enqueued_at, available_at, replay_of)
         SELECT id, route, group_id, seq, dedup_id, 'queued', $7, $7, $7, replay_of
         FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[])
           AS t(id, route, group_id, seq, dedup_id, replay_of)
         RETURNING pk, id`,
  /** Their headers and bodies, apart from the rows that state changes rewrite. */
  INSERT_PAYLOADS: `INSERT INTO payloads (message_pk, headers, body)
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::bytea[])`,
  /**
   * A new message heads its group only when the group has nothing pending. An existing
   * group row is locked (DO UPDATE ... WHERE false writes nothing but locks), so a
   * concurrent head recomputation cannot drop the group meanwhile.
   */
  ADD_GROUP_HEADS: `INSERT INTO groups AS g (route, group_id, head_pk, status, due_at)
         SELECT route, group_id, head_pk, 'ready', $4 FROM unnest($1::text[], $2::text[], $3::bigint[])
           AS t(route, group_id, head_pk)
         ON CONFLICT (route, group_id) DO UPDATE SET head_pk = g.head_pk WHERE false`,
  /**
   * Lock the rows of these groups, in the database's order, before changing their
   * messages.
   */
  LOCK_GROUPS: `SELECT 1 FROM groups g
       JOIN unnest($1::text[], $2::text[]) AS k(route, group_id) ON g.route = k.route AND g.group_id = k.group_id
       ORDER BY g.route, g.group_id FOR UPDATE OF g`,
  /**
   * Lock a batch's groups and number its items from their routes' sequences
   * (hookq_take_sequences).
   */
  TAKE_SEQUENCES: 'SELECT hookq_take_sequences($1::text[], $2::text[]) AS seq',
  /** Lease due group heads of a route (hookq_claim), with the breaker and the rate. */
  CLAIM: 'SELECT * FROM hookq_claim($1, $2, $3, $4, $5, $6)',
  /** Record an attempt's outcome and move its group on (hookq_settle). */
  SETTLE:
    'SELECT hookq_settle($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14) AS kept',
} as const;
