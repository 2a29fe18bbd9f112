import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdirSync, openSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { type RunningHookq, startHookq } from '../../src/app.js';
import { StorageUnavailableError, WebhookRefusedError } from '../../src/core/errors.js';
import { RETRY_AFTER_SECONDS } from '../../src/ingress/server.js';
import type { Store } from '../../src/store/store.js';
import { delay, waitUntil } from '../helpers/async.js';
import { configFor, tempDir } from '../helpers/config.js';
import { TestTarget } from '../helpers/target.js';
import { type Answer, ordersIngress, sample, send, storedMessage, storedMessages } from './http.js';

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

describe('the log during a storage outage', () => {
  test('logs the first refusal, then a count per interval, then that storage works again', async () => {
    const entries: Array<{
      level: number;
      msg: string;
      refused?: number;
      err?: { message?: string };
    }> = [];
    const log = pino(
      { level: 'info' },
      { write: (line: string) => entries.push(JSON.parse(line)) },
    );
    // A store that fails while told to, so the outage starts and ends when the test says.
    let failure: Error | undefined;
    let stored = 0;
    const store = {
      enqueue: async () => {
        if (failure) throw failure;
        stored++;
        return { messageId: `m${stored}`, sequence: stored, duplicate: false as const };
      },
    } as unknown as Store;
    const { ingress } = ordersIngress(store, { log, refusalLogIntervalMs: 300 });
    const url = `${await ingress.listen({ host: '127.0.0.1', port: 0 })}/orders`;
    const saying = (msg: string) => entries.filter((entry) => entry.msg === msg);
    const sendMany = (n: number) =>
      Promise.all(Array.from({ length: n }, (_, i) => send(url, { body: Buffer.from(`${i}`) })));
    try {
      accepted(await send(url, { body: Buffer.from('before') }));

      failure = new StorageUnavailableError('the disk is full');
      for (const answer of await sendMany(50)) unavailable(answer);
      assert.equal(saying('webhook refused: storage failed').length, 1);
      assert.equal(saying('webhook refused: storage failed')[0]!.err?.message, 'the disk is full');
      // The counts add up to every later refusal, in a line per interval, not one each.
      const counts = () => saying('more webhooks refused: storage unavailable');
      const reported = () => counts().reduce((sum, entry) => sum + (entry.refused ?? 0), 0);
      await waitUntil('the count is logged', () => reported() === 49);
      assert.equal(counts().at(-1)!.err?.message, 'the disk is full');

      failure = new StorageUnavailableError('the disk is still full');
      for (const answer of await sendMany(20)) unavailable(answer);
      await waitUntil('the next count is logged', () => reported() === 69);
      assert.equal(counts().at(-1)!.err?.message, 'the disk is still full');
      assert.ok(counts().length <= 4, `${counts().length} lines for 69 refusals`);
      // Nothing refused since: no line.
      const lines = counts().length;
      await delay(700);
      assert.equal(counts().length, lines);

      failure = undefined;
      for (const answer of await sendMany(5)) accepted(answer);
      assert.deepEqual(
        saying('storage works again: webhooks are stored').map((entry) => entry.refused),
        [70],
      );
      // Nothing else was logged as an error: no line per webhook.
      assert.equal(
        entries.filter((entry) => entry.level >= 50).length,
        1 + counts().length,
        JSON.stringify(entries),
      );

      // A second outage is reported from its start again.
      failure = new StorageUnavailableError('the database is locked');
      unavailable(await send(url, { body: Buffer.from('again') }));
      assert.equal(saying('webhook refused: storage failed').length, 2);
    } finally {
      await ingress.close();
    }
  });
});

describe('a webhook the storage refuses for what it holds', () => {
  test('gets 422, not 503: sending it again would fail the same way; the next one is stored', async () => {
    // The PostgreSQL store refuses an item of a batch this way (see its tests, on a real
    // server); here the store says so directly, so ingress's answer is what is tested.
    let refuse = true;
    const store = {
      enqueue: async () => {
        if (refuse) throw new WebhookRefusedError('the database refused the webhook');
        return { messageId: 'm1', sequence: 1, duplicate: false as const };
      },
    } as unknown as Store;
    const { ingress, metrics } = ordersIngress(store);
    const url = `${await ingress.listen({ host: '127.0.0.1', port: 0 })}/orders`;
    try {
      const answer = await send(url, { body: Buffer.from('x') });
      assert.equal(answer.status, 422);
      assert.equal(answer.headers['retry-after'], undefined);
      assert.match(String(answer.json?.error), /cannot be stored: the database refused/);
      assert.match(
        await metrics.registry.getSingleMetricAsString('hookq_messages_rejected_total'),
        /hookq_messages_rejected_total\{route="orders",reason="unstorable"\} 1/,
      );
      refuse = false;
      accepted(await send(url, { body: Buffer.from('y') }));
    } finally {
      await ingress.close();
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
