import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { ConflictError, NotFoundError, StorageUnavailableError } from '../../core/errors.js';
import { newMessageId } from '../../core/ids.js';
import type { AfterFailure } from '../../core/retry.js';
import {
  type HeaderList,
  MESSAGE_STATES,
  type Message,
  type MessageDetail,
  type MessageState,
  type Ordering,
} from '../../core/terms.js';
import { formatDuration } from '../../core/units.js';
import { CommitBatcher } from '../commit-batcher.js';
import { decodeCursor, encodeCursor } from '../cursor.js';
import {
  type AttemptRow,
  asBuffer,
  attemptError,
  expiryReason,
  type HeadRow,
  type MessageRow,
  type PayloadRow,
  toAttempt,
  toMessage,
} from '../rows.js';
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
  QueuedMessage,
  RedriveSelector,
  RetentionPolicy,
  RouteStats,
  Store,
  StoreCapabilities,
  StoreOptions,
  SweepResult,
} from '../store.js';
import { Checkpointer } from './checkpointer.js';
import { checkBeforeWriting, describe, migrate, translateSqliteError } from './migrate.js';
import { prepareStatements, type Statements } from './statements.js';

/** Most writes in one commit. */
const MAX_BATCH = 1000;

/** `full`: fsynced before it resolves (acknowledged data). `normal`: survives a process crash. */
type Durability = 'full' | 'normal';

interface Write {
  durability: Durability;
  work: () => unknown;
}

/**
 * The embedded store: one SQLite file in WAL mode.
 *
 * Every write goes through one group-commit queue: writes that arrive together share a
 * transaction, each in its own savepoint so that one failing write does not undo the
 * others. A batch holding an enqueue (or an operator's action) commits with
 * `synchronous=FULL`, so the WAL is fsynced before any of them resolves. A batch of
 * delivery bookkeeping only (claims, outcomes) commits with `NORMAL`: a process crash
 * loses none of it, and a power cut can only lose an outcome, which makes the message
 * be delivered again (at-least-once), never lost. Any later FULL commit makes the
 * earlier ones durable too.
 */
export class SqliteStore implements Store {
  readonly capabilities: StoreCapabilities;

  private readonly db: Database.Database;
  private readonly sql: Statements;
  private readonly now: () => number;
  private readonly ordering: Record<string, Ordering>;
  private readonly listeners = new Set<(route: string) => void>();
  private readonly writes: CommitBatcher<Write, unknown>;
  private readonly checkpointer: Checkpointer;
  private synchronous: Durability | undefined;
  /** Why the latest commit failed; cleared by the next one that succeeds. */
  private failingWrites: Error | undefined;
  private closed = false;

