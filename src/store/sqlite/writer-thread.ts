/**
 * The SQLite store's writer: a worker thread that owns the connection every write goes
 * through. Commits and their fsyncs take milliseconds in which a thread can do nothing
 * else; here they no longer stop the main thread from parsing webhooks and forwarding
 * messages.
 *
 * Writes that arrive while a commit runs are gathered into the next one (group commit):
 * one transaction, each write in its own savepoint so that one failing write does not
 * undo the others. A batch holding an enqueue (or an operator's action) commits with
 * `synchronous=FULL`, so the WAL is fsynced before any of them is answered; delivery
 * bookkeeping commits apart, ahead of the enqueues beside it, with `NORMAL` (see
 * DURABILITY and commitNext). Any later FULL commit makes the earlier ones durable too.
 * Writes of each kind are committed in the order they arrive, which is the order they
 * were called: a claim called after an outcome sees it, and after a sweep too.
 */
import { parentPort, workerData } from 'node:worker_threads';
import Database from 'better-sqlite3';
import { StorageUnavailableError } from '../../core/errors.js';
import { DedupIndex } from './dedup-index.js';
import { describe, translateSqliteError } from './errors.js';
import { OpenFiles } from './open-files.js';
import { prepareStatements, type Statements } from './queries.js';
import type { FromWriter, Outcome, ToWriter, WriteRequest, WriterData } from './thread-messages.js';
import { movable, toWire } from './thread-messages.js';
import { DURABILITY, type Durability, Writes } from './writes.js';

/** Most writes in one commit. */
const MAX_BATCH = 1000;

const port = parentPort!;
const { location, files: opened, ordering } = workerData as WriterData;
const send = (message: FromWriter, transfer: ArrayBuffer[] = []) =>
  port.postMessage(message, transfer);

const files = new OpenFiles(location, opened, (level, fields, message) =>
  send({ type: 'say', level, fields, message }),
);
files.watch();

/**
 * The connection every write goes through, and what runs on it. Opened at once; if that
 * fails (the file moved away while the thread started, say), the next write that finds
 * the path naming the store's files again opens it, and until then writes are refused
 * with why.
 */
let connection: Connection | undefined;
/** Why the latest commit (or opening the connection) failed; cleared by the next one that succeeds. */
let failingWrites: Error | undefined;
connected();

interface Connection {
  db: Database.Database;
  sql: Statements;
  writes: Writes;
  synchronous: Durability;
}

/** The connection, opened now if it is not yet; undefined (and failingWrites says why) if it cannot be. */
function connected(): Connection | undefined {
  if (connection) return connection;
  try {
    connection = connect();
    failingWrites = undefined;
  } catch (error) {
    failingWrites = new StorageUnavailableError(
      `the writer cannot open ${location}: ${describe(error)}`,
      { cause: error },
    );
  }
  return connection;
}

function connect(): Connection {
  // Never a new file: if the name no longer names the store's, the check below says so.
  const db = new Database(location, { fileMustExist: true });
  try {
    db.pragma('synchronous = FULL');
    db.pragma('busy_timeout = 5000');
    // 4 MB of pages: the pages a write touches are mostly the last of each index, and the
    // file system caches the rest. Measured under load, 8 MB was no faster and 4-6 MB more
    // resident.
    db.pragma('cache_size = -4000');
    // Savepoints keep statement journals; in memory they cost no file I/O.
    db.pragma('temp_store = MEMORY');
    // SQLite's automatic checkpoint (every 1,000 pages of WAL) copies the log back into the
    // database file here, between commits: it holds up writes for a few milliseconds, never
    // the main thread. A thread of its own for it would cost more memory than it saves time.
    const sql = prepareStatements(db);
    const writes = new Writes(
      sql,
      ordering,
      (problem) => send({ type: 'stale', problem }),
      loadDedupIndex(sql),
    );
    return { db, sql, writes, synchronous: 'full' };
  } catch (error) {
    db.close();
    throw error;
  }
}

const pending: WriteRequest[] = [];
let scheduled = false;

port.on('message', (message: ToWriter) => {
  switch (message.type) {
    case 'writes':
      pending.push(...message.writes);
      schedule();
      break;
    case 'check': {
      const problem =
        files.check() ??
        (connected()
          ? failingWrites &&
            new StorageUnavailableError(`writes are failing: ${failingWrites.message}`)
          : failingWrites);
      send({
        type: 'done',
        outcomes: [
          problem
            ? { id: message.id, error: toWire(problem) }
            : { id: message.id, value: undefined },
        ],
      });
      break;
    }
    case 'close':
      close();
      break;
  }
});

function schedule(): void {
  if (scheduled) return;
  scheduled = true;
  // setImmediate, not at once: writes whose messages are already waiting join this commit.
  setImmediate(() => {
    scheduled = false;
    commitNext();
    if (pending.length > 0) schedule();
  });
}

