import pg from 'pg';
import {
  ConfigError,
  ConflictError,
  StorageUnavailableError,
  WebhookRefusedError,
} from '../../core/errors.js';
import { newMessageId } from '../../core/ids.js';
import { nextHealth, type TargetHealth } from '../../core/outage.js';
import { expiryReason, type RetentionPolicy } from '../../core/retention.js';
import type { AfterFailure } from '../../core/retry.js';
import type {
  HeaderList,
  Message,
  MessageDetail,
  MessageState,
  Ordering,
} from '../../core/terms.js';
import { CommitBatcher } from '../commit-batcher.js';
import { decodeCursor, pageOf } from '../cursor.js';
import { type PgLocation, storageLocationOf } from '../location.js';
import {
  type AttemptRow,
  asBuffer,
  attemptError,
  attemptValues,
  healthOf,
  healthParams,
  type MessageRow,
  type PayloadRow,
  ROUTE_HEALTH_COLUMNS,
  type RouteHealthRow,
  replayCopyOf,
  toAttempt,
  toBlockedGroup,
  toClaimedMessage,
  toExpiredLease,
  toMessage,
} from '../rows.js';
import {
  bound,
  countMessagesSql,
  lastDeadLetterSql,
  listMessagesSql,
  POSTGRES_ENDED,
} from '../sql.js';
import type {
  AttemptRecord,
  BlockedGroup,
  ClaimedMessage,
  ClaimRequest,
  EnqueueResult,
  ExpiredLease,
  HealthChange,
  LeaseRef,
  ListQuery,
  MessageFilter,
  NewMessage,
  Page,
  QueuedMessage,
  RedriveSelector,
  RouteStats,
  StaleGroup,
  Store,
  StoreCapabilities,
  StoreOptions,
  SweepResult,
} from '../store.js';
import { WAITING_COUNT_LIMIT } from '../store.js';
import { clientConfig } from './connection.js';
import { isConnectionLost, isRetryable, translatePgError } from './errors.js';
import { migratePg } from './migrate.js';
import { SQL } from './queries.js';
import { Roles } from './roles.js';
import { WorkListener } from './work-listener.js';

/** Most enqueues in one commit. */
const MAX_BATCH = 500;
/**
 * Enqueue commits in flight at once, of the pool's 10 connections: the rest stay for
 * claims, settles and reads.
 */
const MAX_COMMITS = 3;
/** How often the counts that writes append are folded into the routes' counters. */
const FOLD_COUNTS_EVERY_MS = 1_000;
/** Attempts at a transaction that lost a deadlock or serialization race. */
const TRANSACTION_TRIES = 3;

/** One attempt's outcome, waiting to be settled with others. */
interface Settle {
  lease: LeaseRef;
  attempt: AttemptRecord;
  next: AfterFailure | undefined;
}

type Query = <R = Record<string, unknown>>(text: string, params?: unknown[]) => Promise<R[]>;

/**
 * The backend process ids of a pool's open connections, kept as the pool opens and
 * closes them (the driver reads each from the server's greeting, as `processID`, which
 * its types leave out).
 */
function sessionsOf(pool: pg.Pool): ReadonlySet<number> {
  const pids = new Set<number>();
  const pidOf = (client: pg.PoolClient) =>
    (client as pg.PoolClient & { processID: number }).processID;
  pool.on('connect', (client) => pids.add(pidOf(client)));
  pool.on('remove', (client) => pids.delete(pidOf(client)));
  return pids;
}

/**
 * The shared store: PostgreSQL, for several hookq instances on one database.
 *
 * - Acknowledged means committed with `synchronous_commit = on`; concurrent enqueues of
 *   an instance share one transaction (group commit). Delivery bookkeeping commits
 *   with `synchronous_commit = off`: a database crash can only lose an outcome, and the
 *   message is then delivered again.
 * - Nothing route-wide is locked across a durable commit. Sequence numbers come from a
 *   sequence per route; an enqueue first takes a transaction-scoped advisory lock on each
 *   of its groups, so within a group numbers follow commit order (N+1 is never visible
 *   before N) while different groups commit side by side. Arriving messages are counted
 *   in appended rows, not in a shared counter row, and other instances are notified
 *   after the commit.
 * - Every transaction locks the rows of the groups it changes before it changes their
 *   messages, always in the same order: instances never disagree about a group's head,
 *   and locks are always taken groups first, counters after, so transactions cannot
 *   deadlock. Claims skip locked groups (`SKIP LOCKED`) and take a per-route advisory
 *   lock, so `maxConcurrency` holds across instances.
 * - Enqueues and redrives NOTIFY the other instances, which LISTEN; polling remains as
 *   the fallback while the notification connection is down.
 */
export class PostgresStore implements Store {
  readonly capabilities: StoreCapabilities;

