import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { v7 as uuidv7 } from 'uuid';
import {
  ConflictError,
  CorruptDatabaseError,
  HookqError,
  NotFoundError,
  SchemaVersionError,
  StorageUnavailableError,
} from '../../core/errors.js';
import type { AfterFailure } from '../../core/retry.js';
import type {
  Attempt,
  AttemptOutcome,
  HeaderList,
  Message,
  MessageDetail,
  MessageState,
  Ordering,
} from '../../core/terms.js';
import { formatDuration } from '../../core/units.js';
import { CommitBatcher } from '../commit-batcher.js';
import { decodeCursor, encodeCursor } from '../cursor.js';
import type {
  AttemptRecord,
  BlockedGroup,
  ClaimedMessage,
  ClaimRequest,
  EnqueueResult,
  ExpiredLease,
  LeaseRef,
  ListQuery,
  NewMessage,
  Page,
  RedriveSelector,
  RetentionPolicy,
  RouteStats,
  Store,
  StoreCapabilities,
  StoreOptions,
  SweepResult,
} from '../store.js';
import { LATEST_VERSION, MIGRATIONS } from './migrations.js';

/** Most enqueues in one durable commit. */
const MAX_BATCH = 1000;

type Durability = 'full' | 'normal';

interface MessageRow {
  pk: number;
  id: string;
  route: string;
  group_id: string;
  seq: number;
  dedup_id: string | null;
  state: MessageState;
  attempts: number;
  total_attempts: number;
  received_at: number;
  enqueued_at: number;
  available_at: number;
  leased_at: number | null;
  lease_expires_at: number | null;
  finished_at: number | null;
  last_error: string | null;
  dead_reason: string | null;
  redrives: number;
  replay_of: string | null;
}

interface PayloadRow {
  headers: string;
  body: Buffer;
}

interface QueuedMessage extends NewMessage {
  replayOf?: string;
}

/**
 * The embedded store: one SQLite file in WAL mode.
 *
 * Durability: enqueues commit with `synchronous=FULL`, so the WAL is fsynced before an
 * enqueue resolves. Delivery bookkeeping (claims, outcomes) commits with `NORMAL`: a
 * process crash loses none of it, and a power cut can only lose an outcome, which
 * makes the message be delivered again (at-least-once), never lost. Any later FULL
 * commit makes the earlier ones durable too.
 */
export class SqliteStore implements Store {
  readonly capabilities: StoreCapabilities;

  private readonly db: Database.Database;
  private readonly now: () => number;
  private readonly ordering: Record<string, Ordering>;
  private readonly listeners = new Set<(route: string) => void>();
  private readonly enqueues: CommitBatcher<QueuedMessage, EnqueueResult>;
  private readonly sql: ReturnType<typeof prepareStatements>;
  private synchronous: Durability | undefined;
  private closed = false;

  private constructor(db: Database.Database, location: string, options: StoreOptions) {
    this.db = db;
    this.now = options.now ?? Date.now;
    this.ordering = options.ordering ?? {};
    this.capabilities = { kind: 'sqlite', crossProcessWakeups: false, location };
    this.sql = prepareStatements(db);
    this.enqueues = new CommitBatcher((items) => this.commitEnqueues(items), MAX_BATCH);
  }

  /** Open (creating if needed) the database at `path` and bring its schema up to date. */
  static open(path: string, options: StoreOptions = {}): SqliteStore {
    const location = resolve(path);
    let db: Database.Database;
    try {
      mkdirSync(dirname(location), { recursive: true });
      db = new Database(location);
    } catch (error) {
      throw new StorageUnavailableError(`cannot open ${location}: ${describe(error)}`, {
        cause: error,
      });
    }
    try {
      // Read before writing anything: a file that is not a hookq database, or one from
      // a newer hookq, must be refused untouched.
      checkBeforeWriting(db, location);
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
      db.pragma('busy_timeout = 5000');
      db.pragma('cache_size = -32000');
      migrate(db);
    } catch (error) {
      db.close();
      throw translate(error, location);
    }
    return new SqliteStore(db, location, options);
  }

  enqueue(message: NewMessage): Promise<EnqueueResult> {
    return this.enqueues.submit(message);
  }