/**
 * Commit the oldest queued writes, at most MAX_BATCH, and answer them. Delivery
 * bookkeeping overtakes the enqueues queued beside it: it commits first, apart, and is
 * answered at once, so claims and outcomes never wait for the fsync of the enqueues (a
 * few milliseconds under load, in which every group in flight would stand still), and one
 * fsync still covers all of them. Nothing overtakes an operator's action or a sweep: a
 * claim called after a sweep must not lease the message the sweep expires, so those
 * commit in call order, on their own.
 */
function commitNext(): void {
  for (const writes of nextRound()) {
    if (writes.length === 0) continue;
    const transfer: ArrayBuffer[] = [];
    send({ type: 'done', outcomes: commit(writes, transfer) }, transfer);
  }
}

/** The writes of the next commits, taken from `pending`, in the order they commit. */
function nextRound(): WriteRequest[][] {
  const inOrder = (write: WriteRequest) =>
    DURABILITY[write.name] === 'full' && write.name !== 'enqueue';
  const leading = inOrder(pending[0]!);
  let end = 1;
  while (end < Math.min(pending.length, MAX_BATCH) && inOrder(pending[end]!) === leading) end++;
  const round = pending.splice(0, end);
  if (leading) return [round];
  return [
    round.filter((write) => DURABILITY[write.name] === 'normal'),
    round.filter((write) => write.name === 'enqueue'),
  ];
}

function commit(batch: WriteRequest[], transfer: ArrayBuffer[]): Outcome[] {
  const failAll = (error: unknown) => batch.map(({ id }) => ({ id, error: toWire(error) }));
  // Nothing goes into files that a restart would not open (see OpenFiles).
  const lostBefore = files.check();
  if (lostBefore) return failAll(lostBefore);
  const connection = connected();
  if (!connection) return failAll(failingWrites);
  const { db, sql, writes } = connection;
  const durability = DURABILITY[batch[0]!.name];
  try {
    if (connection.synchronous !== durability) {
      db.pragma(`synchronous = ${durability === 'full' ? 'FULL' : 'NORMAL'}`);
      connection.synchronous = durability;
    }
    let unavailable: Error | undefined;
    const outcomes = db
      .transaction(() =>
        batch.map(({ id, name, arg }): Outcome => {
          // Each write in a savepoint: only this one rolls back on error.
          sql.savepoint.run();
          try {
            const value = (writes[name] as (arg: unknown) => unknown).call(writes, arg);
            sql.release.run();
            return { id, value: name === 'claim' ? withMovableBodies(value, transfer) : value };
          } catch (error) {
            // Some errors (disk full, I/O) make SQLite abandon the whole transaction;
            // then nothing of this batch may be reported as written.
            if (!db.inTransaction) throw error;
            sql.rollbackItem.run();
            sql.release.run();
            const translated = translateSqliteError(error, location);
            if (translated instanceof StorageUnavailableError) unavailable ??= translated;
            return { id, error: toWire(translated) };
          }
        }),
      )
      .immediate();
    // Acknowledged only if the commit went into the file that the path names: it may
    // have gone during the commit. Each look is one stat, microseconds.
    const lost = durability === 'full' ? files.check() : undefined;
    if (lost) return failAll(lost);
    failingWrites = unavailable;
    return outcomes;
  } catch (error) {
    failingWrites = translateSqliteError(error, location);
    transfer.length = 0;
    return failAll(failingWrites);
  }
}

/**
 * Every dedup id of the log, expired ones too (the store's clock comes with each write,
 * not here): the sweep removes those. A million take about two seconds.
 */
function loadDedupIndex(sql: Statements): DedupIndex {
  // Sized once for them all: growing on the way would leave the smaller tables as garbage.
  const index = new DedupIndex((sql.dedupCount.get() as { n: number }).n);
  const live = sql.dedupLog.iterate() as IterableIterator<{
    n: number;
    route: string;
    key: Buffer;
  }>;
  for (const row of live) index.add(row.route, row.key, row.n);
  return index;
}

/** Claimed bodies move to the main thread rather than being copied. */
function withMovableBodies(claimed: unknown, transfer: ArrayBuffer[]): unknown {
  for (const message of claimed as Array<{ body: Uint8Array }>) {
    message.body = movable(message.body, transfer);
  }
  return claimed;
}

/** Commit what is still queued, then close the connection (rescuing lost messages first). */
function close(): void {
  // The store stopped taking calls before it asked: every write it sent is here.
  while (pending.length > 0) commitNext();
  files.stop();
  if (connection) {
    // Messages held only in files a restart would not open are written where it will look.
    const copy = files.check() ? files.rescue(connection.db) : undefined;
    connection.db.close();
    copy?.();
  }
  port.close();
}
