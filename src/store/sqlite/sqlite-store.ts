import {
  closeSync,
  existsSync,
  fsyncSync,
  linkSync,
  mkdirSync,
  openSync,
  statSync,
  unlinkSync,
} from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { ConflictError, StorageUnavailableError } from '../../core/errors.js';
import { newMessageId } from '../../core/ids.js';
import type { TargetHealth } from '../../core/outage.js';
import { expiryReason, type RetentionPolicy } from '../../core/retention.js';
import type { AfterFailure } from '../../core/retry.js';
import type {
  HeaderList,
  Message,
  MessageDetail,
  MessageState,
  Ordering,
} from '../../core/terms.js';
import type { Logger } from '../../log.js';
import { CommitBatcher } from '../commit-batcher.js';
import { decodeCursor, pageOf } from '../cursor.js';
import {
  type AttemptRow,
  asBuffer,
  attemptError,
  type HeadRow,
  healthOf,
  type MessageRow,
  type PayloadRow,
  type RouteHealthRow,
  replayCopyOf,
  toAttempt,
  toClaimedMessage,
  toExpiredLease,
  toMessage,
} from '../rows.js';
import { listMessagesSql } from '../sql.js';
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
  RouteStats,
  Store,
  StoreCapabilities,
  StoreOptions,
  SweepResult,
} from '../store.js';
import { Checkpointer } from './checkpointer.js';
import { describe, translateSqliteError } from './errors.js';
import { checkBeforeWriting, migrate } from './migrate.js';
import { prepareStatements, type Statements } from './queries.js';