  private readonly pool: pg.Pool;
  private readonly location: PgLocation;
  private readonly now: () => number;
  private readonly onStaleGroup: ((problem: StaleGroup) => void) | undefined;
  private readonly enqueues: CommitBatcher<QueuedMessage, EnqueueResult>;
  private readonly settles: CommitBatcher<Settle, boolean>;
  private readonly listener: WorkListener;
  private readonly roles: Roles;
  private readonly channel: string;
  /** Routes known to have their row and sequence (see ensureRoutes). */
  private readonly knownRoutes = new Set<string>();
  /** Why the latest transaction failed for want of the database; cleared by the next success. */
  private failingWrites: Error | undefined;
  /** Routes to notify other instances of, and whether a notification is on its way. */
  private readonly toNotify = new Set<string>();
  private notifying = false;
  private readonly folding: NodeJS.Timeout;
  private closed = false;

  private constructor(
    pool: pg.Pool,
    sessions: ReadonlySet<number>,
    location: PgLocation,
    options: StoreOptions,
  ) {
    this.pool = pool;
    this.location = location;
    this.now = options.now ?? Date.now;
    this.onStaleGroup = options.onStaleGroup;
    this.channel = `hookq_work_${location.schema}`;
    // Writes run concurrently on pooled connections.
    this.capabilities = {
      writesInCallOrder: false,
      location: location.display,
    };
    this.settles = new CommitBatcher((items) => this.commitSettles(items), MAX_BATCH, MAX_COMMITS);
    this.enqueues = new CommitBatcher(
      (items) => this.commitEnqueues(items),
      MAX_BATCH,
      MAX_COMMITS,
    );
    this.listener = new WorkListener(clientConfig(location), this.channel, sessions);
    this.roles = new Roles(clientConfig(location), location.schema);
    // Writes append their counts (see migration 5); folded often, so that reading a
    // route's counts sums only a second's worth of them.
    this.folding = setInterval(() => void this.foldCounts(), FOLD_COUNTS_EVERY_MS).unref();
  }

  /** Fold the appended counts into the routes' counters; a failure waits for the next turn. */
  private async foldCounts(): Promise<void> {
    await this.call(
      `WITH moved AS (DELETE FROM route_count_deltas RETURNING route, state, n)
       INSERT INTO route_counts AS c (route, state, shard, n)
       SELECT route, state, 16, sum(n) FROM moved GROUP BY route, state ORDER BY route, state
       ON CONFLICT (route, state, shard) DO UPDATE SET n = c.n + excluded.n`,
    ).catch(() => undefined);
  }

  /** Open the store at a location, or at a postgres:// URL. */
  static async open(
    where: PgLocation | string,
    options: StoreOptions = {},
  ): Promise<PostgresStore> {
    const location = typeof where === 'string' ? pgLocationOf(where) : where;
    const pool = new pg.Pool({
      ...clientConfig(location),
      max: 10,
      idleTimeoutMillis: 30_000,
    });
    // An idle connection dropped by the server must not crash the process; the pool
    // replaces it on the next use.
    pool.on('error', () => undefined);
    const sessions = sessionsOf(pool);
    try {
      await migratePg(pool, location);
    } catch (error) {
      await pool.end().catch(() => undefined);
      throw translatePgError(error, location);
    }
    const store = new PostgresStore(pool, sessions, location, options);
    await store.recordOrdering(options.ordering ?? {});
    await store.ensureRoutes(Object.keys(options.ordering ?? {}));
    await store.listener.start();
    return store;
  }

  /**
   * The database's functions apply each route's ordering, so it is kept there; every
   * instance writes it from its configuration (instances must share one).
   */
  private async recordOrdering(ordering: Record<string, Ordering>): Promise<void> {
    const names = Object.keys(ordering);
    if (names.length === 0) return;
    await this.call(
      `INSERT INTO routes AS r (name, ordering) SELECT * FROM unnest($1::text[], $2::text[])
       ON CONFLICT (name) DO UPDATE SET ordering = excluded.ordering`,
      [names, names.map((name) => ordering[name])],
    );
  }

  enqueue(message: NewMessage): Promise<EnqueueResult> {
    if (this.closed) return Promise.reject(new StorageUnavailableError('the store is closed'));
    return this.enqueues.submit(message);
  }

  async claimDue(request: ClaimRequest): Promise<ClaimedMessage[]> {
    const now = this.now();
    const rows = await this.call<
      MessageRow & PayloadRow & { charge_since: number; probe: boolean; stale: boolean }
    >(SQL.CLAIM, [
      request.route,
      request.limit,
      request.maxConcurrency,
      now,
      now + request.leaseMs,
      request.maxPerSecond === undefined ? null : 1000 / request.maxPerSecond,
    ]);
    const claimed: ClaimedMessage[] = [];
    for (const row of rows) {
      if (!row.stale) claimed.push(toClaimedMessage(request.route, row, row, row.probe));
      else this.onStaleGroup?.({ route: request.route, group: row.group_id, messageId: row.id });
    }
    return claimed;
  }

  markDelivered(lease: LeaseRef, attempt: AttemptRecord): Promise<boolean> {
    return this.settle(lease, attempt, undefined);
  }

  markFailed(lease: LeaseRef, attempt: AttemptRecord, next: AfterFailure): Promise<boolean> {
    return this.settle(lease, attempt, next);
  }