  claimDue(request: ClaimRequest): Promise<ClaimedMessage[]> {
    return this.run('normal', () => {
      const route = this.sql.routeGet.get(request.route) as { paused: number } | undefined;
      if (route?.paused) return [];
      const inflight = this.count(request.route, 'inflight');
      const room = Math.min(request.limit, request.maxConcurrency - inflight);
      if (room <= 0) return [];
      const now = this.now();
      const heads = this.sql.dueHeads.all(request.route, now, room) as Array<{
        group_id: string;
        head_pk: number;
      }>;
      const claimed: ClaimedMessage[] = [];
      for (const head of heads) {
        const row = this.sql.lease.get(now, now + request.leaseMs, head.head_pk) as
          | MessageRow
          | undefined;
        // The groups table and the message always agree inside a transaction; a miss
        // here would mean a bug, and skipping is safer than leasing the wrong message.
        if (!row) continue;
        this.sql.groupStatus.run('inflight', null, request.route, head.group_id);
        const payload = this.sql.payloadGet.get(row.pk) as PayloadRow;
        claimed.push({
          messageId: row.id,
          route: row.route,
          group: row.group_id,
          sequence: row.seq,
          attempt: row.attempts,
          lease: row.total_attempts,
          receivedAt: row.received_at,
          headers: JSON.parse(payload.headers) as HeaderList,
          body: payload.body,
        });
      }
      return claimed;
    });
  }

  markDelivered(lease: LeaseRef, attempt: AttemptRecord): Promise<boolean> {
    return this.run('normal', () => {
      const row = this.sql.deliver.get(this.now(), lease.messageId, lease.lease) as
        | MessageRow
        | undefined;
      if (!row) return false;
      this.recordAttempt(row.pk, lease.lease, attempt);
      this.refreshGroup(row.route, row.group_id);
      return true;
    });
  }

  markFailed(lease: LeaseRef, attempt: AttemptRecord, next: AfterFailure): Promise<boolean> {
    return this.run('normal', () => {
      const error = attemptError(attempt);
      const row = (
        'retryAt' in next
          ? this.sql.retryLater.get(next.retryAt, error, lease.messageId, lease.lease)
          : this.sql.deadLetter.get(
              this.now(),
              next.deadLetter,
              error,
              lease.messageId,
              lease.lease,
            )
      ) as MessageRow | undefined;
      if (!row) return false;
      this.recordAttempt(row.pk, lease.lease, attempt);
      this.refreshGroup(row.route, row.group_id);
      return true;
    });
  }

  expiredLeases(limit: number): Promise<ExpiredLease[]> {
    return this.run('normal', () =>
      (this.sql.expiredLeases.all(this.now(), limit) as MessageRow[]).map((row) => ({
        messageId: row.id,
        lease: row.total_attempts,
        route: row.route,
        group: row.group_id,
        attempt: row.attempts,
        startedAt: row.leased_at ?? row.enqueued_at,
      })),
    );
  }

  redrive(selector: RedriveSelector, limit = Number.MAX_SAFE_INTEGER): Promise<number> {
    return this.run('full', () => {
      let pks: number[];
      if ('ids' in selector) {
        pks = selector.ids.flatMap((id) => {
          const row = this.sql.deadById.get(id) as { pk: number } | undefined;
          return row ? [row.pk] : [];
        });
        pks = pks.slice(0, limit);
      } else if ('route' in selector) {
        pks = (
          selector.group === undefined
            ? this.sql.deadOfRoute.all(selector.route, limit)
            : this.sql.deadOfGroup.all(selector.route, selector.group, limit)
        ).map((row) => (row as { pk: number }).pk);
      } else {
        pks = (this.sql.deadAll.all(limit) as Array<{ pk: number }>).map((row) => row.pk);
      }
      const now = this.now();
      const touched = new Map<string, { route: string; group: string }>();
      for (const pk of pks) {
        const row = this.sql.redrive.get(now, now, pk) as MessageRow | undefined;
        if (row)
          touched.set(JSON.stringify([row.route, row.group_id]), {
            route: row.route,
            group: row.group_id,
          });
      }
      for (const { route, group } of touched.values()) this.refreshGroup(route, group);
      return { moved: pks.length, routes: new Set([...touched.values()].map((t) => t.route)) };
    }).then(({ moved, routes }) => {
      for (const route of routes) this.emitWork(route);
      return moved;
    });
  }

