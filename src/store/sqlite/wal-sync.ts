import { closeSync, fdatasync, fsyncSync, openSync } from 'node:fs';
import { dirname } from 'node:path';

type Flush = (callback: (error: Error | null) => void) => void;

/**
 * Makes committed transactions durable without blocking the event loop.
 *
 * The writing connection commits with `synchronous=NORMAL`: the commit writes its frames
 * to the WAL and returns without an fsync (with FULL, better-sqlite3 would wait for the
 * disk on the JavaScript thread, and ingress would stop reading requests meanwhile).
 * Acknowledged writes then wait here for an fdatasync of the WAL file, run on libuv's
 * thread pool. While it runs, the next batch can already commit; one later fdatasync
 * covers every commit made before it started. A commit is only reported durable by an
 * fdatasync that began after the commit: that one flushed its frames.
 *
 * After a power cut SQLite replays the WAL up to the last intact frame, so the database
 * is whole either way; what was flushed here is in it.
 */
export class WalSync {
  /** Commits reported so far, numbered from 1. */
  private committed = 0;
  private flushing = false;
  private waiters: Array<{
    commit: number;
    resolve: () => void;
    reject: (error: Error) => void;
  }> = [];

  private constructor(
    private readonly flush: Flush,
    private readonly release: () => void,
  ) {}

  /**
   * For the database at `path`, whose WAL file exists (the connection is in WAL mode).
   * The WAL is never deleted while hookq's connection stays open, so the descriptor
   * opened here keeps naming it.
   */
  static forDatabase(path: string): WalSync {
    const fd = openSync(`${path}-wal`, 'r');
    syncDirectory(dirname(path));
    return new WalSync(
      (callback) => fdatasync(fd, callback),
      () => closeSync(fd),
    );
  }

  /** With an injected flush, for tests of the bookkeeping. */
  static withFlush(flush: Flush): WalSync {
    return new WalSync(flush, () => undefined);
  }

  /** Call right after a commit; resolves once that commit is on disk. */
  afterCommit(): Promise<void> {
    return this.flushed(++this.committed);
  }

  /** Waits for the flush under way, if any, then lets go of the WAL file. */
  async close(): Promise<void> {
    try {
      if (this.flushing) await this.flushed(this.committed);
    } catch {
      // Its waiters were told; closing goes on.
    } finally {
      this.release();
    }
  }

  private flushed(commit: number): Promise<void> {
    return new Promise((resolve, reject) => {
      this.waiters.push({ commit, resolve, reject });
      this.start();
    });
  }

  private start(): void {
    if (this.flushing || this.waiters.length === 0) return;
    this.flushing = true;
    const covers = this.committed;
    this.flush((error) => {
      this.flushing = false;
      const settled = this.waiters.filter((waiter) => waiter.commit <= covers);
      this.waiters = this.waiters.filter((waiter) => waiter.commit > covers);
      if (error) {
        // The kernel may have dropped the pages it failed to write: none of these commits
        // may be called durable. Later commits get a flush of their own.
        for (const waiter of settled) waiter.reject(error);
      } else {
        for (const waiter of settled) waiter.resolve();
      }
      this.start();
    });
  }
}

/**
 * The WAL's directory entry must be on disk too, or a power cut could lose the file.
 * Like SQLite, do it where the platform allows and go on where it does not (Windows
 * cannot open a directory; some network file systems refuse to sync one).
 */
function syncDirectory(dir: string): void {
  let fd: number;
  try {
    fd = openSync(dir, 'r');
  } catch {
    return;
  }
  try {
    fsyncSync(fd);
  } catch {
    // as above
  } finally {
    closeSync(fd);
  }
}
