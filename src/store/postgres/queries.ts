/**
 * The SQL of the PostgreSQL store's hot paths (enqueue, claim, settle: each calls a
 * function the migrations install, see migrations.ts, so that it is one round trip), and
 * the group lock every other change of messages takes first.
 */
export const SQL = {
  /** A batch of enqueues, committed on its own (hookq_enqueue): one row per item, in order. */
  ENQUEUE: 'SELECT * FROM hookq_enqueue($1, $2, $3, $4, $5, $6, $7, $8, $9)',
  /**
   * Lock the rows of these groups, in the database's order, before changing their
   * messages.
   */
  LOCK_GROUPS: `SELECT 1 FROM groups g
       JOIN unnest($1::text[], $2::text[]) AS k(route, group_id) ON g.route = k.route AND g.group_id = k.group_id
       ORDER BY g.route, g.group_id FOR UPDATE OF g`,
  /** Lease due group heads of a route (hookq_claim), with the breaker and the rate. */
  CLAIM: 'SELECT * FROM hookq_claim($1, $2, $3, $4, $5, $6)',
  /**
   * Record the outcomes of attempts and move their groups on (hookq_settle_batch): one
   * row per item, `item` its position from 1.
   */
  SETTLE:
    'SELECT * FROM hookq_settle_batch($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)',
} as const;
