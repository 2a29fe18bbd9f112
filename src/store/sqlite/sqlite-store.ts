import { mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { StorageUnavailableError } from '../../core/errors.js';
import type { TargetHealth } from '../../core/outage.js';
import type { RetentionPolicy } from '../../core/retention.js';
import type { AfterFailure } from '../../core/retry.js';
import type { HeaderList, Message, MessageDetail } from '../../core/terms.js';
import { decodeCursor, pageOf } from '../cursor.js';
import {
  type AttemptRow,
  healthOf,
  type MessageRow,
  type PayloadRow,
  replayCopyOf,
  toAttempt,
  toBlockedGroup,
  toExpiredLease,
  toMessage,
} from '../rows.js';
import { bound, countMessagesSql, listMessagesSql, SQLITE_ENDED } from '../sql.js';
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
  Store,
  StoreCapabilities,
  StoreOptions,
  SweepResult,
} from '../store.js';
import { WAITING_COUNT_LIMIT } from '../store.js';
import { describe, translateSqliteError } from './errors.js';
import { checkBeforeWriting, migrate } from './migrate.js';
import { type OpenFileIds, OpenFiles } from './open-files.js';
import { countOf, prepareStatements, type Statements } from './queries.js';
import { Writer } from './writer.js';
import type { RouteRow, WriteArg, WriteName, WriteResult } from './writes.js';

/**
 * The embedded store: one SQLite file in WAL mode, on two connections. Every write goes
 * to the writer thread (writer-thread.ts), which commits them in the order they were
 * called, in group commits, and fsyncs what is acknowledged; reads run here, on a
 * connection of their own, and see what has been committed (WAL readers never wait for
 * the writer).
 */
export class SqliteStore implements Store {
  readonly capabilities: StoreCapabilities;

  private readonly listeners = new Set<(route: string) => void>();
  private readonly pauseListeners = new Set<(route: string, paused: boolean) => void>();
  private readonly now: () => number;
  private readonly sql: Statements;
  private readonly writer: Writer;
  private closed = false;

  private constructor(
    private readonly db: Database.Database,
    location: string,
    files: OpenFileIds,
    options: StoreOptions,
  ) {
    this.sql = prepareStatements(db);
    this.now = options.now ?? Date.now;
    this.capabilities = { writesInCallOrder: true, location };
    this.writer = new Writer(
      { location, files, ordering: options.ordering ?? {} },
      {
        say: (level, fields, message) => options.log?.[level](fields, message),
        onStaleGroup: options.onStaleGroup,
      },
    );
  }