  async updateTargetHealth(
    route: string,
    change: HealthChange,
  ): Promise<{ before: TargetHealth; after: TargetHealth }> {
    const result = await this.transaction('normal', async (q) => {
      await q('INSERT INTO routes (name) VALUES ($1) ON CONFLICT (name) DO NOTHING', [route]);
      const [row] = await q<RouteHealthRow>(
        `SELECT ${ROUTE_HEALTH_COLUMNS} FROM routes WHERE name = $1 FOR UPDATE`,
        [route],
      );
      const before = healthOf(row);
      const after = nextHealth(before, change.event, change.policy, change.now);
      if (after !== before) {
        await q(
          `UPDATE routes SET target_state = $2, target_since = $3, target_failures = $4, target_error = $5,
             probe_at = $6, probe_interval_ms = $7, probe_until = NULL WHERE name = $1`,
          [...healthParams(route, after)],
        );
      }
      if (before.state === 'down' && after.state === 'up') {
        // Heal: heads that waited only for the outage are due now.
        const now = this.now();
        await q(
          `UPDATE messages SET available_at = $2 WHERE held AND pk IN
             (SELECT head_pk FROM groups WHERE route = $1 AND status = 'ready' AND due_at > $2)`,
          [route, now],
        );
        await this.groupsDueAgain(q, route, now);
      }
      if (before.state !== after.state) await this.notify(q, [route]);
      return { before, after };
    });
    if (result.before.state !== result.after.state) this.emitLocally([route]);
    return result;
  }

  async targetHealth(route: string): Promise<TargetHealth> {
    const [row] = await this.read<RouteHealthRow>(
      `SELECT ${ROUTE_HEALTH_COLUMNS} FROM routes WHERE name = $1`,
      [route],
    );
    return healthOf(row);
  }

  async lastDeliveredAt(route: string): Promise<number | null> {
    const [row] = await this.read<{ at: number | null }>(
      `SELECT max(finished_at) AS at FROM messages
       WHERE ${POSTGRES_ENDED.only('delivered')} AND route = $1`,
      [route],
    );
    return row?.at ?? null;
  }

  async retryNow(route: string, only: { group?: string; id?: string } = {}): Promise<number> {
    const made = await this.transaction('full', async (q) => {
      const now = this.now();
      await q(`UPDATE routes SET probe_at = $2 WHERE name = $1 AND target_state = 'down'`, [
        route,
        now,
      ]);
      const rows = await q(
        `UPDATE messages SET available_at = $2 WHERE pk IN
           (SELECT head_pk FROM groups WHERE route = $1 AND status = 'ready' AND due_at > $2
              AND ($3::text IS NULL OR group_id = $3))
           AND ($4::text IS NULL OR id = $4) RETURNING pk`,
        [route, now, only.group ?? null, only.id ?? null],
      );
      await this.groupsDueAgain(q, route, now);
      await this.notify(q, [route]);
      return rows.length;
    });
    this.emitLocally([route]);
    return made;
  }

  /** Groups whose head was made due now take that time too. */
  private async groupsDueAgain(q: Query, route: string, now: number): Promise<void> {
    await q(
      `UPDATE groups g SET due_at = $2 WHERE route = $1 AND status = 'ready' AND due_at > $2
         AND (SELECT available_at FROM messages WHERE pk = g.head_pk) <= $2`,
      [route, now],
    );
  }

  async expiredLeases(route: string, limit: number): Promise<ExpiredLease[]> {
    const rows = await this.read<MessageRow>(
      `SELECT m.id, m.group_id, m.attempts, m.total_attempts, m.leased_at, m.charged
       FROM groups g JOIN messages m ON m.pk = g.head_pk
       WHERE g.route = $1 AND g.status = 'inflight' AND g.due_at <= $2 ORDER BY g.due_at LIMIT $3`,
      [route, this.now(), limit],
    );
    return rows.map((row) => toExpiredLease(route, row));
  }

  async redrive(selector: RedriveSelector, limit = Number.MAX_SAFE_INTEGER): Promise<number> {
    const { moved, routes } = await this.transaction('full', async (q) => {
      const now = this.now();
      let picked: Array<{ pk: number; route: string; group_id: string }>;
      if ('ids' in selector) {
        picked = await q(
          `SELECT pk, route, group_id FROM messages WHERE id = ANY($1) AND state = 'dead'
           ORDER BY route, seq LIMIT $2`,
          [[...selector.ids], limit],
        );
      } else {
        const where =
          'all' in selector
            ? ''
            : selector.group === undefined
              ? 'AND route = $2'
              : 'AND route = $2 AND group_id = $3';
        const params: unknown[] = [limit];
        if ('route' in selector) params.push(selector.route);
        if ('route' in selector && selector.group !== undefined) params.push(selector.group);
        picked = await q(
          `SELECT pk, route, group_id FROM messages WHERE ${POSTGRES_ENDED.only('dead')} ${where}
           ORDER BY route, seq LIMIT $1`,
          params,
        );
      }
      await this.lockGroups(q, uniqueGroups(picked));
      // Checked again under the locks: a concurrent redrive may have taken some already.
      const rows = await q<{ route: string; group_id: string }>(
        `UPDATE messages SET state = 'queued', attempts = 0, available_at = $1, enqueued_at = $1,
           finished_at = NULL, dead_reason = NULL, blocking = false, redrives = redrives + 1,
           charged = 0, held = false, tried_at = NULL
         WHERE pk = ANY($2) AND state = 'dead' RETURNING route, group_id`,
        [now, picked.map((row) => row.pk)],
      );
      const groups = uniqueGroups(rows);
      for (const [route, group] of groups) await this.refreshGroup(q, route, group);
      const routes = [...new Set(groups.map(([route]) => route))];
      await this.notify(q, routes);
      return { moved: rows.length, routes };
    });
    this.emitLocally(routes);
    return moved;
  }

