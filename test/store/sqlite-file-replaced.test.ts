/**
 * SQLite goes on writing to the files it has open even once they are deleted or another
 * file is moved over their name; a restart then opens what the name points to. The
 * store must notice, and acknowledge nothing that is not in the file the path names
 * (SPEC §2.1, §2.2), and keep what it acknowledged before.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readlinkSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, it } from 'node:test';
import { pino } from 'pino';
import { StorageUnavailableError } from '../../src/core/errors.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-store.js';
import { delay, waitUntil } from '../helpers/async.js';
import { tempDir } from '../helpers/config.js';
import { message } from './contract.js';

interface LogEntry {
  level: number;
  msg: string;
  saved?: string;
}

function capture() {
  const entries: LogEntry[] = [];
  const log = pino({ level: 'info' }, { write: (line: string) => entries.push(JSON.parse(line)) });
  return { log, entries, errors: () => entries.filter((entry) => entry.level >= 50) };
}

const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

function database(): { dir: string; path: string } {
  const dir = tempDir('hookq-sqlite-file-');
  dirs.push(dir);
  return { dir, path: join(dir, 'hookq.db') };
}

function removeDatabase(path: string): void {
  for (const suffix of ['', '-wal', '-shm']) rmSync(`${path}${suffix}`, { force: true });
}

/** Ids of the messages a store at `path` holds, by their bodies. */
async function bodiesIn(path: string): Promise<Map<string, string>> {
  const store = SqliteStore.open(path);
  try {
    const page = await store.listMessages({ limit: 100_000 });
    const bodies = new Map<string, string>();
    for (const item of page.items) {
      const detail = await store.getMessage(item.id);
      bodies.set(item.id, Buffer.from(detail!.body).toString());
    }
    return bodies;
  } finally {
    await store.close();
  }
}

/**
 * Open a store and wait until its writer thread has the file open too: it opens the
 * database by its name a moment after the store, and would otherwise find whatever a
 * test has put there meanwhile.
 */
async function open(path: string, options: Parameters<typeof SqliteStore.open>[1] = {}) {
  const store = SqliteStore.open(path, options);
  if (!existsSync('/proc/self/fd')) {
    await delay(500);
    return store;
  }
  const openings = () =>
    readdirSync('/proc/self/fd').filter((fd) => {
      try {
        return readlinkSync(`/proc/self/fd/${fd}`) === path;
      } catch {
        return false;
      }
    }).length;
  await waitUntil('the writer opened the database', () => openings() >= 2, 5_000);
  return store;
}

async function refused(promise: Promise<unknown>, pattern: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof StorageUnavailableError, String(error));
    assert.match(error.message, pattern);
    return true;
  });
}

