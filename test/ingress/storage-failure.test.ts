import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { type RunningHookq, startHookq } from '../../src/app.js';
import { RETRY_AFTER_SECONDS } from '../../src/ingress/server.js';
import { configFor, tempDir } from '../helpers/config.js';
import { TestTarget } from '../helpers/target.js';
import { type Answer, sample, send, storedMessage, storedMessages } from './http.js';

// SPEC §2.2: a 2xx only after a durable write; when storage cannot take it, 503 with
// Retry-After so the provider sends it again, and nothing half-stored.

/**
 * The dispatcher and the retention sweeper write too; without work they must stay
 * asleep while a test holds the database, or their writes would queue behind the lock
 * and stretch the test by another busy timeout each.
 */
const QUIET = { pollMs: 600_000, sweepIntervalMs: 600_000 };

/** hookq's error log, kept so a test can check which failure it caused. */
function errorLog() {
  const entries: Array<{ msg?: string; err?: { message?: string } }> = [];
  const log = pino({ level: 'error' }, { write: (line: string) => entries.push(JSON.parse(line)) });
  /** Why ingress refused to store, as logged. */
  const storageErrors = () =>
    entries
      .filter((entry) => entry.msg === 'webhook refused: storage failed')
      .map((entry) => String(entry.err?.message));
  return { log, storageErrors };
}

function unavailable(answer: Answer): void {
  assert.equal(answer.status, 503, answer.text);
  assert.equal(answer.headers['retry-after'], String(RETRY_AFTER_SECONDS));
  assert.ok(RETRY_AFTER_SECONDS > 0);
  assert.match(String(answer.headers['content-type']), /^application\/json/);
  assert.deepEqual(Object.keys(answer.json ?? {}), ['error']);
  assert.match(String(answer.json?.error), /storage/);
}

function accepted(answer: Answer): string {
  assert.equal(answer.status, 200, answer.text);
  assert.equal(answer.json?.duplicate, false, 'a send refused before was not stored');
  return String(answer.json?.messageId);
}

/**
 * Waits until the message's delivery has been recorded and the dispatcher has looked for
 * more work, so that no write of hookq is pending when the test takes storage away.
 */