  async countDead(selector: { route: string; group?: string } | { all: true }): Promise<number> {
    if ('all' in selector) {
      const [row] = await this.read<{ n: number }>(
        `SELECT coalesce(sum(n), 0)::bigint AS n FROM route_totals WHERE state = 'dead'`,
      );
      return row?.n ?? 0;
    }
    if (selector.group === undefined) return this.count(selector.route, 'dead');
    const [row] = await this.read<{ n: number }>(
      `SELECT count(*)::bigint AS n FROM messages
       WHERE ${POSTGRES_ENDED.only('dead')} AND route = $1 AND group_id = $2`,
      [selector.route, selector.group],
    );
    return row?.n ?? 0;
  }

  async discard(id: string): Promise<Message | null> {
    const discarded = await this.transaction('full', async (q) => {
      await this.lockGroupOf(q, id);
      const [row] = await q<MessageRow>('SELECT * FROM messages WHERE id = $1 FOR UPDATE', [id]);
      if (!row) return null;
      if (row.state !== 'dead') {
        throw new ConflictError(
          `message ${id} is ${row.state}; only dead letters can be discarded`,
        );
      }
      await q('DELETE FROM messages WHERE pk = $1', [row.pk]);
      await this.refreshGroup(q, row.route, row.group_id);
      // The message behind it may be the group's head now.
      await this.notify(q, [row.route]);
      return toMessage(row);
    });
    if (discarded) this.emitLocally([discarded.route]);
    return discarded;
  }

  async replay(id: string): Promise<EnqueueResult & { duplicate: false }> {
    const copy = replayCopyOf(await this.getMessage(id), id);
    return (await this.enqueues.submit(copy)) as EnqueueResult & { duplicate: false };
  }

  async getMessage(id: string): Promise<MessageDetail | null> {
    const [row] = await this.read<MessageRow & PayloadRow>(
      'SELECT m.*, p.headers, p.body FROM messages m JOIN payloads p ON p.message_pk = m.pk WHERE m.id = $1',
      [id],
    );
    if (!row) return null;
    const history = await this.read<AttemptRow>(
      'SELECT * FROM attempts WHERE message_pk = $1 ORDER BY number',
      [row.pk],
    );
    return {
      ...toMessage(row),
      headers: JSON.parse(row.headers) as HeaderList,
      body: row.body,
      history: history.map(toAttempt),
    };
  }

  async listMessages(query: ListQuery): Promise<Page<Message>> {
    const { sql, params } = bound('$n', (param) => listMessagesSql(query, param, POSTGRES_ENDED));
    const rows = await this.read<MessageRow>(sql, params);
    return pageOf(rows, query.limit, toMessage, (row) => [row.route, row.seq]);
  }

  async countMessages(filter: MessageFilter): Promise<number> {
    const { sql, params } = bound('$n', (param) => countMessagesSql(filter, param, POSTGRES_ENDED));
    const [row] = await this.read<{ n: number }>(sql, params);
    return row?.n ?? 0;
  }