  discard(id: string): Promise<Message | null> {
    return this.run('full', () => {
      const row = this.sql.messageById.get(id) as MessageRow | undefined;
      if (!row) return null;
      if (row.state !== 'dead') {
        throw new ConflictError(
          `message ${id} is ${row.state}; only dead letters can be discarded`,
        );
      }
      this.sql.deleteMessage.run(row.pk);
      this.refreshGroup(row.route, row.group_id);
      return toMessage(row);
    });
  }

  async replay(id: string): Promise<EnqueueResult & { duplicate: false }> {
    const original = await this.getMessage(id);
    if (!original) throw new NotFoundError(`no message ${id}`);
    if (original.state !== 'delivered') {
      throw new ConflictError(
        `message ${id} is ${original.state}; only delivered messages can be replayed (redrive dead letters instead)`,
      );
    }
    const result = await this.enqueues.submit({
      route: original.route,
      group: original.group,
      dedupId: null,
      dedupWindowMs: 0,
      headers: original.headers,
      body: original.body,
      replayOf: original.id,
    });
    return result as EnqueueResult & { duplicate: false };
  }

  getMessage(id: string): Promise<MessageDetail | null> {
    return this.read(() => {
      const row = this.sql.messageById.get(id) as MessageRow | undefined;
      if (!row) return null;
      const payload = this.sql.payloadGet.get(row.pk) as PayloadRow;
      const history = (this.sql.attemptsOf.all(row.pk) as AttemptRow[]).map(toAttempt);
      return {
        ...toMessage(row),
        headers: JSON.parse(payload.headers) as HeaderList,
        body: payload.body,
        history,
      };
    });
  }

  listMessages(query: ListQuery): Promise<Page<Message>> {
    return this.read(() => {
      const where: string[] = [];
      const params: Array<string | number> = [];
      if (query.state !== undefined) {
        where.push('state = ?');
        params.push(query.state);
      }
      if (query.route !== undefined) {
        where.push('route = ?');
        params.push(query.route);
      }
      if (query.group !== undefined) {
        where.push('group_id = ?');
        params.push(query.group);
      }
      if (query.cursor !== undefined) {
        const [route, seq] = decodeCursor(query.cursor, ['string', 'number'] as const);
        where.push('(route, seq) > (?, ?)');
        params.push(route, seq);
      }
      const sql = `SELECT * FROM messages ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY route, seq LIMIT ?`;
      const rows = this.db.prepare(sql).all(...params, query.limit + 1) as MessageRow[];
      const page = rows.slice(0, query.limit);
      const last = page.at(-1);
      return {
        items: page.map(toMessage),
        nextCursor: rows.length > query.limit && last ? encodeCursor([last.route, last.seq]) : null,
      };
    });
  }

  routeStats(routes: readonly string[]): Promise<RouteStats[]> {
    return this.read(() =>
      routes.map((route) => {
        const routeRow = this.sql.routeGet.get(route) as { paused: number } | undefined;
        const oldest = this.sql.oldestQueued.get(route) as { at: number | null };
        const blocked = this.sql.blockedCount.get(route) as { n: number };
        return {
          route,
          paused: Boolean(routeRow?.paused),
          queued: this.count(route, 'queued'),
          inflight: this.count(route, 'inflight'),
          dead: this.count(route, 'dead'),
          delivered: this.count(route, 'delivered'),
          blockedGroups: blocked.n,
          oldestQueuedAt: oldest.at,
        };
      }),
    );
  }

  blockedGroups(route: string, limit: number, cursor?: string): Promise<Page<BlockedGroup>> {
    return this.read(() => {
      const [since, after] = cursor
        ? decodeCursor(cursor, ['number', 'string'] as const)
        : [Number.MIN_SAFE_INTEGER, ''];
      const rows = this.sql.blockedPage.all(route, since, after, limit + 1) as Array<{
        group_id: string;
        due_at: number;
        head_pk: number;
      }>;
      const page = rows.slice(0, limit);
      const last = page.at(-1);
      return {
        items: page.map((row) => ({
          route,
          group: row.group_id,
          heldBy: toMessage(this.sql.messageByPk.get(row.head_pk) as MessageRow),
        })),
        nextCursor: rows.length > limit && last ? encodeCursor([last.due_at, last.group_id]) : null,
      };
    });
  }