  private constructor(db: Database.Database, location: string, options: StoreOptions) {
    this.db = db;
    this.sql = prepareStatements(db);
    this.now = options.now ?? Date.now;
    this.ordering = options.ordering ?? {};
    // One queue of writes, committed in the order they were called.
    this.capabilities = {
      kind: 'sqlite',
      crossProcessWakeups: false,
      writesInCallOrder: true,
      location,
    };
    this.writes = new CommitBatcher((items) => this.commitWrites(items), MAX_BATCH);
    this.checkpointer = new Checkpointer(location);
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
      // Savepoints keep statement journals; in memory they cost no file I/O.
      db.pragma('temp_store = MEMORY');
      // The Checkpointer copies the WAL back from its own thread all the time; this
      // connection's automatic checkpoint then finds little left to copy, and lets the
      // WAL start over from its beginning instead of growing.
      db.pragma('wal_autocheckpoint = 10000');
      migrate(db);
    } catch (error) {
      db.close();
      throw translateSqliteError(error, location);
    }
    return new SqliteStore(db, location, options);
  }

  async enqueue(message: NewMessage): Promise<EnqueueResult> {
    const result = await this.write('full', () => this.insert(message));
    if (!result.duplicate) this.emitWork(message.route);
    return result;
  }

  claimDue(request: ClaimRequest): Promise<ClaimedMessage[]> {
    return this.write('normal', () => {
      const route = this.sql.routeGet.get(request.route) as { paused: number } | undefined;
      if (route?.paused) return [];
      const room = Math.min(
        request.limit,
        request.maxConcurrency - this.count(request.route, 'inflight'),
      );
      if (room <= 0) return [];
      const now = this.now();
      const leaseExpiresAt = now + request.leaseMs;
      const heads = this.sql.dueHeads.all(request.route, now, room) as Array<{
        group_id: string;
        head_pk: number;
      }>;
      return heads.map((head): ClaimedMessage => {
        const row = this.sql.lease.get(now, leaseExpiresAt, head.head_pk) as MessageRow;
        this.sql.groupLeased.run(leaseExpiresAt, request.route, head.group_id);
        const payload = this.sql.payloadGet.get(row.pk) as PayloadRow;
        return {
          messageId: row.id,
          lease: row.total_attempts,
          route: row.route,
          group: row.group_id,
          sequence: row.seq,
          attempt: row.attempts,
          receivedAt: row.received_at,
          headers: JSON.parse(payload.headers) as HeaderList,
          body: payload.body,
        };
      });
    });
  }

  markDelivered(lease: LeaseRef, attempt: AttemptRecord): Promise<boolean> {
    return this.write('normal', () =>
      this.settle(this.sql.deliver.get(this.now(), lease.messageId, lease.lease), lease, attempt),
    );
  }

  markFailed(lease: LeaseRef, attempt: AttemptRecord, next: AfterFailure): Promise<boolean> {
    return this.write('normal', () => {
      const error = attemptError(attempt);
      const row =
        'retryAt' in next
          ? this.sql.retryLater.get(next.retryAt, error, lease.messageId, lease.lease)
          : this.sql.deadLetter.get(
              this.now(),
              next.deadLetter,
              error,
              lease.messageId,
              lease.lease,
            );
      const dead = row as MessageRow | undefined;
      // A dead letter of a strict route holds its group: it stays among the pending.
      if (dead && 'deadLetter' in next && this.orderingOf(dead.route) === 'strict') {
        this.sql.markBlocking.run(dead.pk);
      }
      return this.settle(row, lease, attempt);
    });
  }

  expiredLeases(route: string, limit: number): Promise<ExpiredLease[]> {
    return this.read(() =>
      (this.sql.expiredLeases.all(route, this.now(), limit) as MessageRow[]).map((row) => ({
        messageId: row.id,
        lease: row.total_attempts,
        route,
        group: row.group_id,
        attempt: row.attempts,
        startedAt: row.leased_at ?? 0,
      })),
    );
  }

  async redrive(selector: RedriveSelector, limit = Number.MAX_SAFE_INTEGER): Promise<number> {
    const { moved, routes } = await this.write('full', () => {
      const pks = this.deadLettersFor(selector, limit);
      const now = this.now();
      const groups = new Map<string, [route: string, group: string]>();
      for (const pk of pks) {
        const row = this.sql.redrive.get(now, now, pk) as {
          route: string;
          group_id: string;
        };
        groups.set(JSON.stringify([row.route, row.group_id]), [row.route, row.group_id]);
      }
      for (const [route, group] of groups.values()) this.refreshGroup(route, group);
      return {
        moved: pks.length,
        routes: new Set([...groups.values()].map(([route]) => route)),
      };
    });
    for (const route of routes) this.emitWork(route);
    return moved;
  }

  countDead(selector: { route: string; group?: string } | { all: true }): Promise<number> {
    return this.read(() => {
      if ('all' in selector) return (this.sql.deadCountAll.get() as { n: number }).n;
      if (selector.group === undefined) return this.count(selector.route, 'dead');
      return (
        this.sql.deadCountOfGroup.get(selector.route, selector.group) as {
          n: number;
        }
      ).n;
    });
  }

  async discard(id: string): Promise<Message | null> {
    const discarded = await this.write('full', () => {
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
    // The message behind it may be the group's head now.
    if (discarded) this.emitWork(discarded.route);
    return discarded;
  }

  async replay(id: string): Promise<EnqueueResult & { duplicate: false }> {
    const original = await this.getMessage(id);
    if (!original) throw new NotFoundError(`no message ${id}`);
    if (original.state !== 'delivered') {
      throw new ConflictError(
        `message ${id} is ${original.state}; only delivered messages can be replayed (redrive dead letters instead)`,
      );
    }
    const copy: QueuedMessage = {
      route: original.route,
      group: original.group,
      dedupId: null,
      dedupWindowMs: 0,
      headers: original.headers,
      body: original.body,
      replayOf: original.id,
    };
    const result = await this.write('full', () => this.insert(copy));
    this.emitWork(copy.route);
    return result as EnqueueResult & { duplicate: false };
  }

  getMessage(id: string): Promise<MessageDetail | null> {
    return this.read(() => {
      const row = this.sql.messageById.get(id) as MessageRow | undefined;
      if (!row) return null;
      const payload = this.sql.payloadGet.get(row.pk) as PayloadRow;
      return {
        ...toMessage(row),
        headers: JSON.parse(payload.headers) as HeaderList,
        body: payload.body,
        history: (this.sql.attemptsOf.all(row.pk) as AttemptRow[]).map(toAttempt),
      };
    });
  }

  listMessages(query: ListQuery): Promise<Page<Message>> {
    return this.read(() => {
      const where: string[] = [];
      const params: Array<string | number> = [];
      let from = 'messages m';
      if (query.state !== undefined) {
        // A literal, so that the planner can use the partial index for the state.
        if (!MESSAGE_STATES.includes(query.state)) throw new Error(`unknown state ${query.state}`);
        if (query.state === 'dead' || query.state === 'delivered') {
          where.push(`m.state IN ('dead', 'delivered')`);
        } else if (query.state === 'inflight') {
          // Few messages are in flight and each heads its group: find them there.
          from = `groups g JOIN messages m ON m.pk = g.head_pk AND g.status = 'inflight'`;
        }
        where.push(`m.state = '${query.state}'`);
      }
      if (query.route !== undefined) {
        where.push('m.route = ?');
        params.push(query.route);
      }
      if (query.group !== undefined) {
        where.push('m.group_id = ?');
        params.push(query.group);
      }
      if (query.cursor !== undefined) {
        const [route, seq] = decodeCursor(query.cursor, ['string', 'number'] as const);
        where.push('(m.route, m.seq) > (?, ?)');
        params.push(route, seq);
      }
      const sql = `SELECT m.* FROM ${from} ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
        ORDER BY m.route, m.seq LIMIT ?`;
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
        return {
          route,
          paused: Boolean(routeRow?.paused),
          queued: this.count(route, 'queued'),
          inflight: this.count(route, 'inflight'),
          dead: this.count(route, 'dead'),
          delivered: this.count(route, 'delivered'),
          blockedGroups: (this.sql.blockedCount.get(route) as { n: number }).n,
          oldestWaitingAt: (this.sql.oldestWaiting.get(route) as { at: number | null }).at,
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
    await this.write('full', () => this.sql.setPaused.run(route, paused ? 1 : 0));
    if (!paused) this.emitWork(route);
  }

  sweep(route: string, retention: RetentionPolicy, limit: number): Promise<SweepResult> {
    return this.write('full', () => {
      const now = this.now();
      const touched = new Set<string>();

      const reason = expiryReason(retention.queuedMs, formatDuration);
      const blocking = this.orderingOf(route) === 'strict' ? 1 : 0;
      const old = this.sql.queuedOlderThan.all(route, now - retention.queuedMs, limit) as Array<{
        pk: number;
      }>;
      const expired = old.map(({ pk }) => {
        const row = this.sql.expire.get(now, reason, blocking, pk) as MessageRow;
        touched.add(row.group_id);
        return toMessage(row);
      });

      const dead = this.sql.deadOlderThan.all(
        route,
        now - retention.deadLetterMs,
        limit,
      ) as MessageRow[];
      for (const row of dead) {
        this.sql.deleteMessage.run(row.pk);
        touched.add(row.group_id);
      }

      const delivered = this.sql.deliveredOlderThan.all(
        route,
        now - retention.deliveredMs,
        limit,
      ) as Array<{
        pk: number;
      }>;
      for (const { pk } of delivered) this.sql.deleteMessage.run(pk);

      this.sql.dedupExpire.run(route, route, now, limit);
      for (const group of touched) this.refreshGroup(route, group);
      return {
        expired,
        deadLettersDeleted: dead.map(toMessage),
        deliveredDeleted: delivered.length,
      };
    });
  }

  nextDueAt(route: string): Promise<number | null> {
    return this.read(() => (this.sql.nextDue.get(route) as { at: number | null }).at);
  }

  nextLeaseExpiry(route: string): Promise<number | null> {
    return this.read(() => (this.sql.nextLease.get(route) as { at: number | null }).at);
  }

  /**
   * Ready when the file can be read and the latest commit went through: a database that
   * is locked by another process, or on a full disk, answers reads but takes no writes.
   */
  ping(): Promise<void> {
    return this.read(() => {
      this.sql.ping.get();
      if (this.failingWrites) {
        throw new StorageUnavailableError(`writes are failing: ${this.failingWrites.message}`);
      }
    });
  }

  onWork(listener: (route: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.writes.drain();
    await this.checkpointer.stop();
    this.db.close();
  }

  // --- inside a transaction ----------------------------------------------------------

  private insert(message: QueuedMessage): EnqueueResult {
    const now = this.now();
    if (message.dedupId !== null) {
      const seen = this.sql.dedupGet.get(message.route, message.dedupId) as
        | { message_id: string; expires_at: number }
        | undefined;
      if (seen && seen.expires_at > now) return { messageId: seen.message_id, duplicate: true };
    }
    const { last_seq: sequence } = this.sql.nextSeq.get(message.route) as {
      last_seq: number;
    };
    const id = newMessageId();
    const { lastInsertRowid } = this.sql.insertMessage.run(
      id,
      message.route,
      message.group,
      sequence,
      message.dedupId,
      now,
      now,
      now,
      message.replayOf ?? null,
    );
    const pk = Number(lastInsertRowid);
    this.sql.insertPayload.run(pk, JSON.stringify(message.headers), asBuffer(message.body));
    // A new message has the highest sequence of its group: it becomes the head only
    // when the group has nothing else pending.
    this.sql.groupAdd.run(message.route, message.group, pk, now);
    if (message.dedupId !== null) {
      this.sql.dedupPut.run(message.route, message.dedupId, id, now + message.dedupWindowMs);
    }
    return { messageId: id, sequence, duplicate: false };
  }

  /** Record the attempt of a completed lease and move its group on. */
  private settle(row: unknown, lease: LeaseRef, attempt: AttemptRecord): boolean {
    if (!row) return false; // the lease was lost: expired, and the message taken again
    const { pk, route, group_id } = row as {
      pk: number;
      route: string;
      group_id: string;
    };
    this.sql.insertAttempt.run(
      pk,
      lease.lease,
      attempt.startedAt,
      Math.round(attempt.durationMs),
      attempt.outcome,
      attempt.status,
      attempt.responseExcerpt,
      attempt.error,
    );
    this.refreshGroup(route, group_id);
    return true;
  }

  /**
   * Recompute a group's head after a change to its messages. While a message of the
   * group is in flight, it stays the head: one at a time, always. Otherwise the head is
   * the first undelivered message in sequence order: queued (the group is ready) or,
   * in strict ordering, a dead letter (the group is blocked). In fifo ordering dead
   * letters are passed over.
   */
  private refreshGroup(route: string, group: string): void {
    const current = this.sql.groupGet.get(route, group) as
      | { head_pk: number; status: string }
      | undefined;
    if (current?.status === 'inflight') {
      const head = this.sql.stateByPk.get(current.head_pk) as { state: MessageState } | undefined;
      if (head?.state === 'inflight') return;
    }
    const first = (
      this.orderingOf(route) === 'strict'
        ? this.sql.firstPending.get(route, group)
        : this.sql.firstQueued.get(route, group)
    ) as HeadRow | undefined;
    if (!first) {
      this.sql.groupDelete.run(route, group);
    } else if (first.state === 'dead') {
      this.sql.groupPut.run(route, group, first.pk, 'blocked', first.finished_at);
    } else {
      this.sql.groupPut.run(route, group, first.pk, 'ready', first.available_at);
    }
  }

  private deadLettersFor(selector: RedriveSelector, limit: number): number[] {
    if ('ids' in selector) {
      return selector.ids
        .flatMap((id) => {
          const row = this.sql.deadById.get(id) as { pk: number } | undefined;
          return row ? [row.pk] : [];
        })
        .slice(0, limit);
    }
    const rows =
      'all' in selector
        ? this.sql.deadAll.all(limit)
        : selector.group === undefined
          ? this.sql.deadOfRoute.all(selector.route, limit)
          : this.sql.deadOfGroup.all(selector.route, selector.group, limit);
    return (rows as Array<{ pk: number }>).map((row) => row.pk);
  }

  private count(route: string, state: MessageState): number {
    return (this.sql.countGet.get(route, state) as { n: number } | undefined)?.n ?? 0;
  }

  private orderingOf(route: string): Ordering {
    return this.ordering[route] ?? 'strict';
  }

  private emitWork(route: string): void {
    for (const listener of this.listeners) listener(route);
  }

  // --- running statements ----------------------------------------------------------

  private write<T>(durability: Durability, work: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new StorageUnavailableError('the store is closed'));
    return this.writes.submit({ durability, work }) as Promise<T>;
  }

  private commitWrites(items: Write[]): PromiseSettledResult<unknown>[] {
    const durability = items.some((item) => item.durability === 'full') ? 'full' : 'normal';
    try {
      if (this.synchronous !== durability) {
        this.db.pragma(`synchronous = ${durability === 'full' ? 'FULL' : 'NORMAL'}`);
        this.synchronous = durability;
      }
      const results = this.db
        .transaction(() =>
          items.map((item): PromiseSettledResult<unknown> => {
            // Each item in a savepoint: only this item rolls back on error.
            this.sql.savepoint.run();
            try {
              const value = item.work();
              this.sql.release.run();
              return { status: 'fulfilled', value };
            } catch (error) {
              // Some errors (disk full, I/O) make SQLite abandon the whole transaction;
              // then nothing of this batch may be reported as written.
              if (!this.db.inTransaction) throw error;
              this.sql.rollbackItem.run();
              this.sql.release.run();
              return {
                status: 'rejected',
                reason: translateSqliteError(error, this.capabilities.location),
              };
            }
          }),
        )
        .immediate();
      this.failingWrites = results.find(
        (result): result is PromiseRejectedResult =>
          result.status === 'rejected' && result.reason instanceof StorageUnavailableError,
      )?.reason;
      return results;
    } catch (error) {
      this.failingWrites = translateSqliteError(error, this.capabilities.location);
      throw this.failingWrites;
    }
  }

  /** Reads run at once; better-sqlite3 is synchronous, the Store contract is not. */
  private read<T>(work: () => T): Promise<T> {
    if (this.closed) return Promise.reject(new StorageUnavailableError('the store is closed'));
    try {
      return Promise.resolve(work());
    } catch (error) {
      return Promise.reject(translateSqliteError(error, this.capabilities.location));
    }
  }
}