  async routeStats(routes: readonly string[]): Promise<RouteStats[]> {
    const rows = await this.read<
      RouteHealthRow & {
        route: string;
        paused: boolean | null;
        queued: number;
        inflight: number;
        dead: number;
        delivered: number;
        blocked: number;
        active: number;
        oldest: number | null;
        dead_at: number | null;
        dead_error: string | null;
      }
    >(
      `SELECT r.route, t.paused, ${ROUTE_HEALTH_COLUMNS.split(', ')
        .map((column) => `t.${column}`)
        .join(', ')},
         (SELECT coalesce(sum(n), 0)::bigint FROM route_totals WHERE route = r.route AND state = 'queued') AS queued,
         (SELECT coalesce(sum(n), 0)::bigint FROM route_totals WHERE route = r.route AND state = 'inflight') AS inflight,
         (SELECT coalesce(sum(n), 0)::bigint FROM route_totals WHERE route = r.route AND state = 'dead') AS dead,
         (SELECT coalesce(sum(n), 0)::bigint FROM route_totals WHERE route = r.route AND state = 'delivered') AS delivered,
         (SELECT count(*)::bigint FROM groups WHERE route = r.route AND status = 'blocked') AS blocked,
         (SELECT count(*)::bigint FROM groups WHERE route = r.route AND status IN ('ready', 'inflight')) AS active,
         (SELECT min(enqueued_at) FROM messages WHERE route = r.route AND waiting) AS oldest,
         d.at AS dead_at, d.error AS dead_error
       FROM unnest($1::text[]) WITH ORDINALITY AS r(route, position)
       LEFT JOIN routes t ON t.name = r.route
       LEFT JOIN LATERAL (${lastDeadLetterSql('r.route', POSTGRES_ENDED)}) d ON true
       ORDER BY r.position`,
      [[...routes]],
    );
    return rows.map((row) => ({
      route: row.route,
      paused: Boolean(row.paused),
      queued: row.queued,
      inflight: row.inflight,
      dead: row.dead,
      delivered: row.delivered,
      blockedGroups: row.blocked,
      activeGroups: row.active,
      health: healthOf(row),
      oldestWaitingAt: row.oldest,
      lastDeadLetter: row.dead_at === null ? null : { at: row.dead_at, error: row.dead_error },
    }));
  }

  async blockedGroups(route: string, limit: number, cursor?: string): Promise<Page<BlockedGroup>> {
    const [since, after] = cursor
      ? decodeCursor(cursor, ['number', 'string'] as const)
      : [Number.MIN_SAFE_INTEGER, ''];
    // Oldest blocked first: a blocked group's due_at is when its head was dead-lettered
    // (groups_claim gives that order). The page is taken first, so that only its groups'
    // waiting messages are counted, each through the group-heads index (messages_pending)
    // and only up to the limit.
    const rows = await this.read<
      MessageRow & { blocked_at: number; blocked_group: string; waiting_count: number }
    >(
      `WITH page AS (
         SELECT group_id, due_at, head_pk FROM groups
         WHERE route = $1 AND status = 'blocked' AND (due_at, group_id) > ($2, $3)
         ORDER BY due_at, group_id LIMIT $4)
       SELECT m.*, p.due_at AS blocked_at, p.group_id AS blocked_group,
         (SELECT count(*) FROM (SELECT FROM messages w
            WHERE w.route = $1 AND w.group_id = p.group_id AND w.waiting
            LIMIT $5) counted) AS waiting_count
       FROM page p JOIN messages m ON m.pk = p.head_pk
       ORDER BY p.due_at, p.group_id`,
      [route, since, after, limit + 1, WAITING_COUNT_LIMIT + 1],
    );
    return pageOf(
      rows,
      limit,
      (row) => toBlockedGroup(route, row.blocked_group, row, row.waiting_count),
      (row) => [row.blocked_at, row.blocked_group],
    );
  }

  async setPaused(route: string, paused: boolean): Promise<void> {
    await this.transaction('full', async (q) => {
      await q(
        `INSERT INTO routes (name, paused) VALUES ($1, $2) ON CONFLICT (name) DO UPDATE SET paused = excluded.paused`,
        [route, paused],
      );
      if (!paused) await this.notify(q, [route]);
    });
    if (!paused) this.emitLocally([route]);
  }

  sweep(route: string, retention: RetentionPolicy, limit: number): Promise<SweepResult> {
    return this.transaction('full', async (q) => {
      const now = this.now();
      const expiring = await q<{ pk: number; route: string; group_id: string }>(
        `SELECT pk, route, group_id FROM messages WHERE route = $1 AND waiting
         AND enqueued_at < $2 AND state = 'queued' ORDER BY enqueued_at LIMIT $3`,
        [route, now - retention.queuedMs, limit],
      );
      const old = await q<{ pk: number; route: string; group_id: string }>(
        `SELECT pk, route, group_id FROM messages WHERE ${POSTGRES_ENDED.only('dead')}
         AND route = $1 AND finished_at < $2 ORDER BY finished_at LIMIT $3`,
        [route, now - retention.deadLetterMs, limit],
      );
      await this.lockGroups(q, uniqueGroups([...expiring, ...old]));
      // States are checked again under the locks: a message may have moved meanwhile.
      const expired = await q<MessageRow>(
        `UPDATE messages SET state = 'dead', finished_at = $1, dead_reason = $2, blocking = hookq_strict(route)
         WHERE pk = ANY($3) AND state = 'queued' RETURNING *`,
        [now, expiryReason(retention.queuedMs), expiring.map((row) => row.pk)],
      );
      const dead = await q<MessageRow>(
        `DELETE FROM messages WHERE pk = ANY($1) AND state = 'dead' RETURNING *`,
        [old.map((row) => row.pk)],
      );
      // Delivered messages are no group's head: no group lock needed to delete them.
      const delivered = await q(
        `WITH picked AS MATERIALIZED (
           SELECT pk FROM messages WHERE ${POSTGRES_ENDED.only('delivered')} AND route = $1
           AND finished_at < $2 ORDER BY finished_at LIMIT $3 FOR UPDATE SKIP LOCKED
         )
         DELETE FROM messages m USING picked WHERE m.pk = picked.pk RETURNING m.pk`,
        [route, now - retention.deliveredMs, limit],
      );
      await q(
        `DELETE FROM dedup WHERE route = $1 AND dedup_id IN
           (SELECT dedup_id FROM dedup WHERE route = $1 AND expires_at <= $2 LIMIT $3)`,
        [route, now, limit],
      );
      for (const [, group] of uniqueGroups([...expired, ...dead]))
        await this.refreshGroup(q, route, group);
      return {
        expired: expired.map(toMessage),
        deadLettersDeleted: dead.map(toMessage),
        deliveredDeleted: delivered.length,
      };
    });
  }