  async setPaused(route: string, paused: boolean): Promise<void> {
    await this.run('full', () => this.sql.setPaused.run(route, paused ? 1 : 0));
    if (!paused) this.emitWork(route);
  }

  sweep(route: string, retention: RetentionPolicy, limit: number): Promise<SweepResult> {
    return this.run('full', () => {
      const now = this.now();
      const touched = new Set<string>();

      const reason = `expired: queued longer than ${formatDuration(retention.queuedMs)}`;
      const expired = (
        this.sql.queuedOlderThan.all(route, now - retention.queuedMs, limit) as Array<{
          pk: number;
        }>
      ).map((row) => {
        const updated = this.sql.expire.get(now, reason, row.pk) as MessageRow;
        touched.add(updated.group_id);
        return toMessage(updated);
      });

      const deadLettersDeleted = (
        this.sql.finishedOlderThan.all(
          'dead',
          route,
          now - retention.deadLetterMs,
          limit,
        ) as MessageRow[]
      ).map((row) => {
        this.sql.deleteMessage.run(row.pk);
        touched.add(row.group_id);
        return toMessage(row);
      });

      const delivered = this.sql.finishedOlderThan.all(
        'delivered',
        route,
        now - retention.deliveredMs,
        limit,
      ) as MessageRow[];
      for (const row of delivered) this.sql.deleteMessage.run(row.pk);

      this.sql.dedupExpire.run(route, route, now, limit);
      for (const group of touched) this.refreshGroup(route, group);
      return { expired, deadLettersDeleted, deliveredDeleted: delivered.length };
    });
  }

  nextDueAt(route: string): Promise<number | null> {
    return this.read(() => (this.sql.nextDue.get(route) as { at: number | null }).at);
  }

  nextLeaseExpiry(): Promise<number | null> {
    return this.read(() => (this.sql.nextLease.get() as { at: number | null }).at);
  }

  ping(): Promise<void> {
    return this.read(() => {
      this.sql.ping.get();
    });
  }

