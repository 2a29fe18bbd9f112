import {
  closeSync,
  existsSync,
  fsyncSync,
  linkSync,
  openSync,
  statSync,
  unlinkSync,
} from 'node:fs';
import { dirname } from 'node:path';
import type Database from 'better-sqlite3';
import { StorageUnavailableError } from '../../core/errors.js';
import { describe } from './errors.js';

/** Where the file watch reports what an operator must act on at once. */
export type Say = (
  level: 'warn' | 'error',
  fields: Record<string, unknown>,
  message: string,
) => void;

/** How often the database path is compared with the files open, besides every acknowledged commit. */
const FILE_CHECK_INTERVAL_MS = 1000;

/** The files a store has open: its database, and its log and shared memory once they exist. */
export interface OpenFileIds {
  database: FileId;
  wal: FileId | undefined;
  shm: FileId | undefined;
}

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
export class OpenFiles {
  /** Why the path does not name the open files; undefined while it does. */
  lost: StorageUnavailableError | undefined;
  private readonly wal: string;
  private readonly shm: string;
  private readonly database: FileId;
  /** Undefined until SQLite creates the log, which it keeps until the last connection closes. */
  private walFile: FileId | undefined;
  private readonly shmFile: FileId | undefined;
  private timer: NodeJS.Timeout | undefined;

  /**
   * The files at `location` now: taken by the connection that opened the database, and
   * handed to the writer thread, which opens it by name a moment later and must notice
   * if the name meanwhile stopped naming them.
   */
  static identify(location: string): OpenFileIds {
    const database = fileAt(location);
    if (!database || database instanceof Error) {
      throw new StorageUnavailableError(
        `cannot look at ${location}: ${database?.message ?? 'it is gone'}`,
      );
    }
    const wal = fileAt(`${location}-wal`);
    const shm = fileAt(`${location}-shm`);
    return {
      database,
      wal: wal instanceof Error ? undefined : wal,
      shm: shm instanceof Error ? undefined : shm,
    };
  }

  constructor(
    private readonly location: string,
    ids: OpenFileIds,
    private readonly say: Say,
  ) {
    this.wal = `${location}-wal`;
    this.shm = `${location}-shm`;
    this.database = ids.database;
    this.walFile = ids.wal;
    this.shmFile = ids.shm;
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
      this.say('error', { storage: this.location }, this.lost.message);
      if (what.anotherDatabase) this.clearOurLogs();
    } else if (!what && this.lost) {
      this.lost = undefined;
      this.say('warn', { storage: this.location }, 'the database file is back: writes resume');
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
      this.say(
        'warn',
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
      this.say(
        'error',
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
        this.say(
          'warn',
          { storage: this.location },
          `wrote the messages hookq held back to ${this.location}; starting hookq again carries on from them`,
        );
      } catch (error) {
        syncDirectory(copy);
        const why = existsSync(this.location)
          ? `another database is at ${this.location} now`
          : `they could not be put back at ${this.location} (${describe(error)})`;
        this.say(
          'error',
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