  async nextDueAt(route: string): Promise<number | null> {
    const [row] = await this.read<{ at: number | null }>(
      `SELECT min(due_at) AS at FROM groups WHERE route = $1 AND status = 'ready'`,
      [route],
    );
    return row?.at ?? null;
  }

  async nextLeaseExpiry(route: string): Promise<number | null> {
    const [row] = await this.read<{ at: number | null }>(
      `SELECT min(due_at) AS at FROM groups WHERE route = $1 AND status = 'inflight'`,
      [route],
    );
    return row?.at ?? null;
  }

  /** Ready when the database answers and the latest transaction was not refused by it. */
  async ping(): Promise<void> {
    await this.read('SELECT max(version) FROM hookq_migrations');
    if (this.failingWrites) {
      throw new StorageUnavailableError(`writes are failing: ${this.failingWrites.message}`);
    }
  }

  onWork(listener: (route: string) => void): () => void {
    return this.listener.subscribe(listener);
  }

  async holdsRole(role: string): Promise<boolean> {
    try {
      return await this.roles.take(role);
    } catch (error) {
      throw translatePgError(error, this.location);
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.folding);
    await this.enqueues.drain();
    await this.settles.drain();
    await this.listener.stop();
    await this.roles.close();
    await this.pool.end();
  }

  // --- inside transactions ---------------------------------------------------------

  /**
   * One commit for a batch of enqueues. If the database refuses the batch's data (a
   * value it cannot store), the items are committed again one by one, so that, as on
   * SQLite, only the item it refuses fails and not every other sender's webhook of the
   * batch.
   */
  private async commitEnqueues(
    items: QueuedMessage[],
  ): Promise<PromiseSettledResult<EnqueueResult>[]> {
    let results: PromiseSettledResult<EnqueueResult>[];
    try {
      await this.ensureRoutes(items.map((item) => item.route));
      results = await this.insertEnqueues(items);
    } catch (error) {
      if (!this.isRefusedData(error)) throw error;
      results =
        items.length === 1
          ? [{ status: 'rejected', reason: this.refusal(items[0]!, error) }]
          : await this.commitEachAlone(items);
    }
    const woken = new Set<string>();
    results.forEach((result, index) => {
      if (result.status === 'fulfilled' && !result.value.duplicate) woken.add(items[index]!.route);
    });
    this.emitLocally([...woken]);
    this.notifyAfterCommit([...woken]);
    return results;
  }

  /**
   * Each item in a transaction of its own, in the batch's order. Not one savepoint per
   * item in a single transaction: a batch takes dedup ids, route rows and group rows
   * each in sorted order, and items one after another would take them interleaved,
   * which could deadlock with a concurrent batch. Once the database fails for another
   * reason (it went away), the items not yet tried fail with that error.
   */
  private async commitEachAlone(
    items: QueuedMessage[],
  ): Promise<PromiseSettledResult<EnqueueResult>[]> {
    const results: PromiseSettledResult<EnqueueResult>[] = [];
    let failure: { error: unknown } | undefined;
    for (const item of items) {
      if (failure !== undefined) {
        results.push({ status: 'rejected', reason: failure.error });
        continue;
      }
      try {
        results.push(...(await this.insertEnqueues([item])));
      } catch (error) {
        if (this.isRefusedData(error)) {
          results.push({ status: 'rejected', reason: this.refusal(item, error) });
        } else {
          failure = { error };
          results.push({ status: 'rejected', reason: error });
        }
      }
    }
    return results;
  }

  /**
   * Whether the database refused the values themselves: SQLSTATE class 22 (data
   * exception, such as NUL in text), 23 (integrity constraint violation) or 54 (program
   * limit exceeded, such as a key too long for its index). Trying again cannot help
   * that item, while the other items of its batch may be fine.
   */
  private isRefusedData(error: unknown): boolean {
    return error instanceof pg.DatabaseError && /^(22|23|54)/.test(error.code ?? '');
  }

  private refusal(item: QueuedMessage, error: unknown): Error {
    return new WebhookRefusedError(
      `the database refused the webhook for route ${JSON.stringify(item.route)}, group ${JSON.stringify(item.group)}: ${(error as Error).message}`,
      { cause: error },
    );
  }