  onWork(listener: (route: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.enqueues.drain();
    this.closed = true;
    this.db.close();
  }

  // --- inside transactions -------------------------------------------------------

  private commitEnqueues(items: QueuedMessage[]): EnqueueResult[] {
    const results = this.runSync('full', () => items.map((item) => this.insert(item)));
    const routes = new Set<string>();
    items.forEach((item, index) => {
      if (!results[index]?.duplicate) routes.add(item.route);
    });
    for (const route of routes) this.emitWork(route);
    return results;
  }

  private insert(message: QueuedMessage): EnqueueResult {
    const now = this.now();
    if (message.dedupId !== null) {
      const seen = this.sql.dedupGet.get(message.route, message.dedupId) as
        | { message_id: string; expires_at: number }
        | undefined;
      if (seen && seen.expires_at > now) return { messageId: seen.message_id, duplicate: true };
    }
    const { last_seq: sequence } = this.sql.nextSeq.get(message.route) as { last_seq: number };
    const id = uuidv7();
    const pk = Number(
      this.sql.insertMessage.run(
        id,
        message.route,
        message.group,
        sequence,
        message.dedupId,
        now,
        now,
        now,
        message.replayOf ?? null,
      ).lastInsertRowid,
    );
    this.sql.insertPayload.run(pk, JSON.stringify(message.headers), asBuffer(message.body));
    // A new message has the highest sequence of its group: it becomes the head only
    // when the group has nothing else pending.
    this.sql.groupAdd.run(message.route, message.group, pk, now);
    if (message.dedupId !== null) {
      this.sql.dedupPut.run(message.route, message.dedupId, id, now + message.dedupWindowMs);
    }
    return { messageId: id, sequence, duplicate: false };
  }

  /**
   * Recompute a group's head after any change to its messages. The head is the message
   * in flight if there is one (one per group, always); otherwise the lowest sequence
   * among queued messages and, in strict ordering, dead letters, which then block it.
   */
  private refreshGroup(route: string, group: string): void {
    const inflight = this.sql.lowestInState.get(route, group, 'inflight') as HeadRow | undefined;
    if (inflight) {
      this.sql.groupPut.run(route, group, inflight.pk, 'inflight', null);
      return;
    }
    const queued = this.sql.lowestInState.get(route, group, 'queued') as HeadRow | undefined;
    const dead =
      this.orderingOf(route) === 'strict'
        ? (this.sql.lowestInState.get(route, group, 'dead') as HeadRow | undefined)
        : undefined;
    if (dead && (!queued || dead.seq < queued.seq)) {
      this.sql.groupPut.run(route, group, dead.pk, 'blocked', dead.finished_at);
    } else if (queued) {
      this.sql.groupPut.run(route, group, queued.pk, 'ready', queued.available_at);
    } else {
      this.sql.groupDelete.run(route, group);
    }
  }

  private recordAttempt(pk: number, number: number, attempt: AttemptRecord): void {
    this.sql.insertAttempt.run(
      pk,
      number,
      attempt.startedAt,
      Math.round(attempt.durationMs),
      attempt.outcome,
      attempt.status,
      attempt.responseExcerpt,
      attempt.error,
    );
  }

  private count(route: string, state: MessageState): number {
    const row = this.sql.countGet.get(route, state) as { n: number } | undefined;
    return row?.n ?? 0;
  }

  private orderingOf(route: string): Ordering {
    return this.ordering[route] ?? 'strict';
  }

  private emitWork(route: string): void {
    for (const listener of this.listeners) listener(route);
  }

  // --- running statements ----------------------------------------------------------

  private runSync<T>(durability: Durability, work: () => T): T {
    if (this.closed) throw new StorageUnavailableError('the store is closed');
    try {
      if (this.synchronous !== durability) {
        this.db.pragma(`synchronous = ${durability === 'full' ? 'FULL' : 'NORMAL'}`);
        this.synchronous = durability;
      }
      return this.db.transaction(work).immediate();
    } catch (error) {
      throw translate(error, this.capabilities.location);
    }
  }

  /** better-sqlite3 is synchronous; the Store contract is not, so errors become rejections. */
  private run<T>(durability: Durability, work: () => T): Promise<T> {
    try {
      return Promise.resolve(this.runSync(durability, work));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private read<T>(work: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new StorageUnavailableError('the store is closed'));
    try {
      return Promise.resolve(work());
    } catch (error) {
      return Promise.reject(translate(error, this.capabilities.location));
    }
  }
}

interface HeadRow {
  pk: number;
  seq: number;
  available_at: number;
  finished_at: number | null;
}

interface AttemptRow {
  number: number;
  started_at: number;
  duration_ms: number;
  outcome: AttemptOutcome;
  status: number | null;
  response_excerpt: string | null;
  error: string | null;
}

function prepareStatements(db: Database.Database) {
  const p = (sql: string) => db.prepare(sql);
  return {
    ping: p('SELECT 1'),
    routeGet: p('SELECT paused FROM routes WHERE name = ?'),
    setPaused: p(
      'INSERT INTO routes (name, paused) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET paused = excluded.paused',
    ),
    nextSeq: p(
      'INSERT INTO routes (name, last_seq) VALUES (?, 1) ON CONFLICT (name) DO UPDATE SET last_seq = last_seq + 1 RETURNING last_seq',
    ),
    countGet: p('SELECT n FROM route_counts WHERE route = ? AND state = ?'),
    dedupGet: p('SELECT message_id, expires_at FROM dedup WHERE route = ? AND dedup_id = ?'),
    dedupPut: p(
      `INSERT INTO dedup (route, dedup_id, message_id, expires_at) VALUES (?, ?, ?, ?)
       ON CONFLICT (route, dedup_id) DO UPDATE SET message_id = excluded.message_id, expires_at = excluded.expires_at`,
    ),
    dedupExpire: p(
      `DELETE FROM dedup WHERE route = ? AND dedup_id IN
         (SELECT dedup_id FROM dedup WHERE route = ? AND expires_at <= ? LIMIT ?)`,
    ),
    insertMessage: p(
      `INSERT INTO messages (id, route, group_id, seq, dedup_id, state, received_at, enqueued_at, available_at, replay_of)
       VALUES (?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?)`,
    ),
    insertPayload: p('INSERT INTO payloads (message_pk, headers, body) VALUES (?, ?, ?)'),
    payloadGet: p('SELECT headers, body FROM payloads WHERE message_pk = ?'),
    groupAdd: p(
      `INSERT INTO groups (route, group_id, head_pk, status, due_at) VALUES (?, ?, ?, 'ready', ?)
       ON CONFLICT (route, group_id) DO NOTHING`,
    ),
    groupPut: p(
      `INSERT INTO groups (route, group_id, head_pk, status, due_at) VALUES (?, ?, ?, ?, ?)
       ON CONFLICT (route, group_id) DO UPDATE SET head_pk = excluded.head_pk, status = excluded.status, due_at = excluded.due_at`,
    ),
    groupStatus: p('UPDATE groups SET status = ?, due_at = ? WHERE route = ? AND group_id = ?'),
    groupDelete: p('DELETE FROM groups WHERE route = ? AND group_id = ?'),
    dueHeads: p(
      `SELECT group_id, head_pk FROM groups WHERE route = ? AND status = 'ready' AND due_at <= ?
       ORDER BY due_at LIMIT ?`,
    ),
    nextDue: p(`SELECT min(due_at) AS at FROM groups WHERE route = ? AND status = 'ready'`),
    blockedCount: p(`SELECT count(*) AS n FROM groups WHERE route = ? AND status = 'blocked'`),
    blockedPage: p(
      `SELECT group_id, due_at, head_pk FROM groups WHERE route = ? AND status = 'blocked'
       AND (due_at, group_id) > (?, ?) ORDER BY due_at, group_id LIMIT ?`,
    ),
    lowestInState: p(
      `SELECT pk, seq, available_at, finished_at FROM messages
       WHERE route = ? AND group_id = ? AND state = ? ORDER BY seq LIMIT 1`,
    ),
    lease: p(
      `UPDATE messages SET state = 'inflight', attempts = attempts + 1, total_attempts = total_attempts + 1,
         leased_at = ?, lease_expires_at = ?
       WHERE pk = ? AND state = 'queued' RETURNING *`,
    ),
    deliver: p(
      `UPDATE messages SET state = 'delivered', finished_at = ?, lease_expires_at = NULL, last_error = NULL
       WHERE id = ? AND state = 'inflight' AND total_attempts = ? RETURNING *`,
    ),
    retryLater: p(
      `UPDATE messages SET state = 'queued', available_at = ?, lease_expires_at = NULL, last_error = ?
       WHERE id = ? AND state = 'inflight' AND total_attempts = ? RETURNING *`,
    ),
    deadLetter: p(
      `UPDATE messages SET state = 'dead', finished_at = ?, dead_reason = ?, last_error = ?, lease_expires_at = NULL
       WHERE id = ? AND state = 'inflight' AND total_attempts = ? RETURNING *`,
    ),
    expire: p(
      `UPDATE messages SET state = 'dead', finished_at = ?, dead_reason = ? WHERE pk = ? RETURNING *`,
    ),
    insertAttempt: p(
      `INSERT INTO attempts (message_pk, number, started_at, duration_ms, outcome, status, response_excerpt, error)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    attemptsOf: p('SELECT * FROM attempts WHERE message_pk = ? ORDER BY number'),
    expiredLeases: p(
      `SELECT * FROM messages WHERE state = 'inflight' AND lease_expires_at <= ?
       ORDER BY lease_expires_at LIMIT ?`,
    ),
    nextLease: p(`SELECT min(lease_expires_at) AS at FROM messages WHERE state = 'inflight'`),
    messageById: p('SELECT * FROM messages WHERE id = ?'),
    messageByPk: p('SELECT * FROM messages WHERE pk = ?'),
    deadById: p(`SELECT pk FROM messages WHERE id = ? AND state = 'dead'`),
    deadOfRoute: p(
      `SELECT pk FROM messages WHERE state = 'dead' AND route = ? ORDER BY seq LIMIT ?`,
    ),
    deadOfGroup: p(
      `SELECT pk FROM messages WHERE route = ? AND group_id = ? AND state = 'dead' ORDER BY seq LIMIT ?`,
    ),
    deadAll: p(`SELECT pk FROM messages WHERE state = 'dead' ORDER BY route, seq LIMIT ?`),
    redrive: p(
      `UPDATE messages SET state = 'queued', attempts = 0, available_at = ?, enqueued_at = ?,
         finished_at = NULL, dead_reason = NULL, redrives = redrives + 1
       WHERE pk = ? AND state = 'dead' RETURNING *`,
    ),
    deleteMessage: p('DELETE FROM messages WHERE pk = ?'),
    oldestQueued: p(
      `SELECT min(enqueued_at) AS at FROM messages WHERE route = ? AND state = 'queued'`,
    ),
    queuedOlderThan: p(
      `SELECT pk FROM messages WHERE route = ? AND state = 'queued' AND enqueued_at < ?
       ORDER BY enqueued_at LIMIT ?`,
    ),
    finishedOlderThan: p(
      `SELECT * FROM messages WHERE state = ? AND route = ? AND finished_at < ? ORDER BY finished_at LIMIT ?`,
    ),
  };
}

/** Refuse, before any write, a file that is not a hookq database or is from a newer hookq. */
function checkBeforeWriting(db: Database.Database, location: string): void {
  const tables = db.prepare(`SELECT name FROM sqlite_master WHERE type = 'table'`).all() as Array<{
    name: string;
  }>;
  const names = new Set(tables.map((table) => table.name));
  if (!names.has('hookq_migrations')) {
    if (names.size > 0) {
      throw new CorruptDatabaseError(
        location,
        `it holds other tables (${[...names].slice(0, 3).join(', ')}) and no hookq schema`,
      );
    }
    return;
  }
  const found =
    (db.prepare('SELECT max(version) AS v FROM hookq_migrations').get() as { v: number | null })
      .v ?? 0;
  if (found > LATEST_VERSION) throw new SchemaVersionError(location, found, LATEST_VERSION);
}

/**
 * Apply pending migrations, one exclusive transaction each. The version is read again
 * inside the lock, so two processes opening one new file do not both migrate it.
 */
function migrate(db: Database.Database): void {
  db.exec(
    'CREATE TABLE IF NOT EXISTS hookq_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)',
  );
  for (const migration of MIGRATIONS) {
    db.transaction(() => {
      const applied = db
        .prepare('SELECT 1 FROM hookq_migrations WHERE version = ?')
        .get(migration.version);
      if (applied) return;
      db.exec(migration.sql);
      db.prepare('INSERT INTO hookq_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
        migration.version,
        migration.name,
        Date.now(),
      );
    }).exclusive();
  }
}

/** Map driver errors to hookq's: damaged files, and storage that cannot take writes. */
function translate(error: unknown, location: string): Error {
  if (error instanceof HookqError) return error;
  const code = (error as { code?: unknown })?.code;
  if (typeof code === 'string') {
    if (code === 'SQLITE_NOTADB' || code.startsWith('SQLITE_CORRUPT')) {
      return new CorruptDatabaseError(location, describe(error), { cause: error });
    }
    if (/^SQLITE_(FULL|IOERR|READONLY|BUSY|LOCKED|CANTOPEN|PERM|NOMEM|PROTOCOL)/.test(code)) {
      return new StorageUnavailableError(`${location}: ${describe(error)}`, { cause: error });
    }
  }
  return error instanceof Error ? error : new Error(String(error));
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function asBuffer(bytes: Uint8Array): Buffer {
  return Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function attemptError(attempt: AttemptRecord): string {
  return attempt.error ?? (attempt.status !== null ? `HTTP ${attempt.status}` : attempt.outcome);
}

function toMessage(row: MessageRow): Message {
  return {
    id: row.id,
    route: row.route,
    group: row.group_id,
    sequence: row.seq,
    dedupId: row.dedup_id,
    state: row.state,
    attempts: row.attempts,
    receivedAt: row.received_at,
    enqueuedAt: row.enqueued_at,
    availableAt: row.available_at,
    leaseExpiresAt: row.lease_expires_at,
    finishedAt: row.finished_at,
    lastError: row.last_error,
    deadReason: row.dead_reason,
    redrives: row.redrives,
    replayOf: row.replay_of,
  };
}

function toAttempt(row: AttemptRow): Attempt {
  return {
    number: row.number,
    startedAt: row.started_at,
    durationMs: row.duration_ms,
    outcome: row.outcome,
    status: row.status,
    responseExcerpt: row.response_excerpt,
    error: row.error,
  };
}