/** The columns of a route's row. */
interface RouteRow extends RouteHealthRow {
  paused: number;
  probe_until: number | null;
  rate_next_at: number | null;
}

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
  private readonly onStaleGroup: StoreOptions['onStaleGroup'];
  private readonly writes: CommitBatcher<Write, unknown>;
  private readonly checkpointer: Checkpointer;
  private synchronous: Durability | undefined;
  /** Why the latest commit failed; cleared by the next one that succeeds. */
  private failingWrites: Error | undefined;
  private closed = false;
  /** The files this store has open, and whether the path still names them; set by open(). */
  private files!: OpenFiles;

  private constructor(db: Database.Database, location: string, options: StoreOptions) {
    this.db = db;
    this.sql = prepareStatements(db);
    this.now = options.now ?? Date.now;
    this.ordering = options.ordering ?? {};
    this.onStaleGroup = options.onStaleGroup;
    // One queue of writes, committed in the order they were called.
    this.capabilities = {
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
    let files: OpenFiles;
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
      // After migrating: its transactions have made SQLite create the write-ahead log.
      files = new OpenFiles(location, options.log);
    } catch (error) {
      db.close();
      throw translateSqliteError(error, location);
    }
    const store = new SqliteStore(db, location, options);
    store.files = files;
    files.watch();
    return store;
  }

  async enqueue(message: NewMessage): Promise<EnqueueResult> {
    const result = await this.write('full', () => this.insert(message));
    if (!result.duplicate) this.emitWork(message.route);
    return result;
  }

  claimDue(request: ClaimRequest): Promise<ClaimedMessage[]> {
    return this.write('normal', () => {
      const route = this.sql.routeGet.get(request.route) as RouteRow | undefined;
      if (!route || route.paused) return [];
      let room = Math.min(
        request.limit,
        request.maxConcurrency - this.count(request.route, 'inflight'),
      );
      if (room <= 0) return [];
      const now = this.now();
      const probe = route.target_state === 'down';
      if (probe) {
        // One probe at a time, once its time has come.
        if ((route.probe_at ?? 0) > now || (route.probe_until ?? 0) > now) return [];
        room = 1;
      }
      if (request.maxPerSecond !== undefined) {
        // Starts at least 1/maxPerSecond apart: no second ever holds more than that many.
        if ((route.rate_next_at ?? 0) > now) return [];
        room = 1;
      }
      const leaseExpiresAt = now + request.leaseMs;
      const claimed: ClaimedMessage[] = [];
      // A stale row leases nothing and is dropped: look again for the room it took.
      for (let stale = true, tries = 0; stale && claimed.length < room && tries < 3; tries++) {
        const heads = (
          probe
            ? this.sql.probeHead.all(request.route, now)
            : this.sql.dueHeads.all(request.route, now, room - claimed.length)
        ) as Array<{ group_id: string; head_pk: number }>;
        const before = claimed.length;
        for (const head of heads) {
          claimed.push(...this.leaseHead(request.route, head, now, probe, leaseExpiresAt));
        }
        stale = claimed.length - before < heads.length;
      }
      if (claimed.length > 0 && probe) this.sql.probeLeased.run(leaseExpiresAt, request.route);
      if (claimed.length > 0 && request.maxPerSecond !== undefined) {
        this.sql.rateTaken.run(now + 1000 / request.maxPerSecond, request.route);
      }
      return claimed;
    });
  }

  /**
   * Lease one group head. A group row whose head is not a queued message is stale (a
   * group id that did not read back as written, in a database from before ids were
   * cleaned): it is dropped and reported, and the claim goes on with the other groups.
   */
  private leaseHead(
    route: string,
    head: { group_id: string; head_pk: number },
    now: number,
    probe: boolean,
    leaseExpiresAt: number,
  ): ClaimedMessage[] {
    const row = this.sql.lease.get(now, leaseExpiresAt, head.head_pk) as
      | (MessageRow & { charge_since: number })
      | undefined;
    if (!row) {
      this.sql.groupDeleteByHead.run(route, head.head_pk);
      const message = this.sql.messageByPk.get(head.head_pk) as MessageRow | undefined;
      if (message) this.refreshGroup(route, message.group_id);
      this.onStaleGroup?.({ route, group: head.group_id, messageId: message?.id ?? null });
      return [];
    }
    this.sql.groupLeased.run(leaseExpiresAt, route, head.group_id);
    return [toClaimedMessage(route, row, this.sql.payloadGet.get(row.pk) as PayloadRow, probe)];
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
          ? this.sql.retryLater.get(
              next.retryAt,
              error,
              next.charged === false ? 0 : 1,
              next.heldByOutage ? 1 : 0,
              this.now(),
              lease.messageId,
              lease.lease,
            )
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

  async updateTargetHealth(
    route: string,
    change: (health: TargetHealth) => TargetHealth,
  ): Promise<{ before: TargetHealth; after: TargetHealth }> {
    const result = await this.write('normal', () => {
      const before = healthOf(this.sql.routeGet.get(route) as RouteRow | undefined);
      const after = change(before);
      if (after !== before) {
        this.sql.healthPut.run(
          route,
          after.state,
          after.since,
          after.failures,
          after.lastError,
          after.nextProbeAt,
          after.probeIntervalMs,
        );
      }
      if (before.state === 'down' && after.state === 'up') {
        const now = this.now();
        this.sql.healHeads.run(now, route, now);
        this.sql.groupsDueAgain.run({ now, route });
      }
      return { before, after };
    });
    if (result.before.state !== result.after.state) this.emitWork(route);
    return result;
  }

  targetHealth(route: string): Promise<TargetHealth> {
    return this.read(() => healthOf(this.sql.routeGet.get(route) as RouteRow | undefined));
  }

  lastDeliveredAt(route: string): Promise<number | null> {
    return this.read(() => (this.sql.lastDelivered.get(route) as { at: number | null }).at);
  }

  async retryNow(route: string, only: { group?: string; id?: string } = {}): Promise<number> {
    const made = await this.write('full', () => {
      const now = this.now();
      const { changes } = this.sql.retryNowHeads.run({
        now,
        route,
        group: only.group ?? null,
        id: only.id ?? null,
      });
      this.sql.groupsDueAgain.run({ now, route });
      this.sql.probeNow.run(now, route);
      return changes;
    });
    this.emitWork(route);
    return made;
  }

  expiredLeases(route: string, limit: number): Promise<ExpiredLease[]> {
    return this.read(() =>
      (this.sql.expiredLeases.all(route, this.now(), limit) as MessageRow[]).map((row) =>
        toExpiredLease(route, row),
      ),
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
    const copy = replayCopyOf(await this.getMessage(id), id);
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
      const params: unknown[] = [];
      const sql = listMessagesSql(query, (value) => {
        params.push(value);
        return '?';
      });
      const rows = this.db.prepare(sql).all(...params) as MessageRow[];
      return pageOf(rows, query.limit, toMessage, (row) => [row.route, row.seq]);
    });
  }

  routeStats(routes: readonly string[]): Promise<RouteStats[]> {
    return this.read(() =>
      routes.map((route) => {
        const routeRow = this.sql.routeGet.get(route) as RouteRow | undefined;
        return {
          route,
          health: healthOf(routeRow),
          activeGroups: (this.sql.activeCount.get(route) as { n: number }).n,
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
      return pageOf(
        rows,
        limit,
        (row) => ({
          route,
          group: row.group_id,
          heldBy: toMessage(this.sql.messageByPk.get(row.head_pk) as MessageRow),
        }),
        (row) => [row.due_at, row.group_id],
      );
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

      const reason = expiryReason(retention.queuedMs);
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
   * Nor is a store ready whose path no longer names the file it has open.
   */
  ping(): Promise<void> {
    return this.read(() => {
      this.sql.ping.get();
      const lost = this.files.check();
      if (lost) throw lost;
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
    this.files.stop();
    await this.writes.drain();
    await this.checkpointer.stop();
    // Messages held only in files a restart would not open are written where it will look.
    const copy = this.files.check() ? this.files.rescue(this.db) : undefined;
    this.db.close();
    copy?.();
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
    // Nothing goes into files that a restart would not open (see OpenFiles).
    const lostBefore = this.files.check();
    if (lostBefore) return items.map(() => ({ status: 'rejected', reason: lostBefore }));
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
      // Acknowledged only if the commit went into the file that the path names: it may
      // have gone during the commit. Each look is one stat, microseconds.
      const lost = durability === 'full' ? this.files.check() : undefined;
      if (lost) return items.map(() => ({ status: 'rejected', reason: lost }));
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

/** How often the database path is compared with the files open, besides every acknowledged commit. */
const FILE_CHECK_INTERVAL_MS = 1000;

/** A file as the file system knows it, whatever its name. */
interface FileId {
  dev: bigint;
  ino: bigint;
}

/** The file at `path`: undefined when there is none, the error when it cannot be looked at. */
function fileAt(path: string): FileId | undefined | Error {
  try {
    const stats = statSync(path, { bigint: true, throwIfNoEntry: false });
    return stats && { dev: stats.dev, ino: stats.ino };
  } catch (error) {
    return error instanceof Error ? error : new Error(String(error));
  }
}

function sameFile(a: FileId | undefined | Error, b: FileId | undefined): boolean {
  if (a === undefined || a instanceof Error || b === undefined) return false;
  return a.dev === b.dev && a.ino === b.ino;
}

/**
 * Notices when the database path stops naming the files this store has open: the file
 * or its write-ahead log deleted, or another file moved over it. SQLite goes on writing
 * to the files it has open, deleted or not, so commits still succeed; but a restart
 * opens what the path names, and every message acknowledged since would be gone. So
 * from then on writes are refused and the store is not ready, until the path names the
 * open files again (a file moved away and back). On close, the messages are copied out
 * to where a restart finds them.
 */
class OpenFiles {
  /** Why the path does not name the open files; undefined while it does. */
  lost: StorageUnavailableError | undefined;
  private readonly wal: string;
  private readonly shm: string;
  private readonly database: FileId;
  /** Undefined until SQLite creates the log, which it keeps until the last connection closes. */
  private walFile: FileId | undefined;
  private readonly shmFile: FileId | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly location: string,
    private readonly log: Logger | undefined,
  ) {
    this.wal = `${location}-wal`;
    this.shm = `${location}-shm`;
    const database = fileAt(location);
    if (!database || database instanceof Error) {
      throw new StorageUnavailableError(
        `cannot look at ${location}: ${database?.message ?? 'it is gone'}`,
      );
    }
    this.database = database;
    const wal = fileAt(this.wal);
    this.walFile = wal instanceof Error ? undefined : wal;
    const shm = fileAt(this.shm);
    this.shmFile = shm instanceof Error ? undefined : shm;
  }

  /** Check every second too, so that the loss is noticed (and readiness fails) without traffic. */
  watch(): void {
    this.timer = setInterval(() => this.check(), FILE_CHECK_INTERVAL_MS).unref();
  }

  stop(): void {
    clearInterval(this.timer);
  }

  /** Compare the path with the open files now; returns why they differ, if they do. */
  check(): StorageUnavailableError | undefined {
    const what = this.difference();
    if (what && !this.lost) {
      this.lost = new StorageUnavailableError(
        `${what.why}. hookq refuses every write (webhooks get 503) until it is back where it was. ` +
          'The messages acknowledged so far are only in the file hookq still has open: if it was moved away, move it back; ' +
          `otherwise stop hookq with SIGTERM (not kill -9), and it writes them to ${this.location} ` +
          '(or beside it, if another file is there) before it exits, for a restart to carry on from them',
      );
      // The line an operator needs: what happened and what to do; no stack.
      this.log?.error({ storage: this.location }, this.lost.message);
      if (what.anotherDatabase) this.clearOurLogs();
    } else if (!what && this.lost) {
      this.lost = undefined;
      this.log?.warn({ storage: this.location }, 'the database file is back: writes resume');
    }
    return this.lost;
  }

  /**
   * Copy the messages out of the open files, to where a restart will look. Runs before
   * the connection closes (only it can still read them); the function returned finishes
   * once it has closed.
   */
  rescue(db: Database.Database): (() => void) | undefined {
    if (sameFile(fileAt(this.location), this.database) && this.checkpoint(db)) {
      this.log?.warn(
        { storage: this.location },
        'wrote the messages of the lost write-ahead log into the database file; starting hookq again carries on from them',
      );
      return undefined;
    }
    const copy = `${this.location}.saved-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    try {
      db.prepare('VACUUM INTO ?').run(copy);
      // VACUUM INTO does not sync what it wrote.
      const fd = openSync(copy, 'r+');
      try {
        fsyncSync(fd);
      } finally {
        closeSync(fd);
      }
    } catch (error) {
      this.log?.error(
        { storage: this.location, err: error },
        `could not save the messages hookq held to ${copy}: they are lost`,
      );
      return undefined;
    }
    return () => {
      this.clearOurLogs();
      try {
        // A log left at the path would be replayed into the copy.
        if (existsSync(this.wal)) throw new Error(`${this.wal} is there`);
        // A new name, which fails if anything is at the path: never a replacement.
        linkSync(copy, this.location);
        unlinkSync(copy);
        syncDirectory(this.location);
        this.log?.warn(
          { storage: this.location },
          `wrote the messages hookq held back to ${this.location}; starting hookq again carries on from them`,
        );
      } catch (error) {
        syncDirectory(copy);
        const why = existsSync(this.location)
          ? `another database is at ${this.location} now`
          : `they could not be put back at ${this.location} (${describe(error)})`;
        this.log?.error(
          { storage: this.location, saved: copy },
          `${why}; the messages hookq held are saved in ${copy}. ` +
            `To carry on from them, move that file to ${this.location} (and remove any ${this.wal}) while hookq is stopped`,
        );
      }
    };
  }

  /** Move everything in the write-ahead log into the database file; false if it could not. */
  private checkpoint(db: Database.Database): boolean {
    try {
      const [result] = db.pragma('wal_checkpoint(TRUNCATE)') as Array<{ busy: number }>;
      return result?.busy === 0;
    } catch {
      return false;
    }
  }

  /** What differs; undefined when the path names the open files. */
  private difference(): { why: string; anotherDatabase?: true } | undefined {
    const database = fileAt(this.location);
    if (database instanceof Error) return this.cannotTell(database);
    if (!database) {
      return { why: `the database file ${this.location} was deleted while hookq had it open` };
    }
    if (!sameFile(database, this.database)) {
      return {
        why: `the database file ${this.location} was replaced by another file while hookq had it open`,
        anotherDatabase: true,
      };
    }
    const wal = fileAt(this.wal);
    if (wal instanceof Error) return this.cannotTell(wal);
    if (!this.walFile) {
      // SQLite creates the log on its first write, for this connection.
      this.walFile = wal;
      return undefined;
    }
    if (!wal) return { why: `the write-ahead log ${this.wal} was deleted while hookq had it open` };
    if (!sameFile(wal, this.walFile)) {
      return {
        why: `the write-ahead log ${this.wal} was replaced by another file while hookq had it open`,
      };
    }
    return undefined;
  }

  /** A path that cannot be looked at may name anything: it counts as not the open file. */
  private cannotTell(error: Error): { why: string } {
    return {
      why: `hookq cannot tell whether ${this.location} is still the file it has open (${error.message})`,
    };
  }

  /**
   * Remove this store's write-ahead log and shared memory from beside a database file
   * that is not its own: whoever opens that file next would replay the log into it and
   * corrupt it. SQLite leaves them there on close once its file has moved. What they hold
   * is still readable through the open connection.
   */
  private clearOurLogs(): void {
    const database = fileAt(this.location);
    if (database instanceof Error || sameFile(database, this.database)) return;
    for (const [path, ours] of [
      [this.wal, this.walFile],
      [this.shm, this.shmFile],
    ] as const) {
      try {
        if (sameFile(fileAt(path), ours)) unlinkSync(path);
      } catch {
        // Gone meanwhile, or out of reach: nothing of ours is left to remove there.
      }
    }
  }
}

/** Make a new name in the directory of `path` durable; where that is not possible, as SQLite does, go on. */
function syncDirectory(path: string): void {
  try {
    const fd = openSync(dirname(path), 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  } catch {
    // Some file systems cannot sync a directory; the file itself is synced.
  }
}