  /**
   * Enqueue a batch in one statement that commits on its own (hookq_enqueue): claim the
   * dedup ids, lock the groups and number the messages, insert messages and payloads,
   * and register new group heads.
   */
  private async insertEnqueues(
    items: QueuedMessage[],
  ): Promise<PromiseSettledResult<EnqueueResult>[]> {
    const now = this.now();
    const ids = items.map(() => newMessageId());
    const rows = await this.call<{ message_id: string; seq: number | null; duplicate: boolean }>(
      SQL.ENQUEUE,
      [
        items.map((item) => item.route),
        items.map((item) => item.group),
        ids,
        items.map((item) => item.dedupId),
        items.map((item) => now + item.dedupWindowMs),
        items.map((item) => item.replayOf ?? null),
        items.map((item) => JSON.stringify(item.headers)),
        items.map((item) => asBuffer(item.body)),
        now,
      ],
    );
    return rows.map(
      (row): PromiseSettledResult<EnqueueResult> => ({
        status: 'fulfilled',
        value: row.duplicate
          ? { messageId: row.message_id, duplicate: true }
          : { messageId: row.message_id, sequence: row.seq!, duplicate: false },
      }),
    );
  }

  /**
   * Record the attempt of a completed lease and move its group on. Settles that come
   * together go in one statement; whether the lease was still held comes back for each.
   */
  private settle(
    lease: LeaseRef,
    attempt: AttemptRecord,
    next: AfterFailure | undefined,
  ): Promise<boolean> {
    return this.settles.submit({ lease, attempt, next });
  }

  /**
   * A batch of settles; if the database refuses a value of one (an error text it cannot
   * store), each is settled alone, so that only that one fails.
   */
  private async commitSettles(items: Settle[]): Promise<PromiseSettledResult<boolean>[]> {
    try {
      return await this.settleBatch(items);
    } catch (error) {
      if (!this.isRefusedData(error) || items.length === 1) throw error;
      const results: PromiseSettledResult<boolean>[] = [];
      for (const item of items) {
        try {
          results.push(...(await this.settleBatch([item])));
        } catch (alone) {
          results.push({ status: 'rejected', reason: alone });
        }
      }
      return results;
    }
  }

  private async settleBatch(items: Settle[]): Promise<PromiseSettledResult<boolean>[]> {
    const retries = items.map(({ next }) =>
      next !== undefined && 'retryAt' in next ? next : undefined,
    );
    const column = <T>(value: (item: Settle, index: number) => T) => items.map(value);
    const attempts = items.map(({ attempt }) => attemptValues(attempt));
    const rows = await this.call<{ item: number; kept: boolean }>(SQL.SETTLE, [
      column(({ lease }) => lease.messageId),
      column(({ lease }) => lease.lease),
      this.now(),
      // The attempts' columns, each as an array.
      ...attempts[0]!.map((_, c) => attempts.map((values) => values[c])),
      column(({ attempt, next }) => (next === undefined ? null : attemptError(attempt))),
      column((_, i) => retries[i]?.retryAt ?? null),
      column(({ next }) => (next !== undefined && 'deadLetter' in next ? next.deadLetter : null)),
      column((_, i) => (retries[i]?.charged === false ? 0 : 1)),
      column((_, i) => retries[i]?.heldByOutage === true),
    ]);
    const kept = new Map(rows.map((row) => [row.item, row.kept]));
    return items.map((_, i) => ({ status: 'fulfilled', value: kept.get(i + 1) === true }));
  }

  /**
   * Lock the rows of these groups, in the database's order, before changing their
   * messages. Every transaction locks groups first and counters after, in one order, so
   * none can wait on another in a cycle.
   */
  private async lockGroups(q: Query, groups: ReadonlyArray<[string, string]>): Promise<void> {
    if (groups.length === 0) return;
    await q(SQL.LOCK_GROUPS, [groups.map(([route]) => route), groups.map(([, group]) => group)]);
  }

  /** Lock the row of the group a message belongs to (see lockGroups). */
  private async lockGroupOf(q: Query, messageId: string): Promise<void> {
    await q(
      `SELECT 1 FROM groups g JOIN messages m ON g.route = m.route AND g.group_id = m.group_id
       WHERE m.id = $1 FOR UPDATE OF g`,
      [messageId],
    );
  }

  /** Recompute a group's head (see hookq_refresh_group in the schema). */
  private async refreshGroup(q: Query, route: string, group: string): Promise<void> {
    await q('SELECT hookq_refresh_group($1, $2)', [route, group]);
  }

  /**
   * Give routes met for the first time their row and sequence (hookq_ensure_route), on
   * a connection of their own: creating a sequence must not wait inside an enqueue.
   */
  private async ensureRoutes(routes: readonly string[]): Promise<void> {
    const missing = [...new Set(routes)].filter((route) => !this.knownRoutes.has(route));
    if (missing.length === 0) return;
    await this.call('SELECT hookq_ensure_route(route) FROM unnest($1::text[]) AS route', [missing]);
    for (const route of missing) this.knownRoutes.add(route);
  }