async function settled(hookq: RunningHookq, id: string): Promise<void> {
  const deadline = Date.now() + 10_000;
  while ((await storedMessage(hookq, id)).state !== 'delivered') {
    if (Date.now() > deadline) throw new Error(`message ${id} was not delivered`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  await new Promise((resolve) => setTimeout(resolve, 100));
}

describe('ingress when storage fails', () => {
  test('another connection holding the database answers 503 with Retry-After, then 200 once it lets go', async () => {
    const dir = tempDir();
    const target = await TestTarget.start();
    const { log, storageErrors } = errorLog();
    const hookq = await startHookq(
      configFor(dir, { routes: [{ name: 'orders', path: '/orders', target: target.url }] }),
      { ...QUIET, log },
    );
    const url = `${hookq.ingressUrl}/orders`;
    let holder: Database.Database | undefined;
    try {
      await settled(hookq, accepted(await send(url, { body: Buffer.from('before') })));

      holder = new Database(join(dir, 'hookq.db'));
      holder.exec('BEGIN EXCLUSIVE');
      const body = Buffer.from([0xff, 0x00, 0xfe]);
      const started = Date.now();
      unavailable(await send(url, { body }));
      assert.ok(Date.now() - started < 15_000, 'answered once the busy timeout ran out');
      assert.deepEqual(
        storageErrors().map((message) => /locked/.test(message)),
        [true],
        storageErrors().join('; '),
      );
      // Readiness tells a load balancer the same: reads still work, writes do not.
      assert.equal((await fetch(`${hookq.adminUrl}/readyz`)).status, 503);
      holder.exec('ROLLBACK');
      holder.close();
      holder = undefined;

      // The same bytes are new to hookq: the refused send left no dedup entry behind.
      const id = accepted(await send(url, { body }));
      assert.equal((await fetch(`${hookq.adminUrl}/readyz`)).status, 200);
      assert.deepEqual([...(await storedMessage(hookq, id)).body], [...body]);
      assert.equal((await storedMessages(hookq, 'orders')).length, 2);
      await target.waitFor((received) => received.length === 2);
      assert.deepEqual(
        target.received.map((r) => [...r.body]),
        [[...Buffer.from('before')], [...body]],
      );

      const text = await hookq.metrics.text();
      assert.equal(
        sample(text, 'hookq_messages_rejected_total{route="orders",reason="storage_unavailable"}'),
        1,
      );
      assert.equal(sample(text, 'hookq_messages_received_total{route="orders"}'), 2);
    } finally {
      holder?.close();
      await hookq.close();
      await target.close();
    }
  });

  test('a full disk answers 503 with Retry-After, then 200 once space is freed', async (t) => {
    const dir = tempDir();
    const mountPoint = join(dir, 'disk');
    mkdirSync(mountPoint);
    try {
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mountPoint], {
        stdio: 'pipe',
      });
    } catch (error) {
      const why = String((error as { stderr?: Buffer }).stderr || error)
        .trim()
        .split('\n')[0];
      t.skip(`needs root to mount a tmpfs: ${why}`);
      return;
    }
    const filler = join(mountPoint, 'filler');
    let target: TestTarget | undefined;
    let hookq: RunningHookq | undefined;
    const { log, storageErrors } = errorLog();
    try {
      target = await TestTarget.start();
      hookq = await startHookq(
        configFor(dir, {
          storage: { url: `sqlite:${join(mountPoint, 'hookq.db')}` },
          // An outcome that could not be written on the full disk leaves its message
          // leased; a short timeout (and so lease) lets it go round again soon.
          routes: [
            { name: 'orders', path: '/orders', target: target.url, delivery: { timeout: '1s' } },
          ],
        }),
        { ...QUIET, log },
      );
      const url = `${hookq.ingressUrl}/orders`;
      await settled(hookq, accepted(await send(url, { body: Buffer.from('before') })));

      fillDisk(filler);
      // Larger than any slack left in the write-ahead log, so it needs new disk blocks.
      const big = Buffer.alloc(256 * 1024, 0xfe);
      unavailable(await send(url, { body: big }));
      // SQLite reports ENOSPC as SQLITE_FULL, or as an I/O error when it strikes mid-commit.
      assert.match(storageErrors().join('; '), /full|disk I\/O/);

      // Small ones may still fit in space SQLite already holds; each 200 must be stored.
      const small = await Promise.all(
        Array.from({ length: 5 }, (_, i) => send(url, { body: Buffer.from(`small ${i}`) })),
      );
      for (const answer of small) {
        if (answer.status !== 200) unavailable(answer);
      }
      const acknowledged = small
        .filter((a) => a.status === 200)
        .map((a) => String(a.json?.messageId));

      rmSync(filler);
      const id = accepted(await send(url, { body: big }));
      assert.equal((await storedMessage(hookq, id)).body.length, big.length);
      for (const ack of acknowledged) await storedMessage(hookq, ack);
      const stored = await storedMessages(hookq, 'orders');
      assert.equal(stored.length, 2 + acknowledged.length);
      // Every stored message arrives. An outcome that could not be written on the full
      // disk makes its message arrive twice (at-least-once), so count ids, not requests.
      const ids = new Set(stored.map((m) => m.id));
      await target.waitFor((received) =>
        [...ids].every((id) => received.some((r) => r.headers['hookq-message-id'] === id)),
      );
    } finally {
      rmSync(filler, { force: true });
      try {
        await hookq?.close();
        await target?.close();
      } finally {
        unmount(mountPoint);
      }
    }
  });
});

/** Unmounts, lazily if something still holds a file open there, so no mount outlives the test. */
function unmount(mountPoint: string): void {
  try {
    execFileSync('umount', [mountPoint], { stdio: 'pipe' });
  } catch {
    execFileSync('umount', ['-l', mountPoint], { stdio: 'pipe' });
  }
}

/** Writes to `path` until the file system has no space left. */
function fillDisk(path: string): void {
  const fd = openSync(path, 'w');
  const block = Buffer.alloc(64 * 1024, 0x66);
  try {
    for (;;) {
      try {
        writeSync(fd, block);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break;
        throw error;
      }
    }
    // tmpfs hands out whole pages: what is left after the last full block goes too.
    for (;;) {
      try {
        writeSync(fd, block.subarray(0, 1));
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break;
        throw error;
      }
    }
  } finally {
    closeSync(fd);
  }
}