describe('sqlite: the database file deleted or replaced while open', () => {
  it('deleted under load: nothing resolves once it is gone, and close writes it back', async () => {
    const { path } = database();
    const { log, errors } = capture();
    const store = await open(path, { log });
    const acknowledged = new Map<string, string>();
    let removedAt: number | undefined;
    let resolvedAfter = 0;
    let refusedAfter = 0;
    let stop = false;
    // Writers that keep the commit queue busy, so the file goes between and during batches.
    const writers = Array.from({ length: 8 }, async (_, w) => {
      for (let i = 0; !stop; i++) {
        const body = `w${w}-${i}`;
        const submittedAt = removedAt;
        try {
          const result = await store.enqueue(message('orders', `g${w}`, body));
          // One committed and checked just before the file went may be answered after.
          if (submittedAt !== undefined) resolvedAfter++;
          acknowledged.set(result.messageId, body);
        } catch (error) {
          assert.ok(error instanceof StorageUnavailableError, String(error));
          assert.match(error.message, /was deleted while hookq had it open/);
          if (submittedAt !== undefined) refusedAfter++;
        }
      }
    });
    await waitUntil('writes are going', () => acknowledged.size >= 200);
    removeDatabase(path);
    removedAt = Date.now();
    await delay(300);
    stop = true;
    await Promise.all(writers);

    assert.equal(resolvedAfter, 0, 'an enqueue sent after the file was deleted resolved');
    assert.ok(refusedAfter > 0);
    await refused(store.ping(), /deleted/);
    await refused(store.setPaused('orders', true), /deleted/);
    assert.equal(errors().length, 1, JSON.stringify(errors()));
    assert.match(errors()[0]!.msg, new RegExp(`the database file ${path} was deleted`));
    assert.match(errors()[0]!.msg, /503/);
    assert.match(errors()[0]!.msg, /SIGTERM/);

    await store.close();
    assert.ok(existsSync(path), 'close did not write the messages back');
    const kept = await bodiesIn(path);
    for (const [id, body] of acknowledged) assert.equal(kept.get(id), body, `lost ${id}`);
  });

  it('notices within a second without any write, and readiness fails', async () => {
    const { path } = database();
    const { log, errors } = capture();
    const store = await open(path, { log });
    try {
      await store.ping();
      removeDatabase(path);
      await waitUntil('the loss is logged', () => errors().length > 0, 3_000);
      assert.match(errors()[0]!.msg, /was deleted while hookq had it open/);
      await refused(store.ping(), /deleted/);
    } finally {
      await store.close();
    }
  });

  it('replaced by another database: refuses, and close saves the messages beside it', async () => {
    const { dir, path } = database();
    const otherPath = join(dir, 'other.db');
    const other = SqliteStore.open(otherPath);
    const { messageId: otherId } = await other.enqueue(message('orders', 'g', 'other'));
    await other.close();

    const { log, entries } = capture();
    const store = await open(path, { log });
    const { messageId } = await store.enqueue(message('orders', 'g', 'mine'));
    renameSync(otherPath, path);
    await refused(store.enqueue(message('orders', 'g', 'late')), /replaced by another file/);
    await refused(store.ping(), /replaced/);
    // Left beside the other file, the store's log would be replayed into it when opened.
    assert.ok(!existsSync(`${path}-wal`));
    await store.close();

    // The file moved in is left as it was; what the store held is in the saved copy.
    assert.deepEqual([...(await bodiesIn(path))], [[otherId, 'other']]);
    const saved = readdirSync(dir).filter((name) => name.startsWith('hookq.db.saved-'));
    assert.equal(saved.length, 1, readdirSync(dir).join(', '));
    assert.deepEqual([...(await bodiesIn(join(dir, saved[0]!)))], [[messageId, 'mine']]);
    assert.ok(entries.some((entry) => entry.saved === join(dir, saved[0]!)));
  });

  it('only the file deleted, its log left: close puts the messages back at the path', async () => {
    const { path } = database();
    const store = await open(path);
    const { messageId } = await store.enqueue(message('orders', 'g', 'kept'));
    rmSync(path);
    await refused(store.enqueue(message('orders', 'g', 'late')), /was deleted/);
    await store.close();
    assert.ok(!existsSync(`${path}-wal`), 'the old log was left beside the copy');
    assert.deepEqual([...(await bodiesIn(path))], [[messageId, 'kept']]);
  });

  it('its write-ahead log deleted: refuses, and close moves the log into the file', async () => {
    const { path } = database();
    const store = await open(path);
    const { messageId } = await store.enqueue(message('orders', 'g', 'in the log'));
    rmSync(`${path}-wal`);
    await refused(store.enqueue(message('orders', 'g', 'late')), /write-ahead log .* was deleted/);
    await store.close();
    assert.deepEqual([...(await bodiesIn(path))], [[messageId, 'in the log']]);
  });

  it('moved away and back: writes resume', async () => {
    const { dir, path } = database();
    const { log, entries } = capture();
    const store = await open(path, { log });
    try {
      const moved = join(dir, 'moved');
      renameSync(path, moved);
      await refused(store.enqueue(message('orders', 'g', 'while away')), /deleted/);
      renameSync(moved, path);
      await store.enqueue(message('orders', 'g', 'back'));
      await store.ping();
      assert.ok(entries.some((entry) => entry.msg === 'the database file is back: writes resume'));
    } finally {
      await store.close();
    }
    assert.deepEqual([...(await bodiesIn(path)).values()], ['back']);
  });

  it('moved away while the writer starts: refused until it is back, then writes resume', async () => {
    const { dir, path } = database();
    // Moved before the writer thread opens it by name: it cannot, and must not die of it.
    const store = SqliteStore.open(path);
    const moved = join(dir, 'moved');
    renameSync(path, moved);
    try {
      await refused(store.enqueue(message('orders', 'g', 'while away')), /deleted/);
      await refused(store.ping(), /deleted/);
      renameSync(moved, path);
      await store.enqueue(message('orders', 'g', 'back'));
      await store.ping();
    } finally {
      await store.close();
    }
    assert.deepEqual([...(await bodiesIn(path)).values()], ['back']);
  });
});