  /**
   * Tell the other instances about new messages once they are committed. Not inside the
   * enqueue: PostgreSQL serialises the commits of all notifying transactions on one
   * lock, which an enqueue would then hold across its durable commit. This commit need
   * not wait for the disk: a lost notification costs only the polling delay. One
   * notification at a time: what commits while one is on its way joins the next, since
   * one per enqueue commit would make the commits of every instance queue for that lock
   * under load.
   */
  private notifyAfterCommit(routes: readonly string[]): void {
    for (const route of routes) this.toNotify.add(route);
    if (!this.notifying) this.sendNotifications();
  }

  private sendNotifications(): void {
    if (this.toNotify.size === 0 || this.closed) {
      this.notifying = false;
      return;
    }
    this.notifying = true;
    const routes = [...this.toNotify];
    this.toNotify.clear();
    this.pool
      .query(
        `SELECT set_config('synchronous_commit', 'off', true), pg_notify($1, route) FROM unnest($2::text[]) AS route`,
        [this.channel, routes],
      )
      .catch(() => undefined)
      .finally(() => this.sendNotifications());
  }

  private async notify(q: Query, routes: readonly string[]): Promise<void> {
    if (routes.length === 0) return;
    await q('SELECT pg_notify($1, route) FROM unnest($2::text[]) AS route', [this.channel, routes]);
  }

  /** Wake this process's dispatcher at once, without waiting for the notification. */
  private emitLocally(routes: readonly string[]): void {
    for (const route of routes) this.listener.emit(route);
  }

  private async count(route: string, state: MessageState): Promise<number> {
    const [row] = await this.read<{ n: number }>(
      'SELECT coalesce(sum(n), 0)::bigint AS n FROM route_totals WHERE route = $1 AND state = $2',
      [route, state],
    );
    return row?.n ?? 0;
  }

  // --- running statements ----------------------------------------------------------

  /**
   * Run `work` in one transaction. `full` commits with synchronous_commit on (durable
   * before it resolves); `normal` with it off. Deadlocks and serialization failures
   * are retried; a lost connection is discarded from the pool.
   */
  private async transaction<T>(
    durability: 'full' | 'normal',
    work: (q: Query) => Promise<T>,
  ): Promise<T> {
    if (this.closed) throw new StorageUnavailableError('the store is closed');
    for (let attempt = 1; ; attempt++) {
      let client: pg.PoolClient;
      try {
        client = await this.pool.connect();
      } catch (error) {
        throw translatePgError(error, this.location);
      }
      const q: Query = async (text, params) => (await client.query(text, params)).rows;
      // The pool stops listening for a client's errors while it is checked out, and the
      // driver reports a dropped connection (the server stopping) as an 'error' event as
      // well as failing the query: unheard, that event ends the process. The query fails
      // anyway, and the pool discards the broken client when it is released.
      client.on('error', ignoreError);
      try {
        await client.query(
          durability === 'full' ? 'BEGIN' : 'BEGIN; SET LOCAL synchronous_commit = off',
        );
        const result = await work(q);
        await client.query('COMMIT');
        client.removeListener('error', ignoreError);
        client.release();
        this.failingWrites = undefined;
        return result;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        client.removeListener('error', ignoreError);
        client.release(isConnectionLost(error) ? (error as Error) : undefined);
        if (isRetryable(error) && attempt < TRANSACTION_TRIES) continue;
        const translated = translatePgError(error, this.location);
        if (translated instanceof StorageUnavailableError) this.failingWrites = translated;
        throw translated;
      }
    }
  }

  /** One statement on its own (autocommit), retried after a deadlock or serialization failure. */
  private async call<R>(text: string, params: unknown[] = []): Promise<R[]> {
    if (this.closed) throw new StorageUnavailableError('the store is closed');
    for (let attempt = 1; ; attempt++) {
      try {
        const rows = (await this.pool.query(text, params)).rows as R[];
        this.failingWrites = undefined;
        return rows;
      } catch (error) {
        if (isRetryable(error) && attempt < TRANSACTION_TRIES) continue;
        const translated = translatePgError(error, this.location);
        if (translated instanceof StorageUnavailableError) this.failingWrites = translated;
        throw translated;
      }
    }
  }

  private async read<R>(text: string, params: unknown[] = []): Promise<R[]> {
    if (this.closed) throw new StorageUnavailableError('the store is closed');
    try {
      return (await this.pool.query(text, params)).rows as R[];
    } catch (error) {
      throw translatePgError(error, this.location);
    }
  }
}

function pgLocationOf(url: string): PgLocation {
  const location = storageLocationOf(url);
  if (location.kind !== 'postgres') {
    throw new ConfigError(
      'storage.url',
      'storage.url: the PostgreSQL store needs a postgres:// URL',
    );
  }
  return location;
}

function uniqueGroups(rows: Array<{ route: string; group_id: string }>): Array<[string, string]> {
  const seen = new Map<string, [string, string]>();
  for (const row of rows)
    seen.set(JSON.stringify([row.route, row.group_id]), [row.route, row.group_id]);
  return [...seen.values()];
}

function ignoreError(): void {
  // See transaction().
}
