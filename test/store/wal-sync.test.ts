/**
 * WalSync's bookkeeping: a commit is reported on disk only by a flush that began after
 * it, one flush serves every commit made while the previous one ran, and a failed flush
 * fails exactly the commits it covered.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { WalSync } from '../../src/store/sqlite/wal-sync.js';

/** A flush that finishes when the test says so. */
function manualFlush() {
  const pending: Array<(error: Error | null) => void> = [];
  return {
    flush: (callback: (error: Error | null) => void) => {
      pending.push(callback);
    },
    get started() {
      return pending.length;
    },
    finish(error: Error | null = null) {
      const callback = pending.shift();
      assert.ok(callback, 'no flush is running');
      callback(error);
    },
  };
}

/** Whether `promise` has settled, and how, after the current microtasks. */
async function state(promise: Promise<unknown>): Promise<'pending' | 'resolved' | 'rejected'> {
  let result: 'pending' | 'resolved' | 'rejected' = 'pending';
  promise.then(
    () => {
      result = 'resolved';
    },
    () => {
      result = 'rejected';
    },
  );
  await new Promise((resolve) => setImmediate(resolve));
  return result;
}

describe('WalSync', () => {
  test('a commit is on disk only after a flush that began after it', async () => {
    const disk = manualFlush();
    const sync = WalSync.withFlush(disk.flush);
    const first = sync.afterCommit();
    const second = sync.afterCommit();
    assert.equal(disk.started, 1, 'only one flush at a time');
    disk.finish();
    assert.equal(await state(first), 'resolved');
    assert.equal(
      await state(second),
      'pending',
      'reported durable by a flush that began before it',
    );
    assert.equal(disk.started, 1, 'the next flush did not start');
    disk.finish();
    assert.equal(await state(second), 'resolved');
    assert.equal(disk.started, 0, 'a flush ran that nothing waited for');
  });

  test('commits made while a flush runs share the next one', async () => {
    const disk = manualFlush();
    const sync = WalSync.withFlush(disk.flush);
    const first = sync.afterCommit();
    const waiting = [sync.afterCommit(), sync.afterCommit(), sync.afterCommit()];
    disk.finish();
    assert.equal(await state(first), 'resolved');
    assert.equal(disk.started, 1);
    disk.finish();
    for (const commit of waiting) assert.equal(await state(commit), 'resolved');
    assert.equal(disk.started, 0, 'three commits took more than one flush');
  });

  test('a failed flush fails the commits it covered, and later ones get their own', async () => {
    const disk = manualFlush();
    const sync = WalSync.withFlush(disk.flush);
    const lost = sync.afterCommit();
    const next = sync.afterCommit(); // made while that flush runs: it waits for the next
    disk.finish(new Error('EIO: i/o error'));
    await assert.rejects(lost, /EIO/);
    assert.equal(await state(next), 'pending');
    disk.finish();
    assert.equal(await state(next), 'resolved');
  });

  test('close waits for the flush under way', async () => {
    const disk = manualFlush();
    const sync = WalSync.withFlush(disk.flush);
    const committed = sync.afterCommit();
    const closed = sync.close();
    assert.equal(await state(closed), 'pending');
    disk.finish();
    assert.equal(await state(committed), 'resolved');
    assert.equal(await state(closed), 'resolved');
  });
});