  /** Open (creating if needed) the database at `path` and bring its schema up to date. */
  static open(path: string, options: StoreOptions = {}): SqliteStore {
    const location = resolve(path);
    let db: Database.Database;
    let files: OpenFileIds;
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
      db.pragma('busy_timeout = 5000');
      // Reads of the admin API and the dispatcher's look-ups are few and small; the writer
      // has a cache of its own.
      db.pragma('cache_size = -2000');
      migrate(db);
      // After migrating: its transactions have made SQLite create the write-ahead log.
      files = OpenFiles.identify(location);
    } catch (error) {
      db.close();
      throw translateSqliteError(error, location);
    }
    return new SqliteStore(db, location, files, options);
  }

  async enqueue(message: NewMessage): Promise<EnqueueResult> {
    // A copy the writer thread can take over: the caller keeps its own bytes.
    const body = new Uint8Array(message.body);
    const result = await this.write('enqueue', { message: { ...message, body }, now: this.now() }, [
      body.buffer,
    ]);
    if (!result.duplicate) this.emitWork(message.route);
    return result;
  }

  async claimDue(request: ClaimRequest): Promise<ClaimedMessage[]> {
    const claimed = await this.write('claim', { request, now: this.now() });
    for (const message of claimed) {
      withBuffer(message);
      for (const ahead of message.ahead ?? []) withBuffer(ahead);
    }
    return claimed;
  }

  markDelivered(lease: LeaseRef, attempt: AttemptRecord): Promise<boolean> {
    return this.write('deliver', { lease: leaseOf(lease), attempt, now: this.now() });
  }

  async markDeliveredAndStarted(
    lease: LeaseRef,
    attempt: AttemptRecord,
    started: LeaseRef,
    request: Pick<ClaimRequest, 'leaseMs' | 'maxConcurrency' | 'maxPerSecond'>,
  ): Promise<{ kept: boolean; ahead: ClaimedMessage[] }> {
    const result = await this.write('deliverAndStart', {
      lease: leaseOf(lease),
      attempt,
      started: leaseOf(started),
      request: {
        leaseMs: request.leaseMs,
        maxConcurrency: request.maxConcurrency,
        maxPerSecond: request.maxPerSecond,
      },
      now: this.now(),
    });
    for (const ahead of result.ahead) withBuffer(ahead);
    return result;
  }

  markFailed(lease: LeaseRef, attempt: AttemptRecord, next: AfterFailure): Promise<boolean> {
    return this.write('fail', { lease: leaseOf(lease), attempt, next, now: this.now() });
  }

  async updateTargetHealth(
    route: string,
    change: HealthChange,
  ): Promise<{ before: TargetHealth; after: TargetHealth }> {
    const result = await this.write('updateTargetHealth', { route, change });
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
    const made = await this.write('retryNow', { route, only, now: this.now() });
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
    const { moved, routes } = await this.write('redrive', { selector, limit, now: this.now() });
    for (const route of routes) this.emitWork(route);
    return moved;
  }

  countDead(selector: { route: string; group?: string } | { all: true }): Promise<number> {
    return this.read(() => {
      if ('all' in selector) return (this.sql.deadCountAll.get() as { n: number }).n;
      if (selector.group === undefined) return countOf(this.sql, selector.route, 'dead');
      return (this.sql.deadCountOfGroup.get(selector.route, selector.group) as { n: number }).n;
    });
  }

  async discard(id: string): Promise<Message | null> {
    const discarded = await this.write('discard', { id });
    // The message behind it may be the group's head now.
    if (discarded) this.emitWork(discarded.route);
    return discarded;
  }

  async replay(id: string): Promise<EnqueueResult & { duplicate: false }> {
    // Read and asked for before the first await: replays called one after another are
    // written in that order, like every write here (capabilities.writesInCallOrder).
    const copy: QueuedMessage = replayCopyOf(
      this.readNow(() => this.messageDetail(id)),
      id,
    );
    const result = await this.write('enqueue', { message: copy, now: this.now() });
    this.emitWork(copy.route);
    return result as EnqueueResult & { duplicate: false };
  }

  getMessage(id: string): Promise<MessageDetail | null> {
    return this.read(() => this.messageDetail(id));
  }

  private messageDetail(id: string): MessageDetail | null {
    const row = this.sql.messageById.get(id) as MessageRow | undefined;
    if (!row) return null;
    const payload = this.sql.payloadGet.get(row.pk) as PayloadRow;
    return {
      ...toMessage(row),
      headers: JSON.parse(payload.headers) as HeaderList,
      body: payload.body,
      history: (this.sql.attemptsOf.all(row.pk) as AttemptRow[]).map(toAttempt),
    };
  }

  listMessages(query: ListQuery): Promise<Page<Message>> {
    return this.read(() => {
      const { sql, params } = bound('?', (param) => listMessagesSql(query, param, SQLITE_ENDED));
      const rows = this.db.prepare(sql).all(...params) as MessageRow[];
      return pageOf(rows, query.limit, toMessage, (row) => [row.route, row.seq]);
    });
  }

  countMessages(filter: MessageFilter): Promise<number> {
    return this.read(() => {
      const { sql, params } = bound('?', (param) => countMessagesSql(filter, param, SQLITE_ENDED));
      return (this.db.prepare(sql).get(...params) as { n: number }).n;
    });
  }

  routeStats(routes: readonly string[]): Promise<RouteStats[]> {
    return this.read(() =>
      routes.map((route) => {
        const routeRow = this.sql.routeGet.get(route) as RouteRow | undefined;
        const ahead = (this.sql.aheadCount.get(route) as { n: number }).n;
        return {
          route,
          health: healthOf(routeRow),
          activeGroups: (this.sql.activeCount.get(route) as { n: number }).n,
          paused: Boolean(routeRow?.paused),
          // Messages leased ahead count as queued: they are not sent yet.
          queued: countOf(this.sql, route, 'queued') + ahead,
          inflight: countOf(this.sql, route, 'inflight') - ahead,
          dead: countOf(this.sql, route, 'dead'),
          delivered: countOf(this.sql, route, 'delivered'),
          blockedGroups: (this.sql.blockedCount.get(route) as { n: number }).n,
          oldestWaitingAt: (this.sql.oldestWaiting.get(route) as { at: number | null }).at,
          lastDeadLetter:
            (this.sql.lastDeadLetter.get(route) as RouteStats['lastDeadLetter'] | undefined) ??
            null,
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
        (row) =>
          toBlockedGroup(
            route,
            row.group_id,
            this.sql.messageByPk.get(row.head_pk) as MessageRow,
            (
              this.sql.waitingInGroup.get(route, row.group_id, WAITING_COUNT_LIMIT + 1) as {
                n: number;
              }
            ).n,
          ),
        (row) => [row.due_at, row.group_id],
      );
    });
  }

  async setPaused(route: string, paused: boolean): Promise<void> {
    await this.write('setPaused', { route, paused });
    for (const listener of this.pauseListeners) listener(route, paused);
    if (!paused) this.emitWork(route);
  }

  sweep(route: string, retention: RetentionPolicy, limit: number): Promise<SweepResult> {
    return this.write('sweep', { route, retention, limit, now: this.now() });
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
  async ping(): Promise<void> {
    await this.read(() => this.sql.ping.get());
    await this.writer.check();
  }

  onWork(listener: (route: string) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** A SQLite file serves one hookq, never instances side by side: it holds every role. */
  async holdsRole(): Promise<boolean> {
    return true;
  }

  onPaused(listener: (route: string, paused: boolean) => void): () => void {
    this.pauseListeners.add(listener);
    return () => this.pauseListeners.delete(listener);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    // The writer's connection closes last: it may have to rescue what only it can read.
    this.db.close();
    await this.writer.close();
  }

  private emitWork(route: string): void {
    for (const listener of this.listeners) listener(route);
  }

  private write<K extends WriteName>(
    name: K,
    arg: WriteArg<K>,
    transfer?: ArrayBuffer[],
  ): Promise<WriteResult<K>> {
    if (this.closed) return Promise.reject(new StorageUnavailableError('the store is closed'));
    return this.writer.run(name, arg, transfer);
  }

  /**
   * Reads run at once, in one read transaction each, so that what they look at together
   * is one snapshot; better-sqlite3 is synchronous, the Store contract is not.
   */
  private read<T>(work: () => T): Promise<T> {
    try {
      return Promise.resolve(this.readNow(work));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  private readNow<T>(work: () => T): T {
    if (this.closed) throw new StorageUnavailableError('the store is closed');
    try {
      return this.db.transaction(work)();
    } catch (error) {
      throw translateSqliteError(error, this.capabilities.location);
    }
  }
}

/** Bytes arrive from the writer thread as a plain Uint8Array. */
function withBuffer(message: ClaimedMessage): void {
  message.body = Buffer.from(message.body.buffer, message.body.byteOffset, message.body.byteLength);
}

/** Only the lease's own fields cross to the writer thread: callers pass whole messages. */
const leaseOf = ({ messageId, lease }: LeaseRef): LeaseRef => ({ messageId, lease });
